// The exact_dedup scorer's rule (docs/algorithms.md, "Exact dedup"): among
// the scored documents, in ordinal order (the order they were first
// inserted), a document whose payload hash an earlier scored document
// already has is a duplicate (1); the first of each hash is not (0); a
// scored document without a payload gets null. Pure; thread-compatible.
#ifndef WINNOW_SELECTION_EXACT_DEDUP_H_
#define WINNOW_SELECTION_EXACT_DEDUP_H_

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "selection/bitmap.h"

namespace winnow {

// A SHA-256 digest.
using PayloadHash = std::array<uint8_t, 32>;

struct ExactDedupScores {
  // The scored ordinals, ascending, and the value of each: 1 or 0, or null
  // for the indexes (into ordinals) in null_indexes, whose value is 0.
  std::vector<uint32_t> ordinals;
  std::vector<float> values;
  std::vector<uint32_t> null_indexes;
  int64_t duplicate_count = 0;
  int64_t distinct_count = 0;
};

// `hashes[o]` is ordinal o's payload hash when `has_hash.Get(o)`; ordinals
// set in `scored` are scored (at most hashes.size() of them are read; one
// past it has no payload). `has_hash` and `scored` have the same size.
ExactDedupScores ScoreExactDuplicates(std::span<const PayloadHash> hashes,
                                      const Bitmap& has_hash,
                                      const Bitmap& scored);

}  // namespace winnow

#endif  // WINNOW_SELECTION_EXACT_DEDUP_H_
