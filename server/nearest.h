// SelectionService.Nearest's work (docs/api.md, "Nearest"): checks the
// request, takes the candidates and the queries from one snapshot of the
// collection, drops it, scores with the engine (selection/nearest.h), and
// names the neighbours from a second snapshot (ordinals never change
// documents, so the ids read then are those of the first).
//
// Thread safety: a pure function of the store's state; call it from any
// thread (the handler runs it on a worker).
#ifndef WINNOW_SERVER_NEAREST_H_
#define WINNOW_SERVER_NEAREST_H_

#include <cstdint>

#include "absl/status/status.h"
#include "storage/store.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

// Limits of one request (docs/api.md lists them).
inline constexpr int32_t kMaxNearestK = 10000;
inline constexpr int kMaxNearestQueries = 1000;
// Neighbours in one response, k times the queries: keeps the response far
// below the message size limit.
inline constexpr int64_t kMaxNearestNeighbors = 100000;

// Field checks that need no collection: k, the query counts, finite query
// values, the metric.
absl::Status ValidateNearestRequest(const winnow::v1::NearestRequest& request);

// The whole RPC against `store`.
absl::Status ServeNearest(const storage::Store& store,
                          const winnow::v1::NearestRequest& request,
                          winnow::v1::NearestResponse* response);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_NEAREST_H_
