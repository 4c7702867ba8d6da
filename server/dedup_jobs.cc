#include "server/dedup_jobs.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "selection/semdedup.h"
#include "server/kmeans_job.h"
#include "server/scorer_jobs.h"

namespace winnow::server {
namespace {

using winnow::v1::ComputeScoresRequest;
using winnow::v1::ComputeScoresResult;

constexpr double kDefaultEpsilon = 0.05;
constexpr double kDefaultDedupKeepRatio = 0.75;

// Reports the stages of a job as one progress from 0 to 100 percent: the
// engine calls of a stage report their own totals, which map onto the
// stage's share. Cancellation passes through.
class StagedProgress : public JobContext {
 public:
  explicit StagedProgress(JobContext& job) : job_(job) {
    job_.SetTotal(100, "percent");
  }

  // The next calls cover [from, to) percent.
  void Stage(std::string phase, int from, int to) {
    job_.SetPhase(std::move(phase));
    job_.SetDone(from);
    from_ = from;
    to_ = to;
    total_ = 0;
  }
  void Finish() { job_.SetDone(100); }

  void SetPhase(std::string) override {}
  void SetTotal(int64_t items_total, std::string) override {
    total_ = items_total;
  }
  void SetDone(int64_t items_done) override {
    if (total_ <= 0) return;
    const double f = std::min(1.0, static_cast<double>(items_done) / total_);
    job_.SetDone(from_ + static_cast<int64_t>(f * (to_ - from_)));
  }
  bool Cancelled() const override { return job_.Cancelled(); }

 private:
  JobContext& job_;
  int64_t from_ = 0;
  int64_t to_ = 0;
  int64_t total_ = 0;
};

absl::Status RatioIn(double ratio, double high, const std::string& field,
                     const std::string& range) {
  if (ratio > 0 && ratio <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", ratio, " is outside ", range));
}

// The D4 ratios after defaults, checked.
absl::StatusOr<std::pair<double, double>> D4Ratios(
    const winnow::v1::D4Scorer& d4) {
  const double dedup = d4.dedup_keep_ratio() == 0 ? kDefaultDedupKeepRatio
                                                  : d4.dedup_keep_ratio();
  if (absl::Status s =
          RatioIn(dedup, 1.0, "scorer.d4.dedup_keep_ratio", "(0, 1]");
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          RatioIn(d4.total_keep_ratio(), dedup, "scorer.d4.total_keep_ratio",
                  absl::StrCat("(0, dedup_keep_ratio] = (0, ", dedup, "]"));
      !s.ok()) {
    return s;
  }
  return std::make_pair(dedup, d4.total_keep_ratio());
}

// The k-means options of a scorer's `kmeans` for `documents` documents;
// cluster_count 0 means round(sqrt(documents)) when `sqrt_default`.
absl::StatusOr<KMeansOptions> KMeans(winnow::v1::KMeansScorer kmeans,
                                     uint64_t documents, bool sqrt_default,
                                     const std::string& field) {
  if (sqrt_default && kmeans.cluster_count() == 0) {
    kmeans.set_cluster_count(static_cast<int32_t>(
        std::max(1.0, std::round(std::sqrt(static_cast<double>(documents))))));
  }
  // Neither scorer writes the clusters (see dedup_jobs.h).
  if (!kmeans.cluster_score().empty() || !kmeans.distance_score().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ".cluster_score/distance_score: this scorer does not write "
        "the clusters; run kmeans to keep them"));
  }
  return KMeansOptionsFromProto(kmeans, documents, field);
}

absl::StatusOr<std::string> DuplicateScore(
    const winnow::v1::SemDedupScorer& s) {
  return ScoreNameOr(s.duplicate_score(), "semdedup_dup",
                     "scorer.semdedup.duplicate_score");
}

struct ClusterColumns {
  std::string cluster;
  std::string distance;
};

absl::StatusOr<ClusterColumns> ClusterColumnNames(
    const winnow::v1::SemDedupScorer& s) {
  absl::StatusOr<std::string> cluster = ScoreNameOr(
      s.cluster_score(), "cluster", "scorer.semdedup.cluster_score");
  if (!cluster.ok()) return cluster.status();
  absl::StatusOr<std::string> distance =
      ScoreNameOr(s.distance_score(), "centroid_distance",
                  "scorer.semdedup.distance_score");
  if (!distance.ok()) return distance.status();
  return ClusterColumns{*cluster, *distance};
}

// FAILED_PRECONDITION unless both columns exist in `columns`.
absl::Status HasClusterColumns(const ColumnSet& columns,
                               const ClusterColumns& names) {
  for (const auto& [name, field] :
       {std::pair{names.cluster, "scorer.semdedup.cluster_score"},
        std::pair{names.distance, "scorer.semdedup.distance_score"}}) {
    if (!columns.scores.contains(name)) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": the collection has no score '", name,
                       "'; run kmeans first, or set scorer.semdedup.kmeans"));
    }
  }
  return absl::OkStatus();
}

// FAILED_PRECONDITION for a collection without embeddings, at ComputeScores
// time (the job checks again when it reads them).
absl::Status HasEmbeddings(const storage::Store& store,
                           const ComputeScoresRequest& request) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  if (snapshot->embedding_dimension() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("collection '", request.collection(),
                     "' has no embeddings (embedding_dimension 0)"));
  }
  return absl::OkStatus();
}

// The job's input, as the first 5% of its progress.
absl::StatusOr<EmbeddingJobInput> ReadInput(const storage::Store& store,
                                            const ComputeScoresRequest& request,
                                            StagedProgress& progress) {
  progress.Stage("reading embeddings", 0, 5);
  return ReadEmbeddingJobInput(store, request);
}

// Rows of `input` as the engine reads them.
EmbeddingRows Rows(const EmbeddingJobInput& input) {
  EmbeddingRows rows;
  rows.matrix = input.matrix.get();
  rows.ordinals = input.ordinals;
  return rows;
}

// The existing clusters of the input's documents: those with a valid
// cluster and distance go into `usable` (indexes into input.ordinals) with
// their values.
struct StoredClusters {
  std::vector<uint32_t> usable;
  std::vector<uint32_t> cluster;
  std::vector<float> distance;
};

absl::StatusOr<StoredClusters> ReadStoredClusters(
    const storage::Store& store, const ComputeScoresRequest& request,
    const EmbeddingJobInput& input) {
  absl::StatusOr<ClusterColumns> names =
      ClusterColumnNames(request.scorer().semdedup());
  if (!names.ok()) return names.status();
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  const ColumnSet& columns = snapshot->columns();
  if (absl::Status s = HasClusterColumns(columns, *names); !s.ok()) return s;
  const std::span<const float> cluster =
      columns.scores.find(names->cluster)->second;
  const std::span<const float> distance =
      columns.scores.find(names->distance)->second;
  StoredClusters out;
  for (size_t i = 0; i < input.ordinals.size(); ++i) {
    const uint32_t o = input.ordinals[i];
    if (o >= cluster.size() || o >= distance.size()) continue;
    const float c = cluster[o];
    const float d = distance[o];
    if (!(c >= 0) || c != std::floor(c) ||
        c > static_cast<float>(std::numeric_limits<int32_t>::max()) ||
        std::isnan(d)) {
      continue;
    }
    out.usable.push_back(static_cast<uint32_t>(i));
    out.cluster.push_back(static_cast<uint32_t>(c));
    out.distance.push_back(d);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> CheckSemDedup(
    const storage::Store& store, const ComputeScoresRequest& request) {
  const winnow::v1::SemDedupScorer& s = request.scorer().semdedup();
  if (s.has_epsilon() && !(s.epsilon() > 0 && s.epsilon() < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scorer.semdedup.epsilon: ", s.epsilon(), " is outside (0, 1)"));
  }
  if (s.has_target_keep_ratio()) {
    if (absl::Status st =
            RatioIn(s.target_keep_ratio(), 1.0,
                    "scorer.semdedup.target_keep_ratio", "(0, 1]");
        !st.ok()) {
      return st;
    }
  }
  if (s.compare_second_cluster() && !s.has_kmeans()) {
    return absl::InvalidArgumentError(
        "scorer.semdedup.compare_second_cluster: requires "
        "scorer.semdedup.kmeans (the centroids are not stored)");
  }
  absl::StatusOr<std::string> score = DuplicateScore(s);
  if (!score.ok()) return score.status();
  if (absl::Status st = HasEmbeddings(store, request); !st.ok()) return st;
  if (s.has_kmeans()) {
    absl::StatusOr<uint64_t> documents = CountScoredDocuments(store, request);
    if (!documents.ok()) return documents.status();
    absl::StatusOr<KMeansOptions> options =
        KMeans(s.kmeans(), *documents, false, "scorer.semdedup.kmeans");
    if (!options.ok()) return options.status();
  } else {
    absl::StatusOr<ClusterColumns> names = ClusterColumnNames(s);
    if (!names.ok()) return names.status();
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        store.ReadColumns(request.collection());
    if (!snapshot.ok()) return snapshot.status();
    if (absl::Status st = HasClusterColumns(snapshot->columns(), *names);
        !st.ok()) {
      return st;
    }
  }
  return std::vector<std::string>{*score};
}

// The documents SemDeDup compares (indexes into the input's ordinals, and
// those ordinals) and their clusters: from a k-means run first when the
// scorer has `kmeans`, else from the stored cluster and distance columns.
struct Clustered {
  std::vector<uint32_t> usable;
  std::vector<uint32_t> usable_ordinals;
  KMeansAssignment assignment;
};

absl::StatusOr<Clustered> ClusterForSemDedup(
    storage::Store& store, const ComputeScoresRequest& request,
    const EmbeddingJobInput& input, const EmbeddingRows& all,
    StagedProgress& progress) {
  const winnow::v1::SemDedupScorer& s = request.scorer().semdedup();
  constexpr int kThreads = 2;
  Clustered out;
  if (s.has_kmeans()) {
    absl::StatusOr<KMeansOptions> options = KMeans(
        s.kmeans(), input.ordinals.size(), false, "scorer.semdedup.kmeans");
    if (!options.ok()) return options.status();
    options->threads = kThreads;
    progress.Stage("clustering", 5, 55);
    absl::StatusOr<KMeansModel> model = TrainKMeans(all, *options, &progress);
    if (!model.ok()) return model.status();
    progress.Stage("assigning clusters", 55, 65);
    absl::StatusOr<KMeansAssignment> a = AssignClusters(
        all, *model, s.compare_second_cluster(), kThreads, &progress);
    if (!a.ok()) return a.status();
    out.assignment = *std::move(a);
    out.usable.resize(input.ordinals.size());
    std::iota(out.usable.begin(), out.usable.end(), uint32_t{0});
    out.usable_ordinals = input.ordinals;
    return out;
  }
  absl::StatusOr<StoredClusters> stored =
      ReadStoredClusters(store, request, input);
  if (!stored.ok()) return stored.status();
  out.usable = std::move(stored->usable);
  out.assignment.cluster = std::move(stored->cluster);
  out.assignment.distance = std::move(stored->distance);
  for (const uint32_t i : out.usable) {
    out.usable_ordinals.push_back(input.ordinals[i]);
  }
  return out;
}

absl::StatusOr<ComputeScoresResult> RunSemDedupJob(
    storage::Store& store, const ComputeScoresRequest& request,
    JobContext& job) {
  const winnow::v1::SemDedupScorer& s = request.scorer().semdedup();
  absl::StatusOr<std::string> score = DuplicateScore(s);
  if (!score.ok()) return score.status();
  StagedProgress progress(job);
  absl::StatusOr<EmbeddingJobInput> input = ReadInput(store, request, progress);
  if (!input.ok()) return input.status();
  const EmbeddingRows all = Rows(*input);
  constexpr int kThreads = 2;

  absl::StatusOr<Clustered> clustered =
      ClusterForSemDedup(store, request, *input, all, progress);
  if (!clustered.ok()) return clustered.status();
  const std::vector<uint32_t>& usable = clustered->usable;
  const KMeansAssignment& assignment = clustered->assignment;

  progress.Stage("finding near-duplicates", 65, 99);
  EmbeddingRows rows = all;
  rows.ordinals = clustered->usable_ordinals;
  SemDedupAssignment sa{.cluster = assignment.cluster,
                        .distance = assignment.distance,
                        .second_cluster = {}};
  if (s.compare_second_cluster()) sa.second_cluster = assignment.second_cluster;
  absl::StatusOr<std::vector<float>> m =
      SemDedupMaxSimilarity(rows, sa, kThreads, &progress);
  if (!m.ok()) return m.status();
  const double epsilon =
      s.has_target_keep_ratio()
          ? EpsilonForKeepRatio(*m, s.target_keep_ratio())
          : (s.has_epsilon() ? s.epsilon() : kDefaultEpsilon);

  progress.Stage("writing scores", 99, 100);
  std::vector<JobScoreColumn> columns(1);
  columns[0].name = *score;
  columns[0].values.assign(input->ordinals.size(),
                           std::numeric_limits<float>::quiet_NaN());
  int64_t duplicates = 0;
  for (size_t j = 0; j < usable.size(); ++j) {
    const bool dup = IsSemDuplicate((*m)[j], epsilon);
    columns[0].values[usable[j]] = dup ? 1.0f : 0.0f;
    duplicates += dup;
  }
  if (job.Cancelled()) return absl::CancelledError("cancelled");
  absl::StatusOr<int64_t> written =
      WriteJobScores(store, request.collection(), input->ordinals, columns);
  if (!written.ok()) return written.status();
  progress.Finish();

  ComputeScoresResult result;
  result.add_score_names(*score);
  result.set_document_count(static_cast<int64_t>(usable.size()));
  winnow::v1::SemDedupResult* r = result.mutable_semdedup();
  r->set_epsilon(epsilon);
  r->set_duplicate_count(duplicates);
  r->set_keep_ratio(usable.empty() ? 1.0
                                   : 1.0 - static_cast<double>(duplicates) /
                                               usable.size());
  return result;
}

absl::StatusOr<std::vector<std::string>> CheckD4(
    const storage::Store& store, const ComputeScoresRequest& request) {
  const winnow::v1::D4Scorer& d4 = request.scorer().d4();
  if (absl::StatusOr<std::pair<double, double>> r = D4Ratios(d4); !r.ok()) {
    return r.status();
  }
  absl::StatusOr<std::string> score =
      ScoreNameOr(d4.pruned_score(), "d4_pruned", "scorer.d4.pruned_score");
  if (!score.ok()) return score.status();
  if (absl::Status st = HasEmbeddings(store, request); !st.ok()) return st;
  absl::StatusOr<uint64_t> documents = CountScoredDocuments(store, request);
  if (!documents.ok()) return documents.status();
  absl::StatusOr<KMeansOptions> options =
      KMeans(d4.kmeans(), *documents, true, "scorer.d4.kmeans");
  if (!options.ok()) return options.status();
  return std::vector<std::string>{*score};
}

absl::StatusOr<ComputeScoresResult> RunD4Job(
    storage::Store& store, const ComputeScoresRequest& request,
    JobContext& job) {
  const winnow::v1::D4Scorer& d4 = request.scorer().d4();
  absl::StatusOr<std::pair<double, double>> ratios = D4Ratios(d4);
  if (!ratios.ok()) return ratios.status();
  absl::StatusOr<std::string> score =
      ScoreNameOr(d4.pruned_score(), "d4_pruned", "scorer.d4.pruned_score");
  if (!score.ok()) return score.status();
  StagedProgress progress(job);
  absl::StatusOr<EmbeddingJobInput> input = ReadInput(store, request, progress);
  if (!input.ok()) return input.status();
  D4Options options;
  absl::StatusOr<KMeansOptions> kmeans =
      KMeans(d4.kmeans(), input->ordinals.size(), true, "scorer.d4.kmeans");
  if (!kmeans.ok()) return kmeans.status();
  options.kmeans = *kmeans;
  options.dedup_keep_ratio = ratios->first;
  options.total_keep_ratio = ratios->second;
  options.per_cluster = d4.pruning() != winnow::v1::PROTOTYPE_PRUNING_GLOBAL;
  options.threads = 2;
  progress.Stage("running D4", 5, 99);
  absl::StatusOr<D4Output> out = RunD4(Rows(*input), options, &progress);
  if (!out.ok()) return out.status();

  progress.Stage("writing scores", 99, 100);
  std::vector<JobScoreColumn> columns(1);
  columns[0].name = *score;
  columns[0].values.assign(out->pruned.begin(), out->pruned.end());
  if (job.Cancelled()) return absl::CancelledError("cancelled");
  absl::StatusOr<int64_t> written =
      WriteJobScores(store, request.collection(), input->ordinals, columns);
  if (!written.ok()) return written.status();
  progress.Finish();

  const size_t n = input->ordinals.size();
  ComputeScoresResult result;
  result.add_score_names(*score);
  result.set_document_count(static_cast<int64_t>(n));
  winnow::v1::D4Result* r = result.mutable_d4();
  r->set_epsilon(out->epsilon);
  r->set_pruned_count(out->pruned_count);
  r->set_keep_ratio(n == 0 ? 1.0
                           : 1.0 - static_cast<double>(out->pruned_count) / n);
  return result;
}

void RegisterDedupScorers(storage::Store& store, ScorerRegistry& registry) {
  RegisterScorer(store, registry, winnow::v1::Scorer::kSemdedup,
                 {.check = CheckSemDedup, .run = RunSemDedupJob});
  RegisterScorer(store, registry, winnow::v1::Scorer::kD4,
                 {.check = CheckD4, .run = RunD4Job});
}

}  // namespace winnow::server
