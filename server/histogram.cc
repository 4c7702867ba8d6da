#include "server/histogram.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "selection/column_stats.h"

namespace winnow::server {

absl::Status ComputeHistogram(const winnow::v1::HistogramSpec& spec,
                              const ColumnSet& columns, const Bitmap& matches,
                              std::string_view field,
                              winnow::v1::Histogram* out) {
  ColumnStatsSpec stats_spec;
  stats_spec.bin_count = spec.bin_count();
  if (spec.has_lower_bound()) stats_spec.lower_bound = spec.lower_bound();
  if (spec.has_upper_bound()) stats_spec.upper_bound = spec.upper_bound();
  stats_spec.percentiles.assign(spec.percentiles().begin(),
                                spec.percentiles().end());
  absl::StatusOr<ColumnStats> stats =
      ComputeColumnStats(columns, spec.column(), matches, stats_spec);
  if (!stats.ok()) {
    // The engine names the spec's field; put the spec's place before it.
    return absl::Status(
        stats.status().code(),
        absl::StrCat(std::string(field), ".", stats.status().message()));
  }
  out->set_column(spec.column());
  out->set_null_count(stats->null_count);
  out->set_underflow_count(stats->underflow_count);
  out->set_overflow_count(stats->overflow_count);
  out->set_min_value(stats->min_value);
  out->set_max_value(stats->max_value);
  out->set_mean(stats->mean);
  out->mutable_bin_edges()->Assign(stats->bin_edges.begin(),
                                   stats->bin_edges.end());
  out->mutable_bin_counts()->Assign(stats->bin_counts.begin(),
                                    stats->bin_counts.end());
  out->mutable_percentile_values()->Assign(stats->percentile_values.begin(),
                                           stats->percentile_values.end());
  return absl::OkStatus();
}

}  // namespace winnow::server
