#include "selection/nearest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "selection/parallel.h"

namespace winnow {
namespace {

// Nearest half to a float (test inputs stay well inside the half range).
uint16_t ToHalf(float f) {
  // Round to 10 mantissa bits through a float with 13 low bits cleared
  // (ties away from zero; the tests need a half, not a particular one).
  uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x < 0x38800000) return static_cast<uint16_t>(sign);  // tiny: +-0
  x += 0x1000;
  return static_cast<uint16_t>(sign | ((x - 0x38000000) >> 13));
}

float FromHalf(uint16_t h) {
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  if (exp == 0) return 0.0f;  // ToHalf makes no subnormals
  return std::bit_cast<float>(sign | ((exp + 112) << 23) |
                              (uint32_t{h & 0x3ffu} << 13));
}

// A matrix with the given rows (nullopt rows have no embedding), built the
// way storage builds it: blocks of kEmbeddingBlockRows, norms in double.
struct TestMatrix {
  EmbeddingMatrix m;
  // The values as the matrix holds them (after rounding to half), per row.
  std::vector<std::vector<double>> values;
};

TestMatrix Build(VectorType type, uint32_t dim,
                 const std::vector<std::vector<float>>& rows,
                 const std::vector<bool>& present) {
  TestMatrix t;
  t.m.type = type;
  t.m.dim = dim;
  t.m.num_rows = static_cast<uint32_t>(rows.size());
  t.m.present = Bitmap(rows.size());
  t.values.assign(rows.size(), std::vector<double>(dim, 0.0));
  const size_t num_blocks =
      (rows.size() + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows;
  for (size_t b = 0; b < num_blocks; ++b) {
    auto block = std::make_shared<EmbeddingBlock>();
    block->first_ordinal = static_cast<uint32_t>(b * kEmbeddingBlockRows);
    block->rows = static_cast<uint32_t>(std::min<size_t>(
        kEmbeddingBlockRows, rows.size() - block->first_ordinal));
    if (type == VectorType::kFloat16) {
      block->f16.assign(size_t{block->rows} * dim, 0);
    } else {
      block->f32.assign(size_t{block->rows} * dim, 0.0f);
    }
    block->norms.assign(block->rows, 0.0f);
    bool any = false;
    for (uint32_t r = 0; r < block->rows; ++r) {
      const uint32_t o = block->first_ordinal + r;
      if (!present[o]) continue;
      any = true;
      t.m.present.Set(o);
      double sum = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        double v;
        if (type == VectorType::kFloat16) {
          const uint16_t h = ToHalf(rows[o][d]);
          block->f16[size_t{r} * dim + d] = h;
          v = FromHalf(h);
        } else {
          block->f32[size_t{r} * dim + d] = rows[o][d];
          v = rows[o][d];
        }
        t.values[o][d] = v;
        sum += v * v;
      }
      block->norms[r] = static_cast<float>(std::sqrt(sum));
    }
    t.m.blocks.push_back(any ? block : nullptr);
  }
  return t;
}

// Ids that do not sort like ordinals, so the tie-break is visible; made
// once (the reference sorts hundreds of thousands of them).
const std::string& IdOf(uint32_t ordinal) {
  // A deque: growing it leaves the references handed out valid.
  static std::deque<std::string>* ids = new std::deque<std::string>();
  while (ids->size() <= ordinal) {
    const uint32_t o = static_cast<uint32_t>(ids->size());
    ids->push_back("doc-" + std::to_string((o * 7919u) % 100003u));
  }
  return (*ids)[ordinal];
}

struct Expected {
  uint32_t ordinal;
  double similarity;
};

// Brute force in double, then (similarity desc, id asc), first k.
std::vector<Expected> Reference(const TestMatrix& t, const Bitmap& candidates,
                                const float* query, Similarity metric, size_t k,
                                uint32_t exclude) {
  const uint32_t dim = t.m.dim;
  double qn = 0;
  for (uint32_t d = 0; d < dim; ++d) qn += double{query[d]} * query[d];
  qn = std::sqrt(qn);
  std::vector<Expected> all;
  for (uint32_t o = 0; o < t.m.num_rows; ++o) {
    if (!candidates.Get(o) || !t.m.present.Get(o) || o == exclude) continue;
    double dot = 0, rn = 0;
    for (uint32_t d = 0; d < dim; ++d) {
      dot += query[d] * t.values[o][d];
      rn += t.values[o][d] * t.values[o][d];
    }
    rn = std::sqrt(rn);
    double s = dot;
    if (metric == Similarity::kCosine) s = qn * rn > 0 ? dot / (qn * rn) : 0;
    all.push_back({o, s});
  }
  const size_t kept = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + kept, all.end(),
                    [](const Expected& a, const Expected& b) {
                      if (a.similarity != b.similarity) {
                        return a.similarity > b.similarity;
                      }
                      return IdOf(a.ordinal) < IdOf(b.ordinal);
                    });
  all.resize(kept);
  return all;
}

std::vector<std::vector<Neighbor>> SearchAndBreakTies(const NearestQuery& q) {
  std::vector<std::vector<Neighbor>> out = NearestWithTies(q);
  for (auto& list : out) {
    BreakTies(&list, q.k,
              [](uint32_t a, uint32_t b) { return IdOf(a) < IdOf(b); });
  }
  return out;
}

// Engine and reference agree: the same ids in the same order, except that
// two neighbours whose exact similarities are within float rounding may
// swap; similarities within tolerance.
void ExpectMatches(const std::vector<Neighbor>& got,
                   const std::vector<Expected>& want, double scale) {
  ASSERT_EQ(got.size(), want.size());
  std::map<uint32_t, double> exact;
  for (const Expected& e : want) exact[e.ordinal] = e.similarity;
  const double tolerance = 1e-5 * scale;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].similarity, want[i].similarity, tolerance)
        << "rank " << i;
    if (got[i].ordinal != want[i].ordinal) {
      // A swap is only acceptable between near-equal similarities.
      auto it = exact.find(got[i].ordinal);
      ASSERT_NE(it, exact.end())
          << "rank " << i << ": ordinal " << got[i].ordinal
          << " is not among the reference's neighbours";
      EXPECT_NEAR(it->second, want[i].similarity, tolerance)
          << "rank " << i << ": " << got[i].ordinal << " vs "
          << want[i].ordinal;
    }
  }
}

using Params = std::tuple<VectorType, Similarity, bool /*filter*/,
                          size_t /*queries*/, uint32_t /*seed*/>;

class NearestMatchesBruteForce : public ::testing::TestWithParam<Params> {};

TEST_P(NearestMatchesBruteForce, SameNeighboursInTheSameOrder) {
  const auto [type, metric, filtered, num_queries, seed] = GetParam();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  // Past two blocks, with a missing block, a short last block, rows without
  // embeddings and a dimension that is not a multiple of 16.
  const uint32_t n = 2 * kEmbeddingBlockRows + 1234 + seed % 3;
  const uint32_t dim = 37;
  std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
  std::vector<bool> present(n);
  for (uint32_t o = 0; o < n; ++o) {
    present[o] = o / kEmbeddingBlockRows != 1 && rng() % 10 != 0;
    for (float& v : rows[o]) v = normal(rng);
  }
  rows[5].assign(dim, 0.0f);  // a zero row: cosine 0
  const TestMatrix t = Build(type, dim, rows, present);

  Bitmap candidates(n, true);
  if (filtered) {
    for (uint32_t o = 0; o < n; ++o) candidates.Assign(o, rng() % 4 == 0);
  }
  candidates.And(t.m.present);

  std::vector<float> queries(num_queries * dim);
  for (float& v : queries) v = normal(rng);
  std::vector<uint32_t> exclude(num_queries, kNoExclude);
  exclude[0] = 17;  // as a query by id leaves itself out

  for (size_t k : {size_t{1}, size_t{10}, size_t{100}}) {
    NearestQuery q{&t.m, &candidates, queries, exclude, metric, k};
    const auto got = SearchAndBreakTies(q);
    ASSERT_EQ(got.size(), num_queries);
    for (size_t i = 0; i < num_queries; ++i) {
      const float* query = queries.data() + i * dim;
      const auto want = Reference(t, candidates, query, metric, k, exclude[i]);
      SCOPED_TRACE(testing::Message() << "k=" << k << " query " << i);
      ExpectMatches(got[i], want,
                    metric == Similarity::kDotProduct ? dim : 1.0);
      for (const Neighbor& nb : got[i]) EXPECT_NE(nb.ordinal, exclude[i]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllPaths, NearestMatchesBruteForce,
    ::testing::Combine(
        ::testing::Values(VectorType::kFloat32, VectorType::kFloat16),
        ::testing::Values(Similarity::kCosine, Similarity::kDotProduct),
        ::testing::Bool(),
        // 1 and 3: the SIMD scan; 16 and 20: sgemm.
        ::testing::Values(size_t{1}, size_t{3}, size_t{16}, size_t{20}),
        ::testing::Values(1u, 2u)));

// Rows of small integers: every dot product is exact in float whatever the
// order of the additions, so duplicated rows tie exactly on both paths.
TestMatrix TiedMatrix(VectorType type, uint32_t n, uint32_t dim,
                      uint32_t distinct, std::mt19937* rng) {
  std::vector<std::vector<float>> patterns(distinct, std::vector<float>(dim));
  for (auto& p : patterns) {
    for (float& v : p)
      v = static_cast<float>(static_cast<int>((*rng)() % 5) - 2);
  }
  std::vector<std::vector<float>> rows(n);
  for (uint32_t o = 0; o < n; ++o) rows[o] = patterns[(*rng)() % distinct];
  return Build(type, dim, rows, std::vector<bool>(n, true));
}

TEST(NearestTest, TiesAreBrokenByIdOnBothPaths) {
  std::mt19937 rng(7);
  const uint32_t n = 3000, dim = 24;
  for (VectorType type : {VectorType::kFloat32, VectorType::kFloat16}) {
    const TestMatrix t = TiedMatrix(type, n, dim, 6, &rng);
    Bitmap candidates(n, true);
    for (size_t num_queries : {size_t{1}, size_t{20}}) {
      std::vector<float> queries(num_queries * dim);
      for (float& v : queries) {
        v = static_cast<float>(static_cast<int>(rng() % 5) - 2);
      }
      for (Similarity metric : {Similarity::kDotProduct, Similarity::kCosine}) {
        NearestQuery q{&t.m, &candidates, queries, {}, metric, 50};
        const auto got = SearchAndBreakTies(q);
        for (size_t i = 0; i < num_queries; ++i) {
          const auto want = Reference(t, candidates, queries.data() + i * dim,
                                      metric, 50, kNoExclude);
          ASSERT_EQ(got[i].size(), want.size());
          // About 500 rows share each similarity: the 50 kept are the
          // lowest ids of the highest ones, exactly.
          for (size_t r = 0; r < want.size(); ++r) {
            EXPECT_EQ(got[i][r].ordinal, want[r].ordinal)
                << "query " << i << " rank " << r;
          }
        }
      }
    }
  }
}

TEST(NearestTest, TiedCandidatesAllSurviveUntilBreakTies) {
  // Every row equal: NearestWithTies keeps them all (all tie with the
  // k-th); BreakTies keeps the k lowest ids.
  const uint32_t n = 1000, dim = 8;
  const TestMatrix t =
      Build(VectorType::kFloat32, dim,
            std::vector<std::vector<float>>(n, std::vector<float>(dim, 1.0f)),
            std::vector<bool>(n, true));
  Bitmap candidates(n, true);
  std::vector<float> query(dim, 0.5f);
  NearestQuery q{&t.m, &candidates, query, {}, Similarity::kDotProduct, 3};
  auto got = NearestWithTies(q);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].size(), n);
  for (const Neighbor& nb : got[0]) EXPECT_EQ(nb.similarity, 4.0f);
  BreakTies(&got[0], 3,
            [](uint32_t a, uint32_t b) { return IdOf(a) < IdOf(b); });
  std::vector<std::string> ids(n);
  for (uint32_t o = 0; o < n; ++o) ids[o] = IdOf(o);
  std::sort(ids.begin(), ids.end());
  ASSERT_EQ(got[0].size(), 3u);
  for (size_t r = 0; r < 3; ++r) EXPECT_EQ(IdOf(got[0][r].ordinal), ids[r]);
}

TEST(NearestTest, KAboveTheCandidatesReturnsThemAll) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  const uint32_t n = 500, dim = 16;
  std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
  for (auto& r : rows) {
    for (float& v : r) v = normal(rng);
  }
  const TestMatrix t =
      Build(VectorType::kFloat32, dim, rows, std::vector<bool>(n, true));
  Bitmap candidates(n);
  for (uint32_t o : {3u, 40u, 41u, 499u}) candidates.Set(o);
  for (size_t num_queries : {size_t{1}, size_t{16}}) {
    std::vector<float> queries(num_queries * dim);
    for (float& v : queries) v = normal(rng);
    NearestQuery q{&t.m, &candidates, queries, {}, Similarity::kCosine, 10};
    const auto got = SearchAndBreakTies(q);
    for (size_t i = 0; i < num_queries; ++i) {
      ASSERT_EQ(got[i].size(), 4u);
      const auto want = Reference(t, candidates, queries.data() + i * dim,
                                  Similarity::kCosine, 10, kNoExclude);
      for (size_t r = 0; r < 4; ++r) {
        EXPECT_EQ(got[i][r].ordinal, want[r].ordinal);
      }
    }
  }
}

TEST(NearestTest, NoCandidatesGivesEmptyListsPerQuery) {
  const uint32_t n = 100, dim = 4;
  const TestMatrix t =
      Build(VectorType::kFloat32, dim,
            std::vector<std::vector<float>>(n, std::vector<float>(dim, 1.0f)),
            std::vector<bool>(n, true));
  Bitmap none(n);
  std::vector<float> queries(2 * dim, 1.0f);
  NearestQuery q{&t.m, &none, queries, {}, Similarity::kCosine, 5};
  const auto got = NearestWithTies(q);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].empty());
  EXPECT_TRUE(got[1].empty());
}

TEST(NearestTest, ZeroQueryHasCosineZeroWithEveryRow) {
  const uint32_t n = 10, dim = 4;
  std::vector<std::vector<float>> rows(n, std::vector<float>(dim, 2.0f));
  const TestMatrix t =
      Build(VectorType::kFloat32, dim, rows, std::vector<bool>(n, true));
  Bitmap candidates(n, true);
  std::vector<float> zero(dim, 0.0f);
  NearestQuery q{&t.m, &candidates, zero, {}, Similarity::kCosine, 3};
  const auto got = SearchAndBreakTies(q);
  ASSERT_EQ(got[0].size(), 3u);
  for (const Neighbor& nb : got[0]) EXPECT_EQ(nb.similarity, 0.0f);
}

TEST(NearestTest, SplitAcrossThreadsGivesTheExactAnswer) {
  // Large enough for ParallelChunks to split (2 x kParallelMinItems rows),
  // with small-integer values so that every similarity is exact: the merged
  // chunks must give the reference list bit for bit.
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  const uint32_t n = 2 * static_cast<uint32_t>(kParallelMinItems) + 77;
  const uint32_t dim = 8;
  std::vector<std::vector<float>> rows(n, std::vector<float>(dim));
  for (auto& r : rows) {
    for (float& v : r) v = std::round(normal(rng) * 2.0f);
  }
  const TestMatrix t =
      Build(VectorType::kFloat32, dim, rows, std::vector<bool>(n, true));
  Bitmap all(n, true);
  for (size_t num_queries : {size_t{1}, size_t{16}}) {
    std::vector<float> queries(num_queries * dim);
    for (float& v : queries) v = std::round(normal(rng) * 2.0f);
    NearestQuery q{&t.m, &all, queries, {}, Similarity::kDotProduct, 20};
    const auto got = SearchAndBreakTies(q);
    for (size_t i = 0; i < num_queries; ++i) {
      const auto want = Reference(t, all, queries.data() + i * dim,
                                  Similarity::kDotProduct, 20, kNoExclude);
      ASSERT_EQ(got[i].size(), want.size());
      for (size_t r = 0; r < want.size(); ++r) {
        EXPECT_EQ(got[i][r].ordinal, want[r].ordinal) << r;
        EXPECT_EQ(got[i][r].similarity, want[r].similarity) << r;
      }
    }
  }
}

TEST(NearestTest, RowAsFloatDecodesHalves) {
  const uint32_t dim = 19;
  std::vector<std::vector<float>> rows(3, std::vector<float>(dim));
  for (uint32_t d = 0; d < dim; ++d) {
    rows[1][d] = 0.25f * static_cast<float>(d) - 2.0f;
  }
  const TestMatrix t =
      Build(VectorType::kFloat16, dim, rows, {true, true, false});
  std::vector<float> out(dim, 9.0f);
  RowAsFloat(t.m, 1, out);
  for (uint32_t d = 0; d < dim; ++d) EXPECT_EQ(out[d], rows[1][d]) << d;
  RowAsFloat(t.m, 2, out);
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

}  // namespace
}  // namespace winnow
