#include "selection/exact_dedup.h"

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "gtest/gtest.h"

namespace winnow {
namespace {

PayloadHash HashOf(int value) {
  PayloadHash h{};
  h[0] = static_cast<uint8_t>(value);
  h[31] = static_cast<uint8_t>(value >> 8);
  return h;
}

// The rule, written the slow way: for each scored ordinal in order, look
// back over every earlier scored ordinal.
std::map<uint64_t, float> Reference(const std::vector<int>& payload,
                                    const std::vector<bool>& scored) {
  std::map<uint64_t, float> out;
  for (size_t o = 0; o < payload.size(); ++o) {
    if (!scored[o]) continue;
    if (payload[o] < 0) {
      out[o] = NAN;
      continue;
    }
    bool earlier = false;
    for (size_t p = 0; p < o; ++p) {
      earlier |= scored[p] && payload[p] == payload[o];
    }
    out[o] = earlier ? 1.0f : 0.0f;
  }
  return out;
}

TEST(ExactDedupTest, EqualsTheRuleOnPlantedDuplicates) {
  for (uint32_t seed : {1u, 2u, 3u, 17u}) {
    std::mt19937 rng(seed);
    const size_t n = 500 + seed * 37;
    // payload[o] < 0: no payload; otherwise one of few distinct values, so
    // duplicates are common.
    std::vector<int> payload(n);
    std::vector<bool> scored(n);
    std::vector<PayloadHash> hashes(n);
    Bitmap has_hash(n), scored_bits(n);
    for (size_t o = 0; o < n; ++o) {
      payload[o] = rng() % 10 == 0 ? -1 : static_cast<int>(rng() % 300);
      scored[o] = rng() % 4 != 0;
      if (payload[o] >= 0) {
        hashes[o] = HashOf(payload[o]);
        has_hash.Set(o);
      }
      if (scored[o]) scored_bits.Set(o);
    }
    const ExactDedupScores got =
        ScoreExactDuplicates(hashes, has_hash, scored_bits);
    const std::map<uint64_t, float> want = Reference(payload, scored);
    ASSERT_EQ(got.ordinals.size(), want.size()) << seed;
    ASSERT_EQ(got.values.size(), want.size());
    size_t next_null = 0;
    int64_t dups = 0;
    for (size_t i = 0; i < got.ordinals.size(); ++i) {
      const float w = want.at(got.ordinals[i]);
      const bool is_null = next_null < got.null_indexes.size() &&
                           got.null_indexes[next_null] == i;
      if (is_null) ++next_null;
      EXPECT_EQ(is_null, std::isnan(w)) << "ordinal " << got.ordinals[i];
      if (!std::isnan(w)) EXPECT_EQ(got.values[i], w);
      dups += !std::isnan(w) && w == 1.0f;
    }
    EXPECT_EQ(next_null, got.null_indexes.size());
    EXPECT_EQ(got.duplicate_count, dups);
    std::set<int> distinct;
    for (size_t o = 0; o < n; ++o) {
      if (scored[o] && payload[o] >= 0) distinct.insert(payload[o]);
    }
    EXPECT_EQ(got.distinct_count, static_cast<int64_t>(distinct.size()));
  }
}

TEST(ExactDedupTest, OnlyScoredDocumentsCountAsEarlier) {
  // 0 and 2 share a hash, but 0 is not scored: 2 is the first scored one.
  std::vector<PayloadHash> hashes = {HashOf(5), HashOf(6), HashOf(5),
                                     HashOf(5)};
  Bitmap has_hash(4, true), scored(4, true);
  scored.Clear(0);
  const ExactDedupScores got = ScoreExactDuplicates(hashes, has_hash, scored);
  EXPECT_EQ(got.ordinals, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_EQ(got.values, (std::vector<float>{0, 0, 1}));
  EXPECT_TRUE(got.null_indexes.empty());
}

}  // namespace
}  // namespace winnow
