#include "selection/semdedup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace winnow {
namespace {

constexpr float kNone = -std::numeric_limits<float>::infinity();

struct Data {
  uint32_t dim = 0;
  std::vector<float> rows;  // n x dim
  std::vector<uint32_t> cluster;
  std::vector<float> distance;
  std::vector<uint32_t> second;

  size_t n() const { return cluster.size(); }
  EmbeddingRows Rows() const {
    EmbeddingRows r;
    r.dense = rows;
    r.dense_dim = dim;
    return r;
  }
  SemDedupAssignment Assignment(bool with_second) const {
    SemDedupAssignment a{
        .cluster = cluster, .distance = distance, .second_cluster = {}};
    if (with_second) a.second_cluster = second;
    return a;
  }
};

std::vector<float> Gaussian(std::mt19937_64& rng, size_t count,
                            double sigma = 1.0) {
  std::normal_distribution<double> normal(0.0, sigma);
  std::vector<float> v(count);
  for (float& x : v) x = static_cast<float>(normal(rng));
  return v;
}

void Normalize(float* v, uint32_t dim) {
  double sum = 0;
  for (uint32_t d = 0; d < dim; ++d) sum += double{v[d]} * v[d];
  const double inverse = 1.0 / std::sqrt(sum);
  for (uint32_t d = 0; d < dim; ++d) v[d] = static_cast<float>(v[d] * inverse);
}

double Cosine(const Data& data, size_t a, size_t b) {
  double dot = 0, na = 0, nb = 0;
  for (uint32_t d = 0; d < data.dim; ++d) {
    const double x = data.rows[a * data.dim + d];
    const double y = data.rows[b * data.dim + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0.0;
}

// The rule over all pairs, in double: M of the later member of each
// compared pair.
std::vector<double> Reference(const Data& data, bool with_second) {
  const size_t n = data.n();
  std::vector<double> m(n, -std::numeric_limits<double>::infinity());
  auto before = [&](size_t a, size_t b) {
    return data.distance[a] != data.distance[b]
               ? data.distance[a] > data.distance[b]
               : a < b;
  };
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      const bool same = data.cluster[a] == data.cluster[b];
      const bool across = with_second && (data.second[a] == data.cluster[b] ||
                                          data.second[b] == data.cluster[a]);
      if (!same && !across) continue;
      const size_t later = before(a, b) ? b : a;
      m[later] = std::max(m[later], Cosine(data, a, b));
    }
  }
  return m;
}

// Random rows with skewed clusters (one larger than a tile of rows and of
// columns), gaps in the cluster ids, distances with ties, exact duplicate
// rows, a zero row, and second clusters that are sometimes the row's own
// cluster or a cluster nobody is in.
Data RandomData(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  Data data;
  data.dim = 16;
  data.rows = Gaussian(rng, n * data.dim);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (size_t i = 0; i < n; ++i) {
    const double x = u(rng);
    // Cluster 0 holds about 60% of the rows; ids are multiples of 3.
    const uint32_t c = x < 0.6 ? 0 : 3 * static_cast<uint32_t>(1 + 8 * u(rng));
    data.cluster.push_back(c);
    data.distance.push_back(std::floor(u(rng) * 32) / 32.0f);
    const double y = u(rng);
    data.second.push_back(y < 0.1    ? c
                          : y < 0.15 ? 1000
                                     : 3 * static_cast<uint32_t>(9 * u(rng)));
  }
  // Exact duplicates (also across clusters) and a zero row.
  for (size_t i = 0; i + 1 < n; i += 37) {
    std::copy_n(data.rows.begin() + i * data.dim, data.dim,
                data.rows.begin() + (i + 1) * data.dim);
  }
  std::fill_n(data.rows.begin() + 5 * data.dim, data.dim, 0.0f);
  return data;
}

TEST(SemDedupTest, EqualsBruteForceReferenceOfTheRule) {
  for (const uint64_t seed : {1u, 2u, 3u}) {
    const Data data = RandomData(seed, 1900);
    for (const bool with_second : {false, true}) {
      SCOPED_TRACE(testing::Message()
                   << "seed " << seed << " second " << with_second);
      const std::vector<double> want = Reference(data, with_second);
      absl::StatusOr<std::vector<float>> one = SemDedupMaxSimilarity(
          data.Rows(), data.Assignment(with_second), 1, nullptr);
      absl::StatusOr<std::vector<float>> two = SemDedupMaxSimilarity(
          data.Rows(), data.Assignment(with_second), 2, nullptr);
      ASSERT_TRUE(one.ok()) << one.status();
      ASSERT_TRUE(two.ok()) << two.status();
      ASSERT_EQ(one->size(), data.n());
      size_t compared = 0;
      for (size_t i = 0; i < data.n(); ++i) {
        // The same bits whatever the thread count.
        ASSERT_EQ(std::bit_cast<uint32_t>((*one)[i]),
                  std::bit_cast<uint32_t>((*two)[i]))
            << i;
        if (std::isinf(want[i])) {
          EXPECT_EQ((*one)[i], kNone) << i;
        } else {
          ++compared;
          EXPECT_NEAR((*one)[i], want[i], 2e-6) << i;
        }
      }
      // Nearly every row has an earlier one to compare with.
      EXPECT_GT(compared, data.n() * 9 / 10);
    }
  }
}

TEST(SemDedupTest, ExactDuplicatesAndTheirOrder) {
  // Rows 0 and 1 equal, in one cluster: the farther (row 1) comes first, so
  // row 0 is the marked one. Rows 2 and 3 equal with equal distances: the
  // lower index comes first, so row 3 is marked.
  Data data;
  data.dim = 2;
  data.rows = {1, 0, 1, 0, 0, 1, 0, 1};
  data.cluster = {7, 7, 7, 7};
  data.distance = {0.1f, 0.2f, 0.05f, 0.05f};
  absl::StatusOr<std::vector<float>> m =
      SemDedupMaxSimilarity(data.Rows(), data.Assignment(false), 2, nullptr);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)[1], kNone);
  EXPECT_FLOAT_EQ((*m)[0], 1.0f);
  EXPECT_FLOAT_EQ((*m)[2], 0.0f);
  EXPECT_FLOAT_EQ((*m)[3], 1.0f);
  EXPECT_EQ(CountSemDuplicates(*m, 0.05), 2);
}

TEST(SemDedupTest, MatrixRowsGiveTheDenseResult) {
  const Data data = RandomData(9, 700);
  // The odd rows of `data` as ordinals 1, 3, 5, ... of a matrix.
  EmbeddingMatrix matrix;
  matrix.dim = data.dim;
  matrix.num_rows = static_cast<uint32_t>(2 * data.n());
  matrix.present = Bitmap(matrix.num_rows);
  auto block = std::make_shared<EmbeddingBlock>();
  block->rows = matrix.num_rows;
  block->f32.assign(size_t{matrix.num_rows} * data.dim, 0.0f);
  block->norms.assign(matrix.num_rows, 0.0f);
  std::vector<uint32_t> ordinals;
  for (size_t i = 0; i < data.n(); ++i) {
    const uint32_t o = static_cast<uint32_t>(2 * i + 1);
    ordinals.push_back(o);
    matrix.present.Set(o);
    std::copy_n(data.rows.begin() + i * data.dim, data.dim,
                block->f32.begin() + size_t{o} * data.dim);
  }
  matrix.blocks.push_back(block);
  EmbeddingRows rows;
  rows.matrix = &matrix;
  rows.ordinals = ordinals;
  absl::StatusOr<std::vector<float>> from_matrix =
      SemDedupMaxSimilarity(rows, data.Assignment(true), 2, nullptr);
  absl::StatusOr<std::vector<float>> from_dense =
      SemDedupMaxSimilarity(data.Rows(), data.Assignment(true), 2, nullptr);
  ASSERT_TRUE(from_matrix.ok()) << from_matrix.status();
  ASSERT_TRUE(from_dense.ok()) << from_dense.status();
  EXPECT_EQ(*from_matrix, *from_dense);
}

TEST(SemDedupTest, RejectsMisalignedAssignment) {
  const Data data = RandomData(4, 10);
  SemDedupAssignment a = data.Assignment(false);
  a.distance = a.distance.subspan(1);
  EXPECT_EQ(SemDedupMaxSimilarity(data.Rows(), a, 1, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

class CancelledJob : public JobContext {
 public:
  void SetPhase(std::string) override {}
  void SetTotal(int64_t, std::string) override {}
  void SetDone(int64_t) override {}
  bool Cancelled() const override { return true; }
};

TEST(SemDedupTest, CancelledJobStops) {
  const Data data = RandomData(5, 300);
  CancelledJob job;
  EXPECT_EQ(SemDedupMaxSimilarity(data.Rows(), data.Assignment(true), 2, &job)
                .status()
                .code(),
            absl::StatusCode::kCancelled);
}

// Planted near-duplicates: sources scattered around centroids; a quarter of
// the sources sit near the bisector of two centroids, so that a cluster
// boundary separates many of those pairs. Each row belongs to its nearest of
// the centroids (second: the next nearest).
struct Planted {
  Data data;
  // (source, duplicate) rows.
  std::vector<std::pair<size_t, size_t>> pairs;
};

Planted PlantedData(uint64_t seed) {
  std::mt19937_64 rng(seed);
  constexpr uint32_t kDim = 64;
  constexpr size_t kCentroids = 40;
  constexpr size_t kSources = 3000;
  constexpr size_t kPairs = 400;
  Planted p;
  Data& data = p.data;
  data.dim = kDim;
  std::vector<float> centroids = Gaussian(rng, kCentroids * kDim);
  for (size_t c = 0; c < kCentroids; ++c) Normalize(&centroids[c * kDim], kDim);
  // Sources around a random centroid (cosine about 0.64 to it), ...
  data.rows = Gaussian(rng, kSources * kDim, 0.15);
  std::uniform_int_distribution<size_t> pick(0, kCentroids - 1);
  for (size_t i = 0; i < kSources; ++i) {
    const size_t c = pick(rng);
    for (uint32_t d = 0; d < kDim; ++d) {
      data.rows[i * kDim + d] += centroids[c * kDim + d];
    }
  }
  // ... but sources 0 .. kPairs / 4 - 1 near the bisector of two centroids.
  for (size_t i = 0; i < kPairs / 4; ++i) {
    const size_t a = (2 * i) % kCentroids;
    const size_t b = (2 * i + 1 + i / 20) % kCentroids;
    const std::vector<float> noise = Gaussian(rng, kDim, 0.01);
    for (uint32_t d = 0; d < kDim; ++d) {
      data.rows[i * kDim + d] =
          centroids[a * kDim + d] + centroids[b * kDim + d] + noise[d];
    }
  }
  for (size_t i = 0; i < kSources; ++i) Normalize(&data.rows[i * kDim], kDim);
  // The duplicates: normalize(source + N(0, 0.02^2)) (cosine about 0.987).
  for (size_t i = 0; i < kPairs; ++i) {
    const size_t source = i < kPairs / 4 ? i : kPairs / 4 + 5 * i;
    const std::vector<float> noise = Gaussian(rng, kDim, 0.02);
    const size_t row = data.rows.size() / kDim;
    for (uint32_t d = 0; d < kDim; ++d) {
      data.rows.push_back(data.rows[source * kDim + d] + noise[d]);
    }
    Normalize(&data.rows[row * kDim], kDim);
    p.pairs.emplace_back(source, row);
  }
  const size_t n = data.rows.size() / kDim;
  for (size_t i = 0; i < n; ++i) {
    double best = -2, next = -2;
    uint32_t best_c = 0, next_c = 0;
    for (uint32_t c = 0; c < kCentroids; ++c) {
      double dot = 0;
      for (uint32_t d = 0; d < kDim; ++d) {
        dot += double{data.rows[i * kDim + d]} * centroids[c * kDim + d];
      }
      if (dot > best) {
        next = best;
        next_c = best_c;
        best = dot;
        best_c = c;
      } else if (dot > next) {
        next = dot;
        next_c = c;
      }
    }
    data.cluster.push_back(best_c);
    data.distance.push_back(static_cast<float>(1 - best));
    data.second.push_back(next_c);
  }
  return p;
}

struct Found {
  double recall;
  double precision;
};

Found Score(const Planted& p, const std::vector<float>& m, double epsilon) {
  size_t found = 0;
  size_t marked = 0;
  for (const float x : m) marked += IsSemDuplicate(x, epsilon);
  for (const auto& [a, b] : p.pairs) {
    found += IsSemDuplicate(m[a], epsilon) != IsSemDuplicate(m[b], epsilon);
  }
  return {static_cast<double>(found) / p.pairs.size(),
          marked == 0 ? 1.0 : static_cast<double>(found) / marked};
}

TEST(SemDedupTest, FindsPlantedPairsAcrossClusterBoundaries) {
  for (const uint64_t seed : {11u, 12u, 13u}) {
    SCOPED_TRACE(seed);
    const Planted p = PlantedData(seed);
    // Some planted pairs are split by a boundary.
    size_t split = 0;
    for (const auto& [a, b] : p.pairs) {
      split += p.data.cluster[a] != p.data.cluster[b];
    }
    EXPECT_GE(split, p.pairs.size() / 20);
    absl::StatusOr<std::vector<float>> off = SemDedupMaxSimilarity(
        p.data.Rows(), p.data.Assignment(false), 2, nullptr);
    absl::StatusOr<std::vector<float>> on = SemDedupMaxSimilarity(
        p.data.Rows(), p.data.Assignment(true), 2, nullptr);
    ASSERT_TRUE(off.ok()) << off.status();
    ASSERT_TRUE(on.ok()) << on.status();
    const Found without = Score(p, *off, 0.05);
    const Found with = Score(p, *on, 0.05);
    EXPECT_GE(with.recall, 0.99);
    EXPECT_GE(with.precision, 0.99);
    // Without the option, the split pairs are missed.
    EXPECT_LE(without.recall,
              1.0 - 0.5 * static_cast<double>(split) / p.pairs.size());
    EXPECT_GE(without.precision, 0.99);
  }
}

TEST(SemDedupTest, EpsilonForKeepRatioIsTheLargestThatKeepsTheTarget) {
  std::mt19937_64 rng(21);
  std::uniform_int_distribution<int> level(0, 199);
  std::vector<float> m;
  for (int i = 0; i < 5000; ++i) {
    // Ties: 200 distinct values; some rows compared with nothing.
    m.push_back(i % 50 == 0 ? kNone : 0.5f + level(rng) / 400.0f);
  }
  for (const double target : {1.0, 0.99, 0.9, 0.75, 0.5, 0.3, 0.02}) {
    SCOPED_TRACE(target);
    const double epsilon = EpsilonForKeepRatio(m, target);
    ASSERT_GT(epsilon, 0);
    ASSERT_LT(epsilon, 1);
    const int64_t kept =
        static_cast<int64_t>(m.size()) - CountSemDuplicates(m, epsilon);
    const int64_t want = static_cast<int64_t>(std::ceil(target * m.size()));
    EXPECT_GE(kept, want);
    // A larger epsilon keeps fewer than the target, unless epsilon is the
    // largest already and keeps only the rows compared with nothing.
    if (epsilon < kMaxSemDedupEpsilon) {
      EXPECT_LT(static_cast<int64_t>(m.size()) -
                    CountSemDuplicates(m, epsilon + 1e-9),
                want);
    } else {
      EXPECT_EQ(kept, 100);
    }
    // Ties at the threshold are the only excess: 200 levels over 5000 rows.
    EXPECT_LE(kept - want, 40);
  }
}

TEST(SemDedupTest, EpsilonForKeepRatioAtTheEdges) {
  // Exact duplicates (M = 1): no epsilon keeps them; the smallest marks
  // exactly them.
  const std::vector<float> exact = {kNone, 1.0f, 1.0f, 0.2f};
  EXPECT_EQ(EpsilonForKeepRatio(exact, 1.0), kMinSemDedupEpsilon);
  EXPECT_EQ(CountSemDuplicates(exact, kMinSemDedupEpsilon), 2);
  EXPECT_EQ(
      CountSemDuplicates(std::vector<float>{0.9999999f}, kMinSemDedupEpsilon),
      0);
  // Nothing similar: the largest epsilon, which marks only M > 0.
  const std::vector<float> apart = {kNone, -0.5f, 0.0f};
  EXPECT_EQ(EpsilonForKeepRatio(apart, 0.5), kMaxSemDedupEpsilon);
  EXPECT_EQ(CountSemDuplicates(apart, kMaxSemDedupEpsilon), 0);
  EXPECT_EQ(EpsilonForKeepRatio({}, 0.5), kMaxSemDedupEpsilon);
  EXPECT_EQ(KeepCount(0.75, 100), 75u);
  EXPECT_EQ(KeepCount(0.7, 10), 7u);
  EXPECT_EQ(KeepCount(0.701, 10), 8u);
  EXPECT_EQ(KeepCount(1.0, 3), 3u);
}

TEST(SemDedupTest, PrototypeKeepHitsTheCountPerClusterAndGlobally) {
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const size_t n = 3000;
  std::vector<uint32_t> cluster(n);
  std::vector<float> distance(n);
  std::vector<bool> candidate(n);
  for (size_t i = 0; i < n; ++i) {
    // Sizes from a handful to hundreds.
    cluster[i] = static_cast<uint32_t>(std::floor(37 * u(rng) * u(rng)));
    distance[i] = std::floor(u(rng) * 100) / 100.0f;
    candidate[i] = u(rng) < 0.8;
  }
  const size_t candidates =
      std::count(candidate.begin(), candidate.end(), true);
  for (const bool per_cluster : {true, false}) {
    for (const uint64_t keep : {uint64_t{1}, uint64_t{777}, uint64_t{1500},
                                uint64_t{candidates}, uint64_t{n}}) {
      SCOPED_TRACE(testing::Message() << per_cluster << " " << keep);
      const std::vector<bool> kept =
          PrototypeKeep(cluster, distance, candidate, keep, per_cluster);
      const uint64_t want = std::min<uint64_t>(keep, candidates);
      EXPECT_EQ(
          static_cast<uint64_t>(std::count(kept.begin(), kept.end(), true)),
          want);
      std::vector<size_t> size(37, 0), kept_in(37, 0);
      for (size_t i = 0; i < n; ++i) {
        if (kept[i]) {
          EXPECT_TRUE(candidate[i]) << i;
        }
        if (!candidate[i]) continue;
        ++size[cluster[i]];
        kept_in[cluster[i]] += kept[i];
        // No dropped candidate is farther than a kept one (of its cluster
        // when per cluster).
        for (size_t j = 0; j < n; ++j) {
          if (!candidate[j] || kept[j] || !kept[i]) continue;
          if (per_cluster && cluster[j] != cluster[i]) continue;
          EXPECT_GE(distance[i], distance[j]) << i << " " << j;
        }
      }
      if (!per_cluster) continue;
      const double fraction = static_cast<double>(want) / candidates;
      for (size_t c = 0; c < 37; ++c) {
        EXPECT_LE(std::abs(static_cast<double>(kept_in[c]) -
                           fraction * static_cast<double>(size[c])),
                  1.0)
            << c;
      }
    }
  }
}

// n unit-ish Gaussian rows of `dim`, a fifth of them near-copies of others.
std::vector<float> D4Rows(uint64_t seed, size_t n, uint32_t dim) {
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
  const std::vector<float> data = D4Rows(3, n, dim);
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
      if (dedup <= 0.8) {
        EXPECT_GE(two->duplicate_count, int64_t{n / 5});
      }
    }
  }
}

TEST(D4Test, RejectsRatiosOutsideTheirRanges) {
  const std::vector<float> data = D4Rows(4, 50, 4);
  EmbeddingRows rows;
  rows.dense = data;
  rows.dense_dim = 4;
  for (const auto& [dedup, total] :
       {std::pair{0.0, 0.5}, std::pair{1.5, 0.5}, std::pair{0.5, 0.6},
        std::pair{0.5, 0.0}, std::pair{0.5, -1.0},
        std::pair{std::nan(""), 0.5}}) {
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
