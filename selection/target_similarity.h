// Target similarity (docs/algorithms.md, "Target similarity"): how close each
// document's embedding is to a target set, the embedding analogue of
// importance resampling toward a target distribution.
//
// The target set is a list of vectors (the caller gathers the rows of
// target documents and adds vectors it was given). Each is taken at unit
// length; a zero vector has no direction and is left out. The target is
// then either one direction, the normalized mean of the unit targets, or
// `centroid_count` spherical k-means centroids of them (selection/kmeans.h,
// k-means++ keyed by the seed). A document scores the greatest cosine of
// its embedding with a target direction, in [-1, 1]; a zero row scores 0.
//
// Thread safety: pure functions over immutable inputs.
#ifndef WINNOW_SELECTION_TARGET_SIMILARITY_H_
#define WINNOW_SELECTION_TARGET_SIMILARITY_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "selection/kmeans.h"

namespace winnow {

struct TargetOptions {
  // 0 or 1: the normalized mean; more: that many k-means centroids, at
  // most the number of non-zero targets.
  uint32_t centroid_count = 1;
  uint64_t seed = 0;
  int threads = 2;
};

// The unit target directions, count * dim floats row-major.
// INVALID_ARGUMENT when every target is zero (or there is none), or when
// centroid_count exceeds the non-zero targets.
absl::StatusOr<std::vector<float>> TargetDirections(
    std::span<const float> targets, uint32_t dim, const TargetOptions& options,
    JobContext* job);

// Per row of `rows`, the greatest cosine with one of the `directions`
// (unit length, count * dim floats). CANCELLED if `job` is cancelled.
absl::StatusOr<std::vector<float>> TargetSimilarities(
    const EmbeddingRows& rows, std::span<const float> directions, int threads,
    JobContext* job);

}  // namespace winnow

#endif  // WINNOW_SELECTION_TARGET_SIMILARITY_H_
