// IEEE 754 half-precision conversion for float16 embeddings. Internal to
// storage/. Pure functions; thread-safe.
#ifndef WINNOW_STORAGE_FLOAT16_H_
#define WINNOW_STORAGE_FLOAT16_H_

#include <bit>
#include <cstdint>

namespace winnow::storage::internal {

// Largest finite half value.
inline constexpr float kMaxFloat16 = 65504.0f;

// Rounds a finite float with |f| <= kMaxFloat16 to the nearest half (ties to
// even); subnormal halves are produced, smaller magnitudes become +-0.
inline uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t abs = x & 0x7fffffff;
  if (abs >= 0x47800000) return static_cast<uint16_t>(sign | 0x7c00);  // inf
  if (abs < 0x38800000) {
    // Subnormal or zero half: value = m * 2^-24.
    if (abs < 0x33000000) return static_cast<uint16_t>(sign);
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffff) | 0x800000;
    const uint32_t shift = 126 - exp;  // 14..24 for exp in [102, 112]
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  // Normal: rebias the exponent (127 -> 15) and round the mantissa.
  uint32_t half = ((abs - 0x38000000) >> 13);
  const uint32_t rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) ++half;
  return static_cast<uint16_t>(sign | half);
}

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in float.
    const float v = static_cast<float>(mant) * 0x1p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000 | (mant << 13));
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_FLOAT16_H_
