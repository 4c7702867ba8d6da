// RunD4 (selection/semdedup.h) on its own object file: it is the engine's
// one user of k-means training.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "selection/semdedup.h"

namespace winnow {

absl::StatusOr<D4Output> RunD4(const EmbeddingRows& rows,
                               const D4Options& options, JobContext* job) {
  if (!(options.dedup_keep_ratio > 0 && options.dedup_keep_ratio <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("D4: dedup_keep_ratio ",
                                                   options.dedup_keep_ratio,
                                                   " is outside (0, 1]"));
  }
  if (!(options.total_keep_ratio > 0 &&
        options.total_keep_ratio <= options.dedup_keep_ratio)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "D4: total_keep_ratio ", options.total_keep_ratio,
        " is outside (0, dedup_keep_ratio = ", options.dedup_keep_ratio, "]"));
  }
  const size_t n = rows.size();
  D4Output out;
  out.pruned.assign(n, 0);
  if (n == 0) {
    out.epsilon = kMaxSemDedupEpsilon;
    return out;
  }
  KMeansOptions kmeans = options.kmeans;
  kmeans.threads = options.threads;

  // 1. SemDeDup to dedup_keep_ratio.
  if (job != nullptr) job->SetPhase("clustering");
  absl::StatusOr<KMeansModel> model = TrainKMeans(rows, kmeans, job);
  if (!model.ok()) return model.status();
  absl::StatusOr<KMeansAssignment> assigned =
      AssignClusters(rows, *model, false, options.threads, job);
  if (!assigned.ok()) return assigned.status();
  if (job != nullptr) job->SetPhase("finding near-duplicates");
  absl::StatusOr<std::vector<float>> m =
      SemDedupMaxSimilarity(rows,
                            {.cluster = assigned->cluster,
                             .distance = assigned->distance,
                             .second_cluster = {}},
                            options.threads, job);
  if (!m.ok()) return m.status();
  out.epsilon = EpsilonForKeepRatio(*m, options.dedup_keep_ratio);
  std::vector<uint32_t> kept_index;
  for (size_t i = 0; i < n; ++i) {
    if (IsSemDuplicate((*m)[i], out.epsilon)) {
      out.pruned[i] = 1;
      ++out.duplicate_count;
    } else {
      kept_index.push_back(static_cast<uint32_t>(i));
    }
  }

  // 2. Cluster the kept rows again.
  if (job != nullptr) job->SetPhase("clustering the kept documents");
  EmbeddingRows kept_rows;
  std::vector<uint32_t> kept_ordinals;
  std::vector<float> kept_dense;
  if (rows.matrix != nullptr) {
    kept_ordinals.reserve(kept_index.size());
    for (const uint32_t i : kept_index) {
      kept_ordinals.push_back(rows.ordinals[i]);
    }
    kept_rows.matrix = rows.matrix;
    kept_rows.ordinals = kept_ordinals;
  } else {
    const size_t dim = rows.dim();
    kept_dense.reserve(kept_index.size() * dim);
    for (const uint32_t i : kept_index) {
      kept_dense.insert(kept_dense.end(), rows.dense.begin() + i * dim,
                        rows.dense.begin() + (i + 1) * dim);
    }
    kept_rows.dense = kept_dense;
    kept_rows.dense_dim = rows.dense_dim;
  }
  const uint64_t total_keep = KeepCount(options.total_keep_ratio, n);
  if (!kept_index.empty()) {
    kmeans.k =
        std::min<uint32_t>(kmeans.k, static_cast<uint32_t>(kept_index.size()));
    kmeans.training_sample_count =
        std::min<uint64_t>(kmeans.training_sample_count, kept_index.size());
    absl::StatusOr<KMeansModel> model2 = TrainKMeans(kept_rows, kmeans, job);
    if (!model2.ok()) return model2.status();
    absl::StatusOr<KMeansAssignment> assigned2 =
        AssignClusters(kept_rows, *model2, false, options.threads, job);
    if (!assigned2.ok()) return assigned2.status();

    // 3. Prototype pruning of the kept rows.
    if (job != nullptr) job->SetPhase("pruning prototypes");
    const std::vector<bool> all(kept_index.size(), true);
    const std::vector<bool> keep =
        PrototypeKeep(assigned2->cluster, assigned2->distance, all, total_keep,
                      options.per_cluster);
    for (size_t i = 0; i < kept_index.size(); ++i) {
      if (!keep[i]) out.pruned[kept_index[i]] = 1;
    }
  }
  for (const uint8_t p : out.pruned) out.pruned_count += p;
  if (job != nullptr && job->Cancelled()) {
    return absl::CancelledError("cancelled");
  }
  return out;
}

}  // namespace winnow
