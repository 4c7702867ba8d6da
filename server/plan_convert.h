// Conversions between the contract's plan messages and selection/'s
// PlanSpec (selection/plan_spec.h).
//
// A SampleRequest's plan fields become a PlanSpec before any check runs; a
// frozen plan's resolved spec becomes the Plan description that ListPlans
// and Sample's first message return, and that is persisted as the plan's
// "meta" entry; a persisted description becomes the spec again when the
// plan is loaded after a restart. Both directions keep every parameter, so
// SpecFromDescription(DescribeSpec(spec)) == spec for a resolved spec.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SERVER_PLAN_CONVERT_H_
#define WINNOW_SERVER_PLAN_CONVERT_H_

#include <vector>

#include "absl/status/statusor.h"
#include "selection/plan_spec.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

// The plan fields of `request`. INVALID_ARGUMENT naming the field for an
// enum value this server does not know; nothing else is checked here
// (ValidatePlanSpec does that).
absl::StatusOr<PlanSpec> SpecFromRequest(
    const winnow::v1::SampleRequest& request);

// A persisted description's spec and, for mixtures, the plan's domains
// with their initial (sampler) weights.
absl::StatusOr<PlanSpec> SpecFromDescription(
    const winnow::v1::Plan& description,
    std::vector<DomainWeightSpec>* domains);

// Writes the plan fields of `spec` and the mixture's domains (as the
// sampler's weights) into `description`. Describe() normalizes the weights
// into shares for callers; the persisted description keeps them as they
// are, so a plan reloads bit for bit.
void DescribeSpec(const PlanSpec& spec,
                  const std::vector<DomainWeightSpec>& domains,
                  winnow::v1::Plan* description);

// `weights` normalized to shares that sum to 1 (unchanged if they sum to
// 0).
void NormalizeDomainWeights(
    google::protobuf::RepeatedPtrField<winnow::v1::DomainWeight>* weights);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_PLAN_CONVERT_H_
