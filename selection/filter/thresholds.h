// Exact rewrites of `column op literal` into the column's own type.
//
// The language compares in double precision: a stored float32 (or uint32
// length) is widened exactly and compared with the literal parsed as a
// double (docs/filter-language.md, "Numbers: double-precision comparison").
// Widening every row costs time, so the compiler turns each (op, double) into
// a predicate on the stored type that selects exactly the same rows:
//
//   v <  t  <=>  v <  Up(t)      Up(t):   the least float >= t
//   v >= t  <=>  v >= Up(t)      Down(t): the greatest float <= t
//   v >  t  <=>  v >  Down(t)
//   v <= t  <=>  v <= Down(t)
//   v == t  <=>  v == float(t)   if t is a float, else never
//   v != t  <=>  v <  f or v > f if t is a float f, else "v is not null"
//
// Up and Down saturate to +-inf beyond the float range, which keeps every
// line exact for all floats including +-inf; NaN (null) fails each right
// hand side just as it fails the double comparison. For uint32 lengths the
// same idea gives an integer range [lo, hi], or its complement for !=.
//
// Pure functions; thread-safe. Proved against double evaluation in
// tests/selection/filter_thresholds_test.cc.
#ifndef WINNOW_SELECTION_FILTER_THRESHOLDS_H_
#define WINNOW_SELECTION_FILTER_THRESHOLDS_H_

#include <cstdint>

#include "selection/filter/ast.h"

namespace winnow::filter {

// A predicate on one float32 value; NaN (null) satisfies only kIsNull.
enum class FloatOp : uint8_t {
  kNever,    // false for every value
  kLt,       // v < f
  kLe,       // v <= f
  kGt,       // v > f
  kGe,       // v >= f
  kEq,       // v == f
  kNe,       // v < f or v > f (so false for NaN)
  kNotNull,  // v == v
  kIsNull,   // v != v
  kNonZero,  // v < 0 or v > 0
};

struct FloatPredicate {
  FloatOp op = FloatOp::kNever;
  float f = 0;
};

// The float predicate selecting exactly the floats v (NaN included) for
// which `double(v) op t` holds.
FloatPredicate FloatThreshold(CompareOp op, double t);

// The least float >= t, and the greatest float <= t (+-inf past the range).
float RoundUpToFloat(double t);
float RoundDownToFloat(double t);

// A predicate on one uint32 value: lo <= x <= hi, negated when `negate`.
// An empty range (always false) is lo = 1, hi = 0.
struct RangePredicate {
  uint32_t lo = 1;
  uint32_t hi = 0;
  bool negate = false;

  bool Matches(uint32_t x) const { return (lo <= x && x <= hi) != negate; }
  bool Empty() const { return lo > hi; }
  // True when it holds for every uint32.
  bool Always() const {
    return negate ? Empty() : (lo == 0 && hi == UINT32_MAX);
  }
  // True when it holds for no uint32.
  bool Never() const {
    return negate ? (lo == 0 && hi == UINT32_MAX) : Empty();
  }
};

// The predicate selecting exactly the x for which `double(x) op t` holds.
RangePredicate UintThreshold(CompareOp op, double t);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_THRESHOLDS_H_
