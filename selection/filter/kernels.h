// The filter's inner loops over one block of rows.
//
// A plan is evaluated a block of kBlockRows rows at a time. Each predicate
// writes a byte mask for the block (0x00 = false, 0xFF = true) in a loop
// simple enough for the compiler to vectorize, combining it into the mask
// already there (`Combine`) so that an `and` chain needs no extra buffer.
// The final mask is packed to one bit per row and ANDed with the live
// bitmap. Byte masks keep every loop a straight element-wise map over
// arrays of the same length, which is what auto-vectorizers do best; bits
// are only formed once per block, with pmovmskb.
//
// The kernels are built for AVX2 and for baseline x86-64 (target_clones),
// and the loader picks one for the CPU at startup.
//
// Internal to selection/filter. Pure functions on caller-owned memory;
// thread-safe for disjoint outputs.
#ifndef WINNOW_SELECTION_FILTER_KERNELS_H_
#define WINNOW_SELECTION_FILTER_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "selection/filter/thresholds.h"

namespace winnow::filter {

// Rows per block: 4096 rows keep a block's input (16 KiB per column) and
// masks (4 KiB each) in L1, and it is a multiple of 64 so blocks fill
// whole bitmap words.
inline constexpr size_t kBlockRows = 4096;

// How a predicate's result r merges into the mask m.
enum class Combine : uint8_t {
  kSet,  // m = r
  kAnd,  // m &= r
  kOr,   // m |= r
};

// m[i] (combine) pred(v[i]) for i in [0, n).
void FloatKernel(const float* v, size_t n, FloatPredicate pred, Combine c,
                 uint8_t* m);

// m[i] (combine) (lo <= x[i] <= hi) != negate, as one unsigned compare:
// x - lo <= hi - lo.
void RangeKernel(const uint32_t* x, size_t n, RangePredicate range, Combine c,
                 uint8_t* m);

// m[i] (combine) x[i] < 32 and bit x[i] of `bits` is set: a set of small
// interned codes (domains, attribute values).
void BitsKernel(const uint32_t* x, size_t n, uint32_t bits, Combine c,
                uint8_t* m);

// m[i] (combine) x[i] < table_size and table[x[i]] != 0: a set of codes.
void TableKernel(const uint32_t* x, size_t n, const uint8_t* table,
                 size_t table_size, Combine c, uint8_t* m);

// m[i] (combine) (src[i] ^ flip), flip being 0xFF to negate src.
void CombineKernel(const uint8_t* src, size_t n, bool negate, Combine c,
                   uint8_t* m);

// m[i] = ~m[i].
void InvertKernel(uint8_t* m, size_t n);

// Whether every byte of m[0, n) is 0x00, or every one 0xFF.
bool AllZero(const uint8_t* m, size_t n);
bool AllOnes(const uint8_t* m, size_t n);

// out[w] = live[w] & bits of m[64w, 64w + 64), bit j from byte 64w + j,
// for w in [0, num_words). Returns the number of bits set in out.
size_t PackKernel(const uint8_t* m, size_t num_words, const uint64_t* live,
                  uint64_t* out);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_KERNELS_H_
