#include "client/winnowctl/compute.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "client/winnowctl/commands.h"
#include "client/winnowctl/npy.h"

namespace winnow::ctl {
namespace {

const std::vector<std::string>& KMeansFlags() {
  static const auto* flags = new std::vector<std::string>{
      "--clusters",  "--iterations",      "--seed",
      "--tolerance", "--training-sample", "--init"};
  return *flags;
}

// The scorer flags given, by name.
std::vector<std::string> GivenFlags(const ComputeArgs& a) {
  const std::pair<bool, const char*> flags[] = {
      {a.kmeans.clusters.has_value(), "--clusters"},
      {a.kmeans.iterations.has_value(), "--iterations"},
      {a.kmeans.seed.has_value(), "--seed"},
      {a.kmeans.tolerance.has_value(), "--tolerance"},
      {a.kmeans.training_sample.has_value(), "--training-sample"},
      {!a.kmeans.init.empty(), "--init"},
      {!a.cluster_score.empty(), "--cluster-score"},
      {!a.distance_score.empty(), "--distance-score"},
      {a.epsilon.has_value(), "--epsilon"},
      {a.keep_ratio.has_value(), "--keep-ratio"},
      {!a.duplicate_score.empty(), "--duplicate-score"},
      {a.dedup_keep_ratio.has_value(), "--dedup-keep-ratio"},
      {a.total_keep_ratio.has_value(), "--total-keep-ratio"},
      {!a.pruning.empty(), "--pruning"},
      {!a.pruned_score.empty(), "--pruned-score"},
      {!a.target_ids.empty(), "--target-id"},
      {!a.target_ids_file.empty(), "--target-ids-file"},
      {!a.target_vectors.empty(), "--target-vectors"},
      {a.centroids.has_value(), "--centroids"},
      {!a.similarity_score.empty(), "--score"},
  };
  std::vector<std::string> given;
  for (const auto& [set, name] : flags) {
    if (set) given.push_back(name);
  }
  return given;
}

// The flags each kind takes.
std::vector<std::string> KindFlags(const std::string& kind) {
  std::vector<std::string> k = KMeansFlags();
  if (kind == "exact-dedup") return {"--duplicate-score"};
  if (kind == "kmeans") {
    k.insert(k.end(), {"--cluster-score", "--distance-score"});
  } else if (kind == "semdedup") {
    k.insert(k.end(), {"--cluster-score", "--distance-score", "--epsilon",
                       "--keep-ratio", "--duplicate-score"});
  } else if (kind == "d4") {
    k.insert(k.end(), {"--dedup-keep-ratio", "--total-keep-ratio", "--pruning",
                       "--pruned-score"});
  } else {  // target-similarity
    k = {"--target-id",      "--target-ids-file",
         "--target-vectors", "--centroids",
         "--seed",           "--score"};
  }
  return k;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Fills `*k` from the k-means flags; `who` names the command for errors.
absl::Status FillKMeans(const ComputeArgs& args, const std::string& who,
                        v1::KMeansScorer* k) {
  const KMeansArgs& a = args.kmeans;
  if (!a.clusters) {
    return UsageError(absl::StrCat(who, " needs --clusters"));
  }
  k->set_cluster_count(*a.clusters);
  if (a.iterations) k->set_max_iterations(*a.iterations);
  if (a.seed) k->set_seed(*a.seed);
  if (a.tolerance) k->set_tolerance(*a.tolerance);
  if (a.training_sample) k->set_training_sample_count(*a.training_sample);
  if (a.init == "kmeans++") {
    k->set_init(v1::CENTROID_INIT_KMEANS_PLUS_PLUS);
  } else if (a.init == "random") {
    k->set_init(v1::CENTROID_INIT_RANDOM);
  } else if (!a.init.empty()) {
    return UsageError(
        absl::StrCat("--init must be kmeans++ or random, not '", a.init, "'"));
  }
  k->set_cluster_score(args.cluster_score);
  k->set_distance_score(args.distance_score);
  return absl::OkStatus();
}

// Whether a k-means flag other than the score names was given: semdedup
// and d4 then cluster first.
bool ClustersFirst(const ComputeArgs& args) {
  const std::vector<std::string> given = GivenFlags(args);
  for (const std::string& flag : KMeansFlags()) {
    if (Contains(given, flag)) return true;
  }
  return false;
}

absl::Status FillSemDedup(const ComputeArgs& args, v1::SemDedupScorer* s) {
  if (args.epsilon && args.keep_ratio) {
    return UsageError("--epsilon and --keep-ratio exclude each other");
  }
  if (args.epsilon) s->set_epsilon(*args.epsilon);
  if (args.keep_ratio) s->set_target_keep_ratio(*args.keep_ratio);
  if (ClustersFirst(args)) {
    absl::Status k =
        FillKMeans(args, "clustering first (a k-means flag was given)",
                   s->mutable_kmeans());
    if (!k.ok()) return k;
  }
  s->set_cluster_score(args.cluster_score);
  s->set_distance_score(args.distance_score);
  s->set_duplicate_score(args.duplicate_score);
  return absl::OkStatus();
}

absl::Status FillD4(const ComputeArgs& args, v1::D4Scorer* d) {
  if (args.dedup_keep_ratio) d->set_dedup_keep_ratio(*args.dedup_keep_ratio);
  if (args.total_keep_ratio) d->set_total_keep_ratio(*args.total_keep_ratio);
  if (args.pruning == "per-cluster") {
    d->set_pruning(v1::PROTOTYPE_PRUNING_PER_CLUSTER);
  } else if (args.pruning == "global") {
    d->set_pruning(v1::PROTOTYPE_PRUNING_GLOBAL);
  } else if (!args.pruning.empty()) {
    return UsageError(absl::StrCat(
        "--pruning must be per-cluster or global, not '", args.pruning, "'"));
  }
  if (ClustersFirst(args)) {
    absl::Status k =
        FillKMeans(args, "clustering with k-means flags", d->mutable_kmeans());
    if (!k.ok()) return k;
  }
  d->set_pruned_score(args.pruned_score);
  return absl::OkStatus();
}

absl::Status ReadIdsFile(const std::string& path,
                         v1::TargetSimilarityScorer* t) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view id = absl::StripAsciiWhitespace(line);
    if (!id.empty()) t->add_target_ids(std::string(id));
  }
  if (in.bad())
    return absl::DataLossError(absl::StrCat("error reading ", path));
  return absl::OkStatus();
}

absl::Status FillTarget(const ComputeArgs& args,
                        v1::TargetSimilarityScorer* t) {
  for (const std::string& id : args.target_ids) t->add_target_ids(id);
  if (!args.target_ids_file.empty()) {
    if (absl::Status s = ReadIdsFile(args.target_ids_file, t); !s.ok())
      return s;
  }
  if (!args.target_vectors.empty()) {
    NpyHeader header;
    absl::StatusOr<std::vector<float>> vectors =
        ReadNpyFile(args.target_vectors, &header);
    if (!vectors.ok()) return vectors.status();
    t->mutable_target_vectors()->Add(vectors->begin(), vectors->end());
  }
  if (t->target_ids_size() == 0 && t->target_vectors_size() == 0) {
    return UsageError(
        "target-similarity needs a target: --target-id, --target-ids-file or "
        "--target-vectors");
  }
  if (args.centroids) t->set_centroid_count(*args.centroids);
  if (args.kmeans.seed) t->set_seed(*args.kmeans.seed);
  t->set_similarity_score(args.similarity_score);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ComputeScoresRequest> BuildComputeRequest(
    const ComputeArgs& args) {
  static const char* const kKinds[] = {"exact-dedup", "kmeans", "semdedup",
                                       "d4", "target-similarity"};
  if (std::find(std::begin(kKinds), std::end(kKinds), args.kind) ==
      std::end(kKinds)) {
    return UsageError(absl::StrCat(
        "compute: the scorer must be exact-dedup, kmeans, semdedup, d4 or "
        "target-similarity, not '",
        args.kind, "'"));
  }
  const std::vector<std::string> allowed = KindFlags(args.kind);
  for (const std::string& flag : GivenFlags(args)) {
    if (!Contains(allowed, flag)) {
      return UsageError(absl::StrCat(flag, " does not apply to compute ",
                                     args.kind, " (it takes ",
                                     absl::StrJoin(allowed, ", "), ")"));
    }
  }
  v1::ComputeScoresRequest request;
  request.set_collection(args.collection);
  request.set_filter(args.filter);
  request.set_request_id(args.request_id);
  v1::Scorer* scorer = request.mutable_scorer();
  absl::Status status;
  if (args.kind == "exact-dedup") {
    scorer->mutable_exact_dedup()->set_duplicate_score(args.duplicate_score);
  } else if (args.kind == "kmeans") {
    status = FillKMeans(args, "compute kmeans", scorer->mutable_kmeans());
  } else if (args.kind == "semdedup") {
    status = FillSemDedup(args, scorer->mutable_semdedup());
  } else if (args.kind == "d4") {
    status = FillD4(args, scorer->mutable_d4());
  } else {
    status = FillTarget(args, scorer->mutable_target_similarity());
  }
  if (!status.ok()) return status;
  return request;
}

absl::Status RunCompute(const Client& client, const ComputeArgs& args,
                        const WaitOptions& options, std::ostream& out) {
  absl::StatusOr<v1::ComputeScoresRequest> request = BuildComputeRequest(args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::ComputeScoresResponse> response =
      client.ComputeScores(*request);
  if (!response.ok()) return response.status();
  return FollowOperation(client, response->operation(), options, out);
}

}  // namespace winnow::ctl
