// Count's histograms (selection.proto HistogramSpec / Histogram): converts
// the spec and the answer between the proto and the engine's
// ComputeColumnStats (selection/column_stats.h), which computes every figure
// as numpy does.
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
// bound that leaves no range over the matching values (a lower_bound above
// every value with no upper_bound, or the reverse). The spec's own bounds
// are checked by ValidateCountRequest.
absl::Status ComputeHistogram(const winnow::v1::HistogramSpec& spec,
                              const ColumnSet& columns, const Bitmap& matches,
                              std::string_view field,
                              winnow::v1::Histogram* out);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_HISTOGRAM_H_
