// The target_similarity scorer as a ComputeScores job (docs/algorithms.md,
// "Target similarity"): gathers the target set (the rows of target_ids and
// the given target_vectors), reduces it to target directions
// (selection/target_similarity.h), and writes each scored document's
// greatest cosine with them in one atomic write at the end.
#ifndef WINNOW_SERVER_TARGET_SIMILARITY_JOB_H_
#define WINNOW_SERVER_TARGET_SIMILARITY_JOB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "server/operations.h"
#include "storage/store.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

// Most target centroids a request may ask for.
inline constexpr int32_t kMaxTargetCentroids = 4096;

// The ComputeScores-time checks (errors name scorer.target_similarity.*):
// the collection has embeddings (FAILED_PRECONDITION), target_vectors is a
// multiple of its dimension and finite, every target id is a live
// document (NOT_FOUND naming target_ids[i]), there is at least one target,
// centroid_count is in [0, min(targets, kMaxTargetCentroids)], and the
// score name is valid. Returns the score name.
absl::StatusOr<std::vector<std::string>> CheckTargetSimilarity(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request);

// Runs request.scorer().target_similarity() over request.collection(). A
// target document without an embedding fails with INVALID_ARGUMENT naming
// target_ids[i].
absl::StatusOr<winnow::v1::ComputeScoresResult> RunTargetSimilarity(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job);

// Registers target_similarity with ComputeScores. `store` outlives the
// registry.
void RegisterTargetSimilarity(storage::Store& store, ScorerRegistry& registry);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_TARGET_SIMILARITY_JOB_H_
