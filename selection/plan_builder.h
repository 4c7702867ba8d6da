// The plan builder: freezes a PlanSpec over a collection's columns.
//
// FreezePlan runs the strategy's selection over the candidates that passed
// the filter and returns the frozen plan: the candidates in the strategy's
// canonical order with their lengths as they are now (and the weight
// scores, mixture domains) as a FrozenRecord, the spec with everything the
// data resolves filled in (token-budget bucket edges, the mixture's
// domains), and the repetition_budget prediction. docs/algorithms.md
// describes each strategy; docs/sampling.md the guarantees the frozen order
// gives.
//
// A frozen plan becomes a generator in the same way whether it was just
// built or read back after a restart: PlanWeights recomputes the weights
// from the record's scores, AssembleCandidates adds the id hashes, and
// MakePlanSampler configures the PlanSampler (plan_sampler.h).
//
// Errors: INVALID_ARGUMENT naming the field for what only the data tells
// (an unknown score, a cluster column that is not integral, a mixture
// domain that does not exist or has no candidates); every check that needs
// no data is ValidatePlanSpec's (plan_spec.h), which the caller runs first.
//
// Pure functions over the views they are given; thread-safe.
#ifndef WINNOW_SELECTION_PLAN_BUILDER_H_
#define WINNOW_SELECTION_PLAN_BUILDER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/columns.h"
#include "selection/plan_record.h"
#include "selection/plan_sampler.h"
#include "selection/plan_spec.h"

namespace winnow {

// What a plan is frozen from. The views must outlive the FreezePlan call.
struct PlanInputs {
  const ColumnSet* columns = nullptr;
  // The filter's matches: ascending ordinals of live documents.
  std::span<const uint32_t> candidates;
  // IdHash(doc id) by ordinal, for every ordinal of the columns.
  std::span<const uint64_t> id_hashes;
  // The doc id of an ordinal; breaks ties in every sort.
  std::function<std::string_view(uint32_t ordinal)> doc_id;
};

struct FrozenPlan {
  // The spec with its defaults and what the data resolved: the token
  // budget's estimated bucket edges.
  PlanSpec spec;
  // Mixtures: the plan's domains (those with candidates), by name, with
  // their initial weights as given or computed (count^size_exponent); the
  // sampler's weights. Empty for other strategies.
  std::vector<DomainWeightSpec> domains;
  // The candidates in canonical order.
  FrozenRecord record;
  // Weighted strategies: the weights aligned with the record (> 0).
  std::vector<double> weights;
  // repetition_budget: the predicted curves that chose the pools.
  std::optional<PoolPrediction> prediction;
};

// Freezes `spec`, which has passed ValidatePlanSpec, over `inputs`.
absl::StatusOr<FrozenPlan> FreezePlan(const PlanSpec& spec,
                                      const PlanInputs& inputs);

// The weights of a weighted plan from its frozen scores (bit for bit those
// FreezePlan returned); empty for unweighted strategies.
absl::StatusOr<std::vector<double>> PlanWeights(const PlanSpec& spec,
                                                std::span<const float> scores);

// The sampler's candidates: the record and weights, with each candidate's
// id hash read by ordinal from `id_hashes`. With an `owner` (which keeps
// `id_hashes` alive: a collection's pinned array), the hashes are read in
// place; without one, the candidates' hashes are copied. DATA_LOSS if an
// ordinal is past `id_hashes`.
absl::StatusOr<std::shared_ptr<const FrozenCandidates>> AssembleCandidates(
    FrozenRecord record, std::vector<double> weights, uint32_t num_domains,
    std::span<const uint64_t> id_hashes,
    std::shared_ptr<const void> owner = nullptr);

// Short plans (docs/architecture.md, "Short plans"): a uniform or weighted
// plan of one epoch whose samples_per_epoch is at most half its candidates,
// without a token budget. Such a plan selects its epoch's samples once, at
// the freeze, and keeps only them (its run).
bool IsShortPlan(const PlanSpec& spec, size_t candidates);

// A short plan's freeze, in two steps so that the collection's snapshot is
// held only for the first: GatherShortPlan copies what the run depends on
// and may change (the weight scores and the lengths of the candidates);
// SelectShortRun then selects the run from the copy and from the id hashes,
// which never change for an ordinal and are read in place.
struct ShortPlanInputs {
  std::vector<uint32_t> candidates;  // ascending ordinals
  std::vector<float> scores;         // weighted: per candidate; else empty
  std::vector<uint32_t> lengths;     // per candidate
};
// `spec` has its defaults (WithDefaults) and IsShortPlan holds.
// INVALID_ARGUMENT naming the field for an unknown or empty score.
absl::StatusOr<ShortPlanInputs> GatherShortPlan(
    const PlanSpec& spec, const ColumnSet& columns,
    std::vector<uint32_t> candidates);

// The run: the samples of the plan's one epoch, in sequence order, exactly
// as the plan's keyed sequence over every candidate serves them. The record
// is what the plan persists; the candidates, what it serves from, through
// MakePlanSampler like any frozen set. `id_hashes` is indexed by ordinal;
// `doc_id` maps a candidate index (into in.candidates) to its doc id, for
// exact key ties.
struct FrozenRun {
  FrozenRecord record;
  std::shared_ptr<const FrozenCandidates> candidates;
};
absl::StatusOr<FrozenRun> SelectShortRun(const PlanSpec& spec,
                                         const ShortPlanInputs& in,
                                         std::span<const uint64_t> id_hashes,
                                         DocIdFn doc_id);

// The sampler configuration of a frozen (resolved) spec.
SamplerConfig SamplerConfigFor(const PlanSpec& spec,
                               std::span<const DomainWeightSpec> domains,
                               uint64_t checkpoint_every);

// The plan's generator over `candidates`. `doc_id` maps a candidate index
// to its doc id (tie breaks). A run (candidates->run) is served in its
// order. INVALID_ARGUMENT if the configuration does not fit the candidates.
absl::StatusOr<std::unique_ptr<PlanSampler>> MakePlanSampler(
    const PlanSpec& spec, std::span<const DomainWeightSpec> domains,
    std::shared_ptr<const FrozenCandidates> candidates,
    uint64_t checkpoint_every, DocIdFn doc_id);

}  // namespace winnow

#endif  // WINNOW_SELECTION_PLAN_BUILDER_H_
