// Spherical k-means over embeddings (docs/algorithms.md, "k-means"): rows
// are taken at unit length, a centroid is the normalized mean of its
// members, and a row belongs to the centroid of greatest cosine similarity.
// The distance of a row to a centroid is 1 - cos.
//
// Determinism: the same rows, options and seed give the same centroids and
// assignments whatever `threads` is: every reduction (a centroid's sum, the
// objective) adds its terms in one fixed order that does not depend on how
// rows are split between threads.
//
// Ties: a row equally similar to two centroids goes to the lower index. A
// zero row (an embedding of all zeros) has cosine 0 with every centroid.
//
// Thread safety: pure functions over immutable inputs. They call `job`
// from their worker threads, one call at a time (under a lock of their
// own), so a JobContext need not be thread-safe.
#ifndef WINNOW_SELECTION_KMEANS_H_
#define WINNOW_SELECTION_KMEANS_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/embeddings.h"
#include "selection/job.h"

namespace winnow {

// The rows to cluster: either rows of a matrix, by ordinal, or dense
// float32 rows (matrix null). Not owned.
struct EmbeddingRows {
  const EmbeddingMatrix* matrix = nullptr;
  // Ascending ordinals of `matrix`, each with an embedding.
  std::span<const uint32_t> ordinals;
  // Without a matrix: size() * dim floats, row-major.
  std::span<const float> dense;
  uint32_t dense_dim = 0;

  uint32_t dim() const { return matrix != nullptr ? matrix->dim : dense_dim; }
  size_t size() const {
    return matrix != nullptr ? ordinals.size()
                             : (dense_dim == 0 ? 0 : dense.size() / dense_dim);
  }
};

enum class KMeansInit : uint8_t {
  // k-means++ seeding over the training rows, draws keyed by the seed.
  kPlusPlus = 1,
  // k distinct training rows drawn uniformly, keyed by the seed.
  kRandom = 2,
};

struct KMeansOptions {
  // Clusters, in [1, rows]. TrainKMeans answers INVALID_ARGUMENT otherwise.
  uint32_t k = 1;
  // Most iterations (assignment + update); at least 1.
  int max_iterations = 20;
  // Stop after an iteration in which no centroid moved by more than this
  // cosine distance; 0 runs all max_iterations.
  double tolerance = 0;
  uint64_t seed = 0;
  KMeansInit init = KMeansInit::kPlusPlus;
  // Rows to train on, drawn keyed by the seed; 0 (or >= rows) means all.
  uint64_t training_sample_count = 0;
  // Threads to use (OpenBLAS itself runs single-threaded); the result does
  // not depend on it.
  int threads = 2;
};

struct KMeansModel {
  uint32_t k = 0;
  uint32_t dim = 0;
  // k * dim floats, row-major, each unit length (a centroid that lost all
  // its members keeps its previous value).
  std::vector<float> centroids;
  // Iterations run.
  int iterations = 0;
  // objective[i]: the mean distance (1 - cos) of the training rows to their
  // centroid in iteration i's assignment; never increases from one
  // iteration to the next.
  std::vector<double> objective;
};

// Where each row belongs. Vectors are aligned with the rows.
struct KMeansAssignment {
  std::vector<uint32_t> cluster;
  // 1 - cos to the row's centroid.
  std::vector<float> distance;
  // Filled only when asked for: the second most similar centroid and the
  // distance to it (with k = 1, the same as cluster and distance).
  std::vector<uint32_t> second_cluster;
  std::vector<float> second_distance;
};

// Trains the centroids. `job` (may be null) gets the phase, progress in
// iterations, and is checked for cancellation at least once per block of
// rows: CANCELLED then. INVALID_ARGUMENT for k outside [1, rows],
// max_iterations < 1, a tolerance that is negative or not finite, or a
// training_sample_count in [1, k).
absl::StatusOr<KMeansModel> TrainKMeans(const EmbeddingRows& rows,
                                        const KMeansOptions& options,
                                        JobContext* job);

// Assigns every row to its nearest centroid of `model` (and to its second
// nearest if `second`). CANCELLED if `job` is cancelled.
absl::StatusOr<KMeansAssignment> AssignClusters(const EmbeddingRows& rows,
                                                const KMeansModel& model,
                                                bool second, int threads,
                                                JobContext* job);

}  // namespace winnow

#endif  // WINNOW_SELECTION_KMEANS_H_
