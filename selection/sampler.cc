#include "selection/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "boost/sort/spreadsort/integer_sort.hpp"
#include "selection/clones.h"
#include "selection/det_math.h"
#include "selection/hash.h"
#include "selection/parallel.h"

namespace winnow {
namespace {

// Sampled keys used to estimate thresholds; larger samples estimate better
// and cost a sort of this many keys per epoch.
constexpr size_t kSampleSize = 16384;

// Every key of an included candidate is <= kLastKey: uniform keys are below
// 2^52, and weighted keys are the bits of a double in [0, +inf].
constexpr uint64_t kLastKey = 0x7ff0000000000000ULL;
// The key of a candidate left out of the epoch (weight not > 0).
constexpr uint64_t kExcluded = ~uint64_t{0};

// Uniform: u descending is (draw >> 12) descending; as an ascending key,
// (2^52 - 1) - (draw >> 12).
WINNOW_CLONES void UniformKeys(const uint64_t* id_hashes, size_t n,
                               uint64_t epoch_key, uint64_t* keys) {
  for (size_t i = 0; i < n; ++i) {
    keys[i] =
        ((uint64_t{1} << 52) - 1) - (DocDraw(epoch_key, id_hashes[i]) >> 12);
  }
}

// Weighted: key = log2(u) / w < 0, descending. For non-negative doubles the
// IEEE bit pattern orders like the value, so bits(-key) ascending is key
// descending. w -> 0+ gives -inf, which sorts last.
// A candidate without a positive weight gets kExcluded, above every key.
WINNOW_CLONES void WeightedKeys(const uint64_t* id_hashes,
                                const double* weights, size_t n,
                                uint64_t epoch_key, uint64_t* keys) {
  for (size_t i = 0; i < n; ++i) {
    double u = UnitFromDraw(DocDraw(epoch_key, id_hashes[i]));
    double w = weights[i];
    double neg_key = -DetLog2(u) / (w > 0 ? w : 1.0);
    uint64_t k = std::bit_cast<uint64_t>(neg_key);
    keys[i] = w > 0 ? k : kExcluded;
  }
}

// Indices i with lo <= keys[i] <= hi, in index order; returns their number.
WINNOW_CLONES size_t CollectRange(const uint64_t* keys, size_t n, uint64_t lo,
                                  uint64_t hi, uint32_t* out) {
  size_t c = 0;
  for (size_t i = 0; i < n; ++i) {
    out[c] = static_cast<uint32_t>(i);
    c += (keys[i] >= lo) & (keys[i] <= hi);
  }
  return c;
}

WINNOW_CLONES size_t CountAtMost(const uint64_t* keys, size_t n,
                                 uint64_t bound) {
  size_t c = 0;
  for (size_t i = 0; i < n; ++i) c += keys[i] <= bound;
  return c;
}

}  // namespace

KeyedOrder::KeyedOrder(const Candidates& candidates, uint64_t seed,
                       uint64_t epoch)
    : ordinals_(candidates.ordinals), doc_id_(candidates.doc_id) {
  const size_t n = candidates.ordinals.empty() ? candidates.id_hashes.size()
                                               : candidates.ordinals.size();
  const uint64_t ek = EpochKey(seed, epoch);
  keys_.resize(n);
  // Each key depends on its candidate alone, so the pass splits over
  // threads without changing a bit of the result.
  const uint64_t* hashes = candidates.id_hashes.data();
  uint64_t* keys = keys_.data();
  if (candidates.weights.empty()) {
    ParallelChunks(n, [&](size_t begin, size_t end) {
      UniformKeys(hashes + begin, end - begin, ek, keys + begin);
    });
    size_ = n;
  } else {
    const double* weights = candidates.weights.data();
    ParallelChunks(n, [&](size_t begin, size_t end) {
      WeightedKeys(hashes + begin, weights + begin, end - begin, ek,
                   keys + begin);
    });
    size_ = CountAtMost(keys_.data(), n, kLastKey);
  }
  if (size_ > 0) {
    // Keys are pseudo-random in index order, so a strided pick of the
    // included keys is a random sample of them.
    size_t s = std::min<size_t>(size_, kSampleSize);
    size_t stride = std::max<size_t>(1, n / s);
    sample_.reserve(s + 1);
    for (size_t i = 0; i < n && sample_.size() < s; i += stride) {
      if (keys_[i] <= kLastKey) sample_.push_back(keys_[i]);
    }
    if (sample_.empty()) sample_.push_back(kLastKey);
    boost::sort::spreadsort::integer_sort(sample_.begin(), sample_.end());
  }
}

size_t KeyedOrder::MemoryBytes() const {
  return keys_.capacity() * sizeof(uint64_t) +
         sample_.capacity() * sizeof(uint64_t) +
         ready_.capacity() * sizeof(Entry) +
         (scratch_ ? keys_.size() * sizeof(uint32_t) : 0);
}

void KeyedOrder::SortRun(std::vector<Entry>* run, size_t from) {
  auto first = run->begin() + static_cast<ptrdiff_t>(from);
  boost::sort::spreadsort::integer_sort(
      first, run->end(),
      [](const Entry& e, unsigned offset) { return e.key >> offset; },
      [](const Entry& a, const Entry& b) { return a.key < b.key; });
  // Equal keys: doc_id ascending (every sort breaks ties by doc_id;
  // docs/sampling.md, "Keyed orders").
  for (auto it = first; it != run->end();) {
    auto end = it + 1;
    while (end != run->end() && end->key == it->key) ++end;
    if (end - it > 1) {
      std::sort(it, end, [this](const Entry& a, const Entry& b) {
        if (doc_id_) return doc_id_(a.ordinal) < doc_id_(b.ordinal);
        return a.ordinal < b.ordinal;
      });
    }
    it = end;
  }
}

void KeyedOrder::Extend(uint64_t wanted) {
  const uint64_t n = keys_.size();
  if (next_key_done_ || ready_end() >= size_) return;
  // Choose hi so that about `wanted` keys (plus a margin) fall in
  // [next_key_, hi], from the sorted sample.
  const uint64_t target = std::min<uint64_t>(size_, ready_end() + wanted);
  const size_t s = sample_.size();
  double pos = static_cast<double>(target) * static_cast<double>(s) /
                   static_cast<double>(size_) * 1.05 +
               8;
  size_t si = pos >= static_cast<double>(s) ? s : static_cast<size_t>(pos);
  while (si < s && sample_[si] < next_key_) ++si;
  const uint64_t hi = si >= s ? kLastKey : sample_[si];

  if (!scratch_) scratch_ = std::make_unique_for_overwrite<uint32_t[]>(n);
  size_t c = CollectRange(keys_.data(), n, next_key_, hi, scratch_.get());
  // Drop consumed entries before appending, so the cache stays one run.
  if (ready_head_ > 0 && ready_head_ * 2 >= ready_.size()) {
    ready_.erase(ready_.begin(),
                 ready_.begin() + static_cast<ptrdiff_t>(ready_head_));
    ready_head_ = 0;
  }
  size_t from = ready_.size();
  ready_.reserve(from + c);
  for (size_t i = 0; i < c; ++i) {
    uint32_t idx = scratch_[i];
    ready_.push_back(Entry{keys_[idx], ordinals_.empty()
                                           ? static_cast<uint32_t>(idx)
                                           : ordinals_[idx]});
  }
  SortRun(&ready_, from);
  last_run_ = c;
  if (hi == kLastKey) {
    next_key_done_ = true;
  } else {
    next_key_ = hi + 1;
  }
}

void KeyedOrder::Jump(uint64_t position) {
  const uint64_t n = keys_.size();
  const uint64_t m = size_;
  ready_.clear();
  ready_head_ = 0;
  ready_base_ = 0;
  next_key_ = 0;
  next_key_done_ = false;
  last_run_ = 0;
  if (position == 0 || sample_.empty()) return;
  const size_t s = sample_.size();
  double pos = static_cast<double>(position) * static_cast<double>(s) /
                   static_cast<double>(m) * 0.97 -
               8;
  while (pos >= 0) {
    const uint64_t bound = sample_[static_cast<size_t>(pos)];
    const uint64_t count = CountAtMost(keys_.data(), n, bound);
    if (count <= position && bound < kLastKey) {
      ready_base_ = count;
      next_key_ = bound + 1;
      return;
    }
    pos = pos / 2 - 1;  // the estimate overshot: back off
  }
}

void KeyedOrder::Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out) {
  const uint64_t n = size_;
  end = std::min(end, n);
  if (begin >= end) return;
  const uint64_t span = end - begin;
  if (begin < ready_base_ ||
      begin > ready_end() + std::max<uint64_t>(4 * span, n / 64)) {
    Jump(begin);
  }
  while (ready_end() < end) {
    uint64_t wanted = std::max<uint64_t>(end - ready_end(), 2 * last_run_);
    Extend(wanted);
  }
  // Position p is ready_[ready_head_ + (p - ready_base_)].
  const size_t first = ready_head_ + static_cast<size_t>(begin - ready_base_);
  for (size_t i = first; i < first + span; ++i)
    out->push_back(ready_[i].ordinal);
  // Everything before `begin` is no longer needed by a reader that advances.
  ready_head_ = first;
  ready_base_ = begin;
}

}  // namespace winnow
