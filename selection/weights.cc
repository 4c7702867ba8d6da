#include "selection/weights.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "selection/clones.h"
#include "selection/det_math.h"

namespace winnow {
namespace {

constexpr double kTiny = std::numeric_limits<double>::denorm_min();

// Each loop below is branch-free so that it vectorizes; `out` entries are 0
// for excluded candidates and at least kTiny otherwise.

WINNOW_CLONES void RawWeights(const float* scores, size_t n, double inv_max,
                              double* out) {
  for (size_t i = 0; i < n; ++i) {
    double s = scores[i];
    double w = s * inv_max;
    w = w < kTiny ? kTiny : w;
    out[i] = s > 0 ? w : 0.0;
  }
}

// (s / ref)^K for a small integer K: exact repeated products.
template <int K>
WINNOW_CLONES void IntPowerWeights(const float* scores, size_t n,
                                   double inv_ref, double* out) {
  for (size_t i = 0; i < n; ++i) {
    double s = scores[i];
    double x = s * inv_ref;
    double r = x;
    for (int k = 1; k < K; ++k) r *= x;
    r = r < kTiny ? kTiny : r;
    out[i] = s > 0 ? r : 0.0;
  }
}

WINNOW_CLONES void PowerWeights(const float* scores, size_t n, double inv_ref,
                                double alpha, double* out) {
  for (size_t i = 0; i < n; ++i) {
    double s = scores[i];
    double x = s > 0 ? s * inv_ref : 1.0;  // keep log2's argument valid
    double r = DetExp2(alpha * DetLog2(x));
    r = r < kTiny ? kTiny : r;
    out[i] = s > 0 ? r : 0.0;
  }
}

WINNOW_CLONES void SoftmaxWeights(const float* scores, size_t n,
                                  double max_score, double scale, double* out) {
  for (size_t i = 0; i < n; ++i) {
    double s = scores[i];
    double r = DetExp2((s - max_score) * scale);
    r = r < kTiny ? kTiny : r;
    out[i] = s == s ? r : 0.0;  // s == s: not null
  }
}

}  // namespace

absl::Status ValidateWeightSpec(const WeightSpec& spec) {
  switch (spec.function) {
    case WeightFunction::kRaw:
      return absl::OkStatus();
    case WeightFunction::kPower:
      if (!std::isfinite(spec.alpha)) {
        return absl::InvalidArgumentError(
            absl::StrCat("alpha must be finite, got ", spec.alpha));
      }
      return absl::OkStatus();
    case WeightFunction::kSoftmax:
      if (!std::isfinite(spec.temperature) || spec.temperature <= 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "temperature must be finite and > 0, got ", spec.temperature));
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown weight function");
}

absl::StatusOr<WeightScale> ResolveWeightScale(std::span<const float> scores,
                                               const WeightSpec& spec) {
  if (absl::Status s = ValidateWeightSpec(spec); !s.ok()) return s;
  WeightScale scale;
  scale.spec = spec;
  double max_score = -std::numeric_limits<double>::infinity();
  double max_positive = 0;
  double min_positive = std::numeric_limits<double>::infinity();
  for (float f : scores) {
    double s = f;
    max_score = s > max_score ? s : max_score;  // NaN compares false
    max_positive = s > max_positive ? s : max_positive;
    min_positive = s > 0 && s < min_positive ? s : min_positive;
  }
  scale.max_score = max_score;
  scale.max_positive = max_positive;
  scale.min_positive = min_positive;
  return scale;
}

void ApplyWeights(const WeightScale& scale, std::span<const float> scores,
                  double* w) {
  const WeightSpec& spec = scale.spec;
  const float* p = scores.data();
  const size_t n = scores.size();
  switch (spec.function) {
    case WeightFunction::kRaw:
      RawWeights(p, n, scale.max_positive > 0 ? 1.0 / scale.max_positive : 0.0,
                 w);
      break;
    case WeightFunction::kPower: {
      // w / w_max = (s / s_ref)^alpha, where s_ref maximises s^alpha.
      double s_ref = spec.alpha < 0 ? scale.min_positive : scale.max_positive;
      double inv_ref = s_ref > 0 && std::isfinite(s_ref) ? 1.0 / s_ref : 0.0;
      if (spec.alpha == 1) {
        IntPowerWeights<1>(p, n, inv_ref, w);
      } else if (spec.alpha == 2) {
        IntPowerWeights<2>(p, n, inv_ref, w);
      } else if (spec.alpha == 3) {
        IntPowerWeights<3>(p, n, inv_ref, w);
      } else if (spec.alpha == 4) {
        IntPowerWeights<4>(p, n, inv_ref, w);
      } else {
        PowerWeights(p, n, inv_ref, spec.alpha, w);
      }
      break;
    }
    case WeightFunction::kSoftmax: {
      // exp(s / T) / exp(max / T) = 2^((s - max) / (T ln 2)).
      double factor = 1.0 / (spec.temperature * 0.6931471805599453);
      SoftmaxWeights(p, n, scale.max_score, factor, w);
      break;
    }
  }
}

absl::StatusOr<Weights> ComputeWeights(std::span<const float> scores,
                                       const WeightSpec& spec) {
  absl::StatusOr<WeightScale> scale = ResolveWeightScale(scores, spec);
  if (!scale.ok()) return scale.status();
  Weights out;
  out.values.resize(scores.size());
  ApplyWeights(*scale, scores, out.values.data());
  return out;
}

}  // namespace winnow
