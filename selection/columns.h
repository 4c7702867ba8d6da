// Columns: the read-only views of a collection that the engine evaluates.
//
// selection/ never learns where its inputs come from (docs/architecture.md,
// "Layers"): storage owns the arrays, and the server hands the engine a
// ColumnSet of spans over them for the duration of one query. Every column
// is indexed by ordinal and has exactly `num_rows` entries.
//
// Nulls:
//  - A score column is float32 with NaN meaning null (missing). Writes refuse
//    NaN and Inf, so NaN is free to mean "no value", and IEEE comparisons with
//    NaN are already false, which is the filter language's null semantics.
//  - An interned column (an attribute) stores code 0 for "absent"; code c > 0
//    names values[c - 1].
//  - `domain` and `length` are never null.
//
// A ColumnSet holds no data of its own; the arrays it points at must outlive
// it and must not change while a query runs.
#ifndef WINNOW_SELECTION_COLUMNS_H_
#define WINNOW_SELECTION_COLUMNS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "selection/bitmap.h"

namespace winnow {

// A string column interned to small integers.
struct InternedColumn {
  // codes[ordinal]: 0 = absent, c > 0 = values[c - 1].
  std::span<const uint32_t> codes;
  // The distinct values, indexed by code - 1.
  std::span<const std::string> values;
};

struct ColumnSet {
  // Ordinals are [0, num_rows). Ordinals of deleted documents are not live.
  uint32_t num_rows = 0;
  // The live documents; size() == num_rows. Required.
  const Bitmap* live = nullptr;

  // Tokens per document.
  std::span<const uint32_t> length;
  // Domain codes per document, indexing `domain_names` directly (no absent
  // code: every document has a domain, possibly the empty string).
  std::span<const uint32_t> domain;
  std::span<const std::string> domain_names;

  // Named float score columns; NaN = null.
  std::map<std::string, std::span<const float>, std::less<>> scores;
  // Attribute columns by key (the part after "attr.").
  std::map<std::string, InternedColumn, std::less<>> attributes;

  // Resolves a document id to its ordinal, live or not; nullopt if the id
  // was never written. Used by `id == "..."` and `id in (...)`.
  std::function<std::optional<uint32_t>(std::string_view)> find_id;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_COLUMNS_H_
