#include "server/plan_convert.h"

#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

template <typename StrategyT>
absl::Status WeightsFromProto(const StrategyT& s, const std::string& field,
                              StrategySpec* out) {
  out->score = s.score();
  switch (s.weight_function()) {
    case v1::WEIGHT_FUNCTION_UNSPECIFIED:
    case v1::WEIGHT_FUNCTION_RAW:
      out->weight.function = WeightFunction::kRaw;
      break;
    case v1::WEIGHT_FUNCTION_POWER:
      out->weight.function = WeightFunction::kPower;
      break;
    case v1::WEIGHT_FUNCTION_SOFTMAX:
      out->weight.function = WeightFunction::kSoftmax;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".weight_function: unknown value ",
                       static_cast<int>(s.weight_function())));
  }
  if (s.has_alpha()) out->weight.alpha = s.alpha();
  if (s.has_temperature()) out->weight.temperature = s.temperature();
  switch (s.update()) {
    case v1::WEIGHT_UPDATE_UNSPECIFIED:
    case v1::WEIGHT_UPDATE_FROZEN:
      out->update = WeightUpdate::kFrozen;
      break;
    case v1::WEIGHT_UPDATE_EPOCH:
      out->update = WeightUpdate::kEpoch;
      break;
    default:  // LIVE, and values from newer clients: not served either
      out->update = WeightUpdate::kLive;
  }
  return absl::OkStatus();
}

template <typename StrategyT>
void WeightsToProto(const StrategySpec& s, StrategyT* out) {
  out->set_score(s.score);
  switch (s.weight.function) {
    case WeightFunction::kRaw:
      out->set_weight_function(v1::WEIGHT_FUNCTION_RAW);
      break;
    case WeightFunction::kPower:
      out->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
      break;
    case WeightFunction::kSoftmax:
      out->set_weight_function(v1::WEIGHT_FUNCTION_SOFTMAX);
      break;
  }
  out->set_alpha(s.weight.alpha);
  out->set_temperature(s.weight.temperature);
  out->set_update(s.update == WeightUpdate::kFrozen  ? v1::WEIGHT_UPDATE_FROZEN
                  : s.update == WeightUpdate::kEpoch ? v1::WEIGHT_UPDATE_EPOCH
                                                     : v1::WEIGHT_UPDATE_LIVE);
}

std::vector<DomainWeightSpec> DomainsFromProto(
    const google::protobuf::RepeatedPtrField<v1::DomainWeight>& ws) {
  std::vector<DomainWeightSpec> out;
  out.reserve(ws.size());
  for (const v1::DomainWeight& w : ws) out.push_back({w.domain(), w.weight()});
  return out;
}

void DomainsToProto(std::span<const DomainWeightSpec> ws,
                    google::protobuf::RepeatedPtrField<v1::DomainWeight>* out) {
  for (const DomainWeightSpec& w : ws) {
    v1::DomainWeight* d = out->Add();
    d->set_domain(w.domain);
    d->set_weight(w.weight);
  }
}

void MixtureFromProto(const v1::MixtureStrategy& m, StrategySpec* out) {
  out->live = m.mode() == v1::MIXTURE_MODE_LIVE;
  out->domain_weights = DomainsFromProto(m.domain_weights());
  for (const v1::MixtureScheduleStep& step : m.schedule_steps()) {
    out->steps.push_back(
        {step.start_sample(), DomainsFromProto(step.domain_weights())});
  }
  out->drop_exhausted = m.on_exhausted() == v1::EXHAUSTION_POLICY_DROP;
  if (m.has_size_exponent()) out->size_exponent = m.size_exponent();
}

void MixtureToProto(const StrategySpec& s, v1::MixtureStrategy* m) {
  m->set_mode(s.live ? v1::MIXTURE_MODE_LIVE : v1::MIXTURE_MODE_STATIC);
  DomainsToProto(s.domain_weights, m->mutable_domain_weights());
  for (const MixtureStepSpec& step : s.steps) {
    v1::MixtureScheduleStep* out = m->add_schedule_steps();
    out->set_start_sample(step.start_sample);
    DomainsToProto(step.weights, out->mutable_domain_weights());
  }
  m->set_on_exhausted(s.drop_exhausted ? v1::EXHAUSTION_POLICY_DROP
                                       : v1::EXHAUSTION_POLICY_RESHUFFLE);
  if (s.size_exponent.has_value()) m->set_size_exponent(*s.size_exponent);
}

void RepetitionFromProto(const v1::RepetitionBudgetStrategy& r,
                         StrategySpec* out) {
  out->score = r.score();
  out->sample_budget = r.sample_budget();
  out->descending = r.order() != v1::SORT_ORDER_ASCENDING;
  for (const v1::RepetitionPool& p : r.pools()) {
    out->pools.push_back({p.fraction(), p.a(), p.b(), p.tau(), p.d()});
  }
}

void RepetitionToProto(const StrategySpec& s, v1::RepetitionBudgetStrategy* r) {
  r->set_score(s.score);
  r->set_sample_budget(s.sample_budget);
  r->set_order(s.descending ? v1::SORT_ORDER_DESCENDING
                            : v1::SORT_ORDER_ASCENDING);
  for (const PoolParams& p : s.pools) {
    v1::RepetitionPool* out = r->add_pools();
    out->set_fraction(p.fraction);
    out->set_a(p.a);
    out->set_b(p.b);
    out->set_tau(p.tau);
    out->set_d(p.d);
  }
}

absl::StatusOr<StrategySpec> StrategyFromProto(const v1::Strategy& s) {
  StrategySpec out;
  absl::Status status;
  switch (s.kind_case()) {
    case v1::Strategy::KIND_NOT_SET:
    case v1::Strategy::kUniform:
      out.kind = StrategyKind::kUniform;
      break;
    case v1::Strategy::kWeighted:
      out.kind = StrategyKind::kWeighted;
      status = WeightsFromProto(s.weighted(), "strategy.weighted", &out);
      break;
    case v1::Strategy::kWeightedWithReplacement:
      out.kind = StrategyKind::kWeightedWithReplacement;
      status = WeightsFromProto(s.weighted_with_replacement(),
                                "strategy.weighted_with_replacement", &out);
      break;
    case v1::Strategy::kTopK: {
      const v1::TopKStrategy& t = s.top_k();
      out.kind = StrategyKind::kTopK;
      out.score = t.score();
      if (t.size_case() == v1::TopKStrategy::kK) out.k = t.k();
      if (t.size_case() == v1::TopKStrategy::kFraction) {
        out.fraction = t.fraction();
      }
      out.descending = t.order() != v1::SORT_ORDER_ASCENDING;
      out.shuffle = t.shuffle();
      break;
    }
    case v1::Strategy::kOrdered: {
      const v1::OrderedStrategy& o = s.ordered();
      out.kind = StrategyKind::kOrdered;
      out.score = o.score();
      out.direction = o.direction() == v1::ORDER_DIRECTION_DESCENDING
                          ? OrderDirection::kDescending
                      : o.direction() == v1::ORDER_DIRECTION_FOLDING
                          ? OrderDirection::kFolding
                          : OrderDirection::kAscending;
      out.fold_count = o.fold_count();
      break;
    }
    case v1::Strategy::kClusterBalanced:
      out.kind = StrategyKind::kClusterBalanced;
      out.cluster_score = s.cluster_balanced().cluster_score();
      out.budget = s.cluster_balanced().budget();
      break;
    case v1::Strategy::kRepetitionBudget:
      out.kind = StrategyKind::kRepetitionBudget;
      RepetitionFromProto(s.repetition_budget(), &out);
      break;
    case v1::Strategy::kMixture:
      out.kind = StrategyKind::kMixture;
      MixtureFromProto(s.mixture(), &out);
      break;
    default:
      return absl::InvalidArgumentError("strategy: unknown kind");
  }
  if (!status.ok()) return status;
  return out;
}

void StrategyToProto(const StrategySpec& s, v1::Strategy* out) {
  switch (s.kind) {
    case StrategyKind::kUniform:
      out->mutable_uniform();
      break;
    case StrategyKind::kWeighted:
      WeightsToProto(s, out->mutable_weighted());
      break;
    case StrategyKind::kWeightedWithReplacement:
      WeightsToProto(s, out->mutable_weighted_with_replacement());
      break;
    case StrategyKind::kTopK: {
      v1::TopKStrategy* t = out->mutable_top_k();
      t->set_score(s.score);
      if (s.k.has_value()) t->set_k(*s.k);
      if (s.fraction.has_value()) t->set_fraction(*s.fraction);
      t->set_order(s.descending ? v1::SORT_ORDER_DESCENDING
                                : v1::SORT_ORDER_ASCENDING);
      t->set_shuffle(s.shuffle);
      break;
    }
    case StrategyKind::kOrdered: {
      v1::OrderedStrategy* o = out->mutable_ordered();
      o->set_score(s.score);
      o->set_direction(s.direction == OrderDirection::kDescending
                           ? v1::ORDER_DIRECTION_DESCENDING
                       : s.direction == OrderDirection::kFolding
                           ? v1::ORDER_DIRECTION_FOLDING
                           : v1::ORDER_DIRECTION_ASCENDING);
      o->set_fold_count(s.fold_count);
      break;
    }
    case StrategyKind::kClusterBalanced:
      out->mutable_cluster_balanced()->set_cluster_score(s.cluster_score);
      out->mutable_cluster_balanced()->set_budget(s.budget);
      break;
    case StrategyKind::kRepetitionBudget:
      RepetitionToProto(s, out->mutable_repetition_budget());
      break;
    case StrategyKind::kMixture:
      MixtureToProto(s, out->mutable_mixture());
      break;
  }
}

TokenBudgetParams TokenBudgetFromProto(const v1::TokenBudget& tb) {
  TokenBudgetParams out;
  out.max_tokens = tb.max_tokens();
  out.bucket_count = tb.bucket_count();
  out.bucket_edges.assign(tb.bucket_edges().begin(), tb.bucket_edges().end());
  out.bucket_batch_sizes.assign(tb.bucket_batch_sizes().begin(),
                                tb.bucket_batch_sizes().end());
  return out;
}

void TokenBudgetToProto(const TokenBudgetParams& tb, v1::TokenBudget* out) {
  out->set_max_tokens(tb.max_tokens);
  out->set_bucket_count(tb.bucket_count);
  for (int64_t e : tb.bucket_edges) out->add_bucket_edges(e);
  for (int32_t b : tb.bucket_batch_sizes) out->add_bucket_batch_sizes(b);
}

// The fields a SampleRequest and a Plan share.
template <typename MessageT>
absl::StatusOr<PlanSpec> SpecFrom(const MessageT& m, bool drop_last) {
  absl::StatusOr<StrategySpec> strategy = StrategyFromProto(m.strategy());
  if (!strategy.ok()) return strategy.status();
  PlanSpec spec;
  spec.collection = m.collection();
  spec.filter = m.filter();
  spec.run_id = m.run_id();
  spec.seed = m.seed();
  spec.strategy = *std::move(strategy);
  spec.num_epochs = m.num_epochs();
  spec.samples_per_epoch = m.samples_per_epoch();
  if (m.has_token_budget()) {
    spec.token_budget = TokenBudgetFromProto(m.token_budget());
  } else {
    spec.batch_size = m.batch_size();
  }
  spec.drop_last = drop_last;
  return spec;
}

}  // namespace

absl::StatusOr<PlanSpec> SpecFromRequest(const v1::SampleRequest& request) {
  return SpecFrom(request, !request.has_drop_last() || request.drop_last());
}

absl::StatusOr<PlanSpec> SpecFromDescription(
    const v1::Plan& description, std::vector<DomainWeightSpec>* domains) {
  *domains = DomainsFromProto(description.domain_weights());
  return SpecFrom(description, description.drop_last());
}

void DescribeSpec(const PlanSpec& spec,
                  const std::vector<DomainWeightSpec>& domains, v1::Plan* d) {
  d->set_collection(spec.collection);
  d->set_run_id(spec.run_id);
  d->set_filter(spec.filter);
  StrategyToProto(spec.strategy, d->mutable_strategy());
  d->set_strategy_summary(SummarizeStrategy(spec.strategy));
  d->set_seed(spec.seed);
  d->set_num_epochs(spec.num_epochs);
  d->set_samples_per_epoch(spec.samples_per_epoch);
  if (spec.token_budget.has_value()) {
    TokenBudgetToProto(*spec.token_budget, d->mutable_token_budget());
  } else {
    d->set_batch_size(spec.batch_size);
  }
  d->set_drop_last(spec.drop_last);
  d->clear_domain_weights();
  DomainsToProto(domains, d->mutable_domain_weights());
}

void NormalizeDomainWeights(
    google::protobuf::RepeatedPtrField<v1::DomainWeight>* weights) {
  double total = 0;
  for (const v1::DomainWeight& w : *weights) total += w.weight();
  if (!(total > 0)) return;
  for (v1::DomainWeight& w : *weights) w.set_weight(w.weight() / total);
}

}  // namespace winnow::server
