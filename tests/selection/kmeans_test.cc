#include "selection/kmeans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace winnow {
namespace {

// A JobContext that records what the job reports and can cancel after a
// number of Cancelled() calls.
class FakeJob : public JobContext {
 public:
  void SetPhase(std::string phase) override { phases.push_back(phase); }
  void SetTotal(int64_t total, std::string unit) override {
    this->total = total;
    this->unit = unit;
  }
  void SetDone(int64_t done) override { this->done = done; }
  bool Cancelled() const override { return ++polls > cancel_after; }

  std::vector<std::string> phases;
  int64_t total = 0;
  std::string unit;
  int64_t done = 0;
  int64_t cancel_after = INT64_MAX;
  mutable std::atomic<int64_t> polls{0};
};

// Float to the nearest-ish half and back (inputs stay well inside the half
// range; no subnormals).
uint16_t HalfOf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffff;
  if (x < 0x38800000) return static_cast<uint16_t>(sign);
  return static_cast<uint16_t>(sign | ((x + 0x1000 - 0x38000000) >> 13));
}
float HalfValue(uint16_t h) {
  const uint32_t exp = (h >> 10) & 0x1f;
  if (exp == 0) return 0.0f;
  return std::bit_cast<float>((uint32_t{h & 0x8000u} << 16) |
                              ((exp + 112) << 23) |
                              (uint32_t{h & 0x3ffu} << 13));
}

// A matrix of `n` rows of `dim` cells from `cells` (row-major); rows where
// `has` is false have no embedding. Norms in double, as storage computes
// them.
std::unique_ptr<EmbeddingMatrix> MakeMatrix(VectorType type, uint32_t dim,
                                            const std::vector<float>& cells,
                                            const std::vector<bool>& has) {
  auto m = std::make_unique<EmbeddingMatrix>();
  const uint32_t n = static_cast<uint32_t>(cells.size() / dim);
  m->type = type;
  m->dim = dim;
  m->num_rows = n;
  m->present = Bitmap(n);
  for (uint32_t first = 0; first < n; first += kEmbeddingBlockRows) {
    auto block = std::make_shared<EmbeddingBlock>();
    block->first_ordinal = first;
    block->rows = std::min(kEmbeddingBlockRows, n - first);
    block->norms.resize(block->rows);
    for (uint32_t r = 0; r < block->rows; ++r) {
      const uint32_t o = first + r;
      double norm2 = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        float v = has[o] ? cells[size_t{o} * dim + d] : 0.0f;
        if (type == VectorType::kFloat16) {
          block->f16.push_back(HalfOf(v));
          v = HalfValue(block->f16.back());
        } else {
          block->f32.push_back(v);
        }
        norm2 += double{v} * v;
      }
      block->norms[r] = static_cast<float>(std::sqrt(norm2));
      if (has[o]) m->present.Set(o);
    }
    m->blocks.push_back(std::move(block));
  }
  return m;
}

// `clusters` well-separated groups: a random unit direction each, members
// at that direction plus noise of `spread` per cell. truth[i] is row i's
// group.
std::vector<float> Planted(uint32_t n, uint32_t dim, uint32_t clusters,
                           float spread, uint32_t seed,
                           std::vector<uint32_t>* truth) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> centers(size_t{clusters} * dim);
  for (float& v : centers) v = gauss(rng);
  std::vector<float> cells(size_t{n} * dim);
  truth->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const uint32_t g = static_cast<uint32_t>(rng() % clusters);
    (*truth)[i] = g;
    for (uint32_t d = 0; d < dim; ++d) {
      cells[size_t{i} * dim + d] =
          centers[size_t{g} * dim + d] + spread * gauss(rng);
    }
  }
  return cells;
}

std::vector<float> Gaussian(uint32_t n, uint32_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> cells(size_t{n} * dim);
  for (float& v : cells) v = gauss(rng);
  return cells;
}

std::vector<uint32_t> AllOrdinals(const EmbeddingMatrix& m) {
  std::vector<uint32_t> out;
  for (uint32_t o = 0; o < m.num_rows; ++o) {
    if (m.present.Get(o)) out.push_back(o);
  }
  return out;
}

EmbeddingRows Rows(const EmbeddingMatrix& m,
                   const std::vector<uint32_t>& ordinals) {
  EmbeddingRows rows;
  rows.matrix = &m;
  rows.ordinals = ordinals;
  return rows;
}

EmbeddingRows Dense(const std::vector<float>& cells, uint32_t dim) {
  EmbeddingRows rows;
  rows.dense = cells;
  rows.dense_dim = dim;
  return rows;
}

// Row i of `rows` in double.
std::vector<double> RowOf(const EmbeddingRows& rows, size_t i) {
  const uint32_t dim = rows.dim();
  std::vector<double> out(dim);
  if (rows.matrix == nullptr) {
    for (uint32_t d = 0; d < dim; ++d) out[d] = rows.dense[i * dim + d];
    return out;
  }
  const uint32_t o = rows.ordinals[i];
  const EmbeddingBlock& b = *rows.matrix->blocks[o / kEmbeddingBlockRows];
  const size_t r = o - b.first_ordinal;
  for (uint32_t d = 0; d < dim; ++d) {
    out[d] = rows.matrix->type == VectorType::kFloat16
                 ? HalfValue(b.f16[r * dim + d])
                 : b.f32[r * dim + d];
  }
  return out;
}

// Cosine of a row and a centroid, in double (0 for a zero row).
double Cosine(const std::vector<double>& x, const float* c, uint32_t dim) {
  double dot = 0, xx = 0, cc = 0;
  for (uint32_t d = 0; d < dim; ++d) {
    dot += x[d] * c[d];
    xx += x[d] * x[d];
    cc += double{c[d]} * c[d];
  }
  return xx > 0 && cc > 0 ? dot / std::sqrt(xx * cc) : 0.0;
}

// Whether `got` equals `truth` up to a renaming of the labels.
bool SamePartition(const std::vector<uint32_t>& got,
                   const std::vector<uint32_t>& truth) {
  std::map<uint32_t, uint32_t> forward, backward;
  for (size_t i = 0; i < got.size(); ++i) {
    auto [f, fnew] = forward.emplace(got[i], truth[i]);
    auto [b, bnew] = backward.emplace(truth[i], got[i]);
    if (f->second != truth[i] || b->second != got[i]) return false;
  }
  return true;
}

KMeansOptions Options(uint32_t k, KMeansInit init, int threads) {
  KMeansOptions o;
  o.k = k;
  o.max_iterations = 8;
  o.seed = 42;
  o.init = init;
  o.threads = threads;
  return o;
}

TEST(KMeansTest, SameSeedSameResultOnOneAndTwoThreads) {
  // 5 storage blocks, some rows without an embedding, a filter-like subset:
  // chunks of different sizes, so the two threads split them unevenly.
  const uint32_t n = 5 * kEmbeddingBlockRows - 100, dim = 24;
  const std::vector<float> cells = Gaussian(n, dim, 7);
  std::vector<bool> has(n, true);
  for (uint32_t o = 0; o < n; o += 13) has[o] = false;
  const auto m = MakeMatrix(VectorType::kFloat32, dim, cells, has);
  std::vector<uint32_t> ordinals;
  for (uint32_t o : AllOrdinals(*m)) {
    if (o % 5 != 0) ordinals.push_back(o);
  }
  const EmbeddingRows rows = Rows(*m, ordinals);
  for (const KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    for (const uint64_t sample : {uint64_t{0}, uint64_t{9000}}) {
      SCOPED_TRACE(::testing::Message() << "init " << static_cast<int>(init)
                                        << " sample " << sample);
      KMeansOptions one = Options(37, init, 1);
      one.training_sample_count = sample;
      KMeansOptions two = one;
      two.threads = 2;
      absl::StatusOr<KMeansModel> a = TrainKMeans(rows, one, nullptr);
      absl::StatusOr<KMeansModel> b = TrainKMeans(rows, two, nullptr);
      ASSERT_TRUE(a.ok()) << a.status();
      ASSERT_TRUE(b.ok()) << b.status();
      EXPECT_EQ(a->iterations, b->iterations);
      ASSERT_EQ(a->centroids.size(), b->centroids.size());
      EXPECT_EQ(0, std::memcmp(a->centroids.data(), b->centroids.data(),
                               a->centroids.size() * sizeof(float)));
      EXPECT_EQ(a->objective, b->objective);
      absl::StatusOr<KMeansAssignment> x =
          AssignClusters(rows, *a, true, 1, nullptr);
      absl::StatusOr<KMeansAssignment> y =
          AssignClusters(rows, *a, true, 2, nullptr);
      ASSERT_TRUE(x.ok() && y.ok());
      EXPECT_EQ(x->cluster, y->cluster);
      EXPECT_EQ(x->distance, y->distance);
      EXPECT_EQ(x->second_cluster, y->second_cluster);
      EXPECT_EQ(x->second_distance, y->second_distance);
      // Another seed gives other centroids.
      KMeansOptions other = two;
      other.seed = 43;
      absl::StatusOr<KMeansModel> c = TrainKMeans(rows, other, nullptr);
      ASSERT_TRUE(c.ok());
      EXPECT_NE(a->centroids, c->centroids);
    }
  }
}

TEST(KMeansTest, ObjectiveNeverIncreases) {
  const uint32_t n = 6000, dim = 16;
  const std::vector<float> cells = Gaussian(n, dim, 11);
  const EmbeddingRows rows = Dense(cells, dim);
  for (const KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    KMeansOptions o = Options(50, init, 2);
    o.max_iterations = 25;
    absl::StatusOr<KMeansModel> model = TrainKMeans(rows, o, nullptr);
    ASSERT_TRUE(model.ok()) << model.status();
    ASSERT_EQ(model->objective.size(), 25u);
    // Float rounding of a near tie may move a row to a centroid that is
    // better by less than an ulp; the mean cannot grow by more than that.
    for (size_t i = 1; i < model->objective.size(); ++i) {
      EXPECT_LE(model->objective[i], model->objective[i - 1] + 1e-7)
          << "iteration " << i;
    }
    EXPECT_LT(model->objective.back(), model->objective.front());
    // The objective is the mean distance to the centroids of the assignment
    // it was measured on: recompute the first one from the initial
    // centroids of a one-iteration run.
    KMeansOptions once = o;
    once.max_iterations = 1;
    absl::StatusOr<KMeansModel> first = TrainKMeans(rows, once, nullptr);
    ASSERT_TRUE(first.ok());
    EXPECT_EQ(first->objective[0], model->objective[0]);
  }
}

TEST(KMeansTest, RecoversPlantedClusters) {
  const uint32_t n = 9000, dim = 32, clusters = 12;
  std::vector<uint32_t> truth;
  const std::vector<float> cells = Planted(n, dim, clusters, 0.05f, 3, &truth);
  const auto m =
      MakeMatrix(VectorType::kFloat32, dim, cells, std::vector<bool>(n, true));
  const std::vector<uint32_t> ordinals = AllOrdinals(*m);
  const EmbeddingRows rows = Rows(*m, ordinals);
  for (const uint64_t seed : {1, 2, 3}) {
    KMeansOptions o = Options(clusters, KMeansInit::kPlusPlus, 2);
    o.seed = seed;
    o.max_iterations = 20;
    absl::StatusOr<KMeansModel> model = TrainKMeans(rows, o, nullptr);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<KMeansAssignment> a =
        AssignClusters(rows, *model, false, 2, nullptr);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(SamePartition(a->cluster, truth)) << "seed " << seed;
    for (const float d : a->distance) EXPECT_LT(d, 0.1f);
  }
}

TEST(KMeansTest, AssignmentIsTheDoublePrecisionArgmax) {
  const uint32_t n = 3000, dim = 20, k = 300;
  const std::vector<float> cells = Gaussian(n, dim, 5);
  std::vector<bool> has(n, true);
  has[17] = false;
  const auto m = MakeMatrix(VectorType::kFloat32, dim, cells, has);
  std::vector<uint32_t> ordinals = AllOrdinals(*m);
  // A zero row with an embedding: cosine 0 with every centroid.
  std::vector<float> with_zero = cells;
  std::fill(with_zero.begin() + 40 * dim, with_zero.begin() + 41 * dim, 0.0f);
  const auto mz = MakeMatrix(VectorType::kFloat32, dim, with_zero, has);
  const EmbeddingRows rows = Rows(*mz, ordinals);
  // More than kTileCentroids centroids would take several tiles; 300 is
  // one, so also check a model wider than a tile below.
  KMeansOptions o = Options(k, KMeansInit::kRandom, 2);
  absl::StatusOr<KMeansModel> model = TrainKMeans(rows, o, nullptr);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<KMeansAssignment> a =
      AssignClusters(rows, *model, true, 2, nullptr);
  ASSERT_TRUE(a.ok());
  int decided = 0;
  for (size_t i = 0; i < ordinals.size(); ++i) {
    const std::vector<double> x = RowOf(rows, i);
    std::vector<std::pair<double, uint32_t>> sims;
    for (uint32_t c = 0; c < k; ++c) {
      sims.push_back(
          {-Cosine(x, model->centroids.data() + size_t{c} * dim, dim), c});
    }
    std::sort(sims.begin(), sims.end());  // most similar, then lower index
    if (ordinals[i] == 40) {
      EXPECT_EQ(a->cluster[i], 0u);
      EXPECT_EQ(a->distance[i], 1.0f);
      EXPECT_EQ(a->second_cluster[i], 1u);
      continue;
    }
    EXPECT_NEAR(a->distance[i], 1 + sims[0].first, 1e-5);
    EXPECT_NEAR(a->second_distance[i], 1 + sims[1].first, 1e-5);
    // Where float rounding cannot flip the order, the index is exact.
    if (sims[1].first - sims[0].first > 1e-5) {
      EXPECT_EQ(a->cluster[i], sims[0].second) << "row " << i;
      ++decided;
    }
    if (sims[2].first - sims[1].first > 1e-5) {
      EXPECT_EQ(a->second_cluster[i], sims[1].second) << "row " << i;
    }
  }
  EXPECT_GT(decided, static_cast<int>(ordinals.size()) * 9 / 10);
}

TEST(KMeansTest, TiesGoToTheLowerIndexAcrossTiles) {
  // 5,000 centroids (three sgemm tiles), all equal but for two exact
  // copies of the best one, at 1,000 and 4,500: every row picks 1,000 and
  // second-picks 4,500.
  const uint32_t dim = 8, k = 5000;
  KMeansModel model;
  model.k = k;
  model.dim = dim;
  model.centroids.assign(size_t{k} * dim, 0.0f);
  for (uint32_t c = 0; c < k; ++c) model.centroids[size_t{c} * dim] = 1.0f;
  for (const uint32_t c : {1000u, 4500u}) {
    std::fill_n(model.centroids.begin() + size_t{c} * dim, dim, 0.0f);
    model.centroids[size_t{c} * dim + 1] = 1.0f;
  }
  std::vector<float> cells(100 * dim, 0.0f);
  for (uint32_t i = 0; i < 100; ++i) {
    cells[i * dim + 1] = 1.0f + static_cast<float>(i);
    cells[i * dim + 2] = 0.5f;
  }
  absl::StatusOr<KMeansAssignment> a =
      AssignClusters(Dense(cells, dim), model, true, 2, nullptr);
  ASSERT_TRUE(a.ok());
  for (uint32_t i = 0; i < 100; ++i) {
    EXPECT_EQ(a->cluster[i], 1000u);
    EXPECT_EQ(a->second_cluster[i], 4500u);
    EXPECT_EQ(a->distance[i], a->second_distance[i]);
  }
}

TEST(KMeansTest, HalfMatrixEqualsTheFloatMatrixOfItsValues) {
  const uint32_t n = 2 * kEmbeddingBlockRows + 77, dim = 16;
  std::vector<float> cells = Gaussian(n, dim, 21);
  // Round every cell to a half first, so both matrices hold the same values.
  for (float& v : cells) v = HalfValue(HalfOf(v));
  std::vector<bool> has(n, true);
  const auto half = MakeMatrix(VectorType::kFloat16, dim, cells, has);
  const auto full = MakeMatrix(VectorType::kFloat32, dim, cells, has);
  const std::vector<uint32_t> ordinals = AllOrdinals(*full);
  for (const KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    const KMeansOptions o = Options(25, init, 2);
    absl::StatusOr<KMeansModel> a =
        TrainKMeans(Rows(*half, ordinals), o, nullptr);
    absl::StatusOr<KMeansModel> b =
        TrainKMeans(Rows(*full, ordinals), o, nullptr);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->centroids, b->centroids);
    absl::StatusOr<KMeansAssignment> x =
        AssignClusters(Rows(*half, ordinals), *a, false, 2, nullptr);
    absl::StatusOr<KMeansAssignment> y =
        AssignClusters(Rows(*full, ordinals), *b, false, 2, nullptr);
    ASSERT_TRUE(x.ok() && y.ok());
    EXPECT_EQ(x->cluster, y->cluster);
    EXPECT_EQ(x->distance, y->distance);
  }
}

TEST(KMeansTest, OneClusterPerRow) {
  const uint32_t n = 200, dim = 12;
  const std::vector<float> cells = Gaussian(n, dim, 8);
  for (const KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    absl::StatusOr<KMeansModel> model =
        TrainKMeans(Dense(cells, dim), Options(n, init, 2), nullptr);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<KMeansAssignment> a =
        AssignClusters(Dense(cells, dim), *model, false, 2, nullptr);
    ASSERT_TRUE(a.ok());
    // Distinct random rows: each is its own centroid.
    EXPECT_EQ(std::set<uint32_t>(a->cluster.begin(), a->cluster.end()).size(),
              n);
    for (const float d : a->distance) EXPECT_LT(d, 1e-6f);
    EXPECT_LT(model->objective.back(), 1e-6);
  }
}

TEST(KMeansTest, OneClusterIsTheNormalizedMeanOfUnitRows) {
  const uint32_t n = 5000, dim = 10;
  std::vector<float> cells = Gaussian(n, dim, 9);
  // Rows of very different lengths: the mean is over unit rows.
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dim; ++d) {
      cells[i * dim + d] = (cells[i * dim + d] + (d == 0 ? 0.7f : 0.0f)) *
                           static_cast<float>(1 + i % 50);
    }
  }
  const EmbeddingRows rows = Dense(cells, dim);
  absl::StatusOr<KMeansModel> model =
      TrainKMeans(rows, Options(1, KMeansInit::kPlusPlus, 2), nullptr);
  ASSERT_TRUE(model.ok());
  std::vector<double> mean(dim, 0.0);
  for (uint32_t i = 0; i < n; ++i) {
    const std::vector<double> x = RowOf(rows, i);
    double norm = 0;
    for (double v : x) norm += v * v;
    norm = std::sqrt(norm);
    for (uint32_t d = 0; d < dim; ++d) mean[d] += x[d] / norm;
  }
  double norm = 0;
  for (double v : mean) norm += v * v;
  norm = std::sqrt(norm);
  for (uint32_t d = 0; d < dim; ++d) {
    EXPECT_NEAR(model->centroids[d], mean[d] / norm, 1e-6);
  }
  absl::StatusOr<KMeansAssignment> a =
      AssignClusters(rows, *model, true, 1, nullptr);
  ASSERT_TRUE(a.ok());
  for (uint32_t i = 0; i < n; ++i) {
    EXPECT_EQ(a->cluster[i], 0u);
    EXPECT_EQ(a->second_cluster[i], 0u);
    EXPECT_EQ(a->second_distance[i], a->distance[i]);
  }
}

TEST(KMeansTest, ToleranceStopsEarly) {
  const uint32_t n = 4000, dim = 16, clusters = 6;
  std::vector<uint32_t> truth;
  const std::vector<float> cells = Planted(n, dim, clusters, 0.05f, 4, &truth);
  KMeansOptions o = Options(clusters, KMeansInit::kPlusPlus, 2);
  o.max_iterations = 50;
  o.tolerance = 1e-6;
  FakeJob job;
  absl::StatusOr<KMeansModel> model = TrainKMeans(Dense(cells, dim), o, &job);
  ASSERT_TRUE(model.ok());
  EXPECT_LT(model->iterations, 10);
  EXPECT_EQ(model->objective.size(), static_cast<size_t>(model->iterations));
  EXPECT_EQ(job.done, model->iterations);
  EXPECT_EQ(job.total, 50);
  EXPECT_EQ(job.unit, "iterations");
  EXPECT_EQ(job.phases, std::vector<std::string>{"training"});
  // Tolerance 0 runs them all.
  o.tolerance = 0;
  model = TrainKMeans(Dense(cells, dim), o, nullptr);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->iterations, 50);
}

TEST(KMeansTest, CancelReturnsCancelled) {
  const uint32_t n = 3 * kEmbeddingBlockRows, dim = 16;
  const std::vector<float> cells = Gaussian(n, dim, 12);
  for (const KMeansInit init : {KMeansInit::kPlusPlus, KMeansInit::kRandom}) {
    for (const int64_t after : {0, 3, 40}) {
      FakeJob job;
      job.cancel_after = after;
      KMeansOptions o = Options(100, init, 2);
      absl::StatusOr<KMeansModel> model =
          TrainKMeans(Dense(cells, dim), o, &job);
      EXPECT_EQ(model.status().code(), absl::StatusCode::kCancelled)
          << "after " << after;
    }
  }
  absl::StatusOr<KMeansModel> model = TrainKMeans(
      Dense(cells, dim), Options(10, KMeansInit::kRandom, 2), nullptr);
  ASSERT_TRUE(model.ok());
  FakeJob job;
  job.cancel_after = 1;
  EXPECT_EQ(
      AssignClusters(Dense(cells, dim), *model, false, 2, &job).status().code(),
      absl::StatusCode::kCancelled);
  FakeJob progress;
  ASSERT_TRUE(
      AssignClusters(Dense(cells, dim), *model, false, 2, &progress).ok());
  EXPECT_EQ(progress.phases, std::vector<std::string>{"assigning"});
  EXPECT_EQ(progress.total, n);
  EXPECT_EQ(progress.done, n);
}

TEST(KMeansTest, RejectsBadOptions) {
  const std::vector<float> cells = Gaussian(10, 4, 1);
  const EmbeddingRows rows = Dense(cells, 4);
  KMeansOptions o = Options(0, KMeansInit::kRandom, 2);
  EXPECT_EQ(TrainKMeans(rows, o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.k = 11;
  EXPECT_EQ(TrainKMeans(rows, o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.k = 10;
  o.max_iterations = 0;
  EXPECT_EQ(TrainKMeans(rows, o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.max_iterations = 1;
  o.training_sample_count = 5;
  EXPECT_EQ(TrainKMeans(rows, o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.training_sample_count = 0;
  EXPECT_TRUE(TrainKMeans(rows, o, nullptr).ok());
}

}  // namespace
}  // namespace winnow
