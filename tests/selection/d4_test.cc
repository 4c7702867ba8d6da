// RunD4 (selection/semdedup.h): the keep ratios it reaches, per cluster and
// globally, the same result on 1 and 2 threads, and its argument checks.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "selection/semdedup.h"

namespace winnow {
namespace {

// n unit-ish Gaussian rows of `dim`, a fifth of them near-copies of others.
std::vector<float> Rows(uint64_t seed, size_t n, uint32_t dim) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss;
  std::vector<float> rows(n * dim);
  for (float& x : rows) x = gauss(rng);
  for (size_t i = 0; i < n / 5; ++i) {
    const size_t source = n / 5 + 3 * i;
    for (uint32_t d = 0; d < dim; ++d) {
      rows[i * dim + d] = rows[source * dim + d] + 0.01f * gauss(rng);
    }
  }
  return rows;
}

TEST(D4Test, ReachesItsKeepRatiosPerClusterAndGlobally) {
  const size_t n = 3000;
  const uint32_t dim = 16;
  const std::vector<float> data = Rows(3, n, dim);
  EmbeddingRows rows;
  rows.dense = data;
  rows.dense_dim = dim;
  for (const bool per_cluster : {true, false}) {
    for (const auto& [dedup, total] :
         {std::pair{0.75, 0.5}, std::pair{0.9, 0.3}, std::pair{0.7, 0.7}}) {
      SCOPED_TRACE(testing::Message()
                   << per_cluster << " " << dedup << " " << total);
      D4Options o;
      o.kmeans.k = 30;
      o.kmeans.max_iterations = 8;
      o.kmeans.init = KMeansInit::kRandom;
      o.kmeans.seed = 9;
      o.dedup_keep_ratio = dedup;
      o.total_keep_ratio = total;
      o.per_cluster = per_cluster;
      o.threads = 2;
      absl::StatusOr<D4Output> two = RunD4(rows, o, nullptr);
      ASSERT_TRUE(two.ok()) << two.status();
      o.threads = 1;
      absl::StatusOr<D4Output> one = RunD4(rows, o, nullptr);
      ASSERT_TRUE(one.ok()) << one.status();
      EXPECT_EQ(one->pruned, two->pruned);
      EXPECT_EQ(one->epsilon, two->epsilon);

      ASSERT_EQ(two->pruned.size(), n);
      int64_t pruned = 0;
      for (const uint8_t p : two->pruned) pruned += p;
      EXPECT_EQ(pruned, two->pruned_count);
      const double kept = static_cast<double>(n - pruned);
      EXPECT_NEAR(kept, total * n, 0.01 * n);
      EXPECT_EQ(static_cast<uint64_t>(kept), KeepCount(total, n));
      // SemDeDup kept at least dedup_keep_ratio, and marked the planted
      // copies (a fifth of the rows) when it may.
      EXPECT_GE(static_cast<uint64_t>(n - two->duplicate_count),
                KeepCount(dedup, n));
      EXPECT_GT(two->epsilon, 0);
      EXPECT_LT(two->epsilon, 1);
      if (dedup <= 0.8) EXPECT_GE(two->duplicate_count, int64_t{n / 5});
    }
  }
}

TEST(D4Test, RejectsRatiosOutsideTheirRanges) {
  const std::vector<float> data = Rows(4, 50, 4);
  EmbeddingRows rows;
  rows.dense = data;
  rows.dense_dim = 4;
  for (const auto& [dedup, total] :
       {std::pair{0.0, 0.5}, std::pair{1.5, 0.5}, std::pair{0.5, 0.6},
        std::pair{0.5, 0.0}, std::pair{0.5, -1.0}, std::pair{std::nan(""), 0.5}}) {
    D4Options o;
    o.kmeans.k = 3;
    o.dedup_keep_ratio = dedup;
    o.total_keep_ratio = total;
    EXPECT_EQ(RunD4(rows, o, nullptr).status().code(),
              absl::StatusCode::kInvalidArgument)
        << dedup << " " << total;
  }
}

}  // namespace
}  // namespace winnow
