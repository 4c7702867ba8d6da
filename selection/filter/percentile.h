// pct(score, p): the p-th percentile of a score over the live documents.
//
// Follows numpy.percentile's default method ("linear", Hyndman & Fan type 7,
// numpy/lib/function_base.py `_quantile` and `_lerp`) computed on the
// values widened to double, so it equals
// `np.percentile(values.astype(np.float64), p)` bit for bit. On integers
// (lengths) the order statistics are exact and only the interpolation is
// in double, as numpy computes `np.percentile` of an int64 array.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SELECTION_FILTER_PERCENTILE_H_
#define WINNOW_SELECTION_FILTER_PERCENTILE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "selection/bitmap.h"

namespace winnow::filter {

// The p-th percentile (0 <= p <= 100) of `values`, which must be non-empty
// and hold no NaN. Reorders `values`. A selection, not a sort: a histogram
// of the values' top bits narrows the search to one bucket, and
// std::nth_element finds the order statistic within it.
double LinearPercentile(std::vector<float>& values, double p);
double LinearPercentile(std::vector<uint32_t>& values, double p);

// The p-th percentile of the non-NaN entries of `column` at the ordinals
// set in `live`, or nullopt when there are none.
std::optional<double> ColumnPercentile(std::span<const float> column,
                                       const Bitmap& live, double p);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_PERCENTILE_H_
