#include "selection/batches.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tests/selection/sampler_test_util.h"

namespace winnow {
namespace {

using testing::CandidateSet;
using testing::ReferenceOrder;

struct Served {
  uint64_t rank;
  std::vector<uint32_t> ordinals;
  uint64_t next_batch;
};

// Every batch each rank receives from a stream started at `start`, keyed by
// global batch index.
std::map<uint64_t, Served> ServeAllRanks(const CandidateSet& c, uint64_t seed,
                                         uint64_t batch_size, uint32_t world,
                                         uint64_t start, bool drop_last,
                                         std::vector<uint64_t>* per_rank) {
  std::map<uint64_t, Served> out;
  per_rank->assign(world, 0);
  for (uint32_t r = 0; r < world; ++r) {
    KeyedOrder order(c.View(), seed, 0);  // a fresh generator per rank
    absl::StatusOr<RankSchedule> s = RankSchedule::Make(
        order.size(), batch_size, world, r, start, drop_last);
    EXPECT_TRUE(s.ok()) << s.status();
    RankBatchStream stream(&order, *s);
    GlobalBatch b;
    while (stream.Next(&b)) {
      EXPECT_EQ(out.count(b.index), 0u) << "batch served twice: " << b.index;
      out[b.index] = Served{r, b.ordinals, b.next_batch};
      (*per_rank)[r]++;
    }
  }
  return out;
}

TEST(BatchesTest, ShardsAreDisjointCompleteAndEqualInCount) {
  for (size_t n : {0, 1, 10, 999, 5000}) {
    CandidateSet c = CandidateSet::Make(n);
    c.weights.assign(n, 1.0);
    for (size_t i = 0; i < n; i += 3) c.weights[i] = 4.0;
    for (uint64_t seed : {1, 2}) {
      std::vector<uint32_t> ref = ReferenceOrder(c, seed, 0);
      for (uint64_t bs : {1, 7, 64}) {
        for (uint32_t world : {1, 2, 3, 8}) {
          for (bool drop_last : {true, false}) {
            uint64_t g = NumGlobalBatches(n, bs, drop_last);
            for (uint64_t start : {uint64_t{0}, uint64_t{1}, g / 2, g}) {
              if (start > g) continue;
              std::vector<uint64_t> per_rank;
              auto served = ServeAllRanks(c, seed, bs, world, start, drop_last,
                                          &per_rank);
              // Which global batches should be served at all.
              uint64_t end =
                  drop_last ? start + (g - start) / world * world : g;
              ASSERT_EQ(served.size(), end - start)
                  << "n=" << n << " bs=" << bs << " W=" << world
                  << " start=" << start << " drop_last=" << drop_last;
              std::set<uint32_t> seen;
              for (uint64_t j = start; j < end; ++j) {
                ASSERT_EQ(served.count(j), 1u) << j;
                const Served& s = served[j];
                EXPECT_EQ(s.rank, (j - start) % world);
                // Content is the reference slice of the global sequence.
                std::vector<uint32_t> want(
                    ref.begin() + j * bs,
                    ref.begin() + std::min<uint64_t>((j + 1) * bs, n));
                ASSERT_EQ(s.ordinals, want) << "batch " << j;
                for (uint32_t o : s.ordinals) {
                  EXPECT_TRUE(seen.insert(o).second) << "duplicate " << o;
                }
              }
              if (drop_last) {
                for (uint32_t r = 1; r < world; ++r) {
                  EXPECT_EQ(per_rank[r], per_rank[0]);
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(BatchesTest, CursorAfterEachRoundIsTheSameOnEveryRank) {
  CandidateSet c = CandidateSet::Make(1000);
  std::vector<uint64_t> per_rank;
  for (uint32_t world : {2, 3, 8}) {
    auto served = ServeAllRanks(c, 3, 10, world, 5, true, &per_rank);
    std::map<uint64_t, std::set<uint64_t>> by_round;
    for (const auto& [j, s] : served)
      by_round[(j - 5) / world].insert(s.next_batch);
    for (const auto& [round, cursors] : by_round) {
      ASSERT_EQ(cursors.size(), 1u) << "round " << round;
      EXPECT_EQ(*cursors.begin(), 5 + (round + 1) * world);
    }
  }
}

TEST(BatchesTest, ResumeAtAnyBatchWithAnyWorldSizeMatchesFullRun) {
  CandidateSet c = CandidateSet::Make(3000);
  c.weights.resize(3000);
  for (size_t i = 0; i < 3000; ++i) c.weights[i] = 1.0 + (i % 5);
  const uint64_t bs = 32;
  std::vector<uint64_t> per_rank;
  auto full = ServeAllRanks(c, 17, bs, 1, 0, false, &per_rank);
  for (uint32_t world : {1, 2, 3, 8}) {
    for (uint64_t k = 0; k <= 94; k += 3) {
      auto tail = ServeAllRanks(c, 17, bs, world, k, false, &per_rank);
      ASSERT_EQ(tail.size(), full.size() - k) << "W=" << world << " k=" << k;
      for (const auto& [j, s] : tail) {
        ASSERT_EQ(s.ordinals, full[j].ordinals) << "W=" << world << " k=" << k;
      }
    }
  }
}

TEST(BatchesTest, InvalidScheduleNamesTheField) {
  auto zero_world = RankSchedule::Make(10, 2, 0, 0, 0, true);
  EXPECT_EQ(zero_world.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(zero_world.status().message().find("world_size"),
            std::string::npos);
  auto bad_rank = RankSchedule::Make(10, 2, 4, 4, 0, true);
  EXPECT_EQ(bad_rank.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad_rank.status().message().find("rank"), std::string::npos);
  auto zero_batch = RankSchedule::Make(10, 0, 1, 0, 0, true);
  EXPECT_NE(zero_batch.status().message().find("batch_size"),
            std::string::npos);
  auto past_end = RankSchedule::Make(10, 2, 1, 0, 6, true);
  EXPECT_EQ(past_end.status().code(), absl::StatusCode::kInvalidArgument);
  // The end boundary itself is a valid (empty) start.
  auto at_end = RankSchedule::Make(10, 2, 1, 0, 5, true);
  ASSERT_TRUE(at_end.ok());
  EXPECT_EQ(at_end->count(), 0u);
}

TEST(BatchesTest, DropLastStopsBeforeAnIncompleteRound) {
  // 10 positions, batches of 3: 3 full batches and one short one.
  auto keep = RankSchedule::Make(10, 3, 2, 1, 0, false);
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(keep->num_global_batches(), 4u);
  EXPECT_EQ(keep->count(), 2u);  // batches 1 and 3
  EXPECT_EQ(keep->BatchEnd(3), 10u);
  auto drop = RankSchedule::Make(10, 3, 2, 1, 0, true);
  ASSERT_TRUE(drop.ok());
  EXPECT_EQ(drop->num_global_batches(), 3u);
  EXPECT_EQ(drop->count(), 1u);  // round 2 would leave rank 1 without a batch
}

}  // namespace
}  // namespace winnow
