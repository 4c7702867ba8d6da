// pct(): numpy.percentile's default (linear) method, on the values widened
// to double, over live non-null values only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "selection/bitmap.h"
#include "selection/filter/percentile.h"
#include "tests/sanitized.h"

namespace winnow::filter {
namespace {

// The same definition by a full sort (numpy's _quantile and _lerp).
double SortedPercentile(std::vector<float> values, double p) {
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  double index = (static_cast<double>(v.size()) - 1) * (p / 100.0);
  if (index >= static_cast<double>(v.size() - 1)) return v.back();
  double lo = std::floor(index);
  double a = v[static_cast<size_t>(lo)], b = v[static_cast<size_t>(lo) + 1];
  double g = index - lo;
  return g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
}

TEST(FilterPercentileTest, MatchesNumpyPercentile) {
  // Expected values from numpy 1.24:
  //   v = np.array([...], dtype=np.float32).astype(np.float64)
  //   np.percentile(v, p)
  const std::vector<float> values = {0.1f,  0.7f,  0.2f,  0.3f, 0.9f,
                                     0.35f, -1.5f, 2.25f, 0.3f, 1e-3f};
  const std::vector<std::pair<double, double>> expected = {
      {0, -1.5},
      {10, -0.14909999995725226},
      {25, 0.12500000186264515},
      {33.3, 0.19970000297576188},
      {50, 0.30000001192092896},
      {66.6, 0.34969999414682384},
      {90, 1.0349999785423274},
      {99.9, 2.2378499997854253},
      {100, 2.25},
  };
  for (auto [p, want] : expected) {
    std::vector<float> v = values;
    EXPECT_EQ(LinearPercentile(v, p), want) << "p=" << p;
  }
}

TEST(FilterPercentileTest, SingleValueIsEveryPercentile) {
  for (double p : {0.0, 37.0, 100.0}) {
    std::vector<float> v = {5.0f};
    EXPECT_EQ(LinearPercentile(v, p), 5.0);
  }
}

TEST(FilterPercentileTest, SelectionMatchesAFullSortOnRandomInputs) {
  std::mt19937_64 rng(11);
  // A sanitizer build tries every third trial (tests/sanitized.h): each
  // size and each kind of values still.
  const int step = ::winnow::testing::kSanitized ? 3 : 1;
  for (int trial = 0; trial < 300; trial += step) {
    // Small inputs, and inputs past the size where a histogram narrows the
    // selection.
    size_t n = 1 + rng() % (trial < 100 ? 10 : trial < 200 ? 3000 : 40000);
    std::vector<float> values(n);
    for (float& x : values) {
      switch (trial % 4) {
        case 0:  // few distinct values, so ties are common
          x = static_cast<float>(rng() % 5);
          break;
        case 1:  // +-0, subnormals, extremes and neighbours
          x = std::vector<float>{
              0.0f,  -0.0f,  1e-45f, -1e-45f,
              3e38f, -3e38f, 1.0f,   std::nextafter(1.0f, 2.0f)}[rng() % 8];
          break;
        case 2:  // a narrow range: one histogram bucket holds most values
          x = 1.0f + static_cast<float>(rng() % 1000) * 1e-7f;
          break;
        default:
          x = std::uniform_real_distribution<float>(-1e6f, 1e6f)(rng);
      }
    }
    for (double p : {0.0, 0.5, 10.0, 25.0, 50.0, 75.0, 90.0, 99.0, 99.99, 100.0,
                     (rng() % 100001) / 1000.0}) {
      std::vector<float> v = values;
      ASSERT_EQ(LinearPercentile(v, p), SortedPercentile(values, p))
          << "n=" << n << " p=" << p;
    }
  }
}

TEST(FilterPercentileTest, ColumnPercentileSkipsNullsAndDeletedRows) {
  const float null = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> column = {100, 1, null, 2, 3, 1000, 4};
  Bitmap live(7, true);
  live.Clear(0);  // 100 is deleted
  live.Clear(5);  // 1000 is deleted
  // Live non-null values: 1, 2, 3, 4.
  EXPECT_EQ(ColumnPercentile(column, live, 0), 1.0);
  EXPECT_EQ(ColumnPercentile(column, live, 50), 2.5);
  EXPECT_EQ(ColumnPercentile(column, live, 100), 4.0);
}

TEST(FilterPercentileTest, ColumnPercentileOfNoValuesIsNullopt) {
  const float null = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> column = {null, 7, null};
  Bitmap live(3, true);
  live.Clear(1);
  EXPECT_EQ(ColumnPercentile(column, live, 50), std::nullopt);
}

}  // namespace
}  // namespace winnow::filter
