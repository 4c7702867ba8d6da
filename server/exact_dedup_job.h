// The exact_dedup scorer as a ComputeScores job (docs/algorithms.md, "Exact
// dedup"): gathers the payload hashes (backfilling those of older payloads),
// applies the rule of selection/exact_dedup.h to the live documents that
// match the request's filter, and writes the score column in one atomic
// write at the end, so that a cancelled or failed job leaves no score
// behind.
#ifndef WINNOW_SERVER_EXACT_DEDUP_JOB_H_
#define WINNOW_SERVER_EXACT_DEDUP_JOB_H_

#include <string>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "server/operations.h"
#include "storage/store.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

// The score an exact_dedup scorer writes: duplicate_score, or "exact_dup".
std::string ExactDedupScoreName(const winnow::v1::ExactDedupScorer& scorer);

// Runs request.scorer().exact_dedup() over request.collection(). The scores
// describe the collection as of the job's start: a document replaced while
// the job runs keeps the value computed for its older payload until the
// next run.
absl::StatusOr<winnow::v1::ComputeScoresResult> RunExactDedup(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job);

// Registers exact_dedup with ComputeScores: the factory checks the score
// name (INVALID_ARGUMENT naming scorer.exact_dedup.duplicate_score) and
// reserves that column for the job. `store` outlives the registry.
void RegisterExactDedup(storage::Store& store, ScorerRegistry& registry);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_EXACT_DEDUP_JOB_H_
