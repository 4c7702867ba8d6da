// Target directions and similarities against a double-precision reference:
// the normalized mean of the unit targets (zero targets left out), the
// centroids of planted target groups, and the greatest cosine per row.
#include "selection/target_similarity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace winnow {
namespace {

constexpr uint32_t kDim = 12;

std::vector<float> RandomRows(std::mt19937& rng, size_t n, float scale = 1) {
  std::normal_distribution<float> normal(0, scale);
  std::vector<float> rows(n * kDim);
  for (float& v : rows) v = normal(rng);
  return rows;
}

// The unit direction of the mean of the unit rows, in double.
std::vector<double> MeanDirection(const std::vector<float>& rows) {
  std::vector<double> sum(kDim, 0.0);
  for (size_t r = 0; r < rows.size() / kDim; ++r) {
    double n2 = 0;
    for (uint32_t j = 0; j < kDim; ++j)
      n2 += double{rows[r * kDim + j]} * rows[r * kDim + j];
    if (n2 == 0) continue;
    for (uint32_t j = 0; j < kDim; ++j)
      sum[j] += rows[r * kDim + j] / std::sqrt(n2);
  }
  double n2 = 0;
  for (double v : sum) n2 += v * v;
  for (double& v : sum) v /= std::sqrt(n2);
  return sum;
}

// Greatest cosine of row r with the directions (0 for a zero row).
double BestCosine(const std::vector<float>& rows, size_t r,
                  const std::vector<std::vector<double>>& directions) {
  double n2 = 0;
  for (uint32_t j = 0; j < kDim; ++j)
    n2 += double{rows[r * kDim + j]} * rows[r * kDim + j];
  if (n2 == 0) return 0;
  double best = -2;
  for (const std::vector<double>& d : directions) {
    double dot = 0;
    for (uint32_t j = 0; j < kDim; ++j) dot += rows[r * kDim + j] * d[j];
    best = std::max(best, dot / std::sqrt(n2));
  }
  return best;
}

EmbeddingRows Dense(const std::vector<float>& rows) {
  EmbeddingRows e;
  e.dense = rows;
  e.dense_dim = kDim;
  return e;
}

TEST(TargetSimilarityTest, MeanDirectionSkipsZeroTargets) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    std::vector<float> targets = RandomRows(rng, 9, 3.0f);
    std::fill(targets.begin() + 2 * kDim, targets.begin() + 3 * kDim, 0.0f);
    absl::StatusOr<std::vector<float>> got =
        TargetDirections(targets, kDim, {}, nullptr);
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<double> want = MeanDirection(targets);
    ASSERT_EQ(got->size(), kDim);
    for (uint32_t j = 0; j < kDim; ++j) EXPECT_NEAR((*got)[j], want[j], 1e-6);
  }
}

TEST(TargetSimilarityTest, SimilarityIsTheBestCosineAndZeroForZeroRows) {
  std::mt19937 rng(7);
  std::vector<float> rows = RandomRows(rng, 5000);
  std::fill(rows.begin() + 10 * kDim, rows.begin() + 11 * kDim, 0.0f);
  const std::vector<float> targets = RandomRows(rng, 4);
  for (int threads : {1, 2}) {
    absl::StatusOr<std::vector<float>> directions =
        TargetDirections(targets, kDim, {}, nullptr);
    ASSERT_TRUE(directions.ok());
    absl::StatusOr<std::vector<float>> got =
        TargetSimilarities(Dense(rows), *directions, threads, nullptr);
    ASSERT_TRUE(got.ok()) << got.status();
    const std::vector<std::vector<double>> want_dirs = {
        std::vector<double>(directions->begin(), directions->end())};
    for (size_t r = 0; r < 5000; ++r) {
      ASSERT_NEAR((*got)[r], BestCosine(rows, r, want_dirs), 2e-6) << r;
    }
    EXPECT_EQ((*got)[10], 0.0f);
  }
}

TEST(TargetSimilarityTest, CentroidsOfPlantedGroupsAreTheirMeans) {
  std::mt19937 rng(11);
  const std::vector<float> centers = RandomRows(rng, 3);
  std::normal_distribution<float> noise(0, 1e-3f);
  std::vector<float> targets;
  std::vector<std::vector<double>> want;
  for (int g = 0; g < 3; ++g) {
    std::vector<float> group;
    for (int m = 0; m < 6; ++m) {
      for (uint32_t j = 0; j < kDim; ++j) {
        group.push_back(centers[g * kDim + j] + noise(rng));
      }
    }
    want.push_back(MeanDirection(group));
    targets.insert(targets.end(), group.begin(), group.end());
  }
  TargetOptions options;
  options.centroid_count = 3;
  options.seed = 5;
  absl::StatusOr<std::vector<float>> directions =
      TargetDirections(targets, kDim, options, nullptr);
  ASSERT_TRUE(directions.ok()) << directions.status();
  ASSERT_EQ(directions->size(), 3 * kDim);
  const std::vector<float> rows = RandomRows(rng, 2000);
  absl::StatusOr<std::vector<float>> got =
      TargetSimilarities(Dense(rows), *directions, 2, nullptr);
  ASSERT_TRUE(got.ok());
  for (size_t r = 0; r < 2000; ++r) {
    ASSERT_NEAR((*got)[r], BestCosine(rows, r, want), 2e-6) << r;
  }
}

TEST(TargetSimilarityTest, BadTargetsAreInvalid) {
  const std::vector<float> zeros(3 * kDim, 0.0f);
  EXPECT_EQ(TargetDirections(zeros, kDim, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TargetDirections({}, kDim, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Two opposite targets cancel out.
  std::vector<float> opposite(2 * kDim, 0.0f);
  opposite[0] = 1;
  opposite[kDim] = -1;
  EXPECT_EQ(TargetDirections(opposite, kDim, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  TargetOptions three;
  three.centroid_count = 3;
  EXPECT_EQ(TargetDirections(opposite, kDim, three, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace winnow
