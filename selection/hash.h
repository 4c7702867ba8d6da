// Keyed randomness (docs/algorithms.md, "Keyed randomness").
//
// Every random draw in Winnow is a pure function of (seed, epoch, doc_id) or
// (seed, epoch, position), so a sequence depends on neither load order, thread
// count, shard count nor number of ranks. The functions here are part of the
// sampler's recorded version: changing any of them changes every plan's
// sequence and needs a new kSamplerVersion.
//
//   IdHash(doc_id)          = XXH3_64bits(doc_id)             (stored per doc)
//   EpochKey(seed, epoch)   = XXH3_64bits_withSeed(le64(epoch), seed)
//   DocDraw(ek, id_hash)    = Mix64(id_hash ^ ek)
//   PositionDraw(ek, i)     = Mix64(Mix64(i + kGolden) ^ ek)
//   UnitFromDraw(h)         = ((h >> 12) + 0.5) / 2^52, in (0, 1)
//
// The id hash is computed once per document, so a new (seed, epoch) costs one
// 64-bit mix per candidate rather than a string hash.
//
// All functions are pure and thread-safe.
#ifndef WINNOW_SELECTION_HASH_H_
#define WINNOW_SELECTION_HASH_H_

#include <bit>
#include <cstdint>
#include <string_view>

namespace winnow {

// Bumped whenever a change to hashing, key math or tie-breaking would change
// a sequence. A plan records the version that produced it; a server that
// cannot reproduce that version refuses the plan's cursors.
inline constexpr uint32_t kSamplerVersion = 1;

// Hash of a document id; storage keeps it beside the id.
uint64_t IdHash(std::string_view doc_id);

// Per-(seed, epoch) key mixed into every draw of that epoch.
uint64_t EpochKey(uint64_t seed, uint64_t epoch);

// SplitMix64's finalizer (Steele, Lea and Flood 2014): a bijection on 64-bit
// values with full avalanche.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// The draw for a document in an epoch: hash(seed, epoch, doc_id).
inline uint64_t DocDraw(uint64_t epoch_key, uint64_t id_hash) {
  return Mix64(id_hash ^ epoch_key);
}

// The draw for a global position in an epoch: hash(seed, epoch, position).
inline uint64_t PositionDraw(uint64_t epoch_key, uint64_t position) {
  return Mix64(Mix64(position + 0x9e3779b97f4a7c15ULL) ^ epoch_key);
}

// A uniform double in the open interval (0, 1) from the top 52 bits of a
// draw: (h + 0.5) / 2^64 at double precision. 52 bits (not 53)
// let the conversion vectorize without AVX-512 (det_math.h).
inline double UnitFromDraw(uint64_t draw) {
  return (std::bit_cast<double>((draw >> 12) | 0x4330000000000000ULL) -
          0x1p52 + 0.5) *
         0x1p-52;
}

}  // namespace winnow

#endif  // WINNOW_SELECTION_HASH_H_
