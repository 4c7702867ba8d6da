// The selection steps of the strategies besides uniform and weighted
// (docs/algorithms.md), as pure functions over columns aligned with a
// candidate list. Everything here works in candidate-index space: index i
// means the i-th entry of the arrays the caller passed in.
//
// Determinism: results depend only on the values given, the seed and the doc
// ids, never on the order of equal inputs: every sort breaks ties by doc id
// (through the caller's `DocIdFn`), and floating-point work uses only IEEE
// operations in a fixed order or det_math.h.
//
// All functions are pure and thread-safe; AliasTable and BucketBatcher are
// thread-compatible values.
#ifndef WINNOW_SELECTION_STRATEGIES_H_
#define WINNOW_SELECTION_STRATEGIES_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace winnow {

// The doc id of candidate index i.
using DocIdFn = std::function<std::string_view(uint32_t index)>;

// Candidate indices [0, n) sorted by doc id ascending.
std::vector<uint32_t> SortByDocId(uint32_t n, const DocIdFn& doc_id);

// ---- Weighted with replacement (Vose's alias method) ----

// An alias table over weights[0..n): Draw() returns index i with
// probability weights[i] / sum(weights).
class AliasTable {
 public:
  // INVALID_ARGUMENT unless every weight is finite and >= 0 and one is > 0.
  static absl::StatusOr<AliasTable> Build(std::span<const double> weights);

  // The index for one 64-bit draw: the top bits pick a column, the rest
  // are the coin between the column and its alias.
  uint32_t Draw(uint64_t draw) const;

  size_t size() const { return prob_.size(); }
  size_t MemoryBytes() const {
    return prob_.capacity() * sizeof(double) +
           alias_.capacity() * sizeof(uint32_t);
  }

 private:
  std::vector<double> prob_;
  std::vector<uint32_t> alias_;
};

// ---- Ordering (DELT) and top-k ----

// Indices of the non-null (non-NaN) scores, sorted by score (ascending or
// descending), ties by doc id ascending.
std::vector<uint32_t> SortByScore(std::span<const float> scores,
                                  bool descending, const DocIdFn& doc_id);

// DELT folding ordering of an ascending list: fold l holds sorted positions
// i with i mod L == l; output fold 0, then 1, ..., L-1. N = 9, L = 3 gives
// [0, 3, 6, 1, 4, 7, 2, 5, 8].
std::vector<uint32_t> FoldingOrder(std::span<const uint32_t> sorted,
                                   uint32_t folds);

// ---- Cluster-balanced (SmallToLarge, S2L) ----

// Selects `budget` candidates water-filled over clusters (SmallToLarge,
// docs/algorithms.md "Cluster-balanced (S2L)"): clusters of <= 2 members are
// set aside; the rest, by size ascending (ties by cluster value), get quota
// n_remaining / clusters_left each, a larger cluster sampled uniformly (keyed
// by seed and doc id), a smaller one taken whole; any leftover is drawn
// uniformly from the set-aside members.
// `clusters` holds integer-valued cluster ids (NaN = excluded). Returns the
// selected indices ascending.
std::vector<uint32_t> ClusterBalancedSelect(std::span<const float> clusters,
                                            std::span<const uint64_t> id_hashes,
                                            uint64_t budget, uint64_t seed,
                                            const DocIdFn& doc_id);

// ---- Repetition budget (Scaling Laws for Data Filtering) ----

struct PoolParams {
  double fraction = 0.25;  // share of the candidates, best pools first
  double a = 0.025;
  double b = -0.16;
  double tau = 6.7;
  double d = 0.1;
};

// The T-MARS reference pools: four quartiles.
std::vector<PoolParams> DefaultPools();

struct CurvePoint {
  int64_t epoch = 0;
  int64_t samples = 0;  // n_e
  double error = 0;     // y_e
};

struct PoolChoice {
  int32_t pool_count = 0;   // m
  int64_t pool_size = 0;    // P: candidates in the best m pools
  int64_t repetitions = 0;  // r = ceil(N / P)
  double predicted_error = 0;
  std::vector<CurvePoint> curve;
};

struct PoolPrediction {
  int32_t chosen = 0;               // the m with the least predicted error
  std::vector<PoolChoice> choices;  // m = 1..M
};

// Predicts, for m = 1..M, the error after a budget of N samples when
// training on the best m pools of the given sizes, by Goyal et al.'s
// recursion (for a mix of m pools, a, d and b_e are the means over the
// pools), and picks the least. Pools of size 0 end the list.
// INVALID_ARGUMENT on b >= 0, tau <= 0 or a budget < 1.
absl::StatusOr<PoolPrediction> PredictPools(std::span<const int64_t> sizes,
                                            std::span<const PoolParams> pools,
                                            int64_t budget);

// ---- Length buckets (Lhotse DynamicBucketingSampler) ----

// Inclusive upper edges of `num_buckets` buckets holding about equal total
// length: sort the lengths, walk the cumulative sum and cut each time it
// passes another total / num_buckets. Returns at most num_buckets - 1
// strictly ascending edges; longer samples go to the final bucket.
std::vector<uint32_t> EstimateBucketEdges(std::vector<uint32_t> lengths,
                                          int32_t num_buckets);

// One global batch of candidate indices.
struct Batch {
  std::vector<uint32_t> items;
  int32_t bucket = -1;       // -1 without length buckets
  bool over_budget = false;  // a single sample longer than the budget
};

// Fills length buckets in the order of the global sequence and emits a
// global batch just before adding a sample would make the bucket's padded
// tokens (samples x longest) exceed max_tokens, or when the bucket reaches
// its fixed batch size. A sample longer than max_tokens is emitted alone and
// flagged.
class BucketBatcher {
 public:
  // edges: inclusive upper edges, ascending; there are edges.size() + 1
  // buckets. max_tokens 0 means no token limit (then batch_sizes is
  // required). batch_sizes: empty, or one per bucket.
  BucketBatcher(std::vector<uint32_t> edges, int64_t max_tokens,
                std::vector<int32_t> batch_sizes);

  // Adds candidate `index` of `length` tokens; appends emitted batches.
  void Add(uint32_t index, uint32_t length, std::vector<Batch>* out);
  // End of the epoch: the partly filled buckets, in bucket order.
  void Flush(std::vector<Batch>* out);

  int32_t num_buckets() const { return static_cast<int32_t>(buckets_.size()); }
  int32_t BucketOf(uint32_t length) const;

  // The bucket contents, for checkpoints: one list per bucket, and the
  // longest length in each.
  const std::vector<std::vector<uint32_t>>& contents() const {
    return buckets_;
  }
  void Restore(std::vector<std::vector<uint32_t>> contents,
               std::span<const uint32_t> lengths_by_index);
  size_t MemoryBytes() const;

 private:
  void Emit(int32_t bucket, std::vector<Batch>* out);

  std::vector<uint32_t> edges_;
  int64_t max_tokens_;
  std::vector<int32_t> batch_sizes_;
  std::vector<std::vector<uint32_t>> buckets_;
  std::vector<uint32_t> longest_;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_STRATEGIES_H_
