// server/plan_convert.h: a request's plan fields become a PlanSpec, and a
// frozen spec's description converts back to the same spec (what a reload
// after a restart relies on).
#include "server/plan_convert.h"

#include <gtest/gtest.h>

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

// One request per strategy, with every parameter set away from its default.
std::vector<v1::SampleRequest> Requests() {
  std::vector<v1::SampleRequest> out;
  auto base = [] {
    v1::SampleRequest r;
    r.set_collection("c");
    r.set_filter("quality > 0.5");
    r.set_run_id("run");
    r.set_seed(42);
    r.set_num_epochs(3);
    r.set_batch_size(16);
    r.set_drop_last(false);
    return r;
  };
  v1::SampleRequest weighted = base();
  auto* w = weighted.mutable_strategy()->mutable_weighted();
  w->set_score("quality");
  w->set_weight_function(v1::WEIGHT_FUNCTION_SOFTMAX);
  w->set_temperature(0.5);
  out.push_back(weighted);
  v1::SampleRequest with = base();
  with.set_samples_per_epoch(100);
  with.mutable_strategy()->mutable_weighted_with_replacement()->set_score("q");
  out.push_back(with);
  v1::SampleRequest top = base();
  top.mutable_strategy()->mutable_top_k()->set_score("q");
  top.mutable_strategy()->mutable_top_k()->set_fraction(0.25);
  top.mutable_strategy()->mutable_top_k()->set_order(v1::SORT_ORDER_ASCENDING);
  top.mutable_strategy()->mutable_top_k()->set_shuffle(true);
  out.push_back(top);
  v1::SampleRequest ordered = base();
  ordered.mutable_strategy()->mutable_ordered()->set_score("q");
  ordered.mutable_strategy()->mutable_ordered()->set_direction(
      v1::ORDER_DIRECTION_FOLDING);
  ordered.mutable_strategy()->mutable_ordered()->set_fold_count(5);
  out.push_back(ordered);
  v1::SampleRequest balanced = base();
  balanced.mutable_strategy()->mutable_cluster_balanced()->set_budget(9);
  balanced.mutable_strategy()->mutable_cluster_balanced()->set_cluster_score(
      "k");
  out.push_back(balanced);
  v1::SampleRequest budget = base();
  budget.set_num_epochs(0);
  auto* rb = budget.mutable_strategy()->mutable_repetition_budget();
  rb->set_score("q");
  rb->set_sample_budget(1000);
  rb->set_order(v1::SORT_ORDER_ASCENDING);
  auto* pool = rb->add_pools();
  pool->set_fraction(0.5);
  pool->set_a(0.1);
  pool->set_b(-0.2);
  pool->set_tau(3);
  pool->set_d(0.05);
  out.push_back(budget);
  v1::SampleRequest mixture = base();
  mixture.set_samples_per_epoch(64);
  mixture.clear_batch_size();
  mixture.mutable_token_budget()->set_max_tokens(4096);
  mixture.mutable_token_budget()->add_bucket_edges(100);
  mixture.mutable_token_budget()->add_bucket_edges(1000);
  auto* m = mixture.mutable_strategy()->mutable_mixture();
  m->set_mode(v1::MIXTURE_MODE_STATIC);
  m->set_on_exhausted(v1::EXHAUSTION_POLICY_DROP);
  m->set_size_exponent(0.5);
  auto* dw = m->add_domain_weights();
  dw->set_domain("web");
  dw->set_weight(2);
  auto* step = m->add_schedule_steps();
  step->set_start_sample(10);
  auto* sw = step->add_domain_weights();
  sw->set_domain("code");
  sw->set_weight(1);
  out.push_back(mixture);
  out.push_back(base());  // no strategy: uniform
  return out;
}

TEST(PlanConvertTest, DescriptionsConvertBackToTheSameSpec) {
  for (const v1::SampleRequest& request : Requests()) {
    absl::StatusOr<PlanSpec> spec = SpecFromRequest(request);
    ASSERT_TRUE(spec.ok()) << spec.status();
    const std::vector<DomainWeightSpec> domains = {{"code", 3}, {"web", 5}};
    v1::Plan description;
    DescribeSpec(*spec, domains, &description);
    EXPECT_EQ(description.strategy_summary(),
              SummarizeStrategy(spec->strategy));
    std::vector<DomainWeightSpec> back_domains;
    absl::StatusOr<PlanSpec> back =
        SpecFromDescription(description, &back_domains);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(DiffPlanSpecs(*spec, *back).empty())
        << request.ShortDebugString();
    EXPECT_EQ(back_domains, domains);
    EXPECT_EQ(back->strategy.weight.function, spec->strategy.weight.function);
    EXPECT_EQ(back->token_budget, spec->token_budget);
  }
}

TEST(PlanConvertTest, UnknownEnumValuesAreInvalidArgumentsNamingTheField) {
  v1::SampleRequest r;
  r.mutable_strategy()->mutable_weighted()->set_weight_function(
      static_cast<v1::WeightFunction>(17));
  absl::Status s = SpecFromRequest(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "strategy.weighted.weight_function: unknown value 17");
  v1::SampleRequest with;
  with.mutable_strategy()
      ->mutable_weighted_with_replacement()
      ->set_weight_function(static_cast<v1::WeightFunction>(9));
  s = SpecFromRequest(with).status();
  EXPECT_NE(s.message().find("strategy.weighted_with_replacement"),
            std::string::npos);
  // An unknown weight update is not served, as LIVE is not.
  v1::SampleRequest update;
  update.set_batch_size(4);
  update.mutable_strategy()->mutable_weighted()->set_score("q");
  update.mutable_strategy()->mutable_weighted()->set_update(
      static_cast<v1::WeightUpdate>(12));
  absl::StatusOr<PlanSpec> spec = SpecFromRequest(update);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(ValidatePlanSpec(*spec).code(), absl::StatusCode::kUnimplemented);
}

TEST(PlanConvertTest, DomainWeightsNormalizeToShares) {
  v1::Plan plan;
  for (double w : {2.0, 6.0}) plan.add_domain_weights()->set_weight(w);
  NormalizeDomainWeights(plan.mutable_domain_weights());
  EXPECT_DOUBLE_EQ(plan.domain_weights(0).weight(), 0.25);
  EXPECT_DOUBLE_EQ(plan.domain_weights(1).weight(), 0.75);
}

}  // namespace
}  // namespace winnow::server
