// The parts every ComputeScores scorer shares (docs/algorithms.md,
// "Embedding scorers"): registering a kind with the ScorerRegistry, reading
// the documents an embedding scorer scores, and writing the score columns
// in one atomic write at the end, so that a cancelled or failed job leaves
// no score behind.
//
//   RegisterScorer(store, registry, Scorer::kKmeans,
//                  {.check = CheckKMeans, .run = RunKMeans});
//
// Thread safety: the functions are thread-safe; a job runs on one
// operation thread and may use more threads of its own.
#ifndef WINNOW_SERVER_SCORER_JOBS_H_
#define WINNOW_SERVER_SCORER_JOBS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "selection/bitmap.h"
#include "selection/embeddings.h"
#include "selection/job.h"
#include "server/operations.h"
#include "storage/store.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

struct ScorerDefinition {
  // Checks the scorer's parameters at ComputeScores time and returns the
  // score columns the job writes, in the order of the result's score_names.
  // Errors name the field: INVALID_ARGUMENT "scorer.kmeans.cluster_count:
  // ...". The collection exists and the filter compiles when it is called;
  // it may read the store (for example to compare k with the documents).
  std::function<absl::StatusOr<std::vector<std::string>>(
      const storage::Store& store,
      const winnow::v1::ComputeScoresRequest& request)>
      check;
  // Runs the job. Returns the result (score_names filled by the caller from
  // check's names if left empty), CANCELLED once job.Cancelled(), or an
  // error. Must write nothing before it knows it will succeed.
  std::function<absl::StatusOr<winnow::v1::ComputeScoresResult>(
      storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
      JobContext& job)>
      run;
};

// Registers `kind`: its factory runs definition.check, rejects two equal
// names (INVALID_ARGUMENT), and reserves each (collection, name) column for
// the job, so that a second job writing one of them is refused. `store`
// outlives the registry.
void RegisterScorer(storage::Store& store, ScorerRegistry& registry,
                    winnow::v1::Scorer::KindCase kind,
                    ScorerDefinition definition);

// `name` if not empty, else `fallback`; INVALID_ARGUMENT naming `field` if
// the result is not a valid score name (storage/names.h: a reserved word,
// bad characters, too long).
absl::StatusOr<std::string> ScoreNameOr(const std::string& name,
                                        std::string_view fallback,
                                        std::string_view field);

// What an embedding scorer reads: the matrix and the documents it scores.
struct EmbeddingJobInput {
  std::shared_ptr<const EmbeddingMatrix> matrix;
  // Live documents with an embedding that match the request's filter, as of
  // one snapshot; matrix->num_rows bits.
  Bitmap scored;
  // The set bits of `scored`, ascending.
  std::vector<uint32_t> ordinals;
};

// Reads the request's collection: FAILED_PRECONDITION for a collection
// without embeddings, the store's errors, or the filter's. The snapshot is
// released before it returns.
absl::StatusOr<EmbeddingJobInput> ReadEmbeddingJobInput(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request);

// The number of live documents that match the request's filter, from the
// columns alone (it does not load the matrix): an upper bound of what
// ReadEmbeddingJobInput scores, for checks at ComputeScores time such as
// "k is at most the documents". A job checks again against its input.
absl::StatusOr<uint64_t> CountScoredDocuments(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request);

// One output column of a job: values[i] belongs to ordinals[i] of the
// WriteJobScores call; NaN writes null (clears the score).
struct JobScoreColumn {
  std::string name;
  std::vector<float> values;
};

// Writes the columns for `ordinals` in one atomic, durable PutScores that
// skips documents deleted since the job read them. Returns the documents
// written.
absl::StatusOr<int64_t> WriteJobScores(storage::Store& store,
                                       std::string_view collection,
                                       std::span<const uint32_t> ordinals,
                                       std::span<const JobScoreColumn> columns);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SCORER_JOBS_H_
