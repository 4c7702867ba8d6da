// Name resolution, type checking and plan building for a parsed filter.
//
// Checks a tree from the parser against one collection's columns
// (docs/filter-language.md, "Columns and types", "Names that do not exist"),
// computes each pct() once, and lowers every comparison to a predicate on the
// stored type (thresholds.h), a set of interned codes or a set of ordinals.
//
// Internal to selection/filter. Compile reads `columns` and keeps no
// reference to it; safe to call from any thread while the columns do not
// change.
#ifndef WINNOW_SELECTION_FILTER_COMPILER_H_
#define WINNOW_SELECTION_FILTER_COMPILER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/columns.h"
#include "selection/filter/ast.h"
#include "selection/filter/plan.h"

namespace winnow::filter {

struct CompiledFilter {
  Plan plan;
  // The score columns the filter reads, pct() included; sorted, distinct.
  std::vector<std::string> referenced_scores;
  // Whether the filter uses pct(), whose value depends on the data.
  bool uses_pct = false;
};

// Compiles `root` against `columns`. On an unknown score, attribute key or
// domain, a type error, or a pct() over a score with no live values,
// returns INVALID_ARGUMENT naming the problem and its line:column, with a
// "did you mean" hint where one is close. A filter on `id` over columns
// without `find_id` gives FAILED_PRECONDITION.
absl::StatusOr<CompiledFilter> Compile(const Node& root,
                                       const ColumnSet& columns);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_COMPILER_H_
