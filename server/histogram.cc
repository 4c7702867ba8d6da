#include "server/histogram.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "selection/filter/percentile.h"

namespace winnow::server {

absl::Status ComputeHistogram(const winnow::v1::HistogramSpec& spec,
                              const ColumnSet& columns, const Bitmap& matches,
                              std::string_view field,
                              winnow::v1::Histogram* out) {
  const std::string where(field);
  out->set_column(spec.column());
  // The non-null values of the matches, in float as stored (lengths are
  // integers, exact in float up to 2^24 tokens).
  std::vector<float> values;
  int64_t nulls = 0;
  if (spec.column() == "length") {
    matches.ForEach([&](size_t o) {
      values.push_back(static_cast<float>(columns.length[o]));
    });
  } else {
    auto it = columns.scores.find(spec.column());
    if (it == columns.scores.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".column: unknown column '", spec.column(),
                       "'; expected \"length\" or a score name"));
    }
    std::span<const float> column = it->second;
    matches.ForEach([&](size_t o) {
      float v = o < column.size() ? column[o] : NAN;
      if (std::isnan(v)) {
        ++nulls;
      } else {
        values.push_back(v);
      }
    });
  }
  out->set_null_count(nulls);

  double min = 0, max = 0, sum = 0;
  if (!values.empty()) {
    auto [lo_it, hi_it] = std::minmax_element(values.begin(), values.end());
    min = *lo_it;
    max = *hi_it;
    for (float v : values) sum += v;
    out->set_min_value(min);
    out->set_max_value(max);
    out->set_mean(sum / static_cast<double>(values.size()));
  }

  double lo = spec.has_lower_bound() ? spec.lower_bound() : min;
  double hi = spec.has_upper_bound() ? spec.upper_bound() : max;
  if (lo > hi) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, spec.has_lower_bound() ? ".lower_bound: " : ".upper_bound: ",
        "leaves an empty range [", lo, ", ", hi,
        "] over the matching values; set both bounds"));
  }
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const int bins = spec.bin_count() == 0 ? 10 : spec.bin_count();
  std::vector<double> edges(bins + 1);
  for (int k = 0; k <= bins; ++k) {
    edges[k] = k == bins ? hi : lo + (hi - lo) * k / bins;
  }
  std::vector<int64_t> counts(bins, 0);
  int64_t under = 0, over = 0;
  const double scale = bins / (hi - lo);
  for (float f : values) {
    double v = f;
    if (v < lo) {
      ++under;
      continue;
    }
    if (v > hi) {
      ++over;
      continue;
    }
    int b = std::min(bins - 1, static_cast<int>((v - lo) * scale));
    // As numpy does: correct the rounding of the division at bin edges.
    if (v < edges[b]) {
      --b;
    } else if (b + 1 < bins && v >= edges[b + 1]) {
      ++b;
    }
    ++counts[b];
  }
  out->mutable_bin_edges()->Assign(edges.begin(), edges.end());
  out->mutable_bin_counts()->Assign(counts.begin(), counts.end());
  out->set_underflow_count(under);
  out->set_overflow_count(over);

  for (double p : spec.percentiles()) {
    out->add_percentile_values(
        values.empty() ? 0.0 : filter::LinearPercentile(values, p));
  }
  return absl::OkStatus();
}

}  // namespace winnow::server
