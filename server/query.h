// Helpers shared by the SelectionService handlers: compiling a request's
// filter against a snapshot, checking requested score names, and filling
// the score columns of a result batch.
//
// Pure functions over a snapshot the caller holds; thread-safe.
#ifndef WINNOW_SERVER_QUERY_H_
#define WINNOW_SERVER_QUERY_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "selection/bitmap.h"
#include "selection/filter/filter.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "winnow/v1/common.pb.h"

namespace winnow::server {

// Filter::Compile, with errors prefixed "filter: ".
absl::StatusOr<Filter> CompileFilter(std::string_view text,
                                     const ColumnSet& columns);

// INVALID_ARGUMENT "score_names[i]: unknown score 'x'" for a name that is
// not a score column of `columns`.
absl::Status CheckScoreNames(
    const google::protobuf::RepeatedPtrField<std::string>& names,
    const ColumnSet& columns);

// Appends, for each name, one ScoreColumn aligned with `ordinals` (NaN, a
// missing column or an ordinal past its end is null).
void AppendScoreColumns(
    const google::protobuf::RepeatedPtrField<std::string>& names,
    const ColumnSet& columns, std::span<const uint32_t> ordinals,
    google::protobuf::RepeatedPtrField<winnow::v1::ScoreColumn>* out);

// The collection was deleted (and maybe recreated) under a running stream.
absl::Status CollectionGoneError(std::string_view collection);

// A fresh snapshot of `collection` for a stream that froze the collection
// whose storage id was `frozen_collection_id`. Every message of a stream
// takes one, so a stream notices a DeleteCollection at its next message:
// CollectionGoneError if the collection is gone, or if the one of that name
// now is a new one (storage never reuses a collection id).
absl::StatusOr<storage::ColumnsSnapshot> ReopenColumns(
    const storage::Store& store, std::string_view collection,
    uint32_t frozen_collection_id);

// The bytes of a response message that a stream may fill with results: the
// message size limit less room for framing and the other fields.
size_t MessageBudget(int64_t max_message_bytes);

// A size for a message: "64 MiB", "48 KiB" or "1000 bytes".
std::string FormatBytes(int64_t bytes);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_QUERY_H_
