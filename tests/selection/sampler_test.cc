#include "selection/sampler.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

#include "selection/weights.h"
#include "tests/sanitized.h"
#include "tests/selection/sampler_test_util.h"

namespace winnow {
namespace {

using testing::CandidateSet;
using testing::ReferenceOrder;

std::vector<uint32_t> All(KeyedOrder& order) {
  std::vector<uint32_t> out;
  order.Get(0, order.size(), &out);
  return out;
}

// Reads the whole epoch in batches of `b`, as a trainer would.
std::vector<uint32_t> InBatches(KeyedOrder& order, uint64_t b) {
  std::vector<uint32_t> out;
  for (uint64_t p = 0; p < order.size(); p += b) order.Get(p, p + b, &out);
  return out;
}

constexpr const char* kIds[] = {"d", "a", "e", "b", "c"};

std::vector<double> RandomWeights(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> d(0, 1.5);
  std::vector<double> w(n);
  for (double& x : w) x = d(rng);
  return w;
}

TEST(KeyedOrderTest, UniformMatchesBruteForceReference) {
  for (size_t n : {0, 1, 2, 63, 64, 1000, 4097, 70000}) {
    for (uint64_t seed : {1, 2, 99}) {
      CandidateSet c = CandidateSet::Make(n);
      KeyedOrder order(c.View(), seed, /*epoch=*/0);
      ASSERT_EQ(order.size(), n);
      std::vector<uint32_t> want = ReferenceOrder(c, seed, 0);
      EXPECT_EQ(All(order), want) << "n=" << n << " seed=" << seed;
      KeyedOrder again(c.View(), seed, 0);
      EXPECT_EQ(InBatches(again, 1000), want) << "n=" << n;
    }
  }
}

TEST(KeyedOrderTest, WeightedMatchesBruteForceReference) {
  for (size_t n : {1, 5, 1000, 30001, 200000}) {
    for (uint64_t seed : {7, 8}) {
      CandidateSet c = CandidateSet::Make(n);
      c.weights = RandomWeights(n, seed + n);
      KeyedOrder order(c.View(), seed, 3);
      std::vector<uint32_t> want = ReferenceOrder(c, seed, 3);
      EXPECT_EQ(InBatches(order, 1024), want) << "n=" << n << " seed=" << seed;
    }
  }
}

TEST(KeyedOrderTest, AnyRangeInAnyOrderMatchesReference) {
  CandidateSet c = CandidateSet::Make(50000);
  c.weights = RandomWeights(50000, 5);
  std::vector<uint32_t> want = ReferenceOrder(c, 11, 0);
  KeyedOrder order(c.View(), 11, 0);
  std::mt19937_64 rng(123);
  for (int t = 0; t < 300; ++t) {
    uint64_t begin = rng() % 50001;
    uint64_t len = rng() % 3000;
    std::vector<uint32_t> got;
    order.Get(begin, begin + len, &got);
    uint64_t end = std::min<uint64_t>(begin + len, want.size());
    std::vector<uint32_t> expect(want.begin() + begin, want.begin() + end);
    ASSERT_EQ(got, expect) << "begin=" << begin << " len=" << len;
  }
}

TEST(KeyedOrderTest, OrderDoesNotDependOnCandidateOrder) {
  CandidateSet c = CandidateSet::Make(20000);
  c.weights = RandomWeights(20000, 1);
  KeyedOrder a(c.View(), 42, 1);
  std::vector<uint32_t> first = All(a);

  std::vector<size_t> perm(c.ids.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(9));
  CandidateSet p;
  p.ids = c.ids;  // IdOf() maps ordinal -> id by index, so keep ids in place
  for (size_t i : perm) {
    p.ordinals.push_back(c.ordinals[i]);
    p.id_hashes.push_back(c.id_hashes[i]);
    p.weights.push_back(c.weights[i]);
  }
  KeyedOrder b(p.View(), 42, 1);
  EXPECT_EQ(All(b), first);
}

TEST(KeyedOrderTest, SameSeedRepeatsAndOtherSeedsOrEpochsDiffer) {
  CandidateSet c = CandidateSet::Make(1000);
  KeyedOrder a(c.View(), 5, 0), b(c.View(), 5, 0), d(c.View(), 6, 0),
      e(c.View(), 5, 1);
  std::vector<uint32_t> sa = All(a);
  EXPECT_EQ(sa, All(b));
  EXPECT_NE(sa, All(d));
  EXPECT_NE(sa, All(e));
  // Every candidate exactly once.
  std::set<uint32_t> seen(sa.begin(), sa.end());
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(KeyedOrderTest, EqualKeysBreakTiesByDocId) {
  // Candidates that share an id hash draw the same u, so their keys tie
  // exactly; the order among them must be by doc id.
  CandidateSet c = CandidateSet::Make(300);
  for (size_t i = 0; i < 300; ++i) c.id_hashes[i] = c.id_hashes[i % 7];
  KeyedOrder order(c.View(), 1, 0);
  std::vector<uint32_t> got = All(order);
  EXPECT_EQ(got, ReferenceOrder(c, 1, 0));
  // Within each tie group, ids ascend.
  for (size_t i = 1; i < got.size(); ++i) {
    size_t a = (got[i - 1] - 1) / 3, b = (got[i] - 1) / 3;
    if (a % 7 == b % 7) {
      EXPECT_LT(c.IdOf(got[i - 1]), c.IdOf(got[i]));
    }
  }
}

// SortKeyedEntries against std::sort by (key, doc id): uniform-like
// integer keys, the bits of doubles spanning many binades, clustered keys,
// +inf, duplicates, and either hint (the hint only changes the speed).
TEST(SortKeyedEntriesTest, MatchesAPlainSortByKeyThenDocId) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto id_of = [](uint32_t i) { return std::string_view(kIds[i % 5]); };
  for (const size_t n :
       {size_t{0}, size_t{1}, size_t{50}, size_t{1000}, size_t{100000}}) {
    for (int shape = 0; shape < 4; ++shape) {
      std::vector<KeyedEntry> v(n);
      for (size_t i = 0; i < n; ++i) {
        uint64_t key = 0;
        switch (shape) {
          case 0:  // uniform keys: below 2^52
            key = rng() >> 12;
            break;
          case 1:  // weighted keys: -log2(u) / w over wide weights
            key = std::bit_cast<uint64_t>(-std::log2(unit(rng)) /
                                          std::exp(20 * unit(rng)));
            break;
          case 2:  // a few distinct keys: many exact ties
            key = rng() % 17;
            break;
          case 3:  // doubles with some +inf
            key = i % 97 == 0 ? std::bit_cast<uint64_t>(HUGE_VAL)
                              : std::bit_cast<uint64_t>(unit(rng));
            break;
        }
        v[i] = {key, static_cast<uint32_t>(i)};
      }
      std::vector<KeyedEntry> want = v;
      std::sort(want.begin(), want.end(),
                [&](const KeyedEntry& a, const KeyedEntry& b) {
                  if (a.key != b.key) return a.key < b.key;
                  if (id_of(a.index) != id_of(b.index)) {
                    return id_of(a.index) < id_of(b.index);
                  }
                  return a.index < b.index;  // same id: any order is fine
                });
      for (const bool weighted : {false, true}) {
        std::vector<KeyedEntry> got = v;
        SortKeyedEntries(got, weighted, id_of);
        ASSERT_EQ(got.size(), want.size());
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(got[i].key, want[i].key) << n << " " << shape << " " << i;
          ASSERT_EQ(id_of(got[i].index), id_of(want[i].index))
              << n << " " << shape << " " << i;
        }
      }
    }
  }
}

// KeyedPrefix is KeyedOrder's first positions, for any count (including
// more than the candidates with a positive weight), uniform and weighted,
// with candidates fed in slices from an arbitrary source. A sanitizer build
// tries one seed (tests/sanitized.h).
TEST(KeyedPrefixTest, EqualsKeyedOrdersPrefix) {
  for (const size_t n : {size_t{10}, size_t{5000}, size_t{150000}}) {
    for (const bool weighted : {false, true}) {
      CandidateSet c = CandidateSet::Make(n);
      if (weighted) {
        c.weights = RandomWeights(n, n);
        for (size_t i = 0; i < n; i += 9) c.weights[i] = 0;  // excluded
      }
      KeyedSource source;
      source.size = n;
      source.weighted = weighted;
      source.fill = [&](size_t begin, size_t k, uint64_t* h, double* w) {
        std::copy_n(c.id_hashes.data() + begin, k, h);
        if (w != nullptr) std::copy_n(c.weights.data() + begin, k, w);
      };
      source.doc_id = [&](uint32_t i) { return c.IdOf(c.ordinals[i]); };
      for (const uint64_t count : {uint64_t{1}, uint64_t{n / 10 + 1},
                                   uint64_t{n / 2}, uint64_t{n + 5}}) {
        for (const uint64_t seed : testing::Repeat<uint64_t>({3, 4})) {
          KeyedOrder order(c.View(), seed, 2);
          std::vector<uint32_t> want;
          order.Get(0, count, &want);
          std::vector<uint32_t> got = KeyedPrefix(source, seed, 2, count);
          for (uint32_t& i : got) i = c.ordinals[i];
          EXPECT_EQ(got, want) << n << (weighted ? " weighted" : "")
                               << " count " << count << " seed " << seed;
        }
      }
    }
  }
}

TEST(KeyedOrderTest, NonPositiveAndNullWeightsAreExcluded) {
  CandidateSet c = CandidateSet::Make(10);
  c.weights = {1, 0, -1, NAN, 2, 3, 0, 1, 1, 5};
  KeyedOrder order(c.View(), 1, 0);
  EXPECT_EQ(order.size(), 6u);
  std::vector<uint32_t> got = All(order);
  std::set<uint32_t> excluded = {c.ordinals[1], c.ordinals[2], c.ordinals[3],
                                 c.ordinals[6]};
  for (uint32_t o : got) EXPECT_EQ(excluded.count(o), 0u);
}

// KeyedPrefix computes a weighted key only where a cheap lower bound,
// (1 - u) / (w ln 2), does not already put it past the threshold; the
// prefix must still be exact over weights that span every binade, from
// the smallest subnormal to 1e300, and for thresholds anywhere in the
// order (each threshold is itself a key of the sample, so candidates whose
// key equals it are at the boundary).
TEST(KeyedPrefixTest, ExtremeWeightsKeepTheExactPrefix) {
  const size_t n = 20000;
  CandidateSet c = CandidateSet::Make(n);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> exponent(-320, 300);
  c.weights.resize(n);
  for (size_t i = 0; i < n; ++i) {
    switch (i % 8) {
      case 0:
        c.weights[i] = 0;
        break;  // excluded
      case 1:
        c.weights[i] = 4.9e-324;
        break;
      case 2:
        c.weights[i] = 1e300;
        break;
      case 3:
        c.weights[i] = 1;
        break;
      default:
        c.weights[i] = std::pow(10.0, exponent(rng));
        break;
    }
  }
  KeyedSource source;
  source.size = n;
  source.weighted = true;
  source.fill = [&](size_t begin, size_t k, uint64_t* h, double* w) {
    std::copy_n(c.id_hashes.data() + begin, k, h);
    std::copy_n(c.weights.data() + begin, k, w);
  };
  source.doc_id = [&](uint32_t i) { return c.IdOf(c.ordinals[i]); };
  for (const uint64_t count : {uint64_t{1}, uint64_t{9}, uint64_t{200},
                               uint64_t{2500}, uint64_t{9000}, uint64_t{n}}) {
    for (const uint64_t seed : {1, 2, 3, 4, 5}) {
      KeyedOrder order(c.View(), seed, 0);
      std::vector<uint32_t> want;
      order.Get(0, count, &want);
      std::vector<uint32_t> got = KeyedPrefix(source, seed, 0, count);
      for (uint32_t& i : got) i = c.ordinals[i];
      ASSERT_EQ(got, want) << "count " << count << " seed " << seed;
    }
  }
}

// Chi-square critical values at p = 0.001.
double ChiSquareCritical(int df) {
  static const std::map<int, double> kTable = {
      {1, 10.828}, {4, 18.467}, {7, 24.322}, {9, 27.877}, {11, 31.264}};
  return kTable.at(df);
}

double ChiSquare(const std::vector<double>& observed,
                 const std::vector<double>& expected) {
  double x = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    x +=
        (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
  }
  return x;
}

// The first position follows the weights: P(first = i) = w_i / sum(w).
void ExpectFirstDrawFollowsWeights(const std::vector<double>& w) {
  const size_t n = w.size();
  CandidateSet c = CandidateSet::Make(n);
  c.weights = w;
  const int kTrials = 20000;
  std::vector<double> observed(n, 0);
  for (int seed = 0; seed < kTrials; ++seed) {
    KeyedOrder order(c.View(), static_cast<uint64_t>(seed), 0);
    std::vector<uint32_t> first;
    order.Get(0, 1, &first);
    observed[(first[0] - 1) / 3] += 1;
  }
  double total = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<double> expected;
  for (double x : w) expected.push_back(kTrials * x / total);
  EXPECT_LT(ChiSquare(observed, expected), ChiSquareCritical(int(n) - 1));
}

TEST(KeyedOrderStatsTest, FirstDrawFrequenciesFollowRawWeights) {
  ExpectFirstDrawFollowsWeights({1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
}

TEST(KeyedOrderStatsTest, FirstDrawFrequenciesAreUniformForUniform) {
  const size_t n = 10;
  CandidateSet c = CandidateSet::Make(n);
  std::vector<double> observed(n, 0);
  for (int seed = 0; seed < 20000; ++seed) {
    KeyedOrder order(c.View(), static_cast<uint64_t>(seed), 0);
    std::vector<uint32_t> first;
    order.Get(0, 1, &first);
    observed[(first[0] - 1) / 3] += 1;
  }
  EXPECT_LT(ChiSquare(observed, std::vector<double>(n, 2000.0)),
            ChiSquareCritical(9));
}

TEST(KeyedOrderStatsTest, FirstDrawFollowsPowerAndSoftmaxWeights) {
  std::vector<float> scores = {0.1f, 0.3f, 0.5f, 0.7f, 0.9f};
  for (WeightSpec spec : {WeightSpec{WeightFunction::kPower, 2.0, 1.0},
                          WeightSpec{WeightFunction::kPower, 0.5, 1.0},
                          WeightSpec{WeightFunction::kSoftmax, 1.0, 0.25}}) {
    absl::StatusOr<Weights> w = ComputeWeights(scores, spec);
    ASSERT_TRUE(w.ok());
    ExpectFirstDrawFollowsWeights(w->values);
  }
}

TEST(KeyedOrderStatsTest, PairOrderProbabilityIsWeightRatio) {
  // P(i before j) = w_i / (w_i + w_j) for Efraimidis–Spirakis keys.
  std::vector<double> w = {1, 2, 5, 0.5, 3};
  CandidateSet c = CandidateSet::Make(w.size());
  c.weights = w;
  const int kTrials = 20000;
  std::vector<std::vector<double>> before(w.size(),
                                          std::vector<double>(w.size(), 0));
  for (int seed = 0; seed < kTrials; ++seed) {
    KeyedOrder order(c.View(), static_cast<uint64_t>(seed) + 1000000, 0);
    std::vector<uint32_t> all;
    order.Get(0, order.size(), &all);
    for (size_t a = 0; a < all.size(); ++a) {
      for (size_t b = a + 1; b < all.size(); ++b) {
        before[(all[a] - 1) / 3][(all[b] - 1) / 3] += 1;
      }
    }
  }
  for (size_t i = 0; i < w.size(); ++i) {
    for (size_t j = i + 1; j < w.size(); ++j) {
      double p = w[i] / (w[i] + w[j]);
      std::vector<double> observed = {before[i][j], before[j][i]};
      std::vector<double> expected = {kTrials * p, kTrials * (1 - p)};
      EXPECT_LT(ChiSquare(observed, expected), ChiSquareCritical(1))
          << "pair " << i << "," << j;
    }
  }
}

TEST(KeyedOrderTest, MemoryIsBoundedByCandidates) {
  CandidateSet c = CandidateSet::Make(100000);
  KeyedOrder order(c.View(), 1, 0);
  std::vector<uint32_t> out;
  order.Get(0, 1024, &out);
  // keys + ordinals + scratch + sample + cached run: well under 32 bytes per
  // candidate.
  EXPECT_LT(order.MemoryBytes(), 100000u * 32);
}

}  // namespace
}  // namespace winnow
