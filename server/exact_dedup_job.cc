#include "server/exact_dedup_job.h"

#include <vector>

#include "selection/exact_dedup.h"
#include "server/query.h"
#include "storage/names.h"

namespace winnow::server {
namespace {

// The live documents matching the request's filter, over the rows of one
// snapshot.
absl::StatusOr<Bitmap> ScoredDocuments(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<Filter> filter =
      CompileFilter(request.filter(), snapshot->columns());
  if (!filter.ok()) return filter.status();
  return filter->Evaluate(snapshot->columns());
}

}  // namespace

std::string ExactDedupScoreName(const winnow::v1::ExactDedupScorer& scorer) {
  return scorer.duplicate_score().empty() ? "exact_dup"
                                          : scorer.duplicate_score();
}

absl::StatusOr<winnow::v1::ComputeScoresResult> RunExactDedup(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job) {
  const std::string score = ExactDedupScoreName(request.scorer().exact_dedup());
  job.SetPhase("reading payload hashes");
  absl::StatusOr<storage::PayloadHashes> hashes =
      store.ReadPayloadHashes(request.collection(), job);
  if (!hashes.ok()) return hashes.status();
  absl::StatusOr<Bitmap> scored = ScoredDocuments(store, request);
  if (!scored.ok()) return scored.status();
  scored->Resize(hashes->present.size());

  job.SetPhase("finding duplicates");
  job.SetTotal(static_cast<int64_t>(scored->Count()), "documents");
  const ExactDedupScores dups =
      ScoreExactDuplicates(hashes->hashes, hashes->present, *scored);
  if (job.Cancelled()) return absl::CancelledError("cancelled");

  job.SetPhase("writing scores");
  storage::ScoreBatch batch;
  batch.ordinals = dups.ordinals;
  batch.scores.push_back(
      storage::ScoreColumn{score, dups.values, dups.null_indexes});
  // A document deleted since the snapshot is skipped, not an error.
  batch.allow_missing = true;
  absl::StatusOr<storage::PutScoresResult> written =
      store.PutScores(request.collection(), batch);
  if (!written.ok()) return written.status();
  job.SetDone(static_cast<int64_t>(dups.ordinals.size()));

  winnow::v1::ComputeScoresResult result;
  result.add_score_names(score);
  result.set_document_count(static_cast<int64_t>(written->num_documents));
  result.mutable_exact_dedup()->set_duplicate_count(dups.duplicate_count);
  result.mutable_exact_dedup()->set_distinct_count(dups.distinct_count);
  return result;
}

void RegisterExactDedup(storage::Store& store, ScorerRegistry& registry) {
  registry.Register(winnow::v1::Scorer::kExactDedup,
                    [&store](const winnow::v1::ComputeScoresRequest& request)
                        -> absl::StatusOr<JobSpec> {
                      const std::string score =
                          ExactDedupScoreName(request.scorer().exact_dedup());
                      if (absl::Status s = storage::ValidateColumnName(
                              score, "scorer.exact_dedup.duplicate_score");
                          !s.ok()) {
                        return s;
                      }
                      JobSpec spec;
                      spec.columns = {{request.collection(), score}};
                      spec.run = [&store, request](JobContext& job,
                                                   winnow::v1::Operation* op) {
                        absl::StatusOr<winnow::v1::ComputeScoresResult> r =
                            RunExactDedup(store, request, job);
                        if (!r.ok()) return r.status();
                        *op->mutable_compute_scores_result() = *std::move(r);
                        return absl::OkStatus();
                      };
                      return spec;
                    });
}

}  // namespace winnow::server
