#include "selection/plan_builder.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "selection/sampler.h"
#include "selection/weights.h"

namespace winnow {
namespace {

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// What a strategy's selection produces, in candidate-index space (index i
// is inputs.candidates[i]).
struct Selection {
  std::vector<uint32_t> order;    // the plan's canonical order
  std::vector<float> scores;      // weighted: per candidate
  std::vector<double> weights;    // weighted: per candidate
  std::vector<uint16_t> domains;  // mixture: per candidate
};

// The candidates and the views one freeze reads.
class Freezer {
 public:
  Freezer(const PlanInputs& in, PlanSpec* spec)
      : in_(in), columns_(*in.columns), cands_(in.candidates), spec_(*spec) {
    id_of_cand_ = [this](uint32_t i) { return in_.doc_id(cands_[i]); };
  }

  absl::StatusOr<Selection> Select(FrozenPlan* plan);

 private:
  absl::StatusOr<std::span<const float>> Column(const std::string& name,
                                                const std::string& field) const;
  absl::StatusOr<std::vector<float>> ScoresOf(const std::string& name,
                                              const std::string& field) const;
  void All(Selection* out) const;
  absl::Status Weighted(Selection* out);
  absl::Status TopK(Selection* out);
  absl::Status Ordered(Selection* out);
  absl::Status ClusterBalanced(Selection* out);
  absl::Status RepetitionBudget(Selection* out, FrozenPlan* plan);
  absl::Status Mixture(Selection* out, FrozenPlan* plan);
  absl::Status CheckDomains(std::span<const DomainWeightSpec> ws,
                            const std::map<std::string, uint64_t>& counts,
                            const std::string& field) const;

  const PlanInputs& in_;
  const ColumnSet& columns_;
  std::span<const uint32_t> cands_;
  PlanSpec& spec_;
  DocIdFn id_of_cand_;
};

// The score column `name`, which `field` of the spec names.
absl::StatusOr<std::span<const float>> ScoreColumn(const ColumnSet& columns,
                                                   const std::string& name,
                                                   const std::string& field) {
  if (name.empty()) {
    return Invalid(absl::StrCat(field, " must not be empty"));
  }
  auto it = columns.scores.find(name);
  if (it == columns.scores.end()) {
    return Invalid(absl::StrCat(field, ": unknown score '", name, "'"));
  }
  return it->second;
}

// The field that names a weighted strategy's score.
std::string WeightScoreField(const StrategySpec& s) {
  return absl::StrCat("strategy.", StrategyName(s.kind), ".score");
}

absl::StatusOr<std::span<const float>> Freezer::Column(
    const std::string& name, const std::string& field) const {
  return ScoreColumn(columns_, name, field);
}

absl::StatusOr<std::vector<float>> Freezer::ScoresOf(
    const std::string& name, const std::string& field) const {
  absl::StatusOr<std::span<const float>> column = Column(name, field);
  if (!column.ok()) return column.status();
  std::vector<float> s(cands_.size());
  for (size_t i = 0; i < cands_.size(); ++i) {
    s[i] = cands_[i] < column->size() ? (*column)[cands_[i]] : NAN;
  }
  return s;
}

void Freezer::All(Selection* out) const {
  out->order.resize(cands_.size());
  for (uint32_t i = 0; i < cands_.size(); ++i) out->order[i] = i;
}

absl::Status Freezer::Weighted(Selection* out) {
  const StrategySpec& s = spec_.strategy;
  const bool with = s.kind == StrategyKind::kWeightedWithReplacement;
  if (with && s.score.empty()) {
    out->order = SortByDocId(static_cast<uint32_t>(cands_.size()), id_of_cand_);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<float>> scores =
      ScoresOf(s.score, WeightScoreField(s));
  if (!scores.ok()) return scores.status();
  absl::StatusOr<std::vector<double>> w = PlanWeights(spec_, *scores);
  if (!w.ok()) return w.status();
  // Candidates without a positive weight are left out of the plan. Weights
  // scale by the largest, which is among those kept, so w[keep] equals the
  // weights of the kept scores bit for bit (what a restart recomputes).
  std::vector<uint32_t> keep;
  keep.reserve(cands_.size());
  for (uint32_t i = 0; i < cands_.size(); ++i) {
    if ((*w)[i] > 0) keep.push_back(i);
  }
  if (with) {
    std::sort(keep.begin(), keep.end(), [&](uint32_t a, uint32_t b) {
      return id_of_cand_(a) < id_of_cand_(b);
    });
  }
  out->scores = *std::move(scores);
  out->weights = *std::move(w);
  out->order = std::move(keep);
  return absl::OkStatus();
}

absl::Status Freezer::TopK(Selection* out) {
  const StrategySpec& s = spec_.strategy;
  absl::StatusOr<std::vector<float>> scores =
      ScoresOf(s.score, "strategy.top_k.score");
  if (!scores.ok()) return scores.status();
  std::vector<uint32_t> ranked =
      SortByScore(*scores, s.descending, id_of_cand_);
  const uint64_t k =
      s.k.has_value()
          ? static_cast<uint64_t>(*s.k)
          : static_cast<uint64_t>(std::ceil(
                s.fraction.value_or(0) * static_cast<double>(ranked.size())));
  ranked.resize(std::min<uint64_t>(k, ranked.size()));
  if (s.shuffle) std::sort(ranked.begin(), ranked.end());
  out->order = std::move(ranked);
  return absl::OkStatus();
}

absl::Status Freezer::Ordered(Selection* out) {
  StrategySpec& s = spec_.strategy;
  absl::StatusOr<std::vector<float>> scores =
      ScoresOf(s.score, "strategy.ordered.score");
  if (!scores.ok()) return scores.status();
  out->order = SortByScore(*scores, s.direction == OrderDirection::kDescending,
                           id_of_cand_);
  if (s.direction == OrderDirection::kFolding) {
    out->order = FoldingOrder(out->order, static_cast<uint32_t>(s.fold_count));
  }
  return absl::OkStatus();
}

absl::Status Freezer::ClusterBalanced(Selection* out) {
  const StrategySpec& s = spec_.strategy;
  absl::StatusOr<std::vector<float>> clusters =
      ScoresOf(s.cluster_score, "strategy.cluster_balanced.cluster_score");
  if (!clusters.ok()) return clusters.status();
  for (float v : *clusters) {
    if (!std::isnan(v) && v != std::floor(v)) {
      return Invalid(absl::StrCat(
          "strategy.cluster_balanced.cluster_score: score '", s.cluster_score,
          "' holds ", v, ", not an integer cluster id"));
    }
  }
  std::vector<uint64_t> hashes(cands_.size());
  for (size_t i = 0; i < cands_.size(); ++i) {
    hashes[i] = in_.id_hashes[cands_[i]];
  }
  out->order =
      ClusterBalancedSelect(*clusters, hashes, static_cast<uint64_t>(s.budget),
                            spec_.seed, id_of_cand_);
  return absl::OkStatus();
}

absl::Status Freezer::RepetitionBudget(Selection* out, FrozenPlan* plan) {
  const StrategySpec& s = spec_.strategy;
  absl::StatusOr<std::vector<float>> scores =
      ScoresOf(s.score, "strategy.repetition_budget.score");
  if (!scores.ok()) return scores.status();
  std::vector<uint32_t> ranked =
      SortByScore(*scores, s.descending, id_of_cand_);
  // Pool sizes: the best fraction of the ranked candidates, then the next.
  std::vector<int64_t> sizes;
  double cum = 0;
  int64_t prev = 0;
  for (const PoolParams& p : s.pools) {
    cum += p.fraction;
    const int64_t end = std::min<int64_t>(
        static_cast<int64_t>(std::llround(cum * ranked.size())),
        static_cast<int64_t>(ranked.size()));
    sizes.push_back(end - prev);
    prev = end;
  }
  absl::StatusOr<PoolPrediction> pred =
      PredictPools(sizes, s.pools, s.sample_budget);
  if (!pred.ok()) {
    return Invalid(
        absl::StrCat("strategy.repetition_budget: ", pred.status().message()));
  }
  int64_t chosen_size = 0;
  for (const PoolChoice& c : pred->choices) {
    if (c.pool_count == pred->chosen) chosen_size = c.pool_size;
  }
  plan->prediction = *std::move(pred);
  ranked.resize(static_cast<size_t>(chosen_size));
  std::sort(ranked.begin(), ranked.end());
  out->order = std::move(ranked);
  return absl::OkStatus();
}

// The checks of a domain-weight list that need the data; the others are
// ValidatePlanSpec's.
absl::Status Freezer::CheckDomains(
    std::span<const DomainWeightSpec> ws,
    const std::map<std::string, uint64_t>& counts,
    const std::string& field) const {
  const std::set<std::string_view> known(columns_.domain_names.begin(),
                                         columns_.domain_names.end());
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (!known.count(ws[i].domain)) {
      return Invalid(
          absl::StrCat(f, ".domain: unknown domain '", ws[i].domain, "'"));
    }
    if (ws[i].weight > 0 && counts.count(ws[i].domain) == 0) {
      return Invalid(absl::StrCat(f, ": domain '", ws[i].domain,
                                  "' has weight ", ws[i].weight,
                                  " but no candidates after the filter"));
    }
  }
  return absl::OkStatus();
}

absl::Status Freezer::Mixture(Selection* out, FrozenPlan* plan) {
  const StrategySpec& s = spec_.strategy;
  All(out);
  std::map<std::string, uint64_t> counts;  // candidates per domain, by name
  for (uint32_t o : cands_) {
    ++counts[columns_.domain_names[columns_.domain[o]]];
  }
  if (!s.domain_weights.empty()) {
    if (absl::Status st = CheckDomains(s.domain_weights, counts,
                                       "strategy.mixture.domain_weights");
        !st.ok()) {
      return st;
    }
  } else if (counts.empty()) {
    return Invalid("strategy.mixture: the filter matches no document");
  }
  for (size_t i = 0; i < s.steps.size(); ++i) {
    if (absl::Status st =
            CheckDomains(s.steps[i].weights, counts,
                         absl::StrCat("strategy.mixture.schedule_steps[", i,
                                      "].domain_weights"));
        !st.ok()) {
      return st;
    }
  }
  if (counts.size() > UINT16_MAX) {
    return Invalid("strategy.mixture: too many domains");
  }
  // The plan's domains: those with candidates, by name, with their initial
  // weights.
  const double exponent = s.size_exponent.value_or(1.0);
  std::map<std::string_view, uint16_t> index;
  for (const auto& [name, count] : counts) {
    double w = 0;
    if (!s.domain_weights.empty()) {
      for (const DomainWeightSpec& dw : s.domain_weights) {
        if (dw.domain == name) w = dw.weight;
      }
    } else {
      w = std::pow(static_cast<double>(count), exponent);
    }
    index[name] = static_cast<uint16_t>(plan->domains.size());
    plan->domains.push_back({name, w});
  }
  out->domains.reserve(cands_.size());
  for (uint32_t o : cands_) {
    out->domains.push_back(index.at(columns_.domain_names[columns_.domain[o]]));
  }
  return absl::OkStatus();
}

absl::StatusOr<Selection> Freezer::Select(FrozenPlan* plan) {
  Selection out;
  absl::Status s;
  switch (spec_.strategy.kind) {
    case StrategyKind::kUniform:
      All(&out);
      break;
    case StrategyKind::kWeighted:
    case StrategyKind::kWeightedWithReplacement:
      s = Weighted(&out);
      break;
    case StrategyKind::kTopK:
      s = TopK(&out);
      break;
    case StrategyKind::kOrdered:
      s = Ordered(&out);
      break;
    case StrategyKind::kClusterBalanced:
      s = ClusterBalanced(&out);
      break;
    case StrategyKind::kRepetitionBudget:
      s = RepetitionBudget(&out, plan);
      break;
    case StrategyKind::kMixture:
      s = Mixture(&out, plan);
      break;
  }
  if (!s.ok()) return s;
  return out;
}

// The frozen arrays in canonical order.
void Materialize(const Selection& sel, const PlanInputs& in, FrozenPlan* plan) {
  FrozenRecord& r = plan->record;
  const size_t n = sel.order.size();
  const bool scores = !sel.scores.empty();
  r.ordinals.reserve(n);
  r.lengths.reserve(n);
  if (scores) r.scores.reserve(n);
  if (!sel.weights.empty()) plan->weights.reserve(n);
  if (!sel.domains.empty()) r.domains.reserve(n);
  for (uint32_t i : sel.order) {
    const uint32_t o = in.candidates[i];
    r.ordinals.push_back(o);
    r.lengths.push_back(in.columns->length[o]);
    if (scores) r.scores.push_back(sel.scores[i]);
    if (!sel.weights.empty()) plan->weights.push_back(sel.weights[i]);
    if (!sel.domains.empty()) r.domains.push_back(sel.domains[i]);
  }
}

// Estimates the token budget's bucket edges over the frozen lengths when
// none are given, and checks the per-bucket batch sizes against them.
absl::Status ResolveBuckets(const std::vector<uint32_t>& lengths,
                            TokenBudgetParams* tb) {
  if (tb->bucket_edges.empty()) {
    for (uint32_t e : EstimateBucketEdges(lengths, tb->bucket_count)) {
      tb->bucket_edges.push_back(e);
    }
  }
  const size_t buckets = tb->bucket_edges.size() + 1;
  if (!tb->bucket_batch_sizes.empty() &&
      tb->bucket_batch_sizes.size() != buckets) {
    return Invalid(absl::StrCat("token_budget.bucket_batch_sizes has ",
                                tb->bucket_batch_sizes.size(), " entries for ",
                                buckets, " buckets"));
  }
  return absl::OkStatus();
}

// The run of the candidates at `indices` (in sequence order): their
// ordinals, frozen lengths and id hashes.
FrozenRun RunOf(std::span<const uint32_t> indices, const ShortPlanInputs& in,
                std::span<const uint64_t> id_hashes) {
  const std::span<const uint32_t> cands = in.candidates;
  FrozenRun out;
  FrozenRecord& r = out.record;
  auto candidates = std::make_shared<FrozenCandidates>();
  r.run = candidates->run = true;
  r.ordinals.reserve(indices.size());
  r.lengths.reserve(indices.size());
  candidates->id_hashes.reserve(indices.size());
  // The run is in key order, at random places in the candidates: fetch
  // a few ahead so that the cache misses overlap.
  constexpr size_t kAhead = 16;
  for (size_t j = 0; j < indices.size(); ++j) {
    if (j + 2 * kAhead < indices.size()) {
      __builtin_prefetch(&cands[indices[j + 2 * kAhead]]);
      __builtin_prefetch(&in.lengths[indices[j + 2 * kAhead]]);
    }
    if (j + kAhead < indices.size()) {
      __builtin_prefetch(&id_hashes[cands[indices[j + kAhead]]]);
    }
    const uint32_t i = indices[j];
    r.ordinals.push_back(cands[i]);
    r.lengths.push_back(in.lengths[i]);
    candidates->id_hashes.push_back(id_hashes[cands[i]]);
  }
  candidates->ordinals = r.ordinals;
  candidates->lengths = r.lengths;
  out.candidates = std::move(candidates);
  return out;
}

}  // namespace

absl::StatusOr<FrozenPlan> FreezePlan(const PlanSpec& spec,
                                      const PlanInputs& inputs) {
  FrozenPlan plan;
  plan.spec = WithDefaults(spec);
  Freezer freezer(inputs, &plan.spec);
  absl::StatusOr<Selection> selection = freezer.Select(&plan);
  if (!selection.ok()) return selection.status();
  Materialize(*selection, inputs, &plan);
  if (plan.spec.token_budget.has_value()) {
    if (absl::Status s =
            ResolveBuckets(plan.record.lengths, &*plan.spec.token_budget);
        !s.ok()) {
      return s;
    }
  }
  return plan;
}

absl::StatusOr<std::vector<double>> PlanWeights(const PlanSpec& spec,
                                                std::span<const float> scores) {
  const StrategySpec& s = spec.strategy;
  const bool weighted =
      s.kind == StrategyKind::kWeighted ||
      (s.kind == StrategyKind::kWeightedWithReplacement && !s.score.empty());
  if (!weighted) return std::vector<double>();
  absl::StatusOr<Weights> w = ComputeWeights(scores, s.weight);
  if (!w.ok()) {
    return Invalid(absl::StrCat("strategy.", StrategyName(s.kind), ": ",
                                w.status().message()));
  }
  return std::move(w->values);
}

absl::StatusOr<std::shared_ptr<const FrozenCandidates>> AssembleCandidates(
    FrozenRecord record, std::vector<double> weights, uint32_t num_domains,
    std::span<const uint64_t> id_hashes, std::shared_ptr<const void> owner) {
  auto frozen = std::make_shared<FrozenCandidates>();
  uint32_t last = 0;
  for (uint32_t o : record.ordinals) last = std::max(last, o);
  if (!record.ordinals.empty() && last >= id_hashes.size()) {
    return absl::DataLossError(
        absl::StrCat("ordinal ", last, " is past the collection"));
  }
  if (owner != nullptr) {
    frozen->hash_owner = std::move(owner);
    frozen->hashes_by_ordinal = id_hashes;
  } else {
    frozen->id_hashes.reserve(record.ordinals.size());
    for (uint32_t o : record.ordinals) {
      frozen->id_hashes.push_back(id_hashes[o]);
    }
  }
  frozen->ordinals = std::move(record.ordinals);
  frozen->lengths = std::move(record.lengths);
  frozen->domains = std::move(record.domains);
  frozen->weights = std::move(weights);
  frozen->num_domains = num_domains;
  frozen->run = record.run;
  return std::shared_ptr<const FrozenCandidates>(std::move(frozen));
}

SamplerConfig SamplerConfigFor(const PlanSpec& spec,
                               std::span<const DomainWeightSpec> domains,
                               uint64_t checkpoint_every) {
  SamplerConfig c;
  c.seed = spec.seed;
  c.samples_per_epoch = static_cast<uint64_t>(spec.samples_per_epoch);
  c.drop_last = spec.drop_last;
  c.checkpoint_every = checkpoint_every;
  if (spec.token_budget.has_value()) {
    const TokenBudgetParams& tb = *spec.token_budget;
    TokenBudgetSpec t;
    t.max_tokens = tb.max_tokens;
    t.edges.assign(tb.bucket_edges.begin(), tb.bucket_edges.end());
    t.batch_sizes = tb.bucket_batch_sizes;
    c.token_budget = std::move(t);
  } else {
    c.batch_size = static_cast<uint64_t>(spec.batch_size);
  }
  const StrategySpec& s = spec.strategy;
  switch (s.kind) {
    case StrategyKind::kWeightedWithReplacement:
      c.kind = SequenceKind::kAlias;
      break;
    case StrategyKind::kTopK:
      c.kind = s.shuffle ? SequenceKind::kKeyed : SequenceKind::kFixed;
      break;
    case StrategyKind::kOrdered:
      c.kind = SequenceKind::kFixed;
      break;
    case StrategyKind::kRepetitionBudget:
      c.kind = SequenceKind::kKeyed;
      c.total_budget = static_cast<uint64_t>(s.sample_budget);
      break;
    case StrategyKind::kMixture:
      c.kind = SequenceKind::kMixture;
      for (const DomainWeightSpec& w : domains) {
        c.mixture.weights.push_back(w.weight);
      }
      // Schedule steps name domains; map them onto the plan's domain list.
      for (const MixtureStepSpec& step : s.steps) {
        MixtureSpec::Step st;
        st.start_sample = static_cast<uint64_t>(step.start_sample);
        st.weights.assign(domains.size(), 0.0);
        for (const DomainWeightSpec& w : step.weights) {
          for (size_t i = 0; i < domains.size(); ++i) {
            if (domains[i].domain == w.domain) st.weights[i] = w.weight;
          }
        }
        c.mixture.steps.push_back(std::move(st));
      }
      c.mixture.drop_exhausted = s.drop_exhausted;
      break;
    default:
      c.kind = SequenceKind::kKeyed;
  }
  return c;
}

bool IsShortPlan(const PlanSpec& spec, size_t candidates) {
  const StrategyKind kind = spec.strategy.kind;
  return (kind == StrategyKind::kUniform || kind == StrategyKind::kWeighted) &&
         spec.num_epochs == 1 && spec.samples_per_epoch > 0 &&
         !spec.token_budget.has_value() &&
         static_cast<uint64_t>(spec.samples_per_epoch) <= candidates / 2;
}

namespace {

// Appends column[o] for each of the ascending `ordinals` to *out. These
// copies are the time writers wait for (GatherShortPlan), so runs of
// consecutive ordinals (all of them, without a filter and deletes) are
// copied whole, and nothing is zeroed first.
template <typename T>
void AppendGathered(std::span<const T> column,
                    std::span<const uint32_t> ordinals, std::vector<T>* out) {
  out->reserve(out->size() + ordinals.size());
  size_t i = 0;
  while (i < ordinals.size()) {
    const uint32_t first = ordinals[i];
    size_t j = i + 1;
    while (j < ordinals.size() && ordinals[j] == first + (j - i)) ++j;
    out->insert(out->end(), column.begin() + first,
                column.begin() + first + (j - i));
    i = j;
  }
}

}  // namespace

absl::StatusOr<ShortPlanInputs> GatherShortPlan(
    const PlanSpec& spec, const ColumnSet& columns,
    std::vector<uint32_t> candidates) {
  ShortPlanInputs in;
  const size_t n = candidates.size();
  if (spec.strategy.kind == StrategyKind::kWeighted) {
    absl::StatusOr<std::span<const float>> column = ScoreColumn(
        columns, spec.strategy.score, WeightScoreField(spec.strategy));
    if (!column.ok()) return column.status();
    AppendGathered(*column, candidates, &in.scores);
  }
  AppendGathered(std::span<const uint32_t>(columns.length), candidates,
                 &in.lengths);
  in.candidates = std::move(candidates);
  return in;
}

absl::StatusOr<FrozenRun> SelectShortRun(const PlanSpec& spec,
                                         const ShortPlanInputs& in,
                                         std::span<const uint64_t> id_hashes,
                                         DocIdFn doc_id) {
  // The epoch's samples exactly as the plan's keyed sequence serves them
  // (plan_sampler.cc, kKeyed): the same keys over the same candidates, cut
  // at samples_per_epoch; KeyedPrefix never holds every key.
  const std::span<const uint32_t> cands = in.candidates;
  if (!cands.empty() && cands.back() >= id_hashes.size()) {  // ascending
    return absl::DataLossError(
        absl::StrCat("ordinal ", cands.back(), " is past the collection"));
  }
  KeyedSource source;
  source.size = cands.size();
  source.doc_id = std::move(doc_id);
  WeightScale scale;
  if (spec.strategy.kind == StrategyKind::kWeighted) {
    absl::StatusOr<WeightScale> resolved =
        ResolveWeightScale(in.scores, spec.strategy.weight);
    if (!resolved.ok()) {
      return Invalid(
          absl::StrCat("strategy.weighted: ", resolved.status().message()));
    }
    scale = *resolved;
    source.weighted = true;
  }
  const std::span<const float> scores = in.scores;
  source.fill = [&](size_t begin, size_t n, uint64_t* hashes, double* weights) {
    for (size_t i = 0; i < n; ++i) hashes[i] = id_hashes[cands[begin + i]];
    if (weights != nullptr) {
      ApplyWeights(scale, scores.subspan(begin, n), weights);
    }
  };
  const std::vector<uint32_t> indices =
      KeyedPrefix(source, spec.seed, /*epoch=*/0,
                  static_cast<uint64_t>(spec.samples_per_epoch));
  return RunOf(indices, in, id_hashes);
}

absl::StatusOr<std::unique_ptr<PlanSampler>> MakePlanSampler(
    const PlanSpec& spec, std::span<const DomainWeightSpec> domains,
    std::shared_ptr<const FrozenCandidates> candidates,
    uint64_t checkpoint_every, DocIdFn doc_id) {
  SamplerConfig config = SamplerConfigFor(spec, domains, checkpoint_every);
  if (candidates->run) {
    // The run holds the epoch's samples in order: serve them as they are.
    config.kind = SequenceKind::kFixed;
    config.samples_per_epoch = 0;
  }
  absl::StatusOr<std::unique_ptr<PlanSampler>> sampler = PlanSampler::Make(
      std::move(candidates), std::move(config), std::move(doc_id));
  if (!sampler.ok()) {
    return absl::Status(sampler.status().code(),
                        absl::StrCat("strategy: ", sampler.status().message()));
  }
  return sampler;
}

}  // namespace winnow
