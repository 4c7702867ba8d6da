#include "selection/sampler.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <mutex>
#include <utility>

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

// The most positions one run of KeyedOrder::Extend collects for an epoch
// of n: a sixteenth of it, at least 2^17 (a run's sort costs more per
// entry once it outgrows the caches) and at most 2^20 (16 MiB of cache).
// A reader of the whole epoch makes at most about 16 passes over the keys.
uint64_t MaxRun(uint64_t n) {
  return std::clamp<uint64_t>(n / 16, uint64_t{1} << 17, uint64_t{1} << 20);
}

// Every key of an included candidate is <= kLastKey: uniform keys are below
// 2^52, and weighted keys are the bits of a double in [0, +inf].
constexpr uint64_t kLastKey = 0x7ff0000000000000ULL;
// The key of a candidate left out of the epoch (weight not > 0).
constexpr uint64_t kExcluded = ~uint64_t{0};

// Candidates keyed at a time (in cache), in the passes that hold no array
// of every key.
constexpr size_t kSlice = 2048;

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

// Which weighted keys may be at or below `bound` (a finite key's double),
// without a log: writes their indices to `maybe` and returns their number;
// adds the candidates with a positive weight to *positive. -ln(u) >= 1 - u,
// so a key -log2(u) / w is at least (1 - u) / (w ln 2); a candidate is
// ruled out only when that bound exceeds `bound` by a relative 1e-9, far
// beyond DetLog2's and the division's rounding, so no key at or below
// `bound` is ever ruled out.
WINNOW_CLONES size_t WeightedMaybeBelow(const uint64_t* id_hashes,
                                        const double* weights, size_t n,
                                        uint64_t epoch_key, double bound,
                                        uint32_t* maybe, uint64_t* positive) {
  constexpr double kInvLn2 = 1.4426950408889634;
  const double margin = bound * (1 + 1e-9);
  uint8_t flags[kSlice];  // n <= kSlice; this loop vectorizes, the next not
  uint64_t included = 0;
  for (size_t i = 0; i < n; ++i) {
    const double u = UnitFromDraw(DocDraw(epoch_key, id_hashes[i]));
    const double w = weights[i];
    const bool in = w > 0;
    included += in;
    flags[i] = in & !((1.0 - u) * kInvLn2 > margin * w);
  }
  *positive += included;
  size_t c = 0;
  for (size_t i = 0; i < n; ++i) {
    maybe[c] = static_cast<uint32_t>(i);
    c += flags[i];
  }
  return c;
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

// Orders entries with equal keys by doc id (every sort breaks ties by
// doc_id; docs/sampling.md, "Keyed orders").
void BreakTies(std::span<KeyedEntry> entries,
               const std::function<std::string_view(uint32_t)>& doc_id) {
  for (auto it = entries.begin(); it != entries.end();) {
    auto end = it + 1;
    while (end != entries.end() && end->key == it->key) ++end;
    if (end - it > 1) {
      std::sort(it, end, [&](const KeyedEntry& a, const KeyedEntry& b) {
        if (doc_id) return doc_id(a.index) < doc_id(b.index);
        return a.index < b.index;
      });
    }
    it = end;
  }
}

// Insertion sort for a few entries (or, with any_size, for entries each a
// few places from where they belong); std::sort otherwise.
void SortSmall(std::span<KeyedEntry> v, bool any_size = false) {
  if (v.size() > 32 && !any_size) {
    std::sort(v.begin(), v.end(), [](const KeyedEntry& a, const KeyedEntry& b) {
      return a.key < b.key;
    });
    return;
  }
  for (size_t i = 1; i < v.size(); ++i) {
    const KeyedEntry e = v[i];
    size_t j = i;
    for (; j > 0 && v[j - 1].key > e.key; --j) v[j] = v[j - 1];
    v[j] = e;
  }
}

// Sorts `v` by key. Keys below a threshold are close to uniform in value
// (uniform keys are integers; weighted keys, the bits of doubles, grow
// about linearly in count near zero), so one pass places each entry in
// one of about v.size() buckets linear in its value, and each bucket, of
// about one entry, is then sorted alone.
void BucketSort(std::span<KeyedEntry> v, bool doubles,
                std::vector<KeyedEntry>* scratch) {
  const auto value = [doubles](uint64_t key) {
    return doubles ? std::bit_cast<double>(key) : static_cast<double>(key);
  };
  double lo = std::numeric_limits<double>::infinity();
  double hi = 0;
  for (const KeyedEntry& e : v) {
    const double x = value(e.key);
    if (std::isfinite(x)) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
  }
  if (v.size() <= 64 || !(hi > lo)) {
    SortSmall(v);
    return;
  }
  // About one entry a bucket.
  const size_t buckets = std::bit_ceil(v.size());
  const double last = static_cast<double>(buckets - 1);
  // Monotone in the key, so the buckets are in order; +inf goes last.
  const double scale = last / (hi - lo);
  const auto bucket = [&](uint64_t key) {
    const double b = (value(key) - lo) * scale;
    return static_cast<size_t>(b < last ? b : last);
  };
  // next[b]: where bucket b's next entry goes; after the scatter, where
  // bucket b ends (and b + 1 begins).
  std::vector<uint32_t> next(buckets, 0);
  uint32_t largest = 0;
  for (const KeyedEntry& e : v) {
    largest = std::max(largest, ++next[bucket(e.key)]);
  }
  uint32_t sum = 0;
  for (uint32_t& n : next) sum += std::exchange(n, sum);
  scratch->resize(v.size());
  for (const KeyedEntry& e : v) (*scratch)[next[bucket(e.key)]++] = e;
  std::copy(scratch->begin(), scratch->end(), v.begin());
  if (largest <= 16) {
    // Every entry is within its small bucket of its place: one insertion
    // pass over the whole array moves each a few places at most.
    SortSmall(v, /*any_size=*/true);
    return;
  }
  uint32_t begin = 0;
  for (const uint32_t end : next) {
    if (end - begin > 1) SortSmall(v.subspan(begin, end - begin));
    begin = end;
  }
}

// The keys of candidates [begin, begin + n) of `source`, n <= kSlice.
void SliceKeys(const KeyedSource& source, uint64_t epoch_key, size_t begin,
               size_t n, uint64_t* keys) {
  uint64_t hashes[kSlice];
  double weights[kSlice];
  source.fill(begin, n, hashes, source.weighted ? weights : nullptr);
  if (source.weighted) {
    WeightedKeys(hashes, weights, n, epoch_key, keys);
  } else {
    UniformKeys(hashes, n, epoch_key, keys);
  }
}

// For a weighted source and a `bound` below kLastKey: the candidates of
// [begin, begin + n) whose key may be at or below the bound
// (WeightedMaybeBelow), as indices in the slice with their exact keys
// (one log each, by WeightedKeys); returns their number and adds the
// candidates with a positive weight to *positive.
size_t WeightedSliceBelow(const KeyedSource& source, uint64_t epoch_key,
                          size_t begin, size_t n, uint64_t bound,
                          uint32_t* index, uint64_t* keys, uint64_t* positive) {
  uint64_t hashes[kSlice];
  double weights[kSlice];
  source.fill(begin, n, hashes, weights);
  const size_t m =
      WeightedMaybeBelow(hashes, weights, n, epoch_key,
                         std::bit_cast<double>(bound), index, positive);
  // Gathered in place: index[j] >= j.
  for (size_t j = 0; j < m; ++j) {
    hashes[j] = hashes[index[j]];
    weights[j] = weights[index[j]];
  }
  WeightedKeys(hashes, weights, m, epoch_key, keys);
  return m;
}

// A sorted sample of the source's keys, for thresholds: blocks of
// kSampleBlock candidates spread evenly over them (weights may follow the
// candidates' order; the keys' draws do not). It holds about
// kSampleHits keys below the count-th, so that a quantile estimate is
// within a few percent (at least kSampleSize keys).
constexpr size_t kSampleBlock = 256;
constexpr double kSampleHits = 2000;
std::vector<uint64_t> SampleKeys(const KeyedSource& source, uint64_t epoch_key,
                                 uint64_t count) {
  const size_t n = source.size;
  const double p = static_cast<double>(count) / static_cast<double>(n);
  const size_t want = std::max<size_t>(
      kSampleSize, static_cast<size_t>(std::min(kSampleHits / p, 1e9)));
  const size_t blocks = std::max<size_t>(1, std::min(n, want) / kSampleBlock);
  const size_t block = std::min(n, kSampleBlock);
  std::vector<uint64_t> sample(blocks * block);
  for (size_t b = 0; b < blocks; ++b) {
    const size_t begin = blocks == 1 ? 0 : (n - block) * b / (blocks - 1);
    SliceKeys(source, epoch_key, begin, block, sample.data() + b * block);
  }
  boost::sort::spreadsort::integer_sort(sample.begin(), sample.end());
  return sample;
}

// A key at or below which about `count` (and, with three standard errors
// of margin, rarely fewer) of the source's keys lie, from the sorted
// sample; kLastKey when the sample runs out. The sample includes excluded
// candidates (kExcluded sorts last), so its quantiles are those of every
// candidate's key.
uint64_t ThresholdFor(std::span<const uint64_t> sample, size_t n,
                      double count) {
  const double hits =
      count * static_cast<double>(sample.size()) / static_cast<double>(n);
  const double pos = hits + 3 * std::sqrt(hits) + 8;
  if (pos >= static_cast<double>(sample.size())) return kLastKey;
  return std::min(sample[static_cast<size_t>(pos)], kLastKey);
}

// Appends every candidate whose key is in [lo, hi] to *out, in no
// particular order; *included counts the candidates with a positive
// weight. `share` is the fraction of them expected (to reserve room).
void CollectKeysInRange(const KeyedSource& source, uint64_t epoch_key,
                        uint64_t lo, uint64_t hi, double share,
                        std::vector<KeyedEntry>* out, uint64_t* included) {
  // std::mutex, not absl::Mutex: Debian's abseil is not built for
  // ThreadSanitizer, which would not see this lock.
  std::mutex mu;
  out->reserve(out->size() +
               static_cast<size_t>(share * static_cast<double>(source.size)));
  uint64_t total = 0;
  ParallelChunks(source.size, [&](size_t begin, size_t end) {
    std::vector<KeyedEntry> mine;
    mine.reserve(std::min<size_t>(
        end - begin,
        1024 + static_cast<size_t>(share * static_cast<double>(end - begin))));
    uint64_t keys[kSlice];
    uint32_t at[kSlice];
    uint64_t in = 0;
    for (size_t b = begin; b < end; b += kSlice) {
      const size_t n = std::min(kSlice, end - b);
      if (source.weighted && hi < kLastKey) {
        // Only the keys that may be in range are computed.
        const size_t m =
            WeightedSliceBelow(source, epoch_key, b, n, hi, at, keys, &in);
        for (size_t j = 0; j < m; ++j) {
          if (keys[j] >= lo && keys[j] <= hi) {
            mine.push_back({keys[j], static_cast<uint32_t>(b + at[j])});
          }
        }
        continue;
      }
      SliceKeys(source, epoch_key, b, n, keys);
      if (source.weighted) in += CountAtMost(keys, n, kLastKey);
      const size_t c = CollectRange(keys, n, lo, hi, at);
      for (size_t i = 0; i < c; ++i) {
        mine.push_back({keys[at[i]], static_cast<uint32_t>(b + at[i])});
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    out->insert(out->end(), mine.begin(), mine.end());
    total += source.weighted ? in : end - begin;
  });
  *included = total;
}

// Whether candidate i's hash is hashes_by_ordinal[hash_ordinals[i]].
bool ByOrdinal(const Candidates& c) {
  return c.id_hashes.empty() && !c.hashes_by_ordinal.empty();
}

size_t CandidateCount(const Candidates& c) {
  if (!c.ordinals.empty()) return c.ordinals.size();
  return ByOrdinal(c) ? c.hash_ordinals.size() : c.id_hashes.size();
}

}  // namespace

void SortKeyedEntries(std::span<KeyedEntry> entries, bool weighted,
                      const std::function<std::string_view(uint32_t)>& doc_id) {
  std::vector<KeyedEntry> scratch;
  BucketSort(entries, weighted, &scratch);
  BreakTies(entries, doc_id);
}

std::vector<uint32_t> KeyedPrefix(const KeyedSource& source, uint64_t seed,
                                  uint64_t epoch, uint64_t count) {
  std::vector<uint32_t> out;
  const size_t n = source.size;
  if (n == 0 || count == 0) return out;
  const uint64_t ek = EpochKey(seed, epoch);
  const std::vector<uint64_t> sample = SampleKeys(source, ek, count);
  double want = static_cast<double>(count);
  uint64_t lo = 0;
  uint64_t hi = ThresholdFor(sample, n, want);
  uint64_t included = 0;
  std::vector<KeyedEntry> run;
  CollectKeysInRange(source, ek, lo, hi,
                     std::min(1.0, 1.1 * want / static_cast<double>(n)), &run,
                     &included);
  const uint64_t positions = std::min(count, included);
  while (run.size() < positions && hi < kLastKey) {
    // The sample underestimated the threshold (rare): collect the next
    // range of keys, aiming twice as far.
    want *= 2;
    lo = hi + 1;
    hi = ThresholdFor(sample, n, want);
    CollectKeysInRange(source, ek, lo, hi,
                       std::min(1.0, want / 2 / static_cast<double>(n)), &run,
                       &included);
  }
  SortKeyedEntries(run, source.weighted, source.doc_id);
  out.reserve(positions);
  for (uint64_t i = 0; i < positions; ++i) out.push_back(run[i].index);
  return out;
}

uint64_t KeyedOrderSize(const Candidates& candidates) {
  if (candidates.weights.empty()) return CandidateCount(candidates);
  uint64_t positive = 0;
  for (double w : candidates.weights) positive += w > 0;  // as WeightedKeys
  return positive;
}

KeyedOrder::KeyedOrder(const Candidates& candidates, uint64_t seed,
                       uint64_t epoch)
    : ordinals_(candidates.ordinals), doc_id_(candidates.doc_id) {
  const bool by_ordinal = ByOrdinal(candidates);
  const size_t n = CandidateCount(candidates);
  const uint64_t ek = EpochKey(seed, epoch);
  keys_.resize(n);
  weighted_ = !candidates.weights.empty();
  // Each key depends on its candidate alone, so the pass splits over
  // threads without changing a bit of the result.
  uint64_t* keys = keys_.data();
  const double* weights = candidates.weights.data();
  const auto keys_of = [&](const uint64_t* hashes, size_t begin, size_t m) {
    if (weighted_) {
      WeightedKeys(hashes, weights + begin, m, ek, keys + begin);
    } else {
      UniformKeys(hashes, m, ek, keys + begin);
    }
  };
  ParallelChunks(n, [&](size_t begin, size_t end) {
    if (!by_ordinal) {
      keys_of(candidates.id_hashes.data() + begin, begin, end - begin);
      return;
    }
    uint64_t hashes[kSlice];  // gathered a slice at a time, in cache
    for (size_t b = begin; b < end; b += kSlice) {
      const size_t m = std::min(kSlice, end - b);
      for (size_t i = 0; i < m; ++i) {
        hashes[i] =
            candidates.hashes_by_ordinal[candidates.hash_ordinals[b + i]];
      }
      keys_of(hashes, b, m);
    }
  });
  size_ = KeyedOrderSize(candidates);
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
         ready_.capacity() * sizeof(Entry);
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

  // Drop consumed entries before appending, so the cache stays one run.
  if (ready_head_ > 0 && ready_head_ * 2 >= ready_.size()) {
    ready_.erase(ready_.begin(),
                 ready_.begin() + static_cast<ptrdiff_t>(ready_head_));
    ready_head_ = 0;
  }
  const size_t from = ready_.size();
  ready_.reserve(from + (target - ready_end()) * 11 / 10 + 1024);
  // One pass over the keys, a slice at a time through a small buffer of
  // indices (not one index per candidate).
  uint32_t at[kSlice];
  for (size_t b = 0; b < n; b += kSlice) {
    const size_t m = std::min<size_t>(kSlice, n - b);
    const size_t c = CollectRange(keys_.data() + b, m, next_key_, hi, at);
    for (size_t i = 0; i < c; ++i) {
      const size_t idx = b + at[i];
      ready_.push_back(Entry{keys_[idx], ordinals_.empty()
                                             ? static_cast<uint32_t>(idx)
                                             : ordinals_[idx]});
    }
  }
  const size_t c = ready_.size() - from;
  SortKeyedEntries(std::span<Entry>(ready_).subspan(from), weighted_, doc_id_);
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
    // Runs grow geometrically as a reader advances (each costs a pass over
    // the keys), up to MaxRun() entries of cache.
    uint64_t wanted = std::min<uint64_t>(
        std::max<uint64_t>(end - ready_end(), 2 * last_run_), MaxRun(n));
    Extend(wanted);
  }
  // Position p is ready_[ready_head_ + (p - ready_base_)].
  const size_t first = ready_head_ + static_cast<size_t>(begin - ready_base_);
  for (size_t i = first; i < first + span; ++i) out->push_back(ready_[i].index);
  // Everything before `begin` is no longer needed by a reader that advances.
  ready_head_ = first;
  ready_base_ = begin;
}

}  // namespace winnow
