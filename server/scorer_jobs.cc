#include "server/scorer_jobs.h"

#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/query.h"
#include "storage/names.h"

namespace winnow::server {
namespace {

// The live documents matching the request's filter over one snapshot's
// columns.
absl::StatusOr<Bitmap> Matching(
    const storage::ColumnsSnapshot& snapshot,
    const winnow::v1::ComputeScoresRequest& request) {
  absl::StatusOr<Filter> filter =
      CompileFilter(request.filter(), snapshot.columns());
  if (!filter.ok()) return filter.status();
  Bitmap matching;
  filter->EvaluateInto(snapshot.columns(), &matching);
  return matching;
}

}  // namespace

void RegisterScorer(storage::Store& store, ScorerRegistry& registry,
                    winnow::v1::Scorer::KindCase kind,
                    ScorerDefinition definition) {
  auto def = std::make_shared<const ScorerDefinition>(std::move(definition));
  registry.Register(
      kind,
      [&store, def](const winnow::v1::ComputeScoresRequest& request)
          -> absl::StatusOr<JobSpec> {
        absl::StatusOr<std::vector<std::string>> names =
            def->check(store, request);
        if (!names.ok()) return names.status();
        std::set<std::string> distinct;
        JobSpec spec;
        for (const std::string& name : *names) {
          if (!distinct.insert(name).second) {
            return absl::InvalidArgumentError(
                absl::StrCat("scorer: the score '", name,
                             "' is named for two outputs; give them "
                             "different names"));
          }
          spec.columns.emplace_back(request.collection(), name);
        }
        spec.run = [&store, def, request, names = *names](
                       JobContext& job, winnow::v1::Operation* op) {
          absl::StatusOr<winnow::v1::ComputeScoresResult> r =
              def->run(store, request, job);
          if (!r.ok()) return r.status();
          if (r->score_names().empty()) {
            for (const std::string& name : names) r->add_score_names(name);
          }
          *op->mutable_compute_scores_result() = *std::move(r);
          return absl::OkStatus();
        };
        return spec;
      });
}

absl::StatusOr<std::string> ScoreNameOr(const std::string& name,
                                        std::string_view fallback,
                                        std::string_view field) {
  std::string chosen = name.empty() ? std::string(fallback) : name;
  if (absl::Status s = storage::ValidateColumnName(chosen, field); !s.ok()) {
    return s;
  }
  return chosen;
}

absl::StatusOr<EmbeddingJobInput> ReadEmbeddingJobInput(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request) {
  absl::StatusOr<storage::EmbeddingsSnapshot> snap =
      store.ReadEmbeddings(request.collection());
  if (!snap.ok()) return snap.status();
  absl::StatusOr<Bitmap> scored = Matching(snap->columns, request);
  if (!scored.ok()) return scored.status();
  EmbeddingJobInput input;
  input.matrix = std::move(snap->matrix);
  input.scored = *std::move(scored);
  // Ordinals at or past the matrix's rows have no embedding yet.
  input.scored.Resize(input.matrix->num_rows);
  input.scored.And(input.matrix->present);
  input.ordinals = input.scored.ToOrdinals();
  return input;
}

absl::StatusOr<uint64_t> CountScoredDocuments(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  absl::StatusOr<Bitmap> matching = Matching(*snapshot, request);
  if (!matching.ok()) return matching.status();
  return matching->Count();
}

absl::StatusOr<int64_t> WriteJobScores(
    storage::Store& store, std::string_view collection,
    std::span<const uint32_t> ordinals,
    std::span<const JobScoreColumn> columns) {
  const std::vector<uint64_t> wide(ordinals.begin(), ordinals.end());
  std::vector<std::vector<uint32_t>> nulls(columns.size());
  storage::ScoreBatch batch;
  batch.ordinals = wide;
  for (size_t c = 0; c < columns.size(); ++c) {
    for (size_t i = 0; i < columns[c].values.size(); ++i) {
      if (std::isnan(columns[c].values[i])) {
        nulls[c].push_back(static_cast<uint32_t>(i));
      }
    }
    batch.scores.push_back(
        storage::ScoreColumn{columns[c].name, columns[c].values, nulls[c]});
  }
  // A document deleted since the job read it is skipped, not an error.
  batch.allow_missing = true;
  absl::StatusOr<storage::PutScoresResult> written =
      store.PutScores(collection, batch);
  if (!written.ok()) return written.status();
  return static_cast<int64_t>(written->num_documents);
}

}  // namespace winnow::server
