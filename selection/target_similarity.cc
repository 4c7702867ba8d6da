#include "selection/target_similarity.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace winnow {
namespace {

// The targets at unit length, zero vectors left out.
std::vector<float> UnitTargets(std::span<const float> targets, uint32_t dim) {
  std::vector<float> unit;
  unit.reserve(targets.size());
  for (size_t row = 0; row + dim <= targets.size(); row += dim) {
    double norm2 = 0;
    for (uint32_t j = 0; j < dim; ++j) {
      norm2 += double{targets[row + j]} * targets[row + j];
    }
    if (norm2 == 0) continue;
    const double inv = 1.0 / std::sqrt(norm2);
    for (uint32_t j = 0; j < dim; ++j) {
      unit.push_back(static_cast<float>(targets[row + j] * inv));
    }
  }
  return unit;
}

// The normalized mean of unit rows, or an empty vector if it is zero.
std::vector<float> NormalizedMean(std::span<const float> unit, uint32_t dim) {
  std::vector<double> sum(dim, 0.0);
  for (size_t row = 0; row < unit.size(); row += dim) {
    for (uint32_t j = 0; j < dim; ++j) sum[j] += unit[row + j];
  }
  double norm2 = 0;
  for (const double v : sum) norm2 += v * v;
  if (norm2 == 0) return {};
  const double inv = 1.0 / std::sqrt(norm2);
  std::vector<float> mean(dim);
  for (uint32_t j = 0; j < dim; ++j) mean[j] = static_cast<float>(sum[j] * inv);
  return mean;
}

}  // namespace

absl::StatusOr<std::vector<float>> TargetDirections(
    std::span<const float> targets, uint32_t dim, const TargetOptions& options,
    JobContext* job) {
  if (dim == 0) return absl::InvalidArgumentError("target: dimension 0");
  const std::vector<float> unit = UnitTargets(targets, dim);
  const size_t count = unit.size() / dim;
  if (count == 0) {
    return absl::InvalidArgumentError(
        "target: no target vector with a direction (every one is zero, or "
        "none was given)");
  }
  if (options.centroid_count > count) {
    return absl::InvalidArgumentError(
        absl::StrCat("centroid_count: ", options.centroid_count,
                     " centroids of only ", count, " non-zero target vectors"));
  }
  if (options.centroid_count <= 1) {
    std::vector<float> mean = NormalizedMean(unit, dim);
    if (mean.empty()) {
      return absl::InvalidArgumentError(
          "target: the target vectors cancel out (their mean is zero); use "
          "centroid_count > 1");
    }
    return mean;
  }
  EmbeddingRows rows;
  rows.dense = unit;
  rows.dense_dim = dim;
  KMeansOptions kmeans;
  kmeans.k = options.centroid_count;
  kmeans.seed = options.seed;
  kmeans.init = KMeansInit::kPlusPlus;
  kmeans.threads = options.threads;
  absl::StatusOr<KMeansModel> model = TrainKMeans(rows, kmeans, job);
  if (!model.ok()) return model.status();
  return std::move(model->centroids);
}

absl::StatusOr<std::vector<float>> TargetSimilarities(
    const EmbeddingRows& rows, std::span<const float> directions, int threads,
    JobContext* job) {
  const uint32_t dim = rows.dim();
  KMeansModel model;
  model.dim = dim;
  model.k = static_cast<uint32_t>(directions.size() / dim);
  model.centroids.assign(directions.begin(), directions.end());
  absl::StatusOr<KMeansAssignment> nearest =
      AssignClusters(rows, model, /*second=*/false, threads, job);
  if (!nearest.ok()) return nearest.status();
  // The distance is 1 - cos to the most similar direction.
  std::vector<float> similarity = std::move(nearest->distance);
  for (float& s : similarity) s = 1.0f - s;
  return similarity;
}

}  // namespace winnow
