#include "selection/exact_dedup.h"

#include "absl/container/flat_hash_set.h"

namespace winnow {

ExactDedupScores ScoreExactDuplicates(std::span<const PayloadHash> hashes,
                                      const Bitmap& has_hash,
                                      const Bitmap& scored) {
  ExactDedupScores out;
  absl::flat_hash_set<PayloadHash> seen;
  scored.ForEach([&](size_t o) {
    out.ordinals.push_back(o);
    if (o >= hashes.size() || !has_hash.Get(o)) {
      out.null_indexes.push_back(static_cast<uint32_t>(out.values.size()));
      out.values.push_back(0.0f);
      return;
    }
    const bool first = seen.insert(hashes[o]).second;
    out.values.push_back(first ? 0.0f : 1.0f);
    if (!first) ++out.duplicate_count;
  });
  out.distinct_count = static_cast<int64_t>(seen.size());
  return out;
}

}  // namespace winnow
