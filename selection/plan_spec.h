// PlanSpec: what a sampling plan asks for, as a plain value.
//
// A Sample request's plan fields (docs/sampling.md "Plans") converted out of
// the wire format: the collection, the filter, the strategy with its
// parameters, the seed, the run id, epochs, batching and drop_last. The
// server converts the request into a PlanSpec and validates it here before
// it reads any column (ValidatePlanSpec); the plan builder (plan_builder.h)
// then freezes it over the collection's columns.
//
// Every field has the meaning of its namesake in the contract
// (proto/winnow/v1/selection.proto, strategy.proto). Optional parameters
// are std::optional or "0 = default"; WithDefaults() fills in the
// data-independent defaults so that two specs that ask for the same plan
// compare equal (DiffPlanSpecs), which is how the registry keeps one plan
// per run_id.
//
// Plain values; every function here is pure and thread-safe.
#ifndef WINNOW_SELECTION_PLAN_SPEC_H_
#define WINNOW_SELECTION_PLAN_SPEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "selection/strategies.h"
#include "selection/weights.h"

namespace winnow {

enum class StrategyKind {
  kUniform,
  kWeighted,
  kWeightedWithReplacement,
  kTopK,
  kMixture,
  kOrdered,
  kClusterBalanced,
  kRepetitionBudget,
};

// The strategy's field name in the contract ("weighted_with_replacement").
const char* StrategyName(StrategyKind kind);

// How weights follow later score writes. Only kFrozen is served.
enum class WeightUpdate { kFrozen, kEpoch, kLive };

// ordered: by score ascending (the contract's unset value) or descending,
// or DELT folding over the ascending order.
enum class OrderDirection { kAscending, kDescending, kFolding };

struct DomainWeightSpec {
  std::string domain;
  double weight = 0;
  bool operator==(const DomainWeightSpec&) const = default;
};

struct MixtureStepSpec {
  int64_t start_sample = 0;  // counted across epochs
  std::vector<DomainWeightSpec> weights;
  bool operator==(const MixtureStepSpec&) const = default;
};

// One strategy and its parameters. Only the fields of `kind` matter.
struct StrategySpec {
  StrategyKind kind = StrategyKind::kUniform;

  // weighted, weighted_with_replacement (empty = uniform draws), top_k,
  // ordered and repetition_budget: the score column.
  std::string score;
  // weighted and weighted_with_replacement.
  WeightSpec weight;
  WeightUpdate update = WeightUpdate::kFrozen;

  // top_k: exactly one of k (>= 1) and fraction (in (0, 1]).
  std::optional<int64_t> k;
  std::optional<double> fraction;
  // top_k and repetition_budget: the best is the highest score (default).
  bool descending = true;
  // top_k: serve the selection in a keyed random order each epoch instead
  // of by score.
  bool shuffle = false;

  // ordered.
  OrderDirection direction = OrderDirection::kAscending;
  int32_t fold_count = 0;  // folding only; 0 = 3 (DELT's default)

  // cluster_balanced.
  std::string cluster_score;  // "" = "cluster"
  int64_t budget = 0;         // >= 1

  // repetition_budget.
  int64_t sample_budget = 0;
  std::vector<PoolParams> pools;  // empty = DefaultPools()

  // mixture.
  bool live = false;  // DoReMi weights from feedback; not served yet
  // Initial weights by domain; empty = each domain's candidate count raised
  // to size_exponent.
  std::vector<DomainWeightSpec> domain_weights;
  std::vector<MixtureStepSpec> steps;   // ascending start_sample
  bool drop_exhausted = false;          // else reshuffle an exhausted domain
  std::optional<double> size_exponent;  // unset = 1
};

// Length-bucketed batches under a token budget (docs/algorithms.md
// "Length buckets").
struct TokenBudgetParams {
  int64_t max_tokens = 0;    // 0 = no token limit (bucket_batch_sizes then)
  int32_t bucket_count = 0;  // 0 = 30, when bucket_edges is empty
  std::vector<int64_t> bucket_edges;        // inclusive upper edges, ascending
  std::vector<int32_t> bucket_batch_sizes;  // empty or one per bucket
  bool operator==(const TokenBudgetParams&) const = default;
};

struct PlanSpec {
  // What the plan samples.
  std::string collection;
  std::string filter;
  std::string run_id;
  uint64_t seed = 0;
  StrategySpec strategy;

  // Epochs and batches.
  int64_t num_epochs = 0;         // 0 = unbounded
  int64_t samples_per_epoch = 0;  // 0 = every (selected) candidate once
  int32_t batch_size = 0;         // when there is no token budget
  std::optional<TokenBudgetParams> token_budget;
  bool drop_last = true;
};

// The defaults the builder applies without looking at data.
inline constexpr int32_t kDefaultBucketCount = 30;
inline constexpr int32_t kDefaultFoldCount = 3;
inline constexpr char kDefaultClusterScore[] = "cluster";

// Every check that needs no column, in field order: INVALID_ARGUMENT naming
// the field, or UNIMPLEMENTED for weights that follow feedback (update EPOCH
// or LIVE, live mixtures). A spec that passes may still fail in FreezePlan
// on what only the data tells (an unknown score, a domain without
// candidates).
absl::Status ValidatePlanSpec(const PlanSpec& spec);

// `spec` with its data-independent defaults filled in: fold_count 3 for
// folding, cluster_score "cluster", the reference pools, size_exponent 1,
// bucket_count 30 when no edges are given. Idempotent.
PlanSpec WithDefaults(PlanSpec spec);

// The plan fields in which `a` and `b` differ after defaults, by their
// names in the contract ("batch_size", "strategy.weighted.alpha",
// "token_budget.max_tokens"); empty if they ask for the same plan. The
// collection is compared too; nothing else outside the plan fields is.
std::vector<std::string> DiffPlanSpecs(const PlanSpec& a, const PlanSpec& b);

// The strategy in one line for people, such as
// "weighted(score=quality, power, alpha=2)".
std::string SummarizeStrategy(const StrategySpec& strategy);

}  // namespace winnow

#endif  // WINNOW_SELECTION_PLAN_SPEC_H_
