// SemDeDup and D4 over clustered embeddings (docs/algorithms.md, "SemDeDup"
// and "D4").
//
// SemDeDup. Members of a cluster are ordered by distance to their centroid,
// descending, equal distances by row index (the rows of an EmbeddingRows are
// in ascending ordinal order, so that is ordinal order). For member j,
//
//   M_j = the greatest cosine similarity of j to a member earlier in that
//         order (-infinity when nothing is compared with j),
//
// and j is a duplicate iff M_j > 1 - epsilon. Marked members still count for
// the members after them. With `second_cluster` given (the 2nd-cluster
// option), a pair (a, b) from different clusters is also compared when a's
// second-nearest cluster is b's cluster (or b's is a's); the member of the
// pair later in the global (distance descending, then row index) order
// receives the similarity. Similarities are float32 dot products of the
// unit-normalized rows (OpenBLAS sgemm over tiles of a cluster, never a
// cluster's whole Gram matrix); a zero row has similarity 0 with every row.
//
// M_j does not depend on epsilon, so the keep ratio of any epsilon is a
// count over the computed M: EpsilonForKeepRatio finds the epsilon of a
// target keep ratio exactly, with no repeated pass.
//
// Determinism: the tiles are fixed by the data alone and each similarity is
// computed by one tile, whatever thread runs it, and the maximum is exact;
// so the result is the same bits on 1 thread and on 2.
//
// D4. SemDeDup to a keep ratio, then the kept rows are clustered again
// (k-means, selection/kmeans.h), then the rows closest to their new
// centroid (the most prototypical) are dropped until total_keep_ratio of
// all rows is kept: per cluster (each cluster keeps the same fraction,
// apportioned by largest remainder so the total is exact) or globally (one
// distance threshold, ties by row index).
//
// Thread safety: pure functions over immutable inputs.
#ifndef WINNOW_SELECTION_SEMDEDUP_H_
#define WINNOW_SELECTION_SEMDEDUP_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "selection/kmeans.h"

namespace winnow {

// Where each row sits, aligned with the rows: its cluster and distance
// (1 - cos) to that cluster's centroid, and, for the 2nd-cluster option,
// its second-nearest cluster (empty: the option is off).
struct SemDedupAssignment {
  std::span<const uint32_t> cluster;
  std::span<const float> distance;
  std::span<const uint32_t> second_cluster;
};

// M_j for every row (see above). INVALID_ARGUMENT if the spans are not
// aligned with the rows or a distance is NaN; CANCELLED if `job` (may be
// null) is cancelled. `threads` >= 1.
absl::StatusOr<std::vector<float>> SemDedupMaxSimilarity(
    const EmbeddingRows& rows, const SemDedupAssignment& assignment,
    int threads, JobContext* job);

// Whether M marks its row a duplicate at `epsilon`: m > 1 - epsilon,
// computed in double.
inline bool IsSemDuplicate(float m, double epsilon) {
  return static_cast<double>(m) > 1.0 - epsilon;
}

// The rows marked at `epsilon`.
int64_t CountSemDuplicates(std::span<const float> max_similarity,
                           double epsilon);

// Smallest and largest epsilon EpsilonForKeepRatio returns: 2^-25 marks
// exactly the rows whose M is at least 1 (as float32, no M lies in
// (1 - 2^-24, 1)); 1 - 2^-53 marks only the rows whose M is positive.
inline constexpr double kMinSemDedupEpsilon = 0x1p-25;
inline constexpr double kMaxSemDedupEpsilon = 1.0 - 0x1p-53;

// The epsilon for `target_keep_ratio` (in (0, 1]): the largest epsilon in
// [kMinSemDedupEpsilon, kMaxSemDedupEpsilon] that keeps at least
// ceil(target * rows) rows. That is 1 - s, where s is that many-th
// smallest M (exact in double). When M has ties at s, the keep ratio
// exceeds the target by the tied rows; when even kMinSemDedupEpsilon keeps
// too few (rows with M >= 1: exact duplicates), it is kMinSemDedupEpsilon
// and the keep ratio falls short. With no rows it is kMaxSemDedupEpsilon.
double EpsilonForKeepRatio(std::span<const float> max_similarity,
                           double target_keep_ratio);

// Rows to keep out of `rows` for a keep ratio in (0, 1]: ceil(ratio *
// rows), ignoring a float error below 1e-9 (0.75 * 100 keeps 75).
uint64_t KeepCount(double ratio, uint64_t rows);

// Prototype pruning: of the rows with candidate[i] set, keeps `keep` (at
// most their number) and drops the rest, those closest to their centroid
// first. Per cluster: cluster c keeps floor(f * n_c) of its n_c candidates,
// f = keep / candidates, plus one for the clusters of largest remainder
// f * n_c - floor(f * n_c) (ties by lower cluster) until `keep` is reached;
// within a cluster the farthest are kept. Globally: the `keep` farthest of
// all candidates. Equal distances: the lower row index counts as farther.
// Returns, per row, whether it is kept (false for non-candidates).
std::vector<bool> PrototypeKeep(std::span<const uint32_t> cluster,
                                std::span<const float> distance,
                                const std::vector<bool>& candidate,
                                uint64_t keep, bool per_cluster);

struct D4Options {
  // Both clusterings (the second on the kept rows, with k lowered to the
  // kept rows when it exceeds them).
  KMeansOptions kmeans;
  // In (0, 1].
  double dedup_keep_ratio = 0.75;
  // In (0, dedup_keep_ratio].
  double total_keep_ratio = 0.5;
  bool per_cluster = true;
  int threads = 2;
};

struct D4Output {
  // 1 for a dropped row (duplicate or prototype), aligned with the rows.
  std::vector<uint8_t> pruned;
  // The epsilon that reached dedup_keep_ratio.
  double epsilon = 0;
  // Rows marked by SemDeDup, and rows dropped in all.
  int64_t duplicate_count = 0;
  int64_t pruned_count = 0;
};

// Runs D4. INVALID_ARGUMENT for ratios outside their ranges or bad k-means
// options; CANCELLED if `job` is cancelled.
absl::StatusOr<D4Output> RunD4(const EmbeddingRows& rows,
                               const D4Options& options, JobContext* job);

}  // namespace winnow

#endif  // WINNOW_SELECTION_SEMDEDUP_H_
