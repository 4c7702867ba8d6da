// Exact k nearest neighbours over a collection's embeddings
// (docs/algorithms.md, "Nearest"): every candidate row is scored against
// every query, no index, no approximation.
//
// Two paths, chosen by the number of queries:
//  - fewer than kNearestBatchQueries: one pass over the candidate rows,
//    each row read once and scored against every query with SIMD dot
//    kernels (float32, or float16 decoded on the fly; AVX2 target clones);
//  - kNearestBatchQueries or more: per block of kEmbeddingBlockRows rows, one
//    OpenBLAS sgemm of the queries against the block's candidate rows (a
//    float16 block is decoded to float32 first), then a per-query top-k.
// Both spread the rows over up to two threads (ParallelChunks); OpenBLAS
// itself runs single-threaded. A path computes each similarity the same way
// whatever the split, so its answers do not depend on the thread count.
//
// Similarity: the dot product, or the cosine dot / (|q| |r|), where |r| is
// the row's stored norm and |q| the query's; a zero row or a zero query has
// cosine similarity 0. A similarity that is NaN (an overflowing dot
// product) never ranks.
//
// Ties: NearestWithTies returns, per query, the k most similar candidates
// and every further candidate whose similarity equals the k-th's, ordered
// by similarity then ordinal. BreakTies then orders equal similarities by
// the caller's document ids and keeps k: the engine does not hold ids.
//
// Thread safety: pure functions over immutable inputs.
#ifndef WINNOW_SELECTION_NEAREST_H_
#define WINNOW_SELECTION_NEAREST_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "selection/bitmap.h"
#include "selection/embeddings.h"

namespace winnow {

enum class Similarity : uint8_t {
  kCosine = 1,
  kDotProduct = 2,
};

// From this many queries on, Nearest scores with sgemm.
inline constexpr size_t kNearestBatchQueries = 16;

// No ordinal to leave out for a query.
inline constexpr uint32_t kNoExclude = UINT32_MAX;

struct Neighbor {
  uint32_t ordinal = 0;
  float similarity = 0;
};

struct NearestQuery {
  const EmbeddingMatrix* matrix = nullptr;
  // The ordinals that may be neighbours. Only bits below
  // matrix->num_rows in blocks that exist are read, so callers AND it with
  // matrix->present (a row without an embedding holds zeros).
  const Bitmap* candidates = nullptr;
  // num_queries * matrix->dim floats, row-major.
  std::span<const float> queries;
  // Empty, or one ordinal per query that is not that query's neighbour
  // (the query document itself), kNoExclude for none.
  std::span<const uint32_t> exclude;
  Similarity metric = Similarity::kCosine;
  // Neighbours per query, >= 1.
  size_t k = 10;
};

// Per query, the k most similar candidates and every candidate tied with
// the k-th, most similar first, equal similarities by ordinal (see above).
// Fewer than k when there are fewer candidates.
std::vector<std::vector<Neighbor>> NearestWithTies(const NearestQuery& query);

// Orders `neighbors` (one query's answer from NearestWithTies) by
// similarity, highest first, then by id_less(a, b) (a's document id sorts
// before b's) for equal similarities, and keeps the first k.
void BreakTies(std::vector<Neighbor>* neighbors, size_t k,
               absl::FunctionRef<bool(uint32_t, uint32_t)> id_less);

// Row `ordinal` of `matrix` as float32 into out (matrix.dim floats); zeros
// for a row without an embedding.
void RowAsFloat(const EmbeddingMatrix& matrix, uint32_t ordinal,
                std::span<float> out);

}  // namespace winnow

#endif  // WINNOW_SELECTION_NEAREST_H_
