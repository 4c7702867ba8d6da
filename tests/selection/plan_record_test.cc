// The plan record codec (selection/plan_record.h): round trips in every
// encoding mode, and refusal of every malformed input.
#include "selection/plan_record.h"

#include <gtest/gtest.h>

#include <random>

namespace winnow {
namespace {

FrozenRecord RandomRecord(std::mt19937_64& rng, bool ascending,
                          bool long_lengths, bool scores, bool domains) {
  FrozenRecord r;
  const size_t n = rng() % 300;
  uint32_t next = 0;
  for (size_t i = 0; i < n; ++i) {
    next += ascending ? 1 + static_cast<uint32_t>(rng() % 3)
                      : static_cast<uint32_t>(rng() % 1000);
    r.ordinals.push_back(ascending ? next : static_cast<uint32_t>(rng()));
    r.lengths.push_back(
        static_cast<uint32_t>(long_lengths ? rng() : rng() % 65536));
    if (scores) r.scores.push_back(static_cast<float>(rng() % 1000) / 7.0f);
    if (domains) r.domains.push_back(static_cast<uint16_t>(rng() % 9));
  }
  return r;
}

TEST(PlanRecordTest, FrozenRecordsRoundTripInEveryMode) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const bool run = trial % 4 == 3;  // a short plan's run: no scores
    FrozenRecord r = RandomRecord(rng, trial % 2, trial % 3 == 0,
                                  !run && trial % 5 < 2, !run && trial % 7 < 3);
    r.run = run;
    const std::string bytes = EncodeFrozenRecord(r);
    FrozenRecord back;
    ASSERT_TRUE(DecodeFrozenRecord(bytes, &back)) << trial;
    EXPECT_EQ(back, r) << trial;
  }
}

TEST(PlanRecordTest, DenseAscendingOrdinalsTakeABitmap) {
  FrozenRecord r;
  for (uint32_t o = 0; o < 10000; ++o) {
    r.ordinals.push_back(o);
    r.lengths.push_back(100);
  }
  // 10,000 ordinals in 1,250 bytes of bitmap plus 20,000 of lengths.
  EXPECT_LT(EncodeFrozenRecord(r).size(), 22000u);
}

TEST(PlanRecordTest, MalformedRecordsAreRefused) {
  std::mt19937_64 rng(9);
  const FrozenRecord r = RandomRecord(rng, true, false, true, true);
  const std::string bytes = EncodeFrozenRecord(r);
  FrozenRecord out;
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeFrozenRecord(bytes.substr(0, cut), &out)) << cut;
  }
  EXPECT_FALSE(DecodeFrozenRecord(bytes + "x", &out));
  for (char format : {0, 1, 4}) {
    std::string other_format = bytes;
    other_format[0] = format;
    EXPECT_FALSE(DecodeFrozenRecord(other_format, &out)) << int{format};
  }
  std::string bad_form = bytes;
  bad_form[4] = 2;
  EXPECT_FALSE(DecodeFrozenRecord(bad_form, &out));
  std::string bad_mode = bytes;
  bad_mode[5] = 7;
  EXPECT_FALSE(DecodeFrozenRecord(bad_mode, &out));
  // A run carries no scores.
  FrozenRecord run_with_scores = r;
  run_with_scores.run = true;
  EXPECT_FALSE(DecodeFrozenRecord(EncodeFrozenRecord(run_with_scores), &out));
  // Lengths that do not align with the ordinals.
  FrozenRecord short_lengths = r;
  short_lengths.lengths.pop_back();
  EXPECT_FALSE(DecodeFrozenRecord(EncodeFrozenRecord(short_lengths), &out));
}

// Releases before the short plans wrote format 2: format 3 without the
// form byte. Those records still decode, as candidates.
TEST(PlanRecordTest, Format2RecordsStillDecode) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    const FrozenRecord r = RandomRecord(rng, trial % 2, trial % 3 == 0,
                                        trial % 5 < 2, trial % 7 < 3);
    std::string bytes = EncodeFrozenRecord(r);
    ASSERT_EQ(bytes[4], 0);
    bytes.erase(4, 1);
    bytes[0] = 2;
    FrozenRecord back;
    ASSERT_TRUE(DecodeFrozenRecord(bytes, &back)) << trial;
    EXPECT_EQ(back, r) << trial;
    EXPECT_FALSE(back.run);
  }
}

TEST(PlanRecordTest, InternalsRoundTripAndRefuseTruncation) {
  PlanInternal in{7, 123456789, 64, 3, std::string("k\0ey", 4), "trainer"};
  const std::string bytes = EncodePlanInternal(in);
  PlanInternal back;
  ASSERT_TRUE(DecodePlanInternal(bytes, &back));
  EXPECT_EQ(back, in);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodePlanInternal(bytes.substr(0, cut), &back)) << cut;
  }
  EXPECT_FALSE(DecodePlanInternal(bytes + "!", &back));
}

}  // namespace
}  // namespace winnow
