#include "selection/filter/thresholds.h"

#include <cmath>
#include <limits>

namespace winnow::filter {
namespace {

constexpr double kFloatMax = std::numeric_limits<float>::max();
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kUintMax = 4294967295.0;

// `t` as a float when that is exact; `*exact` says whether it was.
float ToFloatExactly(double t, bool* exact) {
  if (std::isinf(t)) {
    *exact = true;
    return static_cast<float>(t);
  }
  if (std::fabs(t) > kFloatMax) {
    *exact = false;
    return 0;
  }
  float f = static_cast<float>(t);
  *exact = static_cast<double>(f) == t;
  return f;
}

// The integers x with lo <= x <= hi (real bounds), clipped to uint32.
RangePredicate Clip(double lo, double hi) {
  RangePredicate r;
  lo = std::max(lo, 0.0);
  hi = std::min(hi, kUintMax);
  if (!(lo <= hi)) return r;  // empty; also catches a NaN bound
  r.lo = static_cast<uint32_t>(lo);
  r.hi = static_cast<uint32_t>(hi);
  return r;
}

}  // namespace

float RoundUpToFloat(double t) {
  if (t > kFloatMax) return kInf;
  if (t < -kFloatMax) {
    return std::isinf(t) ? -kInf : -std::numeric_limits<float>::max();
  }
  float f = static_cast<float>(t);  // nearest, so within one step
  if (static_cast<double>(f) < t) f = std::nextafter(f, kInf);
  return f;
}

float RoundDownToFloat(double t) {
  if (t < -kFloatMax) return -kInf;
  if (t > kFloatMax) {
    return std::isinf(t) ? kInf : std::numeric_limits<float>::max();
  }
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -kInf);
  return f;
}

FloatPredicate FloatThreshold(CompareOp op, double t) {
  switch (op) {
    case CompareOp::kLt:
      return {FloatOp::kLt, RoundUpToFloat(t)};
    case CompareOp::kGe:
      return {FloatOp::kGe, RoundUpToFloat(t)};
    case CompareOp::kGt:
      return {FloatOp::kGt, RoundDownToFloat(t)};
    case CompareOp::kLe:
      return {FloatOp::kLe, RoundDownToFloat(t)};
    case CompareOp::kEq: {
      bool exact = false;
      float f = ToFloatExactly(t, &exact);
      return exact ? FloatPredicate{FloatOp::kEq, f}
                   : FloatPredicate{FloatOp::kNever, 0};
    }
    case CompareOp::kNe: {
      bool exact = false;
      float f = ToFloatExactly(t, &exact);
      return exact ? FloatPredicate{FloatOp::kNe, f}
                   : FloatPredicate{FloatOp::kNotNull, 0};
    }
  }
  return {};
}

RangePredicate UintThreshold(CompareOp op, double t) {
  // x is an integer, so x < t <=> x <= ceil(t) - 1, and so on. Infinite t
  // works through the same arithmetic and the clip.
  constexpr double kInfD = std::numeric_limits<double>::infinity();
  switch (op) {
    case CompareOp::kLt:
      return Clip(-kInfD, std::ceil(t) - 1);
    case CompareOp::kLe:
      return Clip(-kInfD, std::floor(t));
    case CompareOp::kGt:
      return Clip(std::floor(t) + 1, kInfD);
    case CompareOp::kGe:
      return Clip(std::ceil(t), kInfD);
    case CompareOp::kEq:
      if (std::isinf(t) || std::floor(t) != t) return RangePredicate{};
      return Clip(t, t);
    case CompareOp::kNe: {
      RangePredicate r = UintThreshold(CompareOp::kEq, t);
      r.negate = true;
      return r;
    }
  }
  return {};
}

}  // namespace winnow::filter
