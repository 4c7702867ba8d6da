#include "server/query.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/status_util.h"

namespace winnow::server {

absl::StatusOr<Filter> CompileFilter(std::string_view text,
                                     const ColumnSet& columns) {
  absl::StatusOr<Filter> filter = Filter::Compile(text, columns);
  if (!filter.ok()) return Annotate(filter.status(), "filter");
  return filter;
}

absl::Status CheckScoreNames(
    const google::protobuf::RepeatedPtrField<std::string>& names,
    const ColumnSet& columns) {
  for (int i = 0; i < names.size(); ++i) {
    if (!columns.scores.contains(names[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("score_names[", i, "]: unknown score '", names[i], "'"));
    }
  }
  return absl::OkStatus();
}

void AppendScoreColumns(
    const google::protobuf::RepeatedPtrField<std::string>& names,
    const ColumnSet& columns, std::span<const uint32_t> ordinals,
    google::protobuf::RepeatedPtrField<winnow::v1::ScoreColumn>* out) {
  for (const std::string& name : names) {
    winnow::v1::ScoreColumn* column = out->Add();
    column->set_name(name);
    auto it = columns.scores.find(name);
    std::span<const float> values;
    if (it != columns.scores.end()) values = it->second;
    column->mutable_values()->Reserve(static_cast<int>(ordinals.size()));
    for (size_t i = 0; i < ordinals.size(); ++i) {
      float v = ordinals[i] < values.size() ? values[ordinals[i]] : NAN;
      if (std::isnan(v)) {
        column->add_values(0.0f);
        column->add_null_indexes(static_cast<uint32_t>(i));
      } else {
        column->add_values(v);
      }
    }
  }
}

absl::Status CollectionGoneError(std::string_view collection) {
  return absl::NotFoundError(
      absl::StrCat("collection '", std::string(collection),
                   "' was deleted while the stream ran"));
}

absl::StatusOr<storage::ColumnsSnapshot> ReopenColumns(
    const storage::Store& store, std::string_view collection,
    uint32_t frozen_collection_id) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(collection);
  if (absl::IsNotFound(snapshot.status())) {
    return CollectionGoneError(collection);
  }
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->collection_id() != frozen_collection_id) {
    return CollectionGoneError(collection);
  }
  return snapshot;
}

size_t MessageBudget(int64_t max_message_bytes) {
  // Room left for the other fields and framing.
  constexpr size_t kSlack = 64 << 10;
  const auto limit = static_cast<size_t>(max_message_bytes);
  return limit > 2 * kSlack ? limit - kSlack : limit / 2;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes > 0 && bytes % (int64_t{1} << 20) == 0) {
    return absl::StrCat(bytes >> 20, " MiB");
  }
  if (bytes > 0 && bytes % 1024 == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

}  // namespace winnow::server
