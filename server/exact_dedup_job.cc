#include "server/exact_dedup_job.h"

#include <limits>
#include <utility>
#include <vector>

#include "selection/exact_dedup.h"
#include "server/query.h"
#include "server/scorer_jobs.h"
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
  ExactDedupScores dups =
      ScoreExactDuplicates(hashes->hashes, hashes->present, *scored);
  if (job.Cancelled()) return absl::CancelledError("cancelled");

  job.SetPhase("writing scores");
  std::vector<JobScoreColumn> columns(1);
  columns[0].name = score;
  columns[0].values = std::move(dups.values);
  for (const uint32_t i : dups.null_indexes) {
    columns[0].values[i] = std::numeric_limits<float>::quiet_NaN();
  }
  absl::StatusOr<int64_t> written =
      WriteJobScores(store, request.collection(), dups.ordinals, columns);
  if (!written.ok()) return written.status();
  job.SetDone(static_cast<int64_t>(dups.ordinals.size()));

  winnow::v1::ComputeScoresResult result;
  result.add_score_names(score);
  result.set_document_count(*written);
  result.mutable_exact_dedup()->set_duplicate_count(dups.duplicate_count);
  result.mutable_exact_dedup()->set_distinct_count(dups.distinct_count);
  return result;
}

void RegisterExactDedup(storage::Store& store, ScorerRegistry& registry) {
  RegisterScorer(store, registry, winnow::v1::Scorer::kExactDedup,
                 {.check = [](const storage::Store&,
                              const winnow::v1::ComputeScoresRequest& request)
                      -> absl::StatusOr<std::vector<std::string>> {
                    absl::StatusOr<std::string> score = ScoreNameOr(
                        request.scorer().exact_dedup().duplicate_score(),
                        "exact_dup", "scorer.exact_dedup.duplicate_score");
                    if (!score.ok()) return score.status();
                    return std::vector<std::string>{*score};
                  },
                  .run = RunExactDedup});
}

}  // namespace winnow::server
