// FilterStream: SelectionService.Filter (selection.proto).
//
// The filter is evaluated once, under one short snapshot, into the list of
// matching ordinals (from start_ordinal, at most max_results); the snapshot
// is then released, so writes to the collection are not held up while the
// client reads. Each message maps its slice of ordinals to ids, scores or
// whole documents under a fresh short snapshot (or a storage read for the
// FULL view). A message holds at most batch_size results, fewer if more
// would pass the message size limit. Every message first checks that the
// collection still exists: a stream over a collection deleted meanwhile
// ends with NOT_FOUND. There is always at least one message, so
// total_count always arrives.
//
// Thread safety: see stream_reactor.h.
#ifndef WINNOW_SERVER_FILTER_STREAM_H_
#define WINNOW_SERVER_FILTER_STREAM_H_

#include <cstdint>
#include <vector>

#include "server/stream_reactor.h"
#include "server/validation.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

class FilterStream final : public StreamReactor<winnow::v1::FilterResponse> {
 public:
  // `request` is owned by gRPC and valid until OnDone.
  FilterStream(grpc::CallbackServerContext* context, ServiceEnv& env,
               const winnow::v1::FilterRequest* request);

 private:
  absl::StatusOr<bool> Produce(winnow::v1::FilterResponse* out) override;

  // Validates and evaluates the filter into matches_.
  absl::Status Start();
  // Fills the message for matches_[next_, ...); advances next_.
  absl::Status FillIds(winnow::v1::FilterResponse* out);
  absl::Status FillDocuments(winnow::v1::FilterResponse* out);

  const winnow::v1::FilterRequest* const request_;
  FilterParams params_;
  bool started_ = false;
  std::vector<uint32_t> matches_;      // frozen at the start, ascending
  uint32_t frozen_collection_id_ = 0;  // storage's id of the collection
  size_t next_ = 0;                    // first match not yet sent
  int64_t messages_ = 0;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_FILTER_STREAM_H_
