// Request validation: the checks that need only the request, never the
// data (docs/api.md, "Errors"). Each returns OK or an error whose message
// names the field, as "world_size must be >= 1" or "strategy.weighted.score
// must not be empty"; handlers return it through ToGrpcStatus unchanged.
//
// Checks that need the collection (unknown score names, filter names and
// types) happen later, against the columns.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SERVER_VALIDATION_H_
#define WINNOW_SERVER_VALIDATION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/field_mask.pb.h"
#include "selection/weights.h"
#include "winnow/v1/common.pb.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

// INVALID_ARGUMENT "<field> must not be empty" when `name` is empty.
absl::Status RequireCollection(std::string_view name,
                               std::string_view field = "collection");

// The result view with UNSPECIFIED resolved to IDS; INVALID_ARGUMENT for a
// value outside the enum.
absl::StatusOr<winnow::v1::ResultView> ResolveView(int view);

// Which Document fields a read returns (GetDocuments read_mask, FULL
// views). id and ordinal always are.
struct DocumentMask {
  bool domain = true;
  bool length = true;
  bool attributes = true;
  bool payload = true;
  bool scores = true;
  bool embedding = false;
};

// An empty mask means every field but embedding (GetDocumentsRequest).
// INVALID_ARGUMENT "<field>: unknown path 'x'" for other paths.
absl::StatusOr<DocumentMask> ParseReadMask(
    const google::protobuf::FieldMask& mask,
    std::string_view field = "read_mask");

// A Filter request with its defaults resolved.
struct FilterParams {
  winnow::v1::ResultView view = winnow::v1::RESULT_VIEW_IDS;
  DocumentMask mask;
  // Documents per response message, >= 1 (0 in the request means 4,096).
  uint32_t batch_size = 4096;
  // Most documents in all; 0 = no limit.
  uint64_t max_results = 0;
  uint64_t start_ordinal = 0;
};

// Default and largest Filter batch, in documents.
inline constexpr uint32_t kDefaultFilterBatch = 4096;
inline constexpr uint32_t kMaxFilterBatch = 1 << 20;

absl::StatusOr<FilterParams> ValidateFilterRequest(
    const winnow::v1::FilterRequest& request);

// OK, or INVALID_ARGUMENT / UNIMPLEMENTED for the options not served yet.
absl::Status ValidateCountRequest(const winnow::v1::CountRequest& request);

// A Sample request's per-stream fields, resolved. The plan fields are
// checked where the plan is frozen (plans.h), against the collection.
struct SampleParams {
  uint32_t rank = 0;
  uint32_t world_size = 1;
  // 0 = no limit.
  uint64_t max_batches = 0;
  winnow::v1::ResultView view = winnow::v1::RESULT_VIEW_IDS;
  DocumentMask mask;
};

// INVALID_ARGUMENT naming the field for bad values of the stream fields
// (rank, world_size, max_batches, view, read_mask) and of the plan fields
// that need no data to check (a missing batch_size or token_budget when no
// cursor or plan_id is given, negative counts).
absl::StatusOr<SampleParams> ValidateSampleRequest(
    const winnow::v1::SampleRequest& request);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_VALIDATION_H_
