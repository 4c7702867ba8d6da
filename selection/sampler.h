// Samplers without replacement: `uniform` and `weighted` (docs/algorithms.md).
//
// Both are a keyed order of the frozen candidate set:
//   uniform   candidates by u descending,         u = UnitFromDraw(DocDraw)
//   weighted  candidates by log2(u) / w descending (Efraimidis–Spirakis A-Res,
//             equivalently log w + Gumbel top-k; log2 instead of ln scales
//             every key by the same positive constant, so the order is the
//             same)
// with u drawn from hash(seed, epoch, doc_id) (hash.h) and every tie broken
// by doc_id ascending. The order is therefore a function of the candidate
// set, the weights, the seed and the epoch only: not of the order the
// candidates are given in, nor of threads, shards or ranks. Shards merge
// exactly by key.
//
// KeyedOrder produces the epoch's global sequence lazily. The first batch of
// a 1M-candidate epoch does not sort the whole epoch: each request collects
// the next run of keys below an estimated threshold in one pass and sorts
// only that run, and runs grow geometrically as a reader advances. Any
// position can be the start (resume, elastic world size): a jump counts the
// keys below an estimated bound in one pass instead of replaying.
#ifndef WINNOW_SELECTION_SAMPLER_H_
#define WINNOW_SELECTION_SAMPLER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace winnow {

// A frozen candidate set, as a plan holds it. `ordinals` must outlive every
// KeyedOrder built from it; the other fields are read only by the
// constructor, except `doc_id`, which is copied.
struct Candidates {
  // Candidate ordinals, in any order; the sequence does not depend on it.
  // Empty means the candidates are 0..id_hashes.size()-1 (the caller's
  // own indices), with no array to hold them.
  std::span<const uint32_t> ordinals;
  // IdHash(doc_id) per candidate, aligned with `ordinals`.
  std::span<const uint64_t> id_hashes;
  // Or, when id_hashes is empty: candidate i's hash is
  // hashes_by_ordinal[hash_ordinals[i]] (a collection's own array).
  std::span<const uint64_t> hashes_by_ordinal;
  std::span<const uint32_t> hash_ordinals;
  // Weights aligned with `ordinals` (see weights.h), or empty for uniform.
  // A candidate whose weight is not > 0 is left out of the epoch.
  std::span<const double> weights;
  // The doc id of an ordinal. Called only to break an exact tie of keys (in
  // practice a 2^-53 event); when empty, ties break by ordinal instead.
  std::function<std::string_view(uint32_t ordinal)> doc_id;
};

// A candidate's place in a keyed order: its key, then (for an exact tie)
// its doc id; `index` is the candidate (or its ordinal).
struct KeyedEntry {
  uint64_t key;
  uint32_t index;
};

// Sorts `entries` by key ascending, equal keys by doc_id(index) ascending
// (by index when doc_id is empty). `weighted`: the keys are weighted keys
// (the bits of doubles), else uniform keys; either sorts correctly, but
// the bucketing pass assumes keys about uniform in value.
void SortKeyedEntries(std::span<KeyedEntry> entries, bool weighted,
                      const std::function<std::string_view(uint32_t)>& doc_id);

// Where KeyedPrefix reads its candidates, a slice at a time: fill(begin, n,
// hashes, weights) writes the IdHash of candidates [begin, begin + n) to
// hashes[0, n) and, when `weighted`, their weights (weights.h) to weights.
// It is called from several threads at once, on disjoint slices.
struct KeyedSource {
  size_t size = 0;
  bool weighted = false;
  std::function<void(size_t begin, size_t n, uint64_t* hashes, double* weights)>
      fill;
  // The doc id of a candidate index, for exact ties; may be empty.
  std::function<std::string_view(uint32_t index)> doc_id;
};

// The candidate indices at positions [0, count) of the epoch's keyed order:
// exactly what KeyedOrder over the same candidates and weights returns for
// Get(0, count), computed without holding every key. One pass over every
// candidate on all cores keeps only the keys below a threshold estimated
// from a sample (a second pass runs in the rare case it falls short), and
// only those are sorted. Fewer than `count` if fewer candidates have a
// positive weight.
std::vector<uint32_t> KeyedPrefix(const KeyedSource& source, uint64_t seed,
                                  uint64_t epoch, uint64_t count);

// Positions in a keyed order over `candidates` (KeyedOrder::size()) for
// every seed and epoch, computed without a key: the candidates with a
// positive weight, or all of them for uniform.
uint64_t KeyedOrderSize(const Candidates& candidates);

// One epoch's keyed order without replacement.
//
// Thread safety: not thread-safe; Get() mutates a cache. One generator per
// plan serves all ranks (docs/sampling.md), under the plan's lock.
class KeyedOrder {
 public:
  KeyedOrder(const Candidates& candidates, uint64_t seed, uint64_t epoch);

  KeyedOrder(const KeyedOrder&) = delete;
  KeyedOrder& operator=(const KeyedOrder&) = delete;

  // Positions in the epoch: the candidates with a positive weight (all of
  // them for uniform).
  uint64_t size() const { return size_; }

  // Appends the ordinals at global positions [begin, min(end, size())) to
  // `out`. Cheapest when calls advance; any position may be asked for.
  void Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out);

  // Bytes held (keys, sample and cached run).
  size_t MemoryBytes() const;

 private:
  using Entry = KeyedEntry;

  // Restarts the cache at the first position at or before `position` that a
  // sampled key bound allows, with one counting pass.
  void Jump(uint64_t position);
  // Collects the next run of at least `wanted` positions (fewer if the
  // estimate undershoots) after ready_end().
  void Extend(uint64_t wanted);
  uint64_t ready_end() const {
    return ready_base_ + (ready_.size() - ready_head_);
  }

  // Constant after construction.
  std::vector<uint64_t> keys_;  // ascending = earlier; one per candidate
  std::span<const uint32_t> ordinals_;  // aligned with keys_; not owned
  uint64_t size_ = 0;                   // candidates in the epoch
  bool weighted_ = false;
  std::vector<uint64_t> sample_;  // sorted strided sample of keys_
  std::function<std::string_view(uint32_t)> doc_id_;

  // The cached run: positions [ready_base_, ready_end()) are
  // ready_[ready_head_...]. Every key < next_key_ is at a position before
  // ready_end(); next_key_done_ means every key has been placed.
  std::vector<Entry> ready_;
  size_t ready_head_ = 0;
  uint64_t ready_base_ = 0;
  uint64_t next_key_ = 0;
  bool next_key_done_ = false;
  uint64_t last_run_ = 0;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_SAMPLER_H_
