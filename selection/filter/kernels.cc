#include "selection/filter/kernels.h"

#include <bit>
#include <cstring>

#include "selection/clones.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define WINNOW_INLINE inline __attribute__((always_inline))

namespace winnow::filter {
namespace {

// The loop shared by every predicate: r = pred(i) ? 0xFF : 0, merged into
// m. `pred` is a lambda over the index; after inlining, each instantiation
// is a plain element-wise loop that the vectorizer widens.
template <Combine C, typename Pred>
WINNOW_INLINE void Apply(size_t n, uint8_t* __restrict m, Pred pred) {
  for (size_t i = 0; i < n; ++i) {
    uint8_t r = pred(i) ? 0xFF : 0x00;
    if constexpr (C == Combine::kSet) {
      m[i] = r;
    } else if constexpr (C == Combine::kAnd) {
      m[i] &= r;
    } else {
      m[i] |= r;
    }
  }
}

template <typename Pred>
WINNOW_INLINE void Dispatch(Combine c, size_t n, uint8_t* __restrict m,
                            Pred pred) {
  switch (c) {
    case Combine::kSet:
      Apply<Combine::kSet>(n, m, pred);
      return;
    case Combine::kAnd:
      Apply<Combine::kAnd>(n, m, pred);
      return;
    case Combine::kOr:
      Apply<Combine::kOr>(n, m, pred);
      return;
  }
}

}  // namespace

WINNOW_CLONES
void FloatKernel(const float* __restrict v, size_t n, FloatPredicate pred,
                 Combine c, uint8_t* __restrict m) {
  const float f = pred.f;
  switch (pred.op) {
    case FloatOp::kNever:
      Dispatch(c, n, m, [](size_t) { return false; });
      return;
    case FloatOp::kLt:
      Dispatch(c, n, m, [=](size_t i) { return v[i] < f; });
      return;
    case FloatOp::kLe:
      Dispatch(c, n, m, [=](size_t i) { return v[i] <= f; });
      return;
    case FloatOp::kGt:
      Dispatch(c, n, m, [=](size_t i) { return v[i] > f; });
      return;
    case FloatOp::kGe:
      Dispatch(c, n, m, [=](size_t i) { return v[i] >= f; });
      return;
    case FloatOp::kEq:
      Dispatch(c, n, m, [=](size_t i) { return v[i] == f; });
      return;
    case FloatOp::kNe:
      // Not v != f: that is true for NaN, and null must compare false.
      Dispatch(c, n, m, [=](size_t i) { return (v[i] < f) | (v[i] > f); });
      return;
    case FloatOp::kNotNull:
      Dispatch(c, n, m, [=](size_t i) { return v[i] == v[i]; });
      return;
    case FloatOp::kIsNull:
      Dispatch(c, n, m, [=](size_t i) { return v[i] != v[i]; });
      return;
    case FloatOp::kNonZero:
      Dispatch(c, n, m,
               [=](size_t i) { return (v[i] < 0.0f) | (v[i] > 0.0f); });
      return;
  }
}

WINNOW_CLONES
void RangeKernel(const uint32_t* __restrict x, size_t n, RangePredicate range,
                 Combine c, uint8_t* __restrict m) {
  const uint32_t lo = range.lo;
  const uint32_t span = range.hi - range.lo;
  if (range.Empty()) {
    const bool value = range.negate;
    Dispatch(c, n, m, [=](size_t) { return value; });
  } else if (range.negate) {
    Dispatch(c, n, m, [=](size_t i) { return x[i] - lo > span; });
  } else {
    Dispatch(c, n, m, [=](size_t i) { return x[i] - lo <= span; });
  }
}

WINNOW_CLONES
void BitsKernel(const uint32_t* __restrict x, size_t n, uint32_t bits,
                Combine c, uint8_t* __restrict m) {
  // (bits >> (x & 31)) & (x < 32): a variable shift per lane (vpsrlvd), no
  // gather and no undefined shift by 32 or more.
  Dispatch(c, n, m, [=](size_t i) {
    uint32_t code = x[i];
    uint32_t r = (bits >> (code & 31)) & 1u;
    r &= static_cast<uint32_t>(code < 32);
    return r != 0;
  });
}

WINNOW_CLONES
void TableKernel(const uint32_t* __restrict x, size_t n,
                 const uint8_t* __restrict table, size_t table_size, Combine c,
                 uint8_t* __restrict m) {
  Dispatch(c, n, m,
           [=](size_t i) { return x[i] < table_size && table[x[i]] != 0; });
}

WINNOW_CLONES
void CombineKernel(const uint8_t* __restrict src, size_t n, bool negate,
                   Combine c, uint8_t* __restrict m) {
  const uint8_t flip = negate ? 0xFF : 0x00;
  switch (c) {
    case Combine::kSet:
      for (size_t i = 0; i < n; ++i) m[i] = src[i] ^ flip;
      return;
    case Combine::kAnd:
      for (size_t i = 0; i < n; ++i) m[i] &= src[i] ^ flip;
      return;
    case Combine::kOr:
      for (size_t i = 0; i < n; ++i) m[i] |= src[i] ^ flip;
      return;
  }
}

WINNOW_CLONES
void InvertKernel(uint8_t* __restrict m, size_t n) {
  for (size_t i = 0; i < n; ++i) m[i] = ~m[i];
}

WINNOW_CLONES
bool AllZero(const uint8_t* m, size_t n) {
  uint8_t any = 0;
  for (size_t i = 0; i < n; ++i) any |= m[i];
  return any == 0;
}

WINNOW_CLONES
bool AllOnes(const uint8_t* m, size_t n) {
  uint8_t all = 0xFF;
  for (size_t i = 0; i < n; ++i) all &= m[i];
  return all == 0xFF;
}

WINNOW_CLONES
size_t PackKernel(const uint8_t* m, size_t num_words, const uint64_t* live,
                  uint64_t* out) {
  size_t count = 0;
  for (size_t w = 0; w < num_words; ++w) {
    const uint8_t* p = m + 64 * w;
    uint64_t bits;
#if defined(__SSE2__)
    // pmovmskb takes the top bit of each byte; masks are 0x00 or 0xFF.
    auto mask16 = [&](int k) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * k));
      return static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(v)));
    };
    bits =
        mask16(0) | (mask16(1) << 16) | (mask16(2) << 32) | (mask16(3) << 48);
#else
    bits = 0;
    for (int j = 0; j < 64; ++j) bits |= static_cast<uint64_t>(p[j] & 1) << j;
#endif
    bits &= live[w];
    out[w] = bits;
    count += static_cast<size_t>(std::popcount(bits));
  }
  return count;
}

}  // namespace winnow::filter
