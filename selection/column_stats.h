// Statistics of one column over a set of documents: what Count answers for
// each HistogramSpec (docs/api.md, selection.proto Histogram). Each figure
// is what numpy 1.24 computes on the same values in ordinal order:
//
//  - `length` is an integer column and stays one: min, max and the order
//    statistics of the percentiles are exact integers, and the mean is an
//    exact 64-bit sum divided once (numpy on an int64 array, which is exact
//    while the sum stays below 2^53, and correctly rounded beyond).
//  - A score is float32, widened to double (numpy on
//    `values.astype(np.float64)`): the mean is numpy's pairwise sum
//    (np.add.reduce) divided by the count.
//  - Percentiles: numpy.percentile's default linear method
//    (filter/percentile.h).
//  - Bins: numpy.histogram's equal-width bins. Edges are np.linspace's
//    (edge k = k * ((upper - lower) / bins) + lower, the last edge exactly
//    upper); a value v goes to bin floor((v - lower) * (bins / (upper -
//    lower))), corrected by one where rounding put it across an edge; the
//    last bin includes its upper edge. A degenerate range is widened by 0.5
//    on each side, and no values at all give the range [0, 1].
//
// Pure functions; thread-safe.
#ifndef WINNOW_SELECTION_COLUMN_STATS_H_
#define WINNOW_SELECTION_COLUMN_STATS_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/bitmap.h"
#include "selection/columns.h"

namespace winnow {

// What to compute (selection.proto HistogramSpec, checked already).
struct ColumnStatsSpec {
  int bin_count = 10;
  // Unset: the smallest (largest) matching value.
  std::optional<double> lower_bound;
  std::optional<double> upper_bound;
  // Each in [0, 100].
  std::vector<double> percentiles;
};

struct ColumnStats {
  // Matching documents with no value (a null score; lengths have none).
  int64_t null_count = 0;
  // Values below lower_bound, above upper_bound.
  int64_t underflow_count = 0;
  int64_t overflow_count = 0;
  // Of the non-null values; 0 when there are none.
  double min_value = 0;
  double max_value = 0;
  double mean = 0;
  // bin_count + 1 edges, bin_count counts.
  std::vector<double> bin_edges;
  std::vector<int64_t> bin_counts;
  // Aligned with ColumnStatsSpec::percentiles; 0 when there are no values.
  std::vector<double> percentile_values;
};

// The statistics of `column` ("length" or a score name) over the documents
// set in `matches`. INVALID_ARGUMENT with a message that begins with the
// spec's field: "column: unknown column ..." for a column that does not
// exist, "lower_bound: ..." ("upper_bound: ...") for a bound that leaves no
// range over the matching values (a lower_bound above every value with no
// upper_bound, or the reverse).
absl::StatusOr<ColumnStats> ComputeColumnStats(const ColumnSet& columns,
                                               std::string_view column,
                                               const Bitmap& matches,
                                               const ColumnStatsSpec& spec);

// numpy's sum of float64 values (np.add.reduce on a contiguous array):
// pairwise summation, blocks of up to 128 values summed with eight
// accumulators (numpy/core/src/umath/loops_utils.h.src, pairwise_sum).
double NumpySum(std::span<const double> values);
double NumpySum(std::span<const float> values);  // widened to double

}  // namespace winnow

#endif  // WINNOW_SELECTION_COLUMN_STATS_H_
