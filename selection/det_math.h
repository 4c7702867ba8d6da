// Deterministic log2 and exp2 for sampling keys and weights.
//
// Sampling keys must be bit-identical on every machine and every build that
// claims the same kSamplerVersion, or a resumed run would diverge. libm's
// log and exp are accurate but not specified to the last bit, and differ
// between glibc versions and between scalar and vector variants. These
// versions use only IEEE-754 +, -, *, / and exact bit manipulation, in a
// fixed order (the library is built with -ffp-contract=off), so they give the
// same bits everywhere, and the compiler can vectorize loops over them.
//
// Accuracy: a few ulp over the ranges used here, far below what sampling
// statistics can see.
#ifndef WINNOW_SELECTION_DET_MATH_H_
#define WINNOW_SELECTION_DET_MATH_H_

#include <bit>
#include <cstdint>

namespace winnow {

// Exactly (double)v for v < 2^52, with integer-to-double conversions that
// vectorize without AVX-512: place v in the mantissa of 2^52 and subtract.
inline double SmallUintToDouble(uint64_t v) {
  return std::bit_cast<double>(v | 0x4330000000000000ULL) - 0x1p52;
}

// log2(x) for finite x > 0 (normal range). Branch-free, so loops over it
// vectorize.
inline double DetLog2(double x) {
  uint64_t bits = std::bit_cast<uint64_t>(x);
  double e = SmallUintToDouble(bits >> 52) - 1023.0;
  double m = std::bit_cast<double>((bits & 0x000fffffffffffffULL) |
                                   0x3ff0000000000000ULL);  // [1, 2)
  // Centre m on 1: m in [sqrt(1/2), sqrt(2)) keeps |s| <= 0.1716 below.
  bool big = m > 1.4142135623730951;
  // Select constants, not results, so the compiler can if-convert under
  // -ftrapping-math.
  m = m * (big ? 0.5 : 1.0);
  e = e + (big ? 1.0 : 0.0);
  // ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1).
  double s = (m - 1.0) / (m + 1.0);
  double z = s * s;
  double p = 1.0 / 21;
  p = p * z + 1.0 / 19;
  p = p * z + 1.0 / 17;
  p = p * z + 1.0 / 15;
  p = p * z + 1.0 / 13;
  p = p * z + 1.0 / 11;
  p = p * z + 1.0 / 9;
  p = p * z + 1.0 / 7;
  p = p * z + 1.0 / 5;
  p = p * z + 1.0 / 3;
  p = p * z + 1.0;
  double ln_m = 2.0 * s * p;
  return e + ln_m * 1.4426950408889634;  // 1 / ln 2
}

// 2^x; x < -1022 gives 0 and x > 1023 gives +inf. Branch-free.
inline double DetExp2(double x) {
  double xc = x < -1022.0 ? -1022.0 : (x > 1023.0 ? 1023.0 : x);
  // xc = k + f with k integral and f in [-0.5, 0.5]. Adding and subtracting
  // 1.5 * 2^52 rounds to an integer without a (non-vectorizable) call.
  double kd = (xc + 0x1.8p52) - 0x1.8p52;
  double f = xc - kd;
  double t = f * 0.6931471805599453;  // ln 2: 2^f = e^t, |t| <= 0.347
  // Taylor series of e^t to t^14 (error < 1e-17 for |t| <= 0.347).
  double p = 1.0 / 87178291200.0;  // 1/14!
  p = p * t + 1.0 / 6227020800.0;  // 1/13!
  p = p * t + 1.0 / 479001600.0;
  p = p * t + 1.0 / 39916800.0;
  p = p * t + 1.0 / 3628800.0;
  p = p * t + 1.0 / 362880.0;
  p = p * t + 1.0 / 40320.0;
  p = p * t + 1.0 / 5040.0;
  p = p * t + 1.0 / 720.0;
  p = p * t + 1.0 / 120.0;
  p = p * t + 1.0 / 24.0;
  p = p * t + 1.0 / 6.0;
  p = p * t + 0.5;
  p = p * t + 1.0;
  p = p * t + 1.0;
  // 2^k in two halves, each a normal number, so k = -1022 and k = 1023 both
  // scale without overflowing the exponent field. The halves are built from
  // the integer in kd's mantissa (kd + 1.5 * 2^52 holds k + 2^51 in its low
  // bits).
  uint64_t kb = std::bit_cast<uint64_t>(kd + 0x1.8p52) - 0x4338000000000000ULL;
  int64_t k = static_cast<int64_t>(kb);
  int64_t k1 = k >> 1, k2 = k - k1;
  double s1 = std::bit_cast<double>(static_cast<uint64_t>(k1 + 1023) << 52);
  double s2 = std::bit_cast<double>(static_cast<uint64_t>(k2 + 1023) << 52);
  double r = p * s1 * s2;
  r = x < -1022.0 ? 0.0 : r;
  return x > 1023.0 ? __builtin_huge_val() : r;
}

}  // namespace winnow

#endif  // WINNOW_SELECTION_DET_MATH_H_
