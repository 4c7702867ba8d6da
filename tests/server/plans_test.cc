// PlanRegistry and Plan under concurrency, against a real store in a temp
// dir: racing identical first requests create one plan; ranks reading a
// plan's batches from several threads, in any order, see exactly what one
// thread reading in order sees; deletes and expiry racing with readers and
// creators end cleanly. These tests also run under ThreadSanitizer
// (scripts/sanitizers.sh tsan), which is what they are written for: they
// never cross into gRPC.
#include "server/plans.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/store.h"
#include "tests/server/store_fixture.h"

namespace winnow::server {
namespace {

constexpr int kDocs = 600;

class PlanRegistryTest : public testing::StoreTest {
 protected:
  PlanRegistryTest() : StoreTest("docs") {}

  void SetUp() override {
    StoreTest::SetUp();
    if (HasFatalFailure()) return;
    std::vector<std::string> ids;
    std::vector<std::string_view> id_views, domains;
    std::vector<int64_t> lengths;
    std::vector<float> quality;
    const char* kDomains[] = {"web", "wiki", "code"};
    for (int i = 0; i < kDocs; ++i) ids.push_back(absl::StrCat("d", i));
    for (int i = 0; i < kDocs; ++i) {
      id_views.push_back(ids[i]);
      domains.push_back(kDomains[i % 3]);
      lengths.push_back(16 + (i * 7919) % 2000);
      quality.push_back(static_cast<float>((i * 31) % 97) / 97.0f);
    }
    storage::DocumentBatch batch;
    batch.ids = id_views;
    batch.domains = domains;
    batch.lengths = lengths;
    batch.scores.push_back({"quality", quality, {}});
    ASSERT_TRUE(store_->UpsertDocuments("docs", batch).ok());

    registry_ = std::make_unique<PlanRegistry>(store_.get(), PlanOptions{});
    ASSERT_TRUE(registry_->Init().ok());
  }
  void TearDown() override {
    registry_.reset();
    StoreTest::TearDown();
  }

  // A uniform plan, or (token_budget) a weighted one in length buckets,
  // whose epochs are stateful and persist their index when first opened.
  static winnow::v1::SampleRequest Request(const std::string& run,
                                           bool token_budget) {
    winnow::v1::SampleRequest r;
    r.set_collection("docs");
    r.set_seed(5);
    r.set_run_id(run);
    r.set_num_epochs(3);
    r.set_batch_size(16);
    if (token_budget) {
      auto* w = r.mutable_strategy()->mutable_weighted();
      w->set_score("quality");
      w->set_weight_function(winnow::v1::WEIGHT_FUNCTION_POWER);
      w->set_alpha(2);
      r.mutable_token_budget()->set_max_tokens(8192);
      r.mutable_token_budget()->set_bucket_count(4);
    }
    return r;
  }

  // Every batch of epochs [0, epochs) of `plan`, read in order by one
  // thread.
  static std::vector<std::vector<std::vector<uint32_t>>> ReadAll(
      Plan* plan, uint64_t epochs) {
    std::vector<std::vector<std::vector<uint32_t>>> out(epochs);
    for (uint64_t e = 0; e < epochs; ++e) {
      absl::StatusOr<EpochInfo> info = plan->OpenEpoch(e);
      EXPECT_TRUE(info.ok()) << info.status();
      if (!info.ok()) return out;
      for (uint64_t j = 0; j < info->batches; ++j) {
        Batch b;
        EXPECT_TRUE(plan->GetBatch(e, j, &b).ok());
        out[e].push_back(b.items);
      }
    }
    return out;
  }

  std::unique_ptr<PlanRegistry> registry_;
};

TEST_F(PlanRegistryTest, RacingFirstRequestsCreateOnePlan) {
  for (bool budget : {false, true}) {
    const winnow::v1::SampleRequest req =
        Request(budget ? "race-budget" : "race", budget);
    constexpr int kThreads = 8;
    std::vector<std::shared_ptr<Plan>> got(kThreads);
    std::vector<std::thread> threads;
    std::atomic<bool> go{false};
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        winnow::v1::SampleRequest mine = req;
        mine.set_rank(t % 4);  // rank and world size are not plan fields
        mine.set_world_size(4 + t % 3);
        absl::StatusOr<std::shared_ptr<Plan>> p =
            registry_->FindOrCreate(mine, "");
        ASSERT_TRUE(p.ok()) << p.status();
        got[t] = *p;
      });
    }
    go = true;
    for (std::thread& th : threads) th.join();
    for (int t = 1; t < kThreads; ++t) {
      ASSERT_NE(got[t], nullptr);
      EXPECT_EQ(got[t].get(), got[0].get()) << "thread " << t;
    }
  }
  EXPECT_EQ(registry_->List().size(), 2u);
}

TEST_F(PlanRegistryTest, ConcurrentRanksSeeTheSequentialBatches) {
  for (bool budget : {false, true}) {
    const std::string run = budget ? "ranks-budget" : "ranks";
    // The reference: a plan of the same fields in a registry of its own
    // (same store), read in order by one thread.
    std::vector<std::vector<std::vector<uint32_t>>> want;
    {
      absl::StatusOr<std::shared_ptr<Plan>> ref =
          registry_->FindOrCreate(Request(run + "-ref", budget), "");
      ASSERT_TRUE(ref.ok()) << ref.status();
      want = ReadAll(ref->get(), 3);
    }
    absl::StatusOr<std::shared_ptr<Plan>> plan =
        registry_->FindOrCreate(Request(run, budget), "");
    ASSERT_TRUE(plan.ok()) << plan.status();
    // The run id only names the plan; the seed fixes the sequence, so the
    // two plans' batches agree (checked below single-threaded first).
    ASSERT_FALSE(want[0].empty());

    // World size 4: thread r reads global batches r, r+4, ... of every
    // epoch; odd ranks read their epochs newest first and their batches
    // backwards, so epochs open concurrently and out of order.
    constexpr int kWorld = 4;
    std::vector<std::vector<std::vector<std::vector<uint32_t>>>> seen(
        kWorld, std::vector<std::vector<std::vector<uint32_t>>>(3));
    std::vector<std::thread> threads;
    for (int r = 0; r < kWorld; ++r) {
      threads.emplace_back([&, r] {
        (*plan)->AddStream(1);
        for (int k = 0; k < 3; ++k) {
          const uint64_t e = r % 2 ? 2 - k : k;
          absl::StatusOr<EpochInfo> info = (*plan)->OpenEpoch(e);
          ASSERT_TRUE(info.ok()) << info.status();
          seen[r][e].assign(info->batches, {});
          std::vector<uint64_t> mine;
          for (uint64_t j = r; j < info->batches; j += kWorld) {
            mine.push_back(j);
          }
          if (r % 2) std::reverse(mine.begin(), mine.end());
          for (uint64_t j : mine) {
            Batch b;
            ASSERT_TRUE((*plan)->GetBatch(e, j, &b).ok());
            seen[r][e][j] = b.items;
          }
        }
        (*plan)->AddStream(-1);
      });
    }
    for (std::thread& th : threads) th.join();
    for (uint64_t e = 0; e < 3; ++e) {
      for (int r = 0; r < kWorld; ++r) {
        ASSERT_EQ(seen[r][e].size(), want[e].size()) << "epoch " << e;
        for (uint64_t j = r; j < want[e].size(); j += kWorld) {
          EXPECT_EQ(seen[r][e][j], want[e][j])
              << "budget " << budget << " epoch " << e << " batch " << j;
        }
      }
    }
  }
}

TEST_F(PlanRegistryTest, DeleteAndExpiryRacingWithReadersEndCleanly) {
  absl::StatusOr<std::shared_ptr<Plan>> plan =
      registry_->FindOrCreate(Request("doomed", true), "");
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::string id = (*plan)->id();
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      // Readers go on until the plan is deleted; every read either
      // succeeds or says why it cannot.
      for (uint64_t n = 0; !stop.load(); ++n) {
        absl::StatusOr<std::shared_ptr<Plan>> p = registry_->Get(id);
        if (!p.ok()) {
          EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
          return;
        }
        const uint64_t e = (n + r) % 3;
        absl::StatusOr<EpochInfo> info = (*p)->OpenEpoch(e);
        if (!info.ok() || info->batches == 0) continue;
        Batch b;
        (void)(*p)->GetBatch(e, n % info->batches, &b);
        reads.fetch_add(1);
      }
    });
  }
  // Creators of other plans and the expiry sweep run at the same time; a
  // sweep with the clock at now keeps every plan (TTL 30 days).
  threads.emplace_back([&] {
    for (int i = 0; i < 6; ++i) {
      ASSERT_TRUE(
          registry_->FindOrCreate(Request(absl::StrCat("other", i), false), "")
              .ok());
      EXPECT_EQ(registry_->ExpireIdle(std::chrono::system_clock::now()), 0);
    }
  });
  while (reads.load() < 50) std::this_thread::yield();
  absl::StatusOr<int64_t> freed = registry_->Delete(id);
  ASSERT_TRUE(freed.ok()) << freed.status();
  EXPECT_TRUE((*plan)->deleted());
  stop = true;
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(registry_->Get(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->Delete(id).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->List().size(), 6u);
  // A sweep far in the future expires every idle plan, once.
  const auto later =
      std::chrono::system_clock::now() + std::chrono::hours(24 * 365);
  EXPECT_EQ(registry_->ExpireIdle(later), 6);
  EXPECT_EQ(registry_->ExpireIdle(later), 0);
  EXPECT_TRUE(registry_->List().empty());
  EXPECT_EQ(registry_->TotalMemoryBytes(), 0);
}

// ---- one plan per run_id ----

TEST_F(PlanRegistryTest, ARunIdWithOtherPlanFieldsIsRefused) {
  absl::StatusOr<std::shared_ptr<Plan>> first =
      registry_->FindOrCreate(Request("run-a", false), "");
  ASSERT_TRUE(first.ok()) << first.status();
  winnow::v1::SampleRequest other = Request("run-a", false);
  other.set_batch_size(32);
  other.set_seed(6);
  absl::Status s = registry_->FindOrCreate(other, "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("seed, batch_size"), std::string::npos) << s;
  EXPECT_NE(s.message().find((*first)->id()), std::string::npos) << s;
  // Each plan field is named.
  winnow::v1::SampleRequest strategy = Request("run-a", false);
  strategy.mutable_strategy()->mutable_top_k()->set_score("quality");
  strategy.mutable_strategy()->mutable_top_k()->set_k(5);
  s = registry_->FindOrCreate(strategy, "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(": strategy;"), std::string::npos) << s;
  winnow::v1::SampleRequest filter = Request("run-a", false);
  filter.set_filter("quality > 0.5");
  filter.set_drop_last(false);
  s = registry_->FindOrCreate(filter, "").status();
  EXPECT_NE(s.message().find("filter, drop_last"), std::string::npos) << s;
  EXPECT_EQ(registry_->List().size(), 1u);
}

TEST_F(PlanRegistryTest, FieldsAreComparedAfterDefaults) {
  winnow::v1::SampleRequest plain = Request("run-d", false);
  absl::StatusOr<std::shared_ptr<Plan>> first =
      registry_->FindOrCreate(plain, "");
  ASSERT_TRUE(first.ok());
  winnow::v1::SampleRequest spelled = plain;
  spelled.mutable_strategy()->mutable_uniform();
  spelled.set_drop_last(true);
  absl::StatusOr<std::shared_ptr<Plan>> same =
      registry_->FindOrCreate(spelled, "");
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->get(), first->get());
  // An empty run_id keeps plans apart by their fields, as before.
  winnow::v1::SampleRequest a = Request("", false);
  winnow::v1::SampleRequest b = a;
  b.set_batch_size(8);
  absl::StatusOr<std::shared_ptr<Plan>> pa = registry_->FindOrCreate(a, "");
  absl::StatusOr<std::shared_ptr<Plan>> pb = registry_->FindOrCreate(b, "");
  ASSERT_TRUE(pa.ok() && pb.ok());
  EXPECT_NE(pa->get(), pb->get());
  EXPECT_EQ(registry_->CountForCollection("docs"), 3);
  EXPECT_EQ(registry_->CountForCollection("other"), 0);
}

TEST_F(PlanRegistryTest, RacingRequestsOfOneRunWithOtherFieldsGetOnePlan) {
  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<std::shared_ptr<Plan>>> got(
      kThreads, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      winnow::v1::SampleRequest mine = Request("race-fields", false);
      mine.set_batch_size(t % 2 == 0 ? 16 : 24);
      got[t] = registry_->FindOrCreate(mine, "");
    });
  }
  go = true;
  for (std::thread& th : threads) th.join();
  // Whichever fields froze first own the run; the others are refused.
  std::shared_ptr<Plan> plan;
  for (const auto& g : got) {
    if (g.ok()) plan = *g;
  }
  ASSERT_NE(plan, nullptr);
  const int winner = plan->spec().batch_size == 16 ? 0 : 1;
  for (int t = 0; t < kThreads; ++t) {
    if (t % 2 == winner) {
      ASSERT_TRUE(got[t].ok()) << got[t].status();
      EXPECT_EQ(got[t]->get(), plan.get());
    } else {
      EXPECT_EQ(got[t].status().code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_NE(got[t].status().message().find("batch_size"),
                std::string::npos);
    }
  }
  EXPECT_EQ(registry_->List().size(), 1u);
}

TEST_F(PlanRegistryTest, TheNewestOfAReleasesPlansSharingARunOwnsIt) {
  // An earlier release froze a plan per field set, so two plans could share
  // a run_id. Write a second one's entries by hand, newer, other seed.
  absl::StatusOr<std::shared_ptr<Plan>> old_plan =
      registry_->FindOrCreate(Request("shared", false), "");
  ASSERT_TRUE(old_plan.ok());
  const std::string old_id = (*old_plan)->id();
  winnow::v1::SampleRequest newer_request = Request("shared", false);
  newer_request.set_seed(77);
  std::vector<std::pair<std::string, std::string>> entries;
  for (const char* entry : {"meta", "internal", "frozen"}) {
    absl::StatusOr<std::string> value = store_->GetPlanEntry(old_id, entry);
    ASSERT_TRUE(value.ok()) << entry;
    entries.push_back({entry, *value});
  }
  winnow::v1::Plan meta;
  ASSERT_TRUE(meta.ParseFromString(entries[0].second));
  meta.set_plan_id("pnewer");
  meta.set_seed(77);
  meta.mutable_create_time()->set_seconds(meta.create_time().seconds() + 60);
  entries[0].second = meta.SerializeAsString();
  PlanInternal internal;
  ASSERT_TRUE(DecodePlanInternal(entries[1].second, &internal));
  internal.key = PlanRegistry::PlanKey(newer_request);
  entries[1].second = EncodePlanInternal(internal);
  ASSERT_TRUE(store_->PutPlanEntries("pnewer", entries).ok());

  registry_ = std::make_unique<PlanRegistry>(store_.get(), PlanOptions{});
  ASSERT_TRUE(registry_->Init().ok());
  absl::StatusOr<std::shared_ptr<Plan>> owner =
      registry_->FindOrCreate(newer_request, "");
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ((*owner)->id(), "pnewer");
  // The older plan's fields no longer own the run, but its id still works.
  EXPECT_EQ(
      registry_->FindOrCreate(Request("shared", false), "").status().code(),
      absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<std::shared_ptr<Plan>> by_id = registry_->Get(old_id);
  ASSERT_TRUE(by_id.ok());
  EXPECT_EQ(ReadAll(by_id->get(), 1)[0].size(),
            ReadAll(owner->get(), 1)[0].size());
}

}  // namespace
}  // namespace winnow::server
