// PlanSampler: every sequence kind, with fixed-size and token-budget
// batches, is deterministic, serves any batch in any order, survives a
// reopen from its saved epoch index (a server restart), and keeps the
// guarantees of its strategy.
#include "selection/plan_sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>

#include "selection/batches.h"
#include "selection/hash.h"

namespace winnow {
namespace {

struct Fixture {
  std::vector<std::string> ids;
  std::shared_ptr<FrozenCandidates> frozen;

  // n candidates; lengths lognormal (median 600); domains 0..2 with shares
  // 60/30/10%; weights = (i % 10 + 1) when `weighted`.
  static Fixture Make(size_t n, bool weighted, uint64_t seed = 3) {
    Fixture f;
    f.frozen = std::make_shared<FrozenCandidates>();
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> len(std::log(600.0), 1.0);
    for (size_t i = 0; i < n; ++i) {
      f.ids.push_back("doc-" + std::to_string(i));
      f.frozen->ordinals.push_back(static_cast<uint32_t>(2 * i + 5));
      f.frozen->lengths.push_back(static_cast<uint32_t>(
          std::clamp(std::round(len(rng)), 16.0, 32768.0)));
      f.frozen->id_hashes.push_back(IdHash(f.ids.back()));
      f.frozen->domains.push_back(i % 10 < 6 ? 0 : (i % 10 < 9 ? 1 : 2));
      if (weighted) f.frozen->weights.push_back(double(i % 10 + 1));
    }
    f.frozen->num_domains = 3;
    return f;
  }

  DocIdFn Id() const {
    return [this](uint32_t i) { return std::string_view(ids[i]); };
  }

  std::unique_ptr<PlanSampler> Sampler(const SamplerConfig& c) const {
    absl::StatusOr<std::unique_ptr<PlanSampler>> s =
        PlanSampler::Make(frozen, c, Id());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }
};

// Every batch of an epoch, read in order.
std::vector<Batch> ReadEpoch(PlanSampler& s, uint64_t e,
                             std::string* index = nullptr) {
  std::string saved;
  absl::StatusOr<EpochInfo> info = s.OpenEpoch(e, "", &saved);
  EXPECT_TRUE(info.ok()) << info.status();
  if (index != nullptr) *index = saved;
  std::vector<Batch> out(info->all_batches);
  for (uint64_t j = 0; j < info->all_batches; ++j) {
    EXPECT_TRUE(s.GetBatch(e, j, &out[j]).ok());
  }
  return out;
}

void ExpectSameBatches(const std::vector<Batch>& a,
                       const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t j = 0; j < a.size(); ++j) {
    ASSERT_EQ(a[j].items, b[j].items) << "batch " << j;
    ASSERT_EQ(a[j].bucket, b[j].bucket) << "batch " << j;
    ASSERT_EQ(a[j].over_budget, b[j].over_budget) << "batch " << j;
  }
}

struct Case {
  std::string name;
  SamplerConfig config;
  bool weighted;
  bool without_replacement;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  TokenBudgetSpec tb;
  tb.max_tokens = 8192;
  tb.edges = {200, 400, 800, 1600, 3200};
  for (bool bucketed : {false, true}) {
    auto base = [&](SequenceKind kind) {
      SamplerConfig c;
      c.kind = kind;
      c.seed = 42;
      c.checkpoint_every = 8;
      if (bucketed) {
        c.token_budget = tb;
      } else {
        c.batch_size = 37;
      }
      return c;
    };
    std::string suffix = bucketed ? "_bucketed" : "";
    cases.push_back(
        {"uniform" + suffix, base(SequenceKind::kKeyed), false, true});
    cases.push_back(
        {"weighted" + suffix, base(SequenceKind::kKeyed), true, true});
    cases.push_back(
        {"fixed" + suffix, base(SequenceKind::kFixed), false, true});
    SamplerConfig alias = base(SequenceKind::kAlias);
    alias.samples_per_epoch = 3000;
    cases.push_back({"alias" + suffix, alias, true, false});
    SamplerConfig mix = base(SequenceKind::kMixture);
    mix.samples_per_epoch = 3000;
    mix.mixture.weights = {0.2, 0.3, 0.5};
    cases.push_back({"mixture" + suffix, mix, false, false});
    SamplerConfig drop = mix;
    drop.mixture.drop_exhausted = true;
    drop.samples_per_epoch = 5000;
    cases.push_back({"mixture_drop" + suffix, drop, false, true});
  }
  return cases;
}

class PlanSamplerCaseTest : public ::testing::TestWithParam<Case> {};

TEST_P(PlanSamplerCaseTest, DeterministicAnyOrderAndReopenable) {
  const Case& c = GetParam();
  Fixture f = Fixture::Make(2000, c.weighted);
  for (uint64_t epoch : {0u, 3u}) {
    auto a = f.Sampler(c.config);
    std::string index;
    std::vector<Batch> full = ReadEpoch(*a, epoch, &index);
    ASSERT_FALSE(full.empty());
    const bool stateful = c.config.token_budget.has_value() ||
                          c.config.kind == SequenceKind::kMixture;
    EXPECT_EQ(!index.empty(), stateful);

    // A second sampler gives the same epoch.
    auto b = f.Sampler(c.config);
    ExpectSameBatches(ReadEpoch(*b, epoch), full);

    // Any batch in a shuffled order, from a sampler reopened from the
    // saved index (a restart), equals the sequential read.
    auto r = f.Sampler(c.config);
    ASSERT_TRUE(r->OpenEpoch(epoch, index, nullptr).ok());
    std::vector<uint64_t> order(full.size());
    for (uint64_t j = 0; j < order.size(); ++j) order[j] = j;
    std::shuffle(order.begin(), order.end(), std::mt19937_64(epoch + 1));
    for (uint64_t j : order) {
      Batch got;
      ASSERT_TRUE(r->GetBatch(epoch, j, &got).ok());
      ASSERT_EQ(got.items, full[j].items) << c.name << " batch " << j;
    }
    // A corrupted index is refused, not trusted.
    if (stateful) {
      auto bad = f.Sampler(c.config);
      std::string cut = index.substr(0, index.size() - 3);
      EXPECT_FALSE(bad->OpenEpoch(epoch, cut, nullptr).ok());
    }

    // Without replacement, every candidate is served at most once per
    // epoch (exactly once for keyed and fixed orders).
    std::map<uint32_t, int> seen;
    size_t total = 0;
    for (const Batch& batch : full) {
      for (uint32_t i : batch.items) ++seen[i];
      total += batch.items.size();
    }
    if (c.without_replacement) {
      for (auto& [i, count] : seen) ASSERT_EQ(count, 1) << c.name;
      if (c.config.kind != SequenceKind::kMixture) {
        EXPECT_EQ(total, 2000u);
      }
    } else {
      EXPECT_EQ(total, c.config.samples_per_epoch);
    }
    // Token budgets hold.
    if (c.config.token_budget) {
      for (const Batch& batch : full) {
        uint32_t longest = 0;
        for (uint32_t i : batch.items) {
          longest = std::max(longest, f.frozen->lengths[i]);
        }
        if (batch.over_budget) {
          EXPECT_EQ(batch.items.size(), 1u);
        } else {
          EXPECT_LE(int64_t(longest) * int64_t(batch.items.size()),
                    c.config.token_budget->max_tokens);
        }
      }
    }
  }
  // Different epochs and seeds give different sequences (the fixed order
  // is the same every epoch by definition).
  auto s = f.Sampler(c.config);
  std::vector<Batch> e0 = ReadEpoch(*s, 0);
  std::vector<Batch> e1 = ReadEpoch(*s, 1);
  if (c.config.kind == SequenceKind::kFixed) {
    ExpectSameBatches(e0, e1);
  } else {
    EXPECT_NE(e0[0].items, e1[0].items);
    SamplerConfig other = c.config;
    other.seed = 43;
    auto t = f.Sampler(other);
    EXPECT_NE(ReadEpoch(*t, 0)[0].items, e0[0].items);
  }
}

// A plan is written durably while another thread opens its first epoch
// (docs/architecture.md, "Plans"), so the epoch's size must be known
// without its keys: StatelessEpochInfo(e) is OpenEpoch(e)'s result for
// every epoch that keeps no index, and refuses (nullopt) every one that
// does.
TEST_P(PlanSamplerCaseTest, StatelessEpochInfoIsWhatOpenEpochReturns) {
  const Case& c = GetParam();
  Fixture f = Fixture::Make(2000, c.weighted);
  if (c.weighted) {
    // Candidates without a positive weight are left out of a keyed epoch;
    // the smallest positive double is not.
    for (size_t i = 0; i < 2000; i += 7) {
      f.frozen->weights[i] = i % 2 == 0 ? 0.0 : 4.9e-324;
    }
  }
  for (uint64_t cut : {uint64_t{0}, uint64_t{1500}, uint64_t{2600}}) {
    for (bool drop_last : {false, true}) {
      for (uint64_t budget : {uint64_t{0}, uint64_t{4500}}) {
        SamplerConfig config = c.config;
        config.drop_last = drop_last;
        if (config.kind == SequenceKind::kKeyed ||
            config.kind == SequenceKind::kFixed) {
          config.samples_per_epoch = cut;
          config.total_budget = budget;
        }
        auto s = f.Sampler(config);
        for (uint64_t e : {0u, 1u, 2u}) {
          SCOPED_TRACE(c.name + " cut " + std::to_string(cut) + " budget " +
                       std::to_string(budget) + " epoch " + std::to_string(e));
          const std::optional<EpochInfo> known = s->StatelessEpochInfo(e);
          std::string index;
          absl::StatusOr<EpochInfo> opened = s->OpenEpoch(e, "", &index);
          ASSERT_TRUE(opened.ok()) << opened.status();
          ASSERT_EQ(known.has_value(), index.empty());
          if (!known) continue;
          EXPECT_EQ(known->positions, opened->positions);
          EXPECT_EQ(known->batches, opened->batches);
          EXPECT_EQ(known->all_batches, opened->all_batches);
          std::vector<uint32_t> served;
          for (uint64_t j = 0; j < opened->all_batches; ++j) {
            Batch b;
            ASSERT_TRUE(s->GetBatch(e, j, &b).ok());
            served.insert(served.end(), b.items.begin(), b.items.end());
          }
          EXPECT_EQ(served.size(), known->positions);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, PlanSamplerCaseTest,
                         ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(PlanSamplerTest, ShardsOverRanksAreDisjointAndCompleteWithBuckets) {
  Fixture f = Fixture::Make(3000, true);
  SamplerConfig c;
  c.seed = 5;
  c.checkpoint_every = 4;
  c.token_budget = TokenBudgetSpec{16384, {300, 600, 1200, 2400}, {}};
  auto s = f.Sampler(c);
  absl::StatusOr<EpochInfo> info = s->OpenEpoch(0, "", nullptr);
  ASSERT_TRUE(info.ok());
  for (bool drop_last : {true, false}) {
    for (uint32_t w : {1u, 2u, 3u, 8u}) {
      std::multiset<uint32_t> served;
      uint64_t min_count = UINT64_MAX, max_count = 0;
      for (uint32_t r = 0; r < w; ++r) {
        absl::StatusOr<RankSchedule> sched =
            RankSchedule::FromBatches(info->batches, w, r, 0, drop_last);
        ASSERT_TRUE(sched.ok());
        min_count = std::min(min_count, sched->count());
        max_count = std::max(max_count, sched->count());
        for (uint64_t i = 0; i < sched->count(); ++i) {
          Batch b;
          ASSERT_TRUE(s->GetBatch(0, sched->GlobalBatch(i), &b).ok());
          served.insert(b.items.begin(), b.items.end());
        }
      }
      std::set<uint32_t> unique(served.begin(), served.end());
      EXPECT_EQ(unique.size(), served.size()) << "w=" << w;  // disjoint
      if (drop_last) {
        EXPECT_EQ(min_count, max_count);
      } else {
        EXPECT_EQ(served.size(), 3000u) << "w=" << w;  // complete
      }
    }
  }
}

TEST(PlanSamplerTest, MixtureFollowsItsWeightsAndSchedule) {
  Fixture f = Fixture::Make(3000, false);
  SamplerConfig c;
  c.kind = SequenceKind::kMixture;
  c.seed = 9;
  c.batch_size = 100;
  c.samples_per_epoch = 30000;
  c.mixture.weights = {0.5, 0.25, 0.25};
  // From sample 45,000 (the middle of epoch 1) domain 2 takes everything.
  c.mixture.steps.push_back({45000, {0, 0, 1}});
  auto s = f.Sampler(c);
  std::vector<double> counts(3, 0);
  for (const Batch& b : ReadEpoch(*s, 0)) {
    for (uint32_t i : b.items) ++counts[f.frozen->domains[i]];
  }
  // Chi-square with df = 2 at p = 0.001.
  double chi = 0;
  const double expected[] = {15000, 7500, 7500};
  for (int d = 0; d < 3; ++d) {
    chi += (counts[d] - expected[d]) * (counts[d] - expected[d]) / expected[d];
  }
  EXPECT_LT(chi, 13.816);
  // Domain 2 has 300 candidates and is drawn ~7,500 times: reshuffled
  // passes, each a permutation of the domain.
  std::vector<Batch> e1 = ReadEpoch(*s, 1);
  size_t position = 0;
  for (const Batch& b : e1) {
    for (uint32_t i : b.items) {
      if (position >= 15000) {
        EXPECT_EQ(f.frozen->domains[i], 2) << "position " << position;
      }
      ++position;
    }
  }
  std::vector<uint32_t> domain2;
  for (const Batch& b : ReadEpoch(*s, 0)) {
    for (uint32_t i : b.items) {
      if (f.frozen->domains[i] == 2) domain2.push_back(i);
    }
  }
  ASSERT_GE(domain2.size(), 600u);
  std::set<uint32_t> first(domain2.begin(), domain2.begin() + 300);
  std::set<uint32_t> second(domain2.begin() + 300, domain2.begin() + 600);
  EXPECT_EQ(first.size(), 300u);
  EXPECT_EQ(second.size(), 300u);
  EXPECT_EQ(first, second);
  EXPECT_FALSE(std::equal(domain2.begin(), domain2.begin() + 300,
                          domain2.begin() + 300));
}

TEST(PlanSamplerTest, MixtureDropEndsTheEpochWhenEveryDomainRunsOut) {
  Fixture f = Fixture::Make(1000, false);
  SamplerConfig c;
  c.kind = SequenceKind::kMixture;
  c.batch_size = 10;
  c.samples_per_epoch = 100000;
  c.mixture.weights = {1, 1, 0};  // domain 2 never drawn
  c.mixture.drop_exhausted = true;
  auto s = f.Sampler(c);
  absl::StatusOr<EpochInfo> info = s->OpenEpoch(0, "", nullptr);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->positions, 900u);  // domains 0 and 1 hold 600 + 300
}

TEST(PlanSamplerTest, RepetitionBudgetServesTheBudgetOverItsEpochs) {
  Fixture f = Fixture::Make(700, false);
  SamplerConfig c;
  c.batch_size = 64;
  c.total_budget = 2000;
  c.drop_last = false;
  auto s = f.Sampler(c);
  ASSERT_EQ(s->strategy_epochs(), 3u);  // ceil(2000 / 700)
  std::map<uint32_t, int> seen;
  uint64_t total = 0;
  for (uint64_t e = 0; e < 3; ++e) {
    for (const Batch& b : ReadEpoch(*s, e)) {
      for (uint32_t i : b.items) ++seen[i];
      total += b.items.size();
    }
  }
  EXPECT_EQ(total, 2000u);
  for (auto& [i, n] : seen) EXPECT_LE(n, 3);
  absl::StatusOr<EpochInfo> past = s->OpenEpoch(3, "", nullptr);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->positions, 0u);
}

TEST(PlanSamplerTest, RefusesConfigsThatDoNotFit) {
  Fixture f = Fixture::Make(10, false);
  SamplerConfig c;
  c.kind = SequenceKind::kAlias;
  c.batch_size = 2;
  EXPECT_FALSE(PlanSampler::Make(f.frozen, c, f.Id()).ok());  // no spe
  c.kind = SequenceKind::kMixture;
  c.samples_per_epoch = 5;
  c.mixture.weights = {1, 1};  // 3 domains
  EXPECT_FALSE(PlanSampler::Make(f.frozen, c, f.Id()).ok());
  c.kind = SequenceKind::kKeyed;
  c.batch_size = 0;
  EXPECT_FALSE(PlanSampler::Make(f.frozen, c, f.Id()).ok());
}

}  // namespace
}  // namespace winnow
