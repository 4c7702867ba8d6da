// Properties of the selection steps in strategies.h, each against a
// brute-force reference or a worked example from docs/algorithms.md.
#include "selection/strategies.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>

#include "selection/hash.h"

namespace winnow {
namespace {

std::vector<std::string> Ids(size_t n) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back("doc-" + std::to_string(i));
  return ids;
}

// Chi-square statistic of observed counts against expected counts.
double ChiSquare(const std::vector<double>& observed,
                 const std::vector<double>& expected) {
  double x = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    x +=
        (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
  }
  return x;
}

TEST(AliasTableTest, DrawFrequenciesFollowTheWeights) {
  const std::vector<double> w = {1, 2, 3, 0.5, 8};  // df = 4
  absl::StatusOr<AliasTable> table = AliasTable::Build(w);
  ASSERT_TRUE(table.ok()) << table.status();
  double sum = 0;
  for (double x : w) sum += x;
  for (uint64_t seed : {1u, 2u, 3u}) {
    std::vector<double> observed(w.size(), 0);
    const uint64_t ek = EpochKey(seed, 0);
    const int draws = 200000;
    for (int i = 0; i < draws; ++i) {
      ++observed[table->Draw(PositionDraw(ek, i))];
    }
    std::vector<double> expected;
    for (double x : w) expected.push_back(draws * x / sum);
    EXPECT_LT(ChiSquare(observed, expected), 18.467) << "seed " << seed;
  }
}

TEST(AliasTableTest, ZeroWeightIsNeverDrawnAndBadWeightsAreRefused) {
  absl::StatusOr<AliasTable> table =
      AliasTable::Build(std::vector<double>{0.0, 1.0, 0.0, 3.0});
  ASSERT_TRUE(table.ok());
  for (int i = 0; i < 10000; ++i) {
    uint32_t d = table->Draw(PositionDraw(7, i));
    EXPECT_TRUE(d == 1 || d == 3) << d;
  }
  EXPECT_FALSE(AliasTable::Build(std::vector<double>{0.0, 0.0}).ok());
  EXPECT_FALSE(AliasTable::Build(std::vector<double>{1.0, -1.0}).ok());
  EXPECT_FALSE(AliasTable::Build(std::vector<double>{1.0, NAN}).ok());
  EXPECT_FALSE(AliasTable::Build(std::vector<double>{}).ok());
}

TEST(OrderingTest, FoldingMatchesTheDeltExample) {
  std::vector<uint32_t> sorted = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  EXPECT_EQ(FoldingOrder(sorted, 3),
            (std::vector<uint32_t>{0, 3, 6, 1, 4, 7, 2, 5, 8}));
  EXPECT_EQ(FoldingOrder(sorted, 1), sorted);
  // Position p of fold l is sorted index l + p * L.
  std::vector<uint32_t> ten(10);
  for (uint32_t i = 0; i < 10; ++i) ten[i] = i;
  EXPECT_EQ(FoldingOrder(ten, 4),
            (std::vector<uint32_t>{0, 4, 8, 1, 5, 9, 2, 6, 3, 7}));
}

TEST(OrderingTest, SortByScoreBreaksTiesByDocIdAndDropsNulls) {
  // Ids chosen so that index order and id order differ.
  std::vector<std::string> ids = {"d", "b", "a", "c", "e"};
  std::vector<float> scores = {0.5f, 0.5f, NAN, 0.1f, 0.5f};
  DocIdFn id = [&](uint32_t i) { return std::string_view(ids[i]); };
  EXPECT_EQ(SortByScore(scores, /*descending=*/false, id),
            (std::vector<uint32_t>{3, 1, 0, 4}));
  EXPECT_EQ(SortByScore(scores, /*descending=*/true, id),
            (std::vector<uint32_t>{1, 0, 4, 3}));
  EXPECT_EQ(SortByDocId(5, id), (std::vector<uint32_t>{2, 1, 3, 0, 4}));
}

TEST(ClusterBalancedTest, WaterFillsFromTheSmallestCluster) {
  // Clusters 1 (1 doc) and 2 (2 docs) are tiny; 3, 4, 5 have 5, 10, 20.
  std::vector<float> clusters;
  for (auto [c, size] : std::vector<std::pair<float, int>>{
           {1, 1}, {2, 2}, {3, 5}, {4, 10}, {5, 20}}) {
    for (int i = 0; i < size; ++i) clusters.push_back(c);
  }
  clusters.push_back(NAN);  // excluded
  std::vector<std::string> ids = Ids(clusters.size());
  std::vector<uint64_t> hashes;
  for (const auto& s : ids) hashes.push_back(IdHash(s));
  DocIdFn id = [&](uint32_t i) { return std::string_view(ids[i]); };
  auto per_cluster = [&](const std::vector<uint32_t>& sel) {
    std::map<float, int> count;
    for (uint32_t i : sel) ++count[clusters[i]];
    return count;
  };
  // Budget 18: quotas 18/3 = 6 (cluster 3 whole: 5), 13/2 = 6, 7/1 = 7.
  for (uint64_t seed : {1u, 9u}) {
    std::vector<uint32_t> sel =
        ClusterBalancedSelect(clusters, hashes, 18, seed, id);
    EXPECT_EQ(sel.size(), 18u);
    EXPECT_TRUE(std::is_sorted(sel.begin(), sel.end()));
    EXPECT_EQ(per_cluster(sel), (std::map<float, int>{{3, 5}, {4, 6}, {5, 7}}));
  }
  // Budget 40: every big cluster whole (35), leftover 5 > the 3 tiny ones.
  std::vector<uint32_t> all =
      ClusterBalancedSelect(clusters, hashes, 40, 1, id);
  EXPECT_EQ(all.size(), 38u);
  EXPECT_EQ(per_cluster(all),
            (std::map<float, int>{{1, 1}, {2, 2}, {3, 5}, {4, 10}, {5, 20}}));
  // Budget 36: leftover 1 comes from the tiny clusters.
  EXPECT_EQ(ClusterBalancedSelect(clusters, hashes, 36, 1, id).size(), 36u);
  // Seeds change which members of a sampled cluster are taken.
  EXPECT_NE(ClusterBalancedSelect(clusters, hashes, 18, 1, id),
            ClusterBalancedSelect(clusters, hashes, 18, 2, id));
}

TEST(RepetitionBudgetTest, FollowsTheRecursionAndPicksTheLeastError) {
  std::vector<PoolParams> pools = DefaultPools();
  const std::vector<int64_t> sizes = {25000, 25000, 25000, 25000};
  const int64_t budget = 400000;
  absl::StatusOr<PoolPrediction> p = PredictPools(sizes, pools, budget);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->choices.size(), 4u);
  double best = 1e9;
  int best_m = 0;
  for (const PoolChoice& c : p->choices) {
    const int m = c.pool_count;
    const int64_t size = 25000 * m;
    EXPECT_EQ(c.pool_size, size);
    EXPECT_EQ(c.repetitions, (budget + size - 1) / size);
    ASSERT_EQ(static_cast<int64_t>(c.curve.size()), c.repetitions);
    // The reference recursion with std::pow.
    double y = 0, n_prev = 0, a = 0.025, d = 0.1;
    for (int64_t e = 0; e < c.repetitions; ++e) {
      double n = std::min<double>(size * (e + 1), budget);
      double b = 0;
      for (int i = 0; i < m; ++i)
        b += pools[i].b * std::pow(0.5, e / pools[i].tau);
      b /= m;
      y = e == 0 ? std::pow(a * n / 1e5, b) + d : y * std::pow(n / n_prev, b);
      n_prev = n;
      EXPECT_EQ(c.curve[e].samples, static_cast<int64_t>(n));
      EXPECT_NEAR(c.curve[e].error, y, 1e-9 * y) << "m=" << m << " e=" << e;
    }
    EXPECT_NEAR(c.predicted_error, y, 1e-9 * y);
    if (y < best) {
      best = y;
      best_m = m;
    }
  }
  EXPECT_EQ(p->chosen, best_m);
  // A large budget makes repeating the best pool costly: more pools win.
  absl::StatusOr<PoolPrediction> small = PredictPools(sizes, pools, 20000);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->choices[0].repetitions, 1);
  EXPECT_FALSE(PredictPools(sizes, pools, 0).ok());
  pools[1].b = 0.1;
  EXPECT_FALSE(PredictPools(sizes, pools, budget).ok());
}

TEST(BucketEdgesTest, BucketsHoldAboutEqualTokens) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> dist(std::log(600.0), 1.0);
  std::vector<uint32_t> lengths;
  for (int i = 0; i < 100000; ++i) {
    lengths.push_back(static_cast<uint32_t>(
        std::clamp(std::round(dist(rng)), 16.0, 32768.0)));
  }
  std::vector<uint32_t> edges = EstimateBucketEdges(lengths, 10);
  ASSERT_EQ(edges.size(), 9u);
  EXPECT_TRUE(std::is_sorted(edges.begin(), edges.end()));
  EXPECT_EQ(std::adjacent_find(edges.begin(), edges.end()), edges.end());
  BucketBatcher b(edges, 0, std::vector<int32_t>(10, 1));
  std::vector<double> tokens(10, 0);
  double total = 0;
  for (uint32_t l : lengths) {
    tokens[b.BucketOf(l)] += l;
    total += l;
  }
  for (int k = 0; k < 10; ++k) {
    EXPECT_NEAR(tokens[k] / total, 0.1, 0.02) << "bucket " << k;
  }
}

TEST(BucketBatcherTest, BatchesRespectTheBudgetAndServeEverySampleOnce) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> dist(std::log(600.0), 1.0);
  std::vector<uint32_t> lengths;
  for (int i = 0; i < 20000; ++i) {
    lengths.push_back(static_cast<uint32_t>(
        std::clamp(std::round(dist(rng)), 16.0, 32768.0)));
  }
  for (int64_t budget : {4096, 16384}) {
    BucketBatcher b(EstimateBucketEdges(lengths, 30), budget, {});
    std::vector<Batch> out;
    for (uint32_t i = 0; i < lengths.size(); ++i) b.Add(i, lengths[i], &out);
    b.Flush(&out);
    std::vector<int> seen(lengths.size(), 0);
    int over = 0;
    double padded = 0, used = 0;
    for (const Batch& batch : out) {
      ASSERT_FALSE(batch.items.empty());
      uint32_t longest = 0;
      for (uint32_t i : batch.items) {
        ++seen[i];
        longest = std::max(longest, lengths[i]);
        used += lengths[i];
        EXPECT_EQ(b.BucketOf(lengths[i]), batch.bucket);
      }
      padded += double(longest) * batch.items.size();
      if (batch.over_budget) {
        ++over;
        EXPECT_EQ(batch.items.size(), 1u);
        EXPECT_GT(longest, budget);
      } else {
        EXPECT_LE(int64_t(longest) * int64_t(batch.items.size()), budget);
      }
    }
    for (int s : seen) ASSERT_EQ(s, 1);
    int expected_over = 0;
    for (uint32_t l : lengths) expected_over += l > budget;
    EXPECT_EQ(over, expected_over);
    // Bucketing keeps padding low (far below unbucketed batches).
    EXPECT_LT(1 - used / padded, 0.12) << "budget " << budget;
  }
}

TEST(BucketBatcherTest, FixedBatchSizesPerBucket) {
  BucketBatcher b({100, 200}, 0, {4, 2, 1});
  std::vector<Batch> out;
  const uint32_t lengths[] = {50, 150, 60, 250, 150, 70, 80};
  for (uint32_t i = 0; i < 7; ++i) b.Add(i, lengths[i], &out);
  // Bucket 2 emits every sample; bucket 1 at 2; bucket 0 at 4.
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].items, (std::vector<uint32_t>{3}));
  EXPECT_EQ(out[1].items, (std::vector<uint32_t>{1, 4}));
  EXPECT_EQ(out[2].items, (std::vector<uint32_t>{0, 2, 5, 6}));
  out.clear();
  b.Flush(&out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace winnow
