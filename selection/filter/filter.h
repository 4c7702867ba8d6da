// Filter: a compiled filter expression (docs/filter-language.md is the user
// reference).
//
//   absl::StatusOr<Filter> f = Filter::Compile(
//       "quality > 0.5 and domain in (\"d0\", \"d1\")", columns);
//   if (!f.ok()) return f.status();  // INVALID_ARGUMENT, with a position
//   Bitmap rows;
//   size_t matches = f->EvaluateInto(columns, &rows);
//
// Compile parses the text, resolves its names against a collection's
// columns, checks types, computes each pct() once, and builds a plan over
// columns. Evaluate runs the plan a block of rows at a time with vectorized
// kernels into a Bitmap ANDed with the live set.
//
// Thread safety: a Filter is immutable after Compile. Evaluate and every
// other const method may be called from many threads at once; copies share
// the compiled plan.
#ifndef WINNOW_SELECTION_FILTER_FILTER_H_
#define WINNOW_SELECTION_FILTER_FILTER_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/bitmap.h"
#include "selection/columns.h"

namespace winnow {

class Filter {
 public:
  // The empty filter: matches every live document.
  Filter();

  // Compiles `text` against `columns`. On success the filter is bound to
  // that collection's names, interned codes, ids and pct() values.
  //
  // Errors (messages carry a 1-based line:column and no field prefix):
  //  - INVALID_ARGUMENT for a syntax error, a type error, an unknown score,
  //    attribute key or domain (with a "did you mean" hint when one is
  //    close), or a pct() of a score with no values in live documents.
  //  - FAILED_PRECONDITION when the filter names `id` and
  //    `columns.find_id` is empty.
  static absl::StatusOr<Filter> Compile(std::string_view text,
                                        const ColumnSet& columns);

  // The live documents of `columns` that match, over columns.num_rows rows.
  // `columns` must be the set given to Compile, or a later view of the same
  // collection whose interned codes and ids are unchanged (pct() values are
  // not recomputed; a referenced column that is gone reads as all null).
  Bitmap Evaluate(const ColumnSet& columns) const;

  // As Evaluate, into *out (resized to columns.num_rows, its memory
  // reused). Returns the number of matches.
  size_t EvaluateInto(const ColumnSet& columns, Bitmap* out) const;

  // Whether the filter uses pct(), whose value depends on the data: a plan
  // keyed on ToString() must also note the data version.
  bool uses_pct() const;

  // The score columns the filter reads, pct() included; sorted, distinct.
  const std::vector<std::string>& referenced_scores() const;

  // The canonical text: single spaces, minimal parentheses, no comments,
  // numbers in shortest round-trip form. Compiling it again gives the same
  // filter, so it serves as a plan key and in logs. "" for the empty
  // filter.
  const std::string& ToString() const;

 private:
  struct State;
  explicit Filter(std::shared_ptr<const State> state);

  std::shared_ptr<const State> state_;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_FILTER_FILTER_H_
