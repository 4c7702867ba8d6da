// Count's statistics (selection/column_stats.h): exact for lengths, numpy's
// figures for scores. Expected values marked "numpy" come from numpy 1.24
// (np.mean, np.percentile, np.histogram); the randomized tests compare with
// a brute-force reference: exact integer arithmetic and a full sort for
// lengths, a full sort and numpy's interpolation for scores, and each
// value's bin found by scanning the edges.
#include "selection/column_stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace winnow {
namespace {

// A ColumnSet over owned vectors, every row live.
struct Columns {
  explicit Columns(std::vector<uint32_t> lengths,
                   std::vector<float> quality = {})
      : length(std::move(lengths)),
        quality(std::move(quality)),
        live(length.size(), true) {
    set.num_rows = static_cast<uint32_t>(length.size());
    set.live = &live;
    set.length = length;
    set.scores.emplace("quality", this->quality);
  }
  std::vector<uint32_t> length;
  std::vector<float> quality;
  Bitmap live;
  ColumnSet set;
};

ColumnStats MustCompute(const Columns& c, std::string_view column,
                        const ColumnStatsSpec& spec) {
  absl::StatusOr<ColumnStats> s =
      ComputeColumnStats(c.set, column, c.live, spec);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : ColumnStats{};
}

TEST(ColumnStatsTest, LengthsAboveTwoToThe24AreExact) {
  // The lengths of issue 10. Float32 statistics answered a max of
  // 4294967296, percentiles 7, 16777216, 16777218, 4294967296 and a mean
  // of 727012712.5.
  Columns c({16777217, 16777219, 33554435, 4294967295, 100, 7});
  ColumnStatsSpec spec;
  spec.bin_count = 4;
  spec.percentiles = {0, 40, 50, 100};
  ColumnStats s = MustCompute(c, "length", spec);
  // numpy: max 4294967295; percentiles 7, 16777217, 16777218, 4294967295;
  // mean 727012712.1666666 (= 4362076273 / 6).
  EXPECT_EQ(s.min_value, 7);
  EXPECT_EQ(s.max_value, 4294967295.0);
  EXPECT_EQ(s.percentile_values,
            (std::vector<double>{7, 16777217, 16777218, 4294967295.0}));
  EXPECT_EQ(s.mean, 4362076273.0 / 6);
  EXPECT_NEAR(s.mean, 727012712.1667, 1e-4);
  EXPECT_EQ(s.null_count, 0);
  // numpy.histogram(lengths, bins=4): [5, 0, 0, 1].
  EXPECT_EQ(s.bin_counts, (std::vector<int64_t>{5, 0, 0, 1}));
  EXPECT_EQ(s.bin_edges.front(), 7);
  EXPECT_EQ(s.bin_edges.back(), 4294967295.0);
}

TEST(ColumnStatsTest, ScoresMatchNumpyOnFloat64Casts) {
  // v = ((((i*7919) % 10007) - 5003) * 10.0**(i%7) / 3.0).astype(float32)
  // for i in range(1000); d = v.astype(np.float64).
  std::vector<float> v;
  for (int64_t i = 0; i < 1000; ++i) {
    v.push_back(
        static_cast<float>(static_cast<double>((i * 7919) % 10007 - 5003) *
                           std::pow(10.0, i % 7) / 3.0));
  }
  Columns c(std::vector<uint32_t>(v.size(), 1), v);
  ColumnStatsSpec spec;
  spec.bin_count = 7;
  spec.percentiles = {0, 10, 33.3, 50, 99.9, 100};
  ColumnStats s = MustCompute(c, "quality", spec);
  // numpy: np.mean(d) is 1327597.953821917, where a sequential sum gives
  // 1327597.9538219166.
  EXPECT_EQ(s.mean, 1327597.953821917);
  EXPECT_EQ(s.percentile_values,
            (std::vector<double>{-1648666624.0, -89930000.0,
                                 -49820.832464843865, 11.166666984558105,
                                 1645346375.936001, 1658333312.0}));
  EXPECT_EQ(s.bin_counts, (std::vector<int64_t>{20, 21, 20, 878, 19, 22, 20}));
  EXPECT_EQ(s.bin_edges,
            (std::vector<double>{-1648666624.0, -1176238061.7142859,
                                 -703809499.4285715, -231380937.14285707,
                                 241047625.14285707, 713476187.4285712,
                                 1185904749.7142859, 1658333312.0}));
}

TEST(ColumnStatsTest, EdgesAreNumpyLinspace) {
  // numpy: np.linspace(1, 2, 11)[7] is 1.7000000000000002 (7 * 0.1 + 1),
  // where 1 + (2 - 1) * 7 / 10 is 1.7.
  Columns c({1, 2});
  ColumnStatsSpec spec;
  spec.lower_bound = 1;
  spec.upper_bound = 2;
  ColumnStats s = MustCompute(c, "length", spec);
  ASSERT_EQ(s.bin_edges.size(), 11u);
  EXPECT_EQ(s.bin_edges[7], 1.7000000000000002);
  EXPECT_EQ(s.bin_counts.front(), 1);
  EXPECT_EQ(s.bin_counts.back(), 1);  // the last bin holds its upper edge
}

TEST(ColumnStatsTest, NullsDegenerateRangesAndNoValues) {
  Columns c({5, 5, 5}, {NAN, 2.5f, NAN});
  ColumnStatsSpec spec;
  spec.percentiles = {50};
  ColumnStats q = MustCompute(c, "quality", spec);
  EXPECT_EQ(q.null_count, 2);
  EXPECT_EQ(q.mean, 2.5);
  EXPECT_EQ(q.bin_edges.front(), 2.0);  // widened by 0.5, as numpy does
  EXPECT_EQ(q.bin_edges.back(), 3.0);
  ColumnStats l = MustCompute(c, "length", spec);
  EXPECT_EQ(l.bin_edges.front(), 4.5);
  EXPECT_EQ(l.percentile_values, std::vector<double>{5});

  Bitmap none(3, false);
  absl::StatusOr<ColumnStats> empty =
      ComputeColumnStats(c.set, "length", none, spec);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->mean, 0);
  EXPECT_EQ(empty->percentile_values, std::vector<double>{0});
  // numpy.histogram of no values: range [0, 1].
  EXPECT_EQ(empty->bin_edges.front(), 0);
  EXPECT_EQ(empty->bin_edges.back(), 1);
}

TEST(ColumnStatsTest, ErrorsNameTheField) {
  Columns c({10, 20});
  ColumnStatsSpec spec;
  absl::StatusOr<ColumnStats> s =
      ComputeColumnStats(c.set, "qualty", c.live, spec);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.status().message(), "column: unknown column"))
      << s.status();
  spec.lower_bound = 30;  // above every value, no upper_bound
  s = ComputeColumnStats(c.set, "length", c.live, spec);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.status().message(), "lower_bound: "))
      << s.status();
  spec.lower_bound.reset();
  spec.upper_bound = 5;
  s = ComputeColumnStats(c.set, "length", c.live, spec);
  EXPECT_TRUE(absl::StartsWith(s.status().message(), "upper_bound: "))
      << s.status();
}

// ---- Brute-force references ----

// numpy's linear percentile over sorted values widened to double.
double SortedPercentile(const std::vector<double>& sorted, double p) {
  const double index = static_cast<double>(sorted.size() - 1) * (p / 100.0);
  if (index >= static_cast<double>(sorted.size() - 1)) return sorted.back();
  const double lo = std::floor(index);
  const double a = sorted[static_cast<size_t>(lo)];
  const double b = sorted[static_cast<size_t>(lo) + 1];
  const double t = index - lo;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

// Each value's bin found by scanning numpy's linspace edges: bin i holds
// [edges[i], edges[i + 1]), the last bin also its upper edge.
void CheckBins(const std::vector<double>& values, double lo, double hi,
               int bins, const ColumnStats& s) {
  std::vector<double> edges(bins + 1);
  for (int k = 0; k < bins; ++k) edges[k] = k * ((hi - lo) / bins) + lo;
  edges[bins] = hi;
  ASSERT_EQ(s.bin_edges, edges);
  std::vector<int64_t> counts(bins, 0);
  int64_t under = 0, over = 0;
  for (double v : values) {
    if (v < lo) {
      ++under;
    } else if (v > hi) {
      ++over;
    } else {
      int b = bins - 1;
      while (b > 0 && v < edges[b]) --b;
      ++counts[b];
    }
  }
  EXPECT_EQ(s.bin_counts, counts);
  EXPECT_EQ(s.underflow_count, under);
  EXPECT_EQ(s.overflow_count, over);
}

TEST(ColumnStatsTest, RandomLengthsMatchExactIntegerArithmetic) {
  std::mt19937_64 rng(10);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng() % (trial < 100 ? 50 : 5000);
    std::vector<uint32_t> lengths(n);
    const int shift = static_cast<int>(rng() % 33);  // small to 2^32 - 1
    for (uint32_t& l : lengths) {
      l = static_cast<uint32_t>(rng() >> (32 + (shift == 32 ? 0 : shift)));
      if (rng() % 10 == 0) l = UINT32_MAX - static_cast<uint32_t>(rng() % 3);
    }
    Columns c(lengths);
    ColumnStatsSpec spec;
    spec.bin_count = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < 5; ++k) {
      spec.percentiles.push_back(static_cast<double>(rng() % 100001) / 1000);
    }
    spec.percentiles.push_back(0);
    spec.percentiles.push_back(100);
    ColumnStats s = MustCompute(c, "length", spec);

    std::vector<uint64_t> sorted(lengths.begin(), lengths.end());
    std::sort(sorted.begin(), sorted.end());
    uint64_t sum = 0;
    for (uint64_t l : sorted) sum += l;
    ASSERT_EQ(s.min_value, static_cast<double>(sorted.front()));
    ASSERT_EQ(s.max_value, static_cast<double>(sorted.back()));
    // Below 2^53 (always here: n * 2^32 < 2^53) one division of the exact
    // sum, as numpy's float64 sum is exact too.
    ASSERT_EQ(s.mean, static_cast<double>(sum) / static_cast<double>(n));
    std::vector<double> as_double(sorted.begin(), sorted.end());
    for (size_t k = 0; k < spec.percentiles.size(); ++k) {
      ASSERT_EQ(s.percentile_values[k],
                SortedPercentile(as_double, spec.percentiles[k]))
          << "trial " << trial << " p=" << spec.percentiles[k];
    }
    std::vector<double> values(lengths.begin(), lengths.end());
    const double lo = as_double.front(), hi = as_double.back();
    if (lo < hi) {
      CheckBins(values, lo, hi, spec.bin_count, s);
    }
  }
}

TEST(ColumnStatsTest, RandomScoresMatchFloat64Reference) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng() % (trial < 100 ? 50 : 5000);
    std::vector<float> scores(n);
    const float scale = std::pow(10.0f, static_cast<float>(rng() % 13) - 6);
    for (float& v : scores) {
      v = rng() % 8 == 0 ? NAN : normal(rng) * scale;
      if (rng() % 16 == 0) v = 0.5f;  // ties
    }
    Columns c(std::vector<uint32_t>(n, 1), scores);
    ColumnStatsSpec spec;
    spec.bin_count = 1 + static_cast<int>(rng() % 40);
    if (rng() % 2 == 0) {
      spec.lower_bound = -scale;
      spec.upper_bound = scale;
    }
    for (int k = 0; k < 5; ++k) {
      spec.percentiles.push_back(static_cast<double>(rng() % 100001) / 1000);
    }
    ColumnStats s = MustCompute(c, "quality", spec);

    std::vector<double> values;
    for (float v : scores) {
      if (!std::isnan(v)) values.push_back(v);
    }
    ASSERT_EQ(s.null_count, static_cast<int64_t>(n - values.size()));
    if (values.empty()) continue;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    ASSERT_EQ(s.min_value, sorted.front());
    ASSERT_EQ(s.max_value, sorted.back());
    // numpy's pairwise sum, in document order; within rounding of the
    // correctly rounded mean.
    ASSERT_EQ(s.mean, NumpySum(values) / static_cast<double>(values.size()));
    // The pairwise sum's error is within log2(n) roundings of the sum of
    // the magnitudes.
    long double exact = 0, magnitude = 0;
    for (double v : values) {
      exact += v;
      magnitude += std::fabs(v);
    }
    const double n_values = static_cast<double>(values.size());
    ASSERT_NEAR(s.mean, static_cast<double>(exact / n_values),
                static_cast<double>(magnitude / n_values) * 1e-14 + 1e-300);
    for (size_t k = 0; k < spec.percentiles.size(); ++k) {
      ASSERT_EQ(s.percentile_values[k],
                SortedPercentile(sorted, spec.percentiles[k]))
          << "trial " << trial << " p=" << spec.percentiles[k];
    }
    const double lo = spec.lower_bound.value_or(sorted.front());
    const double hi = spec.upper_bound.value_or(sorted.back());
    if (lo < hi) CheckBins(values, lo, hi, spec.bin_count, s);
  }
}

TEST(ColumnStatsTest, NumpySumIsPairwise) {
  // numpy: np.add.reduce(np.array([1e16, 1.0, -1e16] + [1.0] * 13)) is
  // 12.0; a sequential sum gives 13.0. (Eight accumulators: 1e16 + 1 and
  // -1e16 + 1 each round back, losing two of the ones.)
  std::vector<double> v = {1e16, 1.0, -1e16};
  v.resize(16, 1.0);
  EXPECT_EQ(NumpySum(v), 12.0);
}

}  // namespace
}  // namespace winnow
