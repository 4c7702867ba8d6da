// Weight functions for weighted sampling (docs/algorithms.md, "Weighted
// without replacement"): w = f(score) with f one of
//   raw      w = s
//   power    w = s^alpha
//   softmax  w = exp(s / T)
//
// Non-positive and null (NaN) weights exclude a candidate from the epoch.
// Weights are returned scaled so that the largest is 1: a common factor
// leaves every sampling distribution unchanged and keeps s^alpha and
// exp(s / T) from overflowing. A positive weight so small that it underflows
// after scaling stays in the epoch with weight 0+ (it sorts after every
// candidate with a representable weight, ties broken by doc id).
//
// All functions are pure and thread-safe. Results are bit-identical on every
// machine (det_math.h).
#ifndef WINNOW_SELECTION_WEIGHTS_H_
#define WINNOW_SELECTION_WEIGHTS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace winnow {

enum class WeightFunction { kRaw, kPower, kSoftmax };

struct WeightSpec {
  WeightFunction function = WeightFunction::kRaw;
  // Exponent for kPower; any finite value (negative favours low scores).
  double alpha = 1.0;
  // Temperature for kSoftmax; finite and > 0.
  double temperature = 1.0;
};

// INVALID_ARGUMENT naming the parameter if `spec` is unusable.
absl::Status ValidateWeightSpec(const WeightSpec& spec);

// Result of applying a weight function to a score column.
struct Weights {
  // One entry per input score: > 0 for an included candidate (max is 1),
  // 0 for one that is excluded; a positive weight that underflowed after
  // scaling is stored as the smallest positive double.
  std::vector<double> values;
};

// Applies `spec` to `scores` (NaN = null). Fails only on an invalid spec.
absl::StatusOr<Weights> ComputeWeights(std::span<const float> scores,
                                       const WeightSpec& spec);

// ComputeWeights in two steps, for a caller that weighs a column a slice at
// a time: the scale of the whole column, then any slice's weights, bit for
// bit ComputeWeights's entries for that slice.
struct WeightScale {
  WeightSpec spec;
  double max_score = 0;     // the largest score (softmax)
  double max_positive = 0;  // the largest positive score, or 0
  double min_positive = 0;  // the smallest positive score, or +inf
};
absl::StatusOr<WeightScale> ResolveWeightScale(std::span<const float> scores,
                                               const WeightSpec& spec);
// out[i] = the weight of scores[i]; `out` has scores.size() entries.
void ApplyWeights(const WeightScale& scale, std::span<const float> scores,
                  double* out);

}  // namespace winnow

#endif  // WINNOW_SELECTION_WEIGHTS_H_
