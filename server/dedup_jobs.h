// The semdedup and d4 scorers as ComputeScores jobs (docs/algorithms.md,
// "SemDeDup" and "D4"; the engine is selection/semdedup.h). Each reads the
// embeddings of the live documents that match the request's filter, runs
// the engine, and writes its one score column in one atomic write at the
// end, so that a cancelled or failed job leaves no score behind.
//
// semdedup with `kmeans` set clusters first (the clusters are not written:
// run kmeans for those); without it, it reads the cluster_score and
// distance_score columns of an earlier kmeans run. A document whose cluster
// there is null, negative or not an integer, or whose distance is null, is
// compared with nothing and gets null.
#ifndef WINNOW_SERVER_DEDUP_JOBS_H_
#define WINNOW_SERVER_DEDUP_JOBS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "server/operations.h"
#include "storage/store.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

// Checks request.scorer().semdedup() (INVALID_ARGUMENT or
// FAILED_PRECONDITION naming the field) and returns the score it writes.
absl::StatusOr<std::vector<std::string>> CheckSemDedup(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request);

// Runs request.scorer().semdedup() over request.collection().
absl::StatusOr<winnow::v1::ComputeScoresResult> RunSemDedupJob(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job);

// Checks request.scorer().d4() and returns the score it writes.
absl::StatusOr<std::vector<std::string>> CheckD4(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request);

// Runs request.scorer().d4() over request.collection().
absl::StatusOr<winnow::v1::ComputeScoresResult> RunD4Job(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job);

// Registers semdedup and d4 with ComputeScores. `store` outlives the
// registry.
void RegisterDedupScorers(storage::Store& store, ScorerRegistry& registry);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_DEDUP_JOBS_H_
