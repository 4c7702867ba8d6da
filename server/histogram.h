// Histograms and percentiles of a column over a filter's matches, for
// SelectionService.Count (selection.proto HistogramSpec / Histogram).
//
// Bins follow numpy.histogram: equal width over [lower, upper], the last
// bin closed, a degenerate range widened by 0.5 on each side. Percentiles
// are numpy's default linear interpolation, as pct() computes them
// (selection/filter/percentile.h).
//
// Pure function; thread-safe.
#ifndef WINNOW_SERVER_HISTOGRAM_H_
#define WINNOW_SERVER_HISTOGRAM_H_

#include <string_view>

#include "absl/status/status.h"
#include "selection/bitmap.h"
#include "selection/columns.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

// Fills *out for the documents set in `matches`. `field` names the spec in
// errors ("histograms[0]"): INVALID_ARGUMENT for an unknown column or a
// range that holds no value range (a lower_bound above every value with no
// upper_bound, or the reverse). The spec's own bounds are checked by
// ValidateCountRequest.
absl::Status ComputeHistogram(const winnow::v1::HistogramSpec& spec,
                              const ColumnSet& columns, const Bitmap& matches,
                              std::string_view field,
                              winnow::v1::Histogram* out);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_HISTOGRAM_H_
