#include "selection/filter/percentile.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>

namespace winnow::filter {

namespace {

// A uint32 whose unsigned order is the float order (-0 just below +0).
uint32_t OrderKey(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  return bits & 0x80000000u ? ~bits : bits | 0x80000000u;
}

// The k-th and (k+1)-th smallest values (the second only if k + 1 < n).
template <typename T>
std::pair<T, T> SmallOrderStatistics(std::vector<T>& values, size_t k) {
  const size_t n = values.size();
  std::nth_element(values.begin(), values.begin() + k, values.end());
  T next = k + 1 < n ? *std::min_element(values.begin() + k + 1, values.end())
                     : values[k];
  return {values[k], next};
}

std::pair<uint32_t, uint32_t> OrderStatistics(std::vector<uint32_t>& values,
                                              size_t k) {
  return SmallOrderStatistics(values, k);
}

// std::nth_element over a million floats is branchy and slow (about 14 ms
// here), so large inputs first take a histogram of the top 16 bits of each
// value's order key, find the bucket holding rank k, and run nth_element on
// that bucket alone; the next value is in the same bucket or is the least
// of the buckets above it.
std::pair<float, float> OrderStatistics(std::vector<float>& values, size_t k) {
  const size_t n = values.size();
  constexpr size_t kSmall = 2048;
  if (n <= kSmall) return SmallOrderStatistics(values, k);
  std::vector<uint32_t> counts(1 << 16, 0);
  for (float v : values) ++counts[OrderKey(v) >> 16];
  uint32_t bucket = 0;
  size_t below = 0;
  while (below + counts[bucket] <= k) below += counts[bucket++];
  std::vector<float> in_bucket;
  in_bucket.reserve(counts[bucket]);
  uint32_t above_min = UINT32_MAX;  // least key in a higher bucket
  for (float v : values) {
    const uint32_t key = OrderKey(v);
    const uint32_t b = key >> 16;
    if (b == bucket) {
      in_bucket.push_back(v);
    } else if (b > bucket && key < above_min) {
      above_min = key;
    }
  }
  const size_t r = k - below;
  std::nth_element(in_bucket.begin(), in_bucket.begin() + r, in_bucket.end());
  const float value = in_bucket[r];
  float next = value;
  if (r + 1 < in_bucket.size()) {
    next = *std::min_element(in_bucket.begin() + r + 1, in_bucket.end());
  } else if (k + 1 < n) {
    // Invert OrderKey.
    next = std::bit_cast<float>(
        above_min & 0x80000000u ? above_min & 0x7FFFFFFFu : ~above_min);
  }
  return {value, next};
}

template <typename T>
double Percentile(std::vector<T>& values, double p) {
  const size_t n = values.size();
  // numpy: q = p / 100; virtual index = (n - 1) * q.
  const double q = p / 100.0;
  const double index = static_cast<double>(n - 1) * q;
  if (index >= static_cast<double>(n - 1)) {
    return *std::max_element(values.begin(), values.end());
  }
  const double below = std::floor(index);
  const auto [lo, hi] = OrderStatistics(values, static_cast<size_t>(below));
  // Exact for both: floats widen to double exactly, and so do lengths
  // (below 2^32), whose difference numpy takes in int64.
  const double a = lo;
  const double b = hi;
  // numpy's _lerp: a + (b - a) * t, or b - (b - a) * (1 - t) when t >= 0.5,
  // which keeps the result monotonic and exact at t = 1.
  const double t = index - below;
  const double diff = b - a;
  if (t >= 0.5) return b - diff * (1 - t);
  return a + diff * t;
}

}  // namespace

double LinearPercentile(std::vector<float>& values, double p) {
  return Percentile(values, p);
}

double LinearPercentile(std::vector<uint32_t>& values, double p) {
  return Percentile(values, p);
}

std::optional<double> ColumnPercentile(std::span<const float> column,
                                       const Bitmap& live, double p) {
  const size_t n = std::min(column.size(), live.size());
  std::vector<float> values(live.Count());
  size_t k = 0;
  std::span<const uint64_t> words = live.words();
  for (size_t w = 0; w * 64 < n; ++w) {
    const size_t base = w * 64;
    uint64_t bits = words[w];
    if (bits == ~uint64_t{0} && base + 64 <= n) {
      // A fully live word: copy all 64, advancing only past non-nulls.
      for (size_t j = 0; j < 64; ++j) {
        const float v = column[base + j];
        values[k] = v;
        k += v == v;
      }
      continue;
    }
    while (bits != 0) {
      const size_t i = base + static_cast<size_t>(std::countr_zero(bits));
      bits &= bits - 1;
      if (i < n && !std::isnan(column[i])) values[k++] = column[i];
    }
  }
  if (k == 0) return std::nullopt;
  values.resize(k);
  return LinearPercentile(values, p);
}

}  // namespace winnow::filter
