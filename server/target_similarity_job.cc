#include "server/target_similarity_job.h"

#include <cmath>
#include <span>
#include <utility>

#include "absl/strings/str_cat.h"
#include "selection/nearest.h"
#include "selection/target_similarity.h"
#include "server/scorer_jobs.h"

namespace winnow::server {
namespace {

constexpr char kField[] = "scorer.target_similarity";
// Threads a job computes on (the operation thread and one more).
constexpr int kJobThreads = 2;

std::string ScoreName(const winnow::v1::TargetSimilarityScorer& scorer) {
  return scorer.similarity_score().empty() ? "target_similarity"
                                           : scorer.similarity_score();
}

// The ordinal of each target id: NOT_FOUND naming target_ids[i] for an id
// that is not a live document.
absl::StatusOr<std::vector<uint32_t>> TargetOrdinals(
    const storage::ColumnsSnapshot& snapshot,
    const winnow::v1::TargetSimilarityScorer& scorer) {
  std::vector<uint32_t> ordinals;
  ordinals.reserve(scorer.target_ids_size());
  for (int i = 0; i < scorer.target_ids_size(); ++i) {
    const std::string& id = scorer.target_ids(i);
    const std::optional<uint32_t> o = snapshot.FindId(id);
    if (!o.has_value() || !snapshot.columns().live->Get(*o)) {
      return absl::NotFoundError(absl::StrCat(
          kField, ".target_ids[", i, "]: document '", id, "' not found"));
    }
    ordinals.push_back(*o);
  }
  return ordinals;
}

absl::Status CheckVectors(const winnow::v1::TargetSimilarityScorer& scorer,
                          uint32_t dim) {
  if (scorer.target_vectors_size() % dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kField, ".target_vectors: ", scorer.target_vectors_size(),
        " floats is not a multiple of the collection's embedding dimension ",
        dim));
  }
  for (int i = 0; i < scorer.target_vectors_size(); ++i) {
    if (!std::isfinite(scorer.target_vectors(i))) {
      return absl::InvalidArgumentError(absl::StrCat(
          kField, ".target_vectors[", i, "]: not a finite number"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCentroidCount(
    const winnow::v1::TargetSimilarityScorer& scorer, int64_t targets) {
  if (targets == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        kField, ".target_ids, ", kField,
        ".target_vectors: give at least one target document or vector"));
  }
  const int32_t k = scorer.centroid_count();
  if (k < 0 || k > kMaxTargetCentroids || k > targets) {
    return absl::InvalidArgumentError(absl::StrCat(
        kField, ".centroid_count: ", k, " is outside [0, ",
        std::min<int64_t>(targets, kMaxTargetCentroids), "] (", targets,
        " targets, at most ", kMaxTargetCentroids, " centroids)"));
  }
  return absl::OkStatus();
}

// The target rows: those of the target documents, then the given vectors.
absl::StatusOr<std::vector<float>> GatherTargets(
    const EmbeddingMatrix& matrix, std::span<const uint32_t> ordinals,
    const winnow::v1::TargetSimilarityScorer& scorer) {
  const uint32_t dim = matrix.dim;
  std::vector<float> targets(ordinals.size() * dim);
  for (size_t i = 0; i < ordinals.size(); ++i) {
    const uint32_t o = ordinals[i];
    if (o >= matrix.num_rows || !matrix.present.Get(o)) {
      return absl::InvalidArgumentError(absl::StrCat(
          kField, ".target_ids[", i, "]: document '",
          scorer.target_ids(static_cast<int>(i)), "' has no embedding"));
    }
    RowAsFloat(matrix, o, std::span<float>(targets).subspan(i * dim, dim));
  }
  targets.insert(targets.end(), scorer.target_vectors().begin(),
                 scorer.target_vectors().end());
  return targets;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckTargetSimilarity(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request) {
  const winnow::v1::TargetSimilarityScorer& scorer =
      request.scorer().target_similarity();
  absl::StatusOr<std::string> name =
      ScoreNameOr(scorer.similarity_score(), "target_similarity",
                  absl::StrCat(kField, ".similarity_score"));
  if (!name.ok()) return name.status();
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  const uint32_t dim = snapshot->embedding_dimension();
  if (dim == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", request.collection(),
                     "' has no embeddings (embedding_dimension 0)"));
  }
  if (absl::Status s = CheckVectors(scorer, dim); !s.ok()) return s;
  absl::StatusOr<std::vector<uint32_t>> ordinals =
      TargetOrdinals(*snapshot, scorer);
  if (!ordinals.ok()) return ordinals.status();
  const int64_t targets =
      scorer.target_ids_size() + scorer.target_vectors_size() / dim;
  if (absl::Status s = CheckCentroidCount(scorer, targets); !s.ok()) return s;
  return std::vector<std::string>{*std::move(name)};
}

absl::StatusOr<winnow::v1::ComputeScoresResult> RunTargetSimilarity(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job) {
  const winnow::v1::TargetSimilarityScorer& scorer =
      request.scorer().target_similarity();
  job.SetPhase("reading embeddings");
  std::vector<uint32_t> target_ordinals;
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        store.ReadColumns(request.collection());
    if (!snapshot.ok()) return snapshot.status();
    absl::StatusOr<std::vector<uint32_t>> o = TargetOrdinals(*snapshot, scorer);
    if (!o.ok()) return o.status();
    target_ordinals = *std::move(o);
  }
  absl::StatusOr<EmbeddingJobInput> input =
      ReadEmbeddingJobInput(store, request);
  if (!input.ok()) return input.status();
  const EmbeddingMatrix& matrix = *input->matrix;
  absl::StatusOr<std::vector<float>> targets =
      GatherTargets(matrix, target_ordinals, scorer);
  if (!targets.ok()) return targets.status();

  job.SetPhase("finding the target directions");
  TargetOptions options;
  options.centroid_count = static_cast<uint32_t>(scorer.centroid_count());
  options.seed = scorer.seed();
  options.threads = kJobThreads;
  absl::StatusOr<std::vector<float>> directions =
      TargetDirections(*targets, matrix.dim, options, &job);
  if (!directions.ok()) return directions.status();

  job.SetPhase("scoring");
  job.SetTotal(static_cast<int64_t>(input->ordinals.size()), "documents");
  EmbeddingRows rows;
  rows.matrix = &matrix;
  rows.ordinals = input->ordinals;
  absl::StatusOr<std::vector<float>> similarity =
      TargetSimilarities(rows, *directions, kJobThreads, &job);
  if (!similarity.ok()) return similarity.status();
  if (job.Cancelled()) return absl::CancelledError("cancelled");

  job.SetPhase("writing scores");
  const JobScoreColumn column{ScoreName(scorer), *std::move(similarity)};
  absl::StatusOr<int64_t> written = WriteJobScores(
      store, request.collection(), input->ordinals, {&column, 1});
  if (!written.ok()) return written.status();
  job.SetDone(static_cast<int64_t>(input->ordinals.size()));

  winnow::v1::ComputeScoresResult result;
  result.add_score_names(column.name);
  result.set_document_count(*written);
  return result;
}

void RegisterTargetSimilarity(storage::Store& store, ScorerRegistry& registry) {
  RegisterScorer(store, registry, winnow::v1::Scorer::kTargetSimilarity,
                 {.check = CheckTargetSimilarity, .run = RunTargetSimilarity});
}

}  // namespace winnow::server
