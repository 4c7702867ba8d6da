#include "selection/column_stats.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "selection/filter/percentile.h"

namespace winnow {
namespace {

// numpy's pairwise_sum, in its order of operations; T widens to double as
// each value is read.
template <typename T>
double PairwiseSum(const T* a, size_t n) {
  constexpr size_t kBlock = 128;  // numpy's PW_BLOCKSIZE
  if (n < 8) {
    double res = 0.;
    for (size_t i = 0; i < n; ++i) res += static_cast<double>(a[i]);
    return res;
  }
  if (n <= kBlock) {
    double r[8];
    for (size_t j = 0; j < 8; ++j) r[j] = static_cast<double>(a[j]);
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (size_t j = 0; j < 8; ++j) r[j] += static_cast<double>(a[i + j]);
    }
    double res =
        ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += static_cast<double>(a[i]);
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return PairwiseSum(a, n2) + PairwiseSum(a + n2, n - n2);
}

// The reduction starts from add's identity, 0.
template <typename T>
double NumpySumOf(std::span<const T> values) {
  return 0. + PairwiseSum(values.data(), values.size());
}

// Lengths: the sum is exact in 64 bits (fewer than 2^32 values, each below
// 2^32), and is divided once. numpy sums in float64, which is the same
// while the sum is below 2^53; beyond, this stays correctly rounded to
// within one unit in the last place.
double Mean(std::span<const uint32_t> values) {
  uint64_t sum = 0;
  for (uint32_t v : values) sum += v;
  const uint64_t n = values.size();
  if (sum < (uint64_t{1} << 53)) {
    return static_cast<double>(sum) / static_cast<double>(n);
  }
  return static_cast<double>(sum / n) +
         static_cast<double>(sum % n) / static_cast<double>(n);
}

double Mean(std::span<const float> values) {
  return NumpySumOf(values) / static_cast<double>(values.size());
}

// Fills the bins of `out` over [lo, hi] as numpy.histogram does.
template <typename T>
void FillBins(const std::vector<T>& values, double lo, double hi, int bins,
              ColumnStats* out) {
  // np.linspace(lo, hi, bins + 1).
  const double delta = hi - lo;
  const double step = delta / bins;
  std::vector<double>& edges = out->bin_edges;
  edges.resize(bins + 1);
  for (int k = 0; k < bins; ++k) {
    edges[k] = step == 0 ? static_cast<double>(k) / bins * delta + lo
                         : static_cast<double>(k) * step + lo;
  }
  edges[bins] = hi;
  std::vector<int64_t>& counts = out->bin_counts;
  counts.assign(bins, 0);
  const double norm = bins / delta;
  for (T raw : values) {
    const double v = static_cast<double>(raw);
    if (v < lo) {
      ++out->underflow_count;
      continue;
    }
    if (v > hi) {
      ++out->overflow_count;
      continue;
    }
    int b = static_cast<int>((v - lo) * norm);
    if (b == bins) --b;
    // numpy's correction of the rounding within an ulp of an edge.
    if (v < edges[b]) {
      --b;
    } else if (b != bins - 1 && v >= edges[b + 1]) {
      ++b;
    }
    ++counts[b];
  }
}

template <typename T>
absl::StatusOr<ColumnStats> Stats(std::vector<T> values, int64_t nulls,
                                  const ColumnStatsSpec& spec) {
  ColumnStats out;
  out.null_count = nulls;
  double min = 0, max = 0;
  if (!values.empty()) {
    const auto [lo_it, hi_it] =
        std::minmax_element(values.begin(), values.end());
    min = static_cast<double>(*lo_it);
    max = static_cast<double>(*hi_it);
    out.min_value = min;
    out.max_value = max;
    out.mean = Mean(std::span<const T>(values));
  }

  double lo = spec.lower_bound.value_or(min);
  double hi = spec.upper_bound.value_or(max);
  if (values.empty() && !spec.lower_bound && !spec.upper_bound) {
    lo = 0;  // numpy's range for no values
    hi = 1;
  }
  if (lo > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.lower_bound ? "lower_bound: " : "upper_bound: ",
                     "leaves an empty range [", lo, ", ", hi,
                     "] over the matching values; set both bounds"));
  }
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  FillBins(values, lo, hi, spec.bin_count == 0 ? 10 : spec.bin_count, &out);

  // Percentiles last: LinearPercentile reorders the values.
  for (double p : spec.percentiles) {
    out.percentile_values.push_back(
        values.empty() ? 0.0 : filter::LinearPercentile(values, p));
  }
  return out;
}

}  // namespace

double NumpySum(std::span<const double> values) { return NumpySumOf(values); }
double NumpySum(std::span<const float> values) { return NumpySumOf(values); }

absl::StatusOr<ColumnStats> ComputeColumnStats(const ColumnSet& columns,
                                               std::string_view column,
                                               const Bitmap& matches,
                                               const ColumnStatsSpec& spec) {
  if (column == "length") {
    std::vector<uint32_t> values;
    values.reserve(matches.Count());
    matches.ForEach([&](size_t o) { values.push_back(columns.length[o]); });
    return Stats(std::move(values), 0, spec);
  }
  auto it = columns.scores.find(column);
  if (it == columns.scores.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("column: unknown column '", std::string(column),
                     "'; expected \"length\" or a score name"));
  }
  const std::span<const float> scores = it->second;
  std::vector<float> values;
  int64_t nulls = 0;
  matches.ForEach([&](size_t o) {
    const float v = o < scores.size() ? scores[o] : NAN;
    if (std::isnan(v)) {
      ++nulls;
    } else {
      values.push_back(v);
    }
  });
  return Stats(std::move(values), nulls, spec);
}

}  // namespace winnow
