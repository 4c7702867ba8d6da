#include "server/kmeans_job.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/scorer_jobs.h"

namespace winnow::server {
namespace {

// The threads a k-means job uses: the machine's two cores. The operation
// thread runs at the operations' nice level; the threads it starts inherit
// it.
constexpr int kKMeansThreads = 2;
// max_iterations 0 means this many.
constexpr int kDefaultIterations = 20;

struct KMeansNames {
  std::string cluster;
  std::string distance;
};

absl::StatusOr<KMeansNames> NamesOf(const winnow::v1::KMeansScorer& scorer) {
  absl::StatusOr<std::string> cluster = ScoreNameOr(
      scorer.cluster_score(), "cluster", "scorer.kmeans.cluster_score");
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::string> distance =
      ScoreNameOr(scorer.distance_score(), "centroid_distance",
                  "scorer.kmeans.distance_score");
  if (!distance.ok()) return distance.status();
  return KMeansNames{*std::move(cluster), *std::move(distance)};
}

absl::Status TooManyClusters(std::string_view field, int64_t k,
                             uint64_t documents) {
  // A std::string: Debian's absl::StrCat does not take std::string_view.
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(field), ".cluster_count: ", k, " clusters for ", documents,
      " documents with an embedding that match the filter; give at most ",
      documents));
}

// The check at ComputeScores time: parameters, names, embeddings, and k
// against the documents the job can score at most.
absl::StatusOr<std::vector<std::string>> CheckKMeans(
    const storage::Store& store,
    const winnow::v1::ComputeScoresRequest& request) {
  const winnow::v1::KMeansScorer& scorer = request.scorer().kmeans();
  absl::StatusOr<KMeansOptions> options =
      KMeansOptionsFromProto(scorer, 0, "scorer.kmeans");
  if (!options.ok()) return options.status();
  absl::StatusOr<KMeansNames> names = NamesOf(scorer);
  if (!names.ok()) return names.status();
  absl::StatusOr<storage::CollectionInfo> info =
      store.GetCollection(request.collection());
  if (!info.ok()) return info.status();
  if (info->embedding_dimension == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", request.collection(),
                     "' has no embeddings (embedding_dimension 0); the "
                     "kmeans scorer clusters embeddings"));
  }
  absl::StatusOr<uint64_t> matching = CountScoredDocuments(store, request);
  if (!matching.ok()) return matching.status();
  const uint64_t bound = std::min(*matching, info->num_embeddings);
  if (static_cast<uint64_t>(scorer.cluster_count()) > bound) {
    return TooManyClusters("scorer.kmeans", scorer.cluster_count(), bound);
  }
  return std::vector<std::string>{names->cluster, names->distance};
}

}  // namespace

absl::StatusOr<KMeansOptions> KMeansOptionsFromProto(
    const winnow::v1::KMeansScorer& scorer, uint64_t documents,
    std::string_view field_view) {
  const std::string field(field_view);
  if (scorer.cluster_count() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".cluster_count: must be at least 1, got ",
                     scorer.cluster_count()));
  }
  if (documents > 0 &&
      static_cast<uint64_t>(scorer.cluster_count()) > documents) {
    return TooManyClusters(field, scorer.cluster_count(), documents);
  }
  if (scorer.max_iterations() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".max_iterations: must be >= 0 (0 means ",
                     kDefaultIterations, "), got ", scorer.max_iterations()));
  }
  if (!std::isfinite(scorer.tolerance()) || scorer.tolerance() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".tolerance: must be a finite number >= 0, got ",
                     scorer.tolerance()));
  }
  if (scorer.training_sample_count() < 0 ||
      (scorer.training_sample_count() > 0 &&
       scorer.training_sample_count() < scorer.cluster_count())) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ".training_sample_count: must be 0 (all documents) or at least "
        "cluster_count (",
        scorer.cluster_count(), "), got ", scorer.training_sample_count()));
  }
  KMeansOptions options;
  options.k = static_cast<uint32_t>(scorer.cluster_count());
  options.max_iterations = scorer.max_iterations() == 0
                               ? kDefaultIterations
                               : scorer.max_iterations();
  options.tolerance = scorer.tolerance();
  options.seed = scorer.seed();
  options.init = scorer.init() == winnow::v1::CENTROID_INIT_RANDOM
                     ? KMeansInit::kRandom
                     : KMeansInit::kPlusPlus;
  options.training_sample_count =
      static_cast<uint64_t>(scorer.training_sample_count());
  options.threads = kKMeansThreads;
  return options;
}

absl::StatusOr<winnow::v1::ComputeScoresResult> RunKMeans(
    storage::Store& store, const winnow::v1::ComputeScoresRequest& request,
    JobContext& job) {
  const winnow::v1::KMeansScorer& scorer = request.scorer().kmeans();
  absl::StatusOr<KMeansNames> names = NamesOf(scorer);
  if (!names.ok()) return names.status();
  job.SetPhase("reading embeddings");
  absl::StatusOr<EmbeddingJobInput> input =
      ReadEmbeddingJobInput(store, request);
  if (!input.ok()) return input.status();
  // The documents may have changed since ComputeScores checked k.
  const uint64_t documents = input->ordinals.size();
  if (documents == 0)
    return TooManyClusters("scorer.kmeans", scorer.cluster_count(), 0);
  absl::StatusOr<KMeansOptions> options =
      KMeansOptionsFromProto(scorer, documents, "scorer.kmeans");
  if (!options.ok()) return options.status();

  EmbeddingRows rows;
  rows.matrix = input->matrix.get();
  rows.ordinals = input->ordinals;
  absl::StatusOr<KMeansModel> model = TrainKMeans(rows, *options, &job);
  if (!model.ok()) return model.status();
  absl::StatusOr<KMeansAssignment> assigned =
      AssignClusters(rows, *model, false, options->threads, &job);
  if (!assigned.ok()) return assigned.status();
  if (job.Cancelled()) return absl::CancelledError("cancelled");

  job.SetPhase("writing scores");
  std::vector<JobScoreColumn> columns(2);
  columns[0].name = names->cluster;
  columns[1].name = names->distance;
  columns[0].values.reserve(documents);
  std::vector<int64_t> sizes(model->k, 0);
  double total_distance = 0;
  for (size_t i = 0; i < documents; ++i) {
    const uint32_t c = assigned->cluster[i];
    columns[0].values.push_back(static_cast<float>(c));
    ++sizes[c];
    total_distance += assigned->distance[i];
  }
  columns[1].values = std::move(assigned->distance);
  absl::StatusOr<int64_t> written =
      WriteJobScores(store, request.collection(), input->ordinals, columns);
  if (!written.ok()) return written.status();

  winnow::v1::ComputeScoresResult result;
  result.add_score_names(names->cluster);
  result.add_score_names(names->distance);
  result.set_document_count(*written);
  winnow::v1::KMeansResult* details = result.mutable_kmeans();
  details->set_iteration_count(model->iterations);
  details->set_mean_distance(total_distance / static_cast<double>(documents));
  const auto [smallest, largest] =
      std::minmax_element(sizes.begin(), sizes.end());
  details->set_min_cluster_size(*smallest);
  details->set_max_cluster_size(*largest);
  return result;
}

void RegisterKMeans(storage::Store& store, ScorerRegistry& registry) {
  RegisterScorer(store, registry, winnow::v1::Scorer::kKmeans,
                 {.check = CheckKMeans, .run = RunKMeans});
}

}  // namespace winnow::server
