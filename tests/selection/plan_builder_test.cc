// The plan builder (selection/plan_spec.h, plan_builder.h): every error path
// of plan creation, each strategy's frozen selection against a brute-force
// reference, and the comparison that keeps one plan per run_id.
#include "selection/plan_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "selection/hash.h"
#include "selection/parallel.h"
#include "selection/weights.h"
#include "tests/sanitized.h"
#include "tests/selection/sampler_test_util.h"

namespace winnow {
namespace {

// A small collection: doc-<i> at ordinal i, three domains, lengths, a
// "quality" score (null every 7th), an integer "cluster" and a "frac"
// score holding a non-integer.
class Collection {
 public:
  explicit Collection(uint32_t n) : live_(n, true) {
    std::mt19937_64 rng(n);
    for (uint32_t i = 0; i < n; ++i) {
      ids_.push_back("doc-" + std::to_string(1000 + i));
      hashes_.push_back(IdHash(ids_.back()));
      length_.push_back(10 + static_cast<uint32_t>(rng() % 500));
      domain_.push_back(i % 5 == 0 ? 0 : (i % 5 < 3 ? 1 : 2));
      quality_.push_back(i % 7 == 3 ? NAN
                                    : static_cast<float>(rng() % 1000) / 1000);
      cluster_.push_back(static_cast<float>(i % 4));
      frac_.push_back(i == 5 ? 1.5f : 2.0f);
    }
    columns_.num_rows = n;
    columns_.live = &live_;
    columns_.length = length_;
    columns_.domain = domain_;
    columns_.domain_names = names_;
    columns_.scores.emplace("quality", quality_);
    columns_.scores.emplace("cluster", cluster_);
    columns_.scores.emplace("frac", frac_);
    for (uint32_t i = 0; i < n; ++i) all_.push_back(i);
  }

  PlanInputs Inputs(std::span<const uint32_t> candidates) const {
    PlanInputs in;
    in.columns = &columns_;
    in.candidates = candidates;
    in.id_hashes = hashes_;
    in.doc_id = [this](uint32_t o) { return std::string_view(ids_[o]); };
    return in;
  }
  PlanInputs Inputs() const { return Inputs(all_); }

  const std::vector<std::string>& ids() const { return ids_; }
  const std::vector<float>& quality() const { return quality_; }
  const std::vector<uint32_t>& length() const { return length_; }
  const std::vector<uint32_t>& domain() const { return domain_; }
  const std::vector<uint64_t>& hashes() const { return hashes_; }

 private:
  Bitmap live_;
  std::vector<std::string> ids_;
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> length_, domain_, all_;
  std::vector<float> quality_, cluster_, frac_;
  std::vector<std::string> names_ = {"books", "code", "web"};
  ColumnSet columns_;
};

TokenBudgetParams Budget(int64_t max_tokens, int32_t bucket_count = 0) {
  TokenBudgetParams t;
  t.max_tokens = max_tokens;
  t.bucket_count = bucket_count;
  return t;
}

PlanSpec Spec(StrategyKind kind = StrategyKind::kUniform) {
  PlanSpec spec;
  spec.collection = "c";
  spec.seed = 7;
  spec.batch_size = 4;
  spec.strategy.kind = kind;
  if (kind != StrategyKind::kUniform && kind != StrategyKind::kMixture &&
      kind != StrategyKind::kClusterBalanced) {
    spec.strategy.score = "quality";
  }
  if (kind == StrategyKind::kTopK) spec.strategy.k = 10;
  if (kind == StrategyKind::kClusterBalanced) spec.strategy.budget = 8;
  if (kind == StrategyKind::kRepetitionBudget) {
    spec.strategy.sample_budget = 100;
  }
  if (kind == StrategyKind::kMixture ||
      kind == StrategyKind::kWeightedWithReplacement) {
    spec.samples_per_epoch = 50;
  }
  return spec;
}

// The spec's first error from validation, else from freezing over the
// whole collection; OK if both pass.
absl::Status Build(const PlanSpec& spec, const Collection& c) {
  if (absl::Status s = ValidatePlanSpec(spec); !s.ok()) return s;
  return FreezePlan(spec, c.Inputs()).status();
}

// The error `mutate` causes: its code, and a message naming `field`.
void ExpectError(std::function<void(PlanSpec&)> mutate, StrategyKind kind,
                 absl::StatusCode code, const std::string& field) {
  Collection c(60);
  PlanSpec spec = Spec(kind);
  ASSERT_TRUE(Build(spec, c).ok()) << Build(spec, c);
  mutate(spec);
  absl::Status s = Build(spec, c);
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(field), std::string::npos)
      << "'" << s.message() << "' does not name " << field;
}

constexpr auto kInvalid = absl::StatusCode::kInvalidArgument;
using K = StrategyKind;

TEST(PlanSpecValidation, EpochsAndBatching) {
  ExpectError([](PlanSpec& s) { s.num_epochs = -1; }, K::kUniform, kInvalid,
              "num_epochs");
  ExpectError([](PlanSpec& s) { s.samples_per_epoch = -2; }, K::kUniform,
              kInvalid, "samples_per_epoch");
  ExpectError([](PlanSpec& s) { s.batch_size = 0; }, K::kUniform, kInvalid,
              "batch_size");
}

TEST(PlanSpecValidation, WeightedStrategies) {
  for (K kind : {K::kWeighted, K::kWeightedWithReplacement}) {
    const std::string f =
        std::string("strategy.") + std::string(StrategyName(kind));
    if (kind == K::kWeighted) {
      ExpectError([](PlanSpec& s) { s.strategy.score.clear(); }, kind, kInvalid,
                  f + ".score");
    }
    ExpectError(
        [](PlanSpec& s) {
          s.strategy.weight.function = WeightFunction::kSoftmax;
          s.strategy.weight.temperature = 0;
        },
        kind, kInvalid, f);
    ExpectError(
        [](PlanSpec& s) {
          s.strategy.weight.function = WeightFunction::kPower;
          s.strategy.weight.alpha = INFINITY;
        },
        kind, kInvalid, f);
    ExpectError([](PlanSpec& s) { s.strategy.update = WeightUpdate::kLive; },
                kind, absl::StatusCode::kUnimplemented, f + ".update");
  }
  ExpectError([](PlanSpec& s) { s.samples_per_epoch = 0; },
              K::kWeightedWithReplacement, kInvalid, "samples_per_epoch");
}

TEST(PlanSpecValidation, TopKOrderedClusterBalanced) {
  ExpectError([](PlanSpec& s) { s.strategy.score.clear(); }, K::kTopK, kInvalid,
              "strategy.top_k.score");
  ExpectError([](PlanSpec& s) { s.strategy.k = 0; }, K::kTopK, kInvalid,
              "strategy.top_k.k");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.k.reset();
        s.strategy.fraction = 1.5;
      },
      K::kTopK, kInvalid, "strategy.top_k.fraction");
  ExpectError([](PlanSpec& s) { s.strategy.k.reset(); }, K::kTopK, kInvalid,
              "strategy.top_k: set k or fraction");
  ExpectError([](PlanSpec& s) { s.strategy.score.clear(); }, K::kOrdered,
              kInvalid, "strategy.ordered.score");
  ExpectError([](PlanSpec& s) { s.strategy.fold_count = -1; }, K::kOrdered,
              kInvalid, "strategy.ordered.fold_count");
  ExpectError([](PlanSpec& s) { s.strategy.budget = 0; }, K::kClusterBalanced,
              kInvalid, "strategy.cluster_balanced.budget");
}

TEST(PlanSpecValidation, RepetitionBudget) {
  const K kind = K::kRepetitionBudget;
  ExpectError([](PlanSpec& s) { s.num_epochs = 2; }, kind, kInvalid,
              "num_epochs must be 0 for repetition_budget");
  ExpectError([](PlanSpec& s) { s.strategy.score.clear(); }, kind, kInvalid,
              "strategy.repetition_budget.score");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.pools = DefaultPools();
        s.strategy.pools[1].fraction = 0;
      },
      kind, kInvalid, "strategy.repetition_budget.pools[1].fraction");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.pools = DefaultPools();
        s.strategy.pools[0].fraction = 0.5;
      },
      kind, kInvalid, "strategy.repetition_budget.pools: fractions sum");
  ExpectError([](PlanSpec& s) { s.strategy.sample_budget = 0; }, kind, kInvalid,
              "strategy.repetition_budget: sample_budget");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.pools = DefaultPools();
        s.strategy.pools[2].b = 0.1;
      },
      kind, kInvalid, "strategy.repetition_budget: pools[2].b");
}

TEST(PlanSpecValidation, Mixture) {
  const K kind = K::kMixture;
  ExpectError([](PlanSpec& s) { s.strategy.live = true; }, kind,
              absl::StatusCode::kUnimplemented, "strategy.mixture.mode");
  ExpectError([](PlanSpec& s) { s.samples_per_epoch = 0; }, kind, kInvalid,
              "samples_per_epoch must be >= 1 for a mixture");
  const std::string w = "strategy.mixture.domain_weights";
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.domain_weights = {{"web", 1}, {"web", 2}};
      },
      kind, kInvalid, w + "[1].domain: 'web' is listed twice");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.domain_weights = {{"web", -1}};
      },
      kind, kInvalid, w + "[0].weight");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.domain_weights = {{"web", NAN}};
      },
      kind, kInvalid, w + "[0].weight");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.domain_weights = {{"web", 0}, {"code", 0}};
      },
      kind, kInvalid, w + ": the weights must not all be 0");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.steps = {{10, {{"web", 1}}}, {10, {{"code", 1}}}};
      },
      kind, kInvalid, "strategy.mixture.schedule_steps[1].start_sample");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.steps = {{10, {{"web", 1}, {"web", 1}}}};
      },
      kind, kInvalid, "strategy.mixture.schedule_steps[0].domain_weights[1]");
  ExpectError([](PlanSpec& s) { s.strategy.size_exponent = INFINITY; }, kind,
              kInvalid, "strategy.mixture.size_exponent");
}

TEST(PlanSpecValidation, TokenBudget) {
  auto with = [](std::function<void(TokenBudgetParams&)> f) {
    return [f](PlanSpec& s) {
      s.token_budget = Budget(1000);
      f(*s.token_budget);
    };
  };
  ExpectError(with([](TokenBudgetParams& t) { t.max_tokens = -1; }),
              K::kUniform, kInvalid, "token_budget.max_tokens");
  ExpectError(with([](TokenBudgetParams& t) { t.bucket_count = 1001; }),
              K::kUniform, kInvalid, "token_budget.bucket_count");
  ExpectError(with([](TokenBudgetParams& t) {
                t.bucket_edges = {10, 10};
              }),
              K::kUniform, kInvalid, "token_budget.bucket_edges[1]");
  ExpectError(with([](TokenBudgetParams& t) { t.bucket_edges = {0}; }),
              K::kUniform, kInvalid, "token_budget.bucket_edges[0]");
  ExpectError(with([](TokenBudgetParams& t) {
                t.bucket_edges = {10, 20};
                t.bucket_batch_sizes = {1, 2};
              }),
              K::kUniform, kInvalid, "token_budget.bucket_batch_sizes has 2");
  ExpectError(with([](TokenBudgetParams& t) {
                t.bucket_edges = {10};
                t.bucket_batch_sizes = {1, 0};
              }),
              K::kUniform, kInvalid, "token_budget.bucket_batch_sizes[1]");
  ExpectError(with([](TokenBudgetParams& t) { t.max_tokens = 0; }), K::kUniform,
              kInvalid, "token_budget.max_tokens must be > 0 unless");
  // Only the data tells how many buckets an estimate gives: 3 sizes for
  // the 2 buckets two distinct lengths allow.
  Collection c(10);
  PlanSpec spec = Spec();
  spec.token_budget = Budget(0, 3);
  spec.token_budget->bucket_batch_sizes = {1, 1, 1};
  ASSERT_TRUE(ValidatePlanSpec(spec).ok());
  std::vector<uint32_t> two = {0, 1};
  absl::Status s = FreezePlan(spec, c.Inputs(two)).status();
  EXPECT_EQ(s.code(), kInvalid) << s;
  EXPECT_NE(s.message().find("token_budget.bucket_batch_sizes has 3 entries"),
            std::string::npos)
      << s;
}

TEST(FreezePlanErrors, WhatOnlyTheDataTells) {
  for (K kind : {K::kWeighted, K::kWeightedWithReplacement, K::kTopK,
                 K::kOrdered, K::kRepetitionBudget}) {
    ExpectError([](PlanSpec& s) { s.strategy.score = "qualty"; }, kind,
                kInvalid, "unknown score 'qualty'");
  }
  ExpectError([](PlanSpec& s) { s.strategy.cluster_score = "nope"; },
              K::kClusterBalanced, kInvalid,
              "strategy.cluster_balanced.cluster_score: unknown score");
  ExpectError([](PlanSpec& s) { s.strategy.cluster_score = "frac"; },
              K::kClusterBalanced, kInvalid, "not an integer cluster id");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.domain_weights = {{"wbe", 1}};
      },
      K::kMixture, kInvalid,
      "strategy.mixture.domain_weights[0].domain: unknown domain");
  ExpectError(
      [](PlanSpec& s) {
        s.strategy.steps = {{5, {{"web", 1}, {"wbe", 1}}}};
      },
      K::kMixture, kInvalid,
      "strategy.mixture.schedule_steps[0].domain_weights[1].domain");
}

TEST(FreezePlanErrors, DomainsWithoutCandidates) {
  Collection c(60);
  std::vector<uint32_t> web_only;
  for (uint32_t i = 0; i < 60; ++i) {
    if (c.domain()[i] == 2) web_only.push_back(i);
  }
  PlanSpec spec = Spec(K::kMixture);
  spec.strategy.domain_weights = {{"web", 1}, {"code", 0.5}};
  absl::Status s = FreezePlan(spec, c.Inputs(web_only)).status();
  EXPECT_EQ(s.code(), kInvalid);
  EXPECT_NE(s.message().find("domain_weights[1]: domain 'code' has weight 0.5 "
                             "but no candidates after the filter"),
            std::string::npos)
      << s;
  spec.strategy.domain_weights.clear();
  s = FreezePlan(spec, c.Inputs(std::span<const uint32_t>())).status();
  EXPECT_EQ(s.code(), kInvalid);
  EXPECT_NE(s.message().find("the filter matches no document"),
            std::string::npos)
      << s;
}

TEST(FreezePlanErrors, ARepetitionBudgetNeedsCandidates) {
  Collection c(20);
  absl::Status s = FreezePlan(Spec(K::kRepetitionBudget),
                              c.Inputs(std::span<const uint32_t>()))
                       .status();
  EXPECT_EQ(s.code(), kInvalid);
  EXPECT_NE(s.message().find("strategy.repetition_budget: no candidate"),
            std::string::npos)
      << s;
}

TEST(FreezePlanErrors, SamplerRefusesAnEmptyWithReplacementPlan) {
  Collection c(20);
  PlanSpec spec = Spec(K::kWeightedWithReplacement);
  absl::StatusOr<FrozenPlan> plan =
      FreezePlan(spec, c.Inputs(std::span<const uint32_t>()));
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<std::shared_ptr<const FrozenCandidates>> candidates =
      AssembleCandidates(plan->record, plan->weights, 0, c.hashes());
  ASSERT_TRUE(candidates.ok());
  absl::Status s =
      MakePlanSampler(plan->spec, plan->domains, *candidates, 8, [](uint32_t) {
        return std::string_view();
      }).status();
  EXPECT_EQ(s.code(), kInvalid);
  EXPECT_EQ(s.message().rfind("strategy: ", 0), 0u) << s;
}

TEST(FreezePlanErrors, AssembleRefusesAnOrdinalPastTheCollection) {
  FrozenRecord record;
  record.ordinals = {0, 7};
  record.lengths = {1, 1};
  std::vector<uint64_t> hashes(5, 1);
  absl::Status s = AssembleCandidates(record, {}, 0, hashes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(s.message().find("ordinal 7"), std::string::npos);
}

// ---- what each strategy freezes ----

TEST(FreezePlan, WeightedKeepsPositiveWeightsWithTheirScores) {
  Collection c(80);
  PlanSpec spec = Spec(K::kWeighted);
  spec.strategy.weight.function = WeightFunction::kPower;
  spec.strategy.weight.alpha = 2;
  absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, c.Inputs());
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<uint32_t> expected;
  for (uint32_t i = 0; i < 80; ++i) {
    if (c.quality()[i] > 0) expected.push_back(i);  // NaN and 0 excluded
  }
  EXPECT_EQ(plan->record.ordinals, expected);
  ASSERT_EQ(plan->record.scores.size(), expected.size());
  ASSERT_EQ(plan->weights.size(), expected.size());
  // A reload recomputes the very same weights from the kept scores.
  absl::StatusOr<std::vector<double>> again =
      PlanWeights(plan->spec, plan->record.scores);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, plan->weights);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(plan->record.scores[i], c.quality()[expected[i]]);
    EXPECT_EQ(plan->record.lengths[i], c.length()[expected[i]]);
  }
}

TEST(FreezePlan, WithReplacementIsSortedByDocId) {
  Collection c(30);
  std::vector<uint32_t> cands = {29, 3, 17, 4, 11};
  std::sort(cands.begin(), cands.end());
  PlanSpec spec = Spec(K::kWeightedWithReplacement);
  spec.strategy.score.clear();
  absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, c.Inputs(cands));
  ASSERT_TRUE(plan.ok());
  std::vector<std::string> ids;
  for (uint32_t o : plan->record.ordinals) ids.push_back(c.ids()[o]);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_TRUE(plan->weights.empty());
}

TEST(FreezePlan, TopKAndOrderedMatchABruteForceSort) {
  Collection c(70);
  // Brute force: non-null qualities by score descending, ties by doc id.
  std::vector<uint32_t> ranked;
  for (uint32_t i = 0; i < 70; ++i) {
    if (!std::isnan(c.quality()[i])) ranked.push_back(i);
  }
  std::sort(ranked.begin(), ranked.end(), [&](uint32_t a, uint32_t b) {
    if (c.quality()[a] != c.quality()[b]) {
      return c.quality()[a] > c.quality()[b];
    }
    return c.ids()[a] < c.ids()[b];
  });
  PlanSpec spec = Spec(K::kTopK);
  spec.strategy.k = 12;
  absl::StatusOr<FrozenPlan> top = FreezePlan(spec, c.Inputs());
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(top->record.ordinals,
            std::vector<uint32_t>(ranked.begin(), ranked.begin() + 12));
  spec.strategy.shuffle = true;
  top = FreezePlan(spec, c.Inputs());
  std::vector<uint32_t> best(ranked.begin(), ranked.begin() + 12);
  std::sort(best.begin(), best.end());
  EXPECT_EQ(top->record.ordinals, best);

  PlanSpec ordered = Spec(K::kOrdered);
  ordered.strategy.direction = OrderDirection::kFolding;
  absl::StatusOr<FrozenPlan> folded = FreezePlan(ordered, c.Inputs());
  ASSERT_TRUE(folded.ok());
  EXPECT_EQ(folded->spec.strategy.fold_count, 3);  // DELT's default
  std::vector<uint32_t> ascending = ranked;        // ascending, ties by doc id
  std::sort(ascending.begin(), ascending.end(), [&](uint32_t a, uint32_t b) {
    if (c.quality()[a] != c.quality()[b]) {
      return c.quality()[a] < c.quality()[b];
    }
    return c.ids()[a] < c.ids()[b];
  });
  std::vector<uint32_t> expected;
  for (size_t fold = 0; fold < 3; ++fold) {
    for (size_t i = fold; i < ascending.size(); i += 3) {
      expected.push_back(ascending[i]);
    }
  }
  EXPECT_EQ(folded->record.ordinals, expected);
}

TEST(FreezePlan, MixtureDomainsByNameWithSizeWeights) {
  Collection c(100);
  PlanSpec spec = Spec(K::kMixture);
  spec.strategy.size_exponent = 0.5;
  absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, c.Inputs());
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::map<uint32_t, double> counts;
  for (uint32_t d : c.domain()) ++counts[d];
  ASSERT_EQ(plan->domains.size(), 3u);
  const char* names[] = {"books", "code", "web"};
  for (uint32_t d = 0; d < 3; ++d) {
    EXPECT_EQ(plan->domains[d].domain, names[d]);
    EXPECT_EQ(plan->domains[d].weight, std::pow(counts[d], 0.5));
  }
  for (size_t i = 0; i < plan->record.ordinals.size(); ++i) {
    EXPECT_EQ(plan->record.domains[i], c.domain()[plan->record.ordinals[i]]);
  }
}

TEST(FreezePlan, TokenBudgetEdgesAreResolvedOverTheFrozenLengths) {
  Collection c(200);
  PlanSpec spec = Spec();
  spec.token_budget = Budget(2000, 4);
  absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, c.Inputs());
  ASSERT_TRUE(plan.ok());
  std::vector<uint32_t> lengths = c.length();
  std::vector<int64_t> expected;
  for (uint32_t e : EstimateBucketEdges(lengths, 4)) expected.push_back(e);
  EXPECT_EQ(plan->spec.token_budget->bucket_edges, expected);
  EXPECT_EQ(plan->spec.token_budget->bucket_count, 4);
}

TEST(FreezePlan, ClusterBalancedAndRepetitionBudgetResolveDefaults) {
  Collection c(120);
  PlanSpec balanced = Spec(K::kClusterBalanced);
  absl::StatusOr<FrozenPlan> plan = FreezePlan(balanced, c.Inputs());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->spec.strategy.cluster_score, "cluster");
  EXPECT_EQ(plan->record.ordinals.size(), 8u);

  PlanSpec budget = Spec(K::kRepetitionBudget);
  plan = FreezePlan(budget, c.Inputs());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->spec.strategy.pools.size(), DefaultPools().size());
  ASSERT_TRUE(plan->prediction.has_value());
  int64_t chosen = 0;
  for (const PoolChoice& choice : plan->prediction->choices) {
    if (choice.pool_count == plan->prediction->chosen) {
      chosen = choice.pool_size;
    }
  }
  EXPECT_EQ(plan->record.ordinals.size(), static_cast<size_t>(chosen));
  EXPECT_TRUE(std::is_sorted(plan->record.ordinals.begin(),
                             plan->record.ordinals.end()));
}

// ---- one plan per run_id: the comparison ----

TEST(DiffPlanSpecs, DefaultsCompareEqual) {
  PlanSpec a = Spec(K::kOrdered);
  a.strategy.direction = OrderDirection::kFolding;
  PlanSpec b = a;
  b.strategy.fold_count = 3;
  EXPECT_TRUE(DiffPlanSpecs(a, b).empty());
  PlanSpec t = Spec();
  t.token_budget = Budget(100);
  PlanSpec u = t;
  u.token_budget->bucket_count = kDefaultBucketCount;
  EXPECT_TRUE(DiffPlanSpecs(t, u).empty());
  PlanSpec m = Spec(K::kMixture);
  PlanSpec n = m;
  n.strategy.size_exponent = 1.0;
  EXPECT_TRUE(DiffPlanSpecs(m, n).empty());
  PlanSpec r = Spec(K::kRepetitionBudget);
  PlanSpec q = r;
  q.strategy.pools = DefaultPools();
  EXPECT_TRUE(DiffPlanSpecs(r, q).empty());
}

TEST(DiffPlanSpecs, NamesEveryDifferingField) {
  PlanSpec a = Spec(K::kWeighted);
  PlanSpec b = a;
  b.batch_size = 8;
  b.seed = 9;
  b.filter = "quality > 0";
  b.samples_per_epoch = 10;
  b.drop_last = false;
  b.strategy.weight.function = WeightFunction::kPower;
  b.strategy.weight.alpha = 2;
  EXPECT_EQ(DiffPlanSpecs(a, b),
            (std::vector<std::string>{
                "filter", "strategy.weighted.weight_function",
                "strategy.weighted.alpha", "seed", "samples_per_epoch",
                "batch_size", "drop_last"}));
  PlanSpec c = a;
  c.strategy.kind = K::kUniform;
  EXPECT_EQ(DiffPlanSpecs(a, c), std::vector<std::string>{"strategy"});
  PlanSpec d = a;
  d.token_budget = Budget(10);
  EXPECT_EQ(DiffPlanSpecs(a, d), std::vector<std::string>{"batch_size"});
}

TEST(SummarizeStrategy, OneLineForPeople) {
  StrategySpec s;
  s.kind = K::kWeighted;
  s.score = "quality";
  s.weight.function = WeightFunction::kPower;
  s.weight.alpha = 2;
  EXPECT_EQ(SummarizeStrategy(s), "weighted(score=quality, power, alpha=2)");
  EXPECT_EQ(SummarizeStrategy(StrategySpec()), "uniform()");
  StrategySpec m;
  m.kind = K::kMixture;
  m.domain_weights = {{"web", 0.7}, {"code", 0.3}};
  EXPECT_EQ(SummarizeStrategy(m), "mixture(static, web=0.7 code=0.3)");
}

}  // namespace
}  // namespace winnow

namespace winnow {
namespace {

// A short plan's run is the first samples_per_epoch samples of the keyed
// order by its definition (a brute-force sort of every key), over small
// sets and over sets large enough that the key pass splits across threads,
// with exact key ties (shared id hashes) broken by doc id; the run read
// back from its record serves the same batches. A sanitizer build tries one
// seed (tests/sanitized.h).
TEST(SelectShortRun, IsTheKeyedOrdersPrefixAndSurvivesItsRecord) {
  for (const size_t n : {size_t{301}, size_t{200000}}) {
    for (const bool weighted : {false, true}) {
      for (const uint64_t seed : testing::Repeat<uint64_t>({1, 2})) {
        testing::CandidateSet set = testing::CandidateSet::Make(n);
        // Every 50th candidate shares the previous one's hash: equal keys.
        for (size_t i = 50; i < n; i += 50) {
          set.id_hashes[i] = set.id_hashes[i - 1];
        }
        std::mt19937_64 rng(seed);
        ShortPlanInputs in;
        in.candidates = set.ordinals;
        for (size_t i = 0; i < n; ++i) {
          in.lengths.push_back(static_cast<uint32_t>(rng() % 70000));
        }
        PlanSpec spec;
        spec.collection = "c";
        spec.seed = seed;
        spec.num_epochs = 1;
        spec.batch_size = 37;
        spec.drop_last = true;
        spec.samples_per_epoch = static_cast<int64_t>(n / 3);
        spec.strategy.kind = weighted ? K::kWeighted : K::kUniform;
        if (weighted) {
          spec.strategy.score = "q";
          spec.strategy.weight.function = WeightFunction::kPower;
          spec.strategy.weight.alpha = 2;
          for (size_t i = 0; i < n; ++i) {
            // Some scores 0 or null: those candidates never appear. Every
            // 50th equals the previous one, so its key does too.
            float v = i % 11 == 0 ? 0.0f : 0.01f + (rng() % 1000);
            if (i % 13 == 0) v = NAN;
            if (i % 50 == 0 && i > 0) v = in.scores.back();
            in.scores.push_back(v);
          }
          set.weights = ComputeWeights(in.scores, spec.strategy.weight)->values;
        }
        const std::string what =
            absl::StrCat(n, weighted ? " weighted" : "", " seed ", seed);
        ASSERT_TRUE(IsShortPlan(spec, n)) << what;
        std::vector<uint64_t> hashes(3 * n + 1);
        for (size_t i = 0; i < n; ++i) {
          hashes[set.ordinals[i]] = set.id_hashes[i];
        }
        DocIdFn doc_id = [&](uint32_t index) {
          return set.IdOf(set.ordinals[index]);
        };
        absl::StatusOr<FrozenRun> run =
            SelectShortRun(spec, in, hashes, doc_id);
        ASSERT_TRUE(run.ok()) << what << ": " << run.status();
        std::vector<uint32_t> want = testing::ReferenceOrder(set, seed, 0);
        want.resize(
            std::min(want.size(), static_cast<size_t>(spec.samples_per_epoch)));
        EXPECT_EQ(run->record.ordinals, want) << what;
        ASSERT_EQ(run->record.lengths.size(), want.size()) << what;
        for (size_t i = 0; i < want.size(); i += 97) {
          EXPECT_EQ(run->record.lengths[i], in.lengths[(want[i] - 1) / 3]);
          EXPECT_EQ(run->candidates->id_hashes[i], hashes[want[i]]);
        }
        // Through its record, as a restart reads it: the same batches.
        FrozenRecord back;
        ASSERT_TRUE(DecodeFrozenRecord(EncodeFrozenRecord(run->record), &back));
        ASSERT_TRUE(back.run);
        absl::StatusOr<std::shared_ptr<const FrozenCandidates>> reloaded =
            AssembleCandidates(std::move(back), {}, 0, hashes);
        ASSERT_TRUE(reloaded.ok());
        absl::StatusOr<std::unique_ptr<PlanSampler>> sampler =
            MakePlanSampler(spec, {}, *reloaded, 64, doc_id);
        ASSERT_TRUE(sampler.ok()) << sampler.status();
        absl::StatusOr<EpochInfo> info = (*sampler)->OpenEpoch(0, "", nullptr);
        ASSERT_TRUE(info.ok());
        EXPECT_EQ(info->positions, want.size()) << what;
        EXPECT_EQ(info->batches, want.size() / 37) << what;  // drop_last
        std::vector<uint32_t> served;
        for (uint64_t j = 0; j < info->batches; ++j) {
          Batch b;
          ASSERT_TRUE((*sampler)->GetBatch(0, j, &b).ok());
          for (uint32_t i : b.items) served.push_back((*reloaded)->ordinals[i]);
        }
        want.resize(served.size());
        EXPECT_EQ(served, want) << what;
      }
    }
  }
}

// A plan that reads its id hashes in place, by ordinal from the
// collection's array (AssembleCandidates with an owner), serves exactly
// the batches of one that copied them, for every strategy whose sequence
// reads hashes, on sets large enough that the key pass splits across
// threads (140,000 candidates: more than 2 x kParallelMinItems). A
// sanitizer build reads one epoch (tests/sanitized.h).
TEST(AssembleCandidates, HashesReadByOrdinalServeTheSameBatches) {
  Collection c(210000);
  std::vector<uint32_t> some;  // not every ordinal: ordinals != indices
  for (uint32_t i = 0; i < 210000; ++i) {
    if (i % 3 != 1) some.push_back(i);
  }
  ASSERT_GT(some.size(), 2 * kParallelMinItems);
  for (K kind : {K::kUniform, K::kWeighted, K::kMixture,
                 K::kWeightedWithReplacement, K::kTopK}) {
    PlanSpec spec = Spec(kind);
    spec.batch_size = 250;
    if (spec.samples_per_epoch > 0) spec.samples_per_epoch = 5000;
    if (kind == K::kTopK) {
      spec.strategy.k = 5000;
      spec.strategy.shuffle = true;
    }
    absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, c.Inputs(some));
    ASSERT_TRUE(plan.ok()) << plan.status();
    auto owner = std::make_shared<int>(0);
    absl::StatusOr<std::shared_ptr<const FrozenCandidates>> copied =
        AssembleCandidates(plan->record, plan->weights,
                           static_cast<uint32_t>(plan->domains.size()),
                           c.hashes());
    absl::StatusOr<std::shared_ptr<const FrozenCandidates>> in_place =
        AssembleCandidates(plan->record, plan->weights,
                           static_cast<uint32_t>(plan->domains.size()),
                           c.hashes(), owner);
    ASSERT_TRUE(copied.ok() && in_place.ok());
    EXPECT_TRUE((*in_place)->id_hashes.empty());
    EXPECT_EQ((*copied)->id_hashes.size(), (*copied)->ordinals.size());
    std::vector<std::vector<uint32_t>> served[2];
    int which = 0;
    for (const auto& frozen : {*copied, *in_place}) {
      absl::StatusOr<std::unique_ptr<PlanSampler>> sampler = MakePlanSampler(
          plan->spec, plan->domains, frozen, 64, [&](uint32_t i) {
            return std::string_view(c.ids()[frozen->ordinals[i]]);
          });
      ASSERT_TRUE(sampler.ok()) << sampler.status();
      for (const uint64_t e : testing::Repeat<uint64_t>({0, 1})) {
        absl::StatusOr<EpochInfo> info = (*sampler)->OpenEpoch(e, "", nullptr);
        ASSERT_TRUE(info.ok()) << info.status();
        for (uint64_t j = 0; j < std::min<uint64_t>(info->batches, 20); ++j) {
          Batch b;
          ASSERT_TRUE((*sampler)->GetBatch(e, j, &b).ok());
          served[which].push_back(b.items);
        }
      }
      ++which;
    }
    ASSERT_FALSE(served[0].empty()) << StrategyName(kind);
    EXPECT_EQ(served[0], served[1]) << StrategyName(kind);
  }
  // An ordinal past the array is DATA_LOSS either way.
  FrozenRecord bad;
  bad.ordinals = {1, 210000};
  bad.lengths = {1, 1};
  EXPECT_EQ(AssembleCandidates(bad, {}, 0, c.hashes(), std::make_shared<int>(0))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(AssembleCandidates(bad, {}, 0, c.hashes()).status().code(),
            absl::StatusCode::kDataLoss);
}

// The candidates' ordinals from the filter's bitmap: full words, empty
// words, scattered bits and a partial last word, against a bit-by-bit scan.
TEST(BitmapToOrdinals, MatchesABitByBitScan) {
  std::mt19937_64 rng(5);
  for (const size_t size :
       {size_t{0}, size_t{1}, size_t{64}, size_t{1000}, size_t{100003}}) {
    Bitmap b(size);
    for (size_t i = 0; i < size; ++i) {
      const size_t word = i / 64;
      if (word % 3 == 0 || (word % 3 == 1 && rng() % 5 == 0)) b.Set(i);
    }
    std::vector<uint32_t> want;
    for (size_t i = 0; i < size; ++i) {
      if (b.Get(i)) want.push_back(static_cast<uint32_t>(i));
    }
    EXPECT_EQ(b.ToOrdinals(), want) << size;
  }
}

// The copy a short plan takes under the snapshot: the weight score and the
// length of each candidate, and a named error for a score that is missing.
TEST(SelectShortRun, GathersScoresAndLengthsOfTheCandidates) {
  std::vector<uint32_t> length = {5, 6, 7, 8, 9};
  std::vector<float> q = {0.5f, NAN, 0.25f, 1.0f, 2.0f};
  Bitmap live(5);
  for (uint32_t o = 0; o < 5; ++o) live.Set(o);
  ColumnSet columns;
  columns.num_rows = 5;
  columns.live = &live;
  columns.length = length;
  columns.scores.emplace("q", q);
  PlanSpec spec;
  spec.num_epochs = 1;
  spec.samples_per_epoch = 1;
  spec.strategy.kind = K::kWeighted;
  spec.strategy.score = "q";
  absl::StatusOr<ShortPlanInputs> in =
      GatherShortPlan(spec, columns, {1, 3, 4});
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->candidates, (std::vector<uint32_t>{1, 3, 4}));
  EXPECT_EQ(in->lengths, (std::vector<uint32_t>{6, 8, 9}));
  ASSERT_EQ(in->scores.size(), 3u);
  EXPECT_TRUE(std::isnan(in->scores[0]));
  EXPECT_EQ(in->scores[1], 1.0f);
  EXPECT_EQ(in->scores[2], 2.0f);
  spec.strategy.score = "nope";
  in = GatherShortPlan(spec, columns, {1});
  EXPECT_EQ(in.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(in.status().message()),
              ::testing::HasSubstr("strategy.weighted.score"));
  spec.strategy.kind = K::kUniform;
  in = GatherShortPlan(spec, columns, {0, 2});
  ASSERT_TRUE(in.ok());
  EXPECT_TRUE(in->scores.empty());
  EXPECT_EQ(in->lengths, (std::vector<uint32_t>{5, 7}));
}

// The gather copies runs of consecutive ordinals whole: over subsets with
// runs of every length (none, single rows, every row, a run at either
// end), it must equal the row-by-row gather.
TEST(SelectShortRun, GatherEqualsTheRowByRowCopyOverAnySubset) {
  const uint32_t rows = 3000;
  std::vector<uint32_t> length(rows);
  std::vector<float> q(rows);
  Bitmap live(rows);
  for (uint32_t o = 0; o < rows; ++o) {
    length[o] = 7 * o + 1;
    q[o] = 0.5f * static_cast<float>(o);
    live.Set(o);
  }
  ColumnSet columns;
  columns.num_rows = rows;
  columns.live = &live;
  columns.length = length;
  columns.scores.emplace("q", q);
  PlanSpec spec;
  spec.strategy.kind = K::kWeighted;
  spec.strategy.score = "q";
  std::mt19937_64 rng(5);
  for (const double keep : {0.0, 0.02, 0.5, 0.97, 1.0}) {
    for (int round = 0; round < 4; ++round) {
      std::bernoulli_distribution kept(keep);
      std::vector<uint32_t> subset;
      for (uint32_t o = 0; o < rows; ++o) {
        if (kept(rng)) subset.push_back(o);
      }
      absl::StatusOr<ShortPlanInputs> in =
          GatherShortPlan(spec, columns, subset);
      ASSERT_TRUE(in.ok()) << in.status();
      ASSERT_EQ(in->lengths.size(), subset.size());
      ASSERT_EQ(in->scores.size(), subset.size());
      for (size_t i = 0; i < subset.size(); ++i) {
        ASSERT_EQ(in->lengths[i], length[subset[i]]) << keep << " " << i;
        ASSERT_EQ(in->scores[i], q[subset[i]]) << keep << " " << i;
      }
    }
  }
}

TEST(SelectRun, OnlyOneEpochUniformOrWeightedPlansOfAtMostHalfAreShort) {
  PlanSpec spec;
  spec.num_epochs = 1;
  spec.samples_per_epoch = 50;
  spec.batch_size = 8;
  spec.strategy.kind = K::kUniform;
  EXPECT_TRUE(IsShortPlan(spec, 100));
  EXPECT_FALSE(IsShortPlan(spec, 99));  // more than half
  spec.num_epochs = 2;
  EXPECT_FALSE(IsShortPlan(spec, 1000));
  spec.num_epochs = 1;
  spec.samples_per_epoch = 0;
  EXPECT_FALSE(IsShortPlan(spec, 1000));
  spec.samples_per_epoch = 50;
  spec.token_budget = TokenBudgetParams{};
  EXPECT_FALSE(IsShortPlan(spec, 1000));
  spec.token_budget.reset();
  for (K kind : {K::kTopK, K::kOrdered, K::kMixture, K::kClusterBalanced,
                 K::kRepetitionBudget, K::kWeightedWithReplacement}) {
    spec.strategy.kind = kind;
    EXPECT_FALSE(IsShortPlan(spec, 1000));
  }
}

}  // namespace
}  // namespace winnow
