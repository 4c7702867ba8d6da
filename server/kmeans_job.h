// The kmeans scorer as a ComputeScores job (docs/algorithms.md, "k-means"):
// trains spherical k-means (selection/kmeans.h) on the embeddings of the
// live documents that match the request's filter, assigns each of them to
// its nearest centroid, and writes the cluster and the distance in one
// atomic write at the end, so that a cancelled or failed job leaves no
// score behind.
#ifndef WINNOW_SERVER_KMEANS_JOB_H_
#define WINNOW_SERVER_KMEANS_JOB_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "selection/job.h"
#include "selection/kmeans.h"
#include "server/operations.h"
#include "storage/store.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

// Checks a KMeansScorer (errors name `field` + ".cluster_count" etc., e.g.
// field = "scorer.kmeans" or "scorer.semdedup.kmeans") and converts it.
// `documents` bounds cluster_count; pass 0 to skip that bound.
absl::StatusOr<KMeansOptions> KMeansOptionsFromProto(
    const winnow::v1::KMeansScorer& scorer, uint64_t documents,
    std::string_view field);

// Runs request.scorer().kmeans() over request.collection().
absl::StatusOr<winnow::v1::ComputeScoresResult> RunKMeans(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job);

// Registers kmeans with ComputeScores: the factory checks the parameters
// and the score names against the collection (INVALID_ARGUMENT naming the
// field; FAILED_PRECONDITION for a collection without embeddings) and
// reserves the two columns for the job. `store` outlives the registry.
void RegisterKMeans(storage::Store& store, ScorerRegistry& registry);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_KMEANS_JOB_H_
