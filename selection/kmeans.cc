#include "selection/kmeans.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "selection/blas.h"
#include "selection/clones.h"
#include "selection/hash.h"
#include "selection/nearest.h"
#include "selection/parallel.h"

namespace winnow {
namespace {

// How the work is cut (docs/algorithms.md, "k-means"). Every cut is a
// function of the rows alone, never of the thread count, so each sgemm
// gets the same operands whichever thread runs it:
//  - a chunk: up to kChunkRows consecutive rows (of a matrix, rows of one
//    storage block), the unit a thread takes;
//  - a tile: up to kTileRows rows of a chunk against up to kTileCentroids
//    centroids, one sgemm whose scores stay in cache for the argmax.
constexpr size_t kChunkRows = kEmbeddingBlockRows;
constexpr size_t kTileRows = 256;
constexpr size_t kTileCentroids = 2048;

// Centroid sums are kept in fixed point, each unit-length row's cell
// times 2^29 truncated to an integer: integer sums do not depend on the
// order of their terms, so the centroids are the same however the rows were
// split between threads. |cell| <= 1, so a cell fits in int32 and a sum of
// up to 2^32 rows in int64; 2^-29 is far below float's precision of a mean.
constexpr float kFixedScale = 0x1p29f;

// Streams of keyed draws, one per use of the seed.
constexpr uint64_t kStreamTrainingSample = 1;
constexpr uint64_t kStreamRandomInit = 2;
constexpr uint64_t kStreamPlusPlusPool = 3;
constexpr uint64_t kStreamPlusPlusDraw = 4;

// k-means++ draws its centroids from a keyed pool of max(kPlusPlusPoolMin,
// kPlusPlusPoolPerCluster * k) training rows (all of them when fewer):
// each draw rescans the pool, one matrix-vector product, so the seeding
// costs pool * k * dim multiply-adds at memory speed (about 3.5 s for
// k = 1,000 at dim 256 on two cores, about one iteration over 1M rows).
constexpr size_t kPlusPlusPoolMin = 32768;
constexpr size_t kPlusPlusPoolPerCluster = 8;
// Rows of the pool scored by one sgemv.
constexpr size_t kPoolChunkRows = 1024;

// The job as the worker threads see it: one lock around the JobContext, so
// that an implementation need not be thread-safe, and a flag that stops
// every thread once one has seen the cancellation.
class JobGate {
 public:
  explicit JobGate(JobContext* job) : job_(job) {}

  bool Stopped() {
    if (stopped_.load(std::memory_order_relaxed)) return true;
    if (job_ == nullptr) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (job_->Cancelled()) stopped_.store(true, std::memory_order_relaxed);
    return stopped_.load(std::memory_order_relaxed);
  }

  // Adds `rows` to the rows done and reports the total.
  void AddDone(size_t rows) {
    const int64_t done = done_.fetch_add(static_cast<int64_t>(rows)) +
                         static_cast<int64_t>(rows);
    if (job_ == nullptr || !report_rows_) return;
    std::lock_guard<std::mutex> lock(mu_);
    job_->SetDone(done);
  }

  void ReportRows() { report_rows_ = true; }

 private:
  JobContext* const job_;
  std::mutex mu_;
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> done_{0};
  bool report_rows_ = false;
};

// The rows as chunks of float32 rows with their inverse norms.
class RowReader {
 public:
  // `positions`: the rows of `rows` to read, ascending; empty for all.
  RowReader(const EmbeddingRows& rows, std::vector<uint32_t> positions)
      : rows_(rows), positions_(std::move(positions)) {
    const size_t n = positions_.empty() ? rows_.size() : positions_.size();
    size_ = n;
    if (rows_.matrix == nullptr) {
      dense_norms_.resize(n);
      const uint32_t dim = rows_.dense_dim;
      for (size_t i = 0; i < n; ++i) {
        const float* x = rows_.dense.data() + size_t{DenseRow(i)} * dim;
        double sum = 0;
        for (uint32_t d = 0; d < dim; ++d) sum += double{x[d]} * x[d];
        dense_norms_[i] = static_cast<float>(std::sqrt(sum));
      }
    }
    // Chunks: for a matrix, never across a storage block.
    size_t begin = 0;
    while (begin < n) {
      size_t end = std::min(n, begin + kChunkRows);
      if (rows_.matrix != nullptr) {
        const uint32_t block = Ordinal(begin) / kEmbeddingBlockRows;
        size_t e = begin + 1;
        while (e < end && Ordinal(e) / kEmbeddingBlockRows == block) ++e;
        end = e;
      }
      chunks_.push_back({begin, end});
      begin = end;
    }
  }

  size_t size() const { return size_; }
  uint32_t dim() const { return rows_.dim(); }
  size_t num_chunks() const { return chunks_.size(); }
  std::pair<size_t, size_t> chunk(size_t c) const { return chunks_[c]; }

  // Rows [begin, end) of one chunk: a pointer to (end - begin) * dim floats,
  // either into the matrix or into *buffer; their inverse norms (0 for a
  // zero row) into *inv_norms.
  const float* Read(size_t begin, size_t end, std::vector<float>* buffer,
                    std::vector<float>* inv_norms) const {
    const size_t n = end - begin;
    const uint32_t dim = rows_.dim();
    inv_norms->resize(n);
    if (rows_.matrix == nullptr) {
      for (size_t j = 0; j < n; ++j) {
        const float norm = dense_norms_[begin + j];
        (*inv_norms)[j] = norm > 0 ? 1.0f / norm : 0.0f;
      }
      if (positions_.empty()) {
        return rows_.dense.data() + begin * dim;
      }
      buffer->resize(n * dim);
      for (size_t j = 0; j < n; ++j) {
        std::memcpy(buffer->data() + j * dim,
                    rows_.dense.data() + size_t{DenseRow(begin + j)} * dim,
                    dim * sizeof(float));
      }
      return buffer->data();
    }
    const EmbeddingMatrix& m = *rows_.matrix;
    const uint32_t first = Ordinal(begin);
    const EmbeddingBlock* block = m.blocks[first / kEmbeddingBlockRows].get();
    for (size_t j = 0; j < n; ++j) {
      const float norm =
          block == nullptr
              ? 0.0f
              : block->norms[Ordinal(begin + j) - block->first_ordinal];
      (*inv_norms)[j] = norm > 0 ? 1.0f / norm : 0.0f;
    }
    if (block != nullptr && m.type == VectorType::kFloat32 &&
        Ordinal(end - 1) - first == n - 1) {
      return block->f32.data() + size_t{first - block->first_ordinal} * dim;
    }
    buffer->resize(n * dim);
    for (size_t j = 0; j < n; ++j) {
      RowAsFloat(m, Ordinal(begin + j),
                 std::span<float>(buffer->data() + j * dim, dim));
    }
    return buffer->data();
  }

 private:
  uint32_t Ordinal(size_t i) const {
    const size_t p = positions_.empty() ? i : positions_[i];
    return rows_.ordinals[p];
  }
  uint32_t DenseRow(size_t i) const {
    return positions_.empty() ? static_cast<uint32_t>(i) : positions_[i];
  }

  const EmbeddingRows& rows_;
  const std::vector<uint32_t> positions_;
  size_t size_ = 0;
  std::vector<float> dense_norms_;
  std::vector<std::pair<size_t, size_t>> chunks_;
};

// The best and second best centroid of a row so far.
struct Best {
  float value = -std::numeric_limits<float>::infinity();
  uint32_t index = 0;
  float second_value = -std::numeric_limits<float>::infinity();
  uint32_t second_index = 0;
  bool found = false;
  bool second_found = false;
};

// GCC vector extensions (as in nearest.cc): eight float lanes, with their
// indexes.
using V8f = float __attribute__((vector_size(32)));
using V8i = int32_t __attribute__((vector_size(32)));

// The first index of the greatest value in s[from, to), or `to` when no
// value exceeds -infinity (NaN never wins). One pass: each lane keeps its
// greatest value and the first index where it saw it.
WINNOW_CLONES size_t ArgMax(const float* s, size_t from, size_t to,
                            float* value) {
  constexpr float kLow = -std::numeric_limits<float>::infinity();
  float m = kLow;
  size_t at = to;
  size_t i = from;
  if (to - from >= 16) {
    V8f best = {kLow, kLow, kLow, kLow, kLow, kLow, kLow, kLow};
    V8i best_index = {};
    V8i index = {0, 1, 2, 3, 4, 5, 6, 7};
    const V8i step = {8, 8, 8, 8, 8, 8, 8, 8};
    for (; i + 8 <= to; i += 8) {
      V8f v;
      std::memcpy(&v, s + i, sizeof(v));
      const V8i higher = v > best;
      best = higher ? v : best;
      best_index = higher ? index : best_index;
      index += step;
    }
    for (int l = 0; l < 8; ++l) {
      const size_t li = from + static_cast<size_t>(best_index[l]);
      if (best[l] > m || (best[l] == m && best[l] > kLow && li < at)) {
        m = best[l];
        at = li;
      }
    }
  }
  for (; i < to; ++i) {
    if (s[i] > m) {
      m = s[i];
      at = i;
    }
  }
  *value = m;
  return m > kLow ? at : to;
}

// Offers candidate (value, index) to *b; indexes arrive in increasing
// order, so an equal value never displaces an earlier one.
inline void Offer(Best* b, float value, uint32_t index, bool second) {
  if (!b->found || value > b->value) {
    if (second && b->found) {
      b->second_value = b->value;
      b->second_index = b->index;
      b->second_found = true;
    }
    b->value = value;
    b->index = index;
    b->found = true;
  } else if (second && (!b->second_found || value > b->second_value)) {
    b->second_value = value;
    b->second_index = index;
    b->second_found = true;
  }
}

// Scores rows [0, n) of `x` against every centroid, a tile at a time, into
// best[0, n). `scores` is scratch.
void ScoreTile(const float* x, size_t n, uint32_t dim, const float* centroids,
               uint32_t k, bool second, std::vector<float>* scores,
               Best* best) {
  for (size_t j = 0; j < n; ++j) best[j] = Best();
  for (uint32_t c0 = 0; c0 < k; c0 += kTileCentroids) {
    const size_t kt = std::min<size_t>(kTileCentroids, k - c0);
    scores->resize(n * kt);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n),
                static_cast<int>(kt), static_cast<int>(dim), 1.0f, x,
                static_cast<int>(dim), centroids + size_t{c0} * dim,
                static_cast<int>(dim), 0.0f, scores->data(),
                static_cast<int>(kt));
    for (size_t j = 0; j < n; ++j) {
      const float* s = scores->data() + j * kt;
      float v;
      const size_t i = ArgMax(s, 0, kt, &v);
      if (i == kt) continue;
      Offer(&best[j], v, static_cast<uint32_t>(c0 + i), second);
      if (second) {
        float v1, v2;
        const size_t a = ArgMax(s, 0, i, &v1);
        const size_t b = ArgMax(s, i + 1, kt, &v2);
        if (a != i) Offer(&best[j], v1, static_cast<uint32_t>(c0 + a), true);
        if (b != kt) Offer(&best[j], v2, static_cast<uint32_t>(c0 + b), true);
      }
    }
  }
}

// acc[d] += row[d] * scale, truncated to an integer (see kFixedScale).
WINNOW_CLONES void AddFixed(const float* row, float scale, uint32_t dim,
                            int64_t* acc) {
  for (uint32_t d = 0; d < dim; ++d) {
    acc[d] += static_cast<int32_t>(row[d] * scale);
  }
}

inline float DistanceOf(float dot, float inv_norm) {
  return std::clamp(1.0f - dot * inv_norm, 0.0f, 2.0f);
}

// What one assignment pass produces for the rows it covers.
struct PassOutput {
  // Per row (empty when not wanted).
  uint32_t* cluster = nullptr;
  float* distance = nullptr;
  uint32_t* second_cluster = nullptr;
  float* second_distance = nullptr;
  // Per chunk: the sum of the distances, added in row order.
  std::vector<double>* chunk_distance = nullptr;
  // Per thread: the fixed-point sums of the members' unit rows (k * dim) and
  // the members (k), when training.
  std::vector<std::vector<int64_t>>* sums = nullptr;
  std::vector<std::vector<int64_t>>* counts = nullptr;
};

// Assigns every row of `reader` to its nearest centroid on `threads`
// threads. false once cancelled.
bool AssignPass(const RowReader& reader, const float* centroids, uint32_t k,
                int threads, JobGate* gate, const PassOutput& out) {
  const uint32_t dim = reader.dim();
  const bool second = out.second_cluster != nullptr;
  std::atomic<size_t> next_chunk{0};
  OnThreads(threads, [&](int t) {
    std::vector<float> buffer, inv_norms, scores;
    std::vector<Best> best(kTileRows);
    int64_t* sums = out.sums != nullptr ? (*out.sums)[t].data() : nullptr;
    int64_t* counts = out.counts != nullptr ? (*out.counts)[t].data() : nullptr;
    for (size_t c = next_chunk.fetch_add(1); c < reader.num_chunks();
         c = next_chunk.fetch_add(1)) {
      const auto [begin, end] = reader.chunk(c);
      const float* x = reader.Read(begin, end, &buffer, &inv_norms);
      double chunk_distance = 0;
      for (size_t r0 = begin; r0 < end; r0 += kTileRows) {
        if (gate->Stopped()) return;
        const size_t n = std::min(kTileRows, end - r0);
        const float* xt = x + (r0 - begin) * dim;
        const float* inv = inv_norms.data() + (r0 - begin);
        ScoreTile(xt, n, dim, centroids, k, second, &scores, best.data());
        for (size_t j = 0; j < n; ++j) {
          const Best& b = best[j];
          const float dist = DistanceOf(b.found ? b.value : 0.0f, inv[j]);
          chunk_distance += dist;
          if (out.cluster != nullptr) out.cluster[r0 + j] = b.index;
          if (out.distance != nullptr) out.distance[r0 + j] = dist;
          if (second) {
            // With k = 1 the second is the first.
            out.second_cluster[r0 + j] =
                b.second_found ? b.second_index : b.index;
            out.second_distance[r0 + j] =
                b.second_found ? DistanceOf(b.second_value, inv[j]) : dist;
          }
          if (sums != nullptr && inv[j] > 0) {
            AddFixed(xt + j * dim, inv[j] * kFixedScale, dim,
                     sums + size_t{b.index} * dim);
          }
          if (counts != nullptr) ++counts[b.index];
        }
      }
      if (out.chunk_distance != nullptr)
        (*out.chunk_distance)[c] = chunk_distance;
      gate->AddDone(end - begin);
    }
  });
  return !gate->Stopped();
}

// The positions in [0, n) of the `m` rows with the smallest draws of
// `stream`, ascending (all of them when m >= n).
std::vector<uint32_t> DrawRows(size_t n, size_t m, uint64_t seed,
                               uint64_t stream) {
  std::vector<uint32_t> out;
  if (m >= n) {
    out.resize(n);
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint32_t>(i);
    return out;
  }
  const uint64_t key = EpochKey(seed, stream);
  std::vector<std::pair<uint64_t, uint32_t>> draws(n);
  for (size_t i = 0; i < n; ++i) {
    draws[i] = {PositionDraw(key, i), static_cast<uint32_t>(i)};
  }
  std::nth_element(draws.begin(), draws.begin() + static_cast<ptrdiff_t>(m),
                   draws.end());
  out.reserve(m);
  for (size_t i = 0; i < m; ++i) out.push_back(draws[i].second);
  std::sort(out.begin(), out.end());
  return out;
}

// Row i of the reader at unit length into out (zeros for a zero row).
void UnitRow(const RowReader& reader, size_t i, std::vector<float>* buffer,
             std::vector<float>* inv, float* out) {
  const float* x = reader.Read(i, i + 1, buffer, inv);
  for (uint32_t d = 0; d < reader.dim(); ++d) out[d] = x[d] * (*inv)[0];
}

// k-means++ (Arthur and Vassilvitskii 2007) over a keyed pool of the
// training rows: the first centroid uniformly, each next one with
// probability proportional to its distance (1 - cos, which is half the
// squared Euclidean distance of unit rows) to the nearest centroid so far.
bool PlusPlusInit(const RowReader& train, uint32_t k, uint64_t seed,
                  int threads, JobGate* gate, std::vector<float>* centroids) {
  const uint32_t dim = train.dim();
  const size_t pool_size = std::min(
      train.size(), std::max(kPlusPlusPoolMin, kPlusPlusPoolPerCluster * k));
  const std::vector<uint32_t> pool_rows =
      DrawRows(train.size(), pool_size, seed, kStreamPlusPlusPool);
  // The pool at unit length.
  std::vector<float> pool(pool_size * dim);
  {
    std::vector<float> buffer, inv;
    for (size_t i = 0; i < pool_size; ++i) {
      UnitRow(train, pool_rows[i], &buffer, &inv, pool.data() + i * dim);
    }
  }
  const uint64_t key = EpochKey(seed, kStreamPlusPlusDraw);
  const size_t num_chunks = (pool_size + kPoolChunkRows - 1) / kPoolChunkRows;
  std::vector<float> nearest(pool_size, std::numeric_limits<float>::infinity());
  std::vector<double> chunk_sum(num_chunks);
  size_t chosen = std::min(
      pool_size - 1,
      static_cast<size_t>(UnitFromDraw(PositionDraw(key, 0)) * pool_size));
  for (uint32_t c = 0; c < k; ++c) {
    const float* center = pool.data() + chosen * dim;
    std::copy(center, center + dim, centroids->data() + size_t{c} * dim);
    if (c + 1 == k) break;
    if (gate->Stopped()) return false;
    // Distances to the new centroid, and each chunk's total.
    std::atomic<size_t> next{0};
    OnThreads(num_chunks > 1 ? threads : 1, [&](int) {
      std::vector<float> dots(kPoolChunkRows);
      for (size_t ch = next.fetch_add(1); ch < num_chunks;
           ch = next.fetch_add(1)) {
        const size_t begin = ch * kPoolChunkRows;
        const size_t n = std::min(kPoolChunkRows, pool_size - begin);
        cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(n),
                    static_cast<int>(dim), 1.0f, pool.data() + begin * dim,
                    static_cast<int>(dim), center, 1, 0.0f, dots.data(), 1);
        double sum = 0;
        for (size_t j = 0; j < n; ++j) {
          const float d = std::max(0.0f, 1.0f - dots[j]);
          float& m = nearest[begin + j];
          m = std::min(m, d);
          sum += m;
        }
        chunk_sum[ch] = sum;
      }
    });
    double total = 0;
    for (const double s : chunk_sum) total += s;
    const double u = UnitFromDraw(PositionDraw(key, c + 1));
    if (!(total > 0)) {
      // Every pool row coincides with a centroid: any row will do.
      chosen = std::min(pool_size - 1, static_cast<size_t>(u * pool_size));
      continue;
    }
    double target = u * total;
    size_t ch = 0;
    while (ch + 1 < num_chunks && target >= chunk_sum[ch]) {
      target -= chunk_sum[ch];
      ++ch;
    }
    const size_t begin = ch * kPoolChunkRows;
    const size_t end = std::min(pool_size, begin + kPoolChunkRows);
    chosen = begin;
    // The last row of positive weight in the chunk, should rounding leave
    // `target` past the chunk's end.
    for (size_t j = begin; j < end; ++j) {
      if (nearest[j] > 0) chosen = j;
      if (target < nearest[j]) break;
      target -= nearest[j];
    }
  }
  return true;
}

// k distinct training rows, keyed by the seed, at unit length.
void RandomInit(const RowReader& train, uint32_t k, uint64_t seed,
                std::vector<float>* centroids) {
  const std::vector<uint32_t> rows =
      DrawRows(train.size(), k, seed, kStreamRandomInit);
  std::vector<float> buffer, inv;
  for (uint32_t c = 0; c < k; ++c) {
    UnitRow(train, rows[c], &buffer, &inv,
            centroids->data() + size_t{c} * train.dim());
  }
}

int ThreadCount(int threads, size_t chunks) {
  return static_cast<int>(std::clamp<size_t>(
      static_cast<size_t>(std::max(1, threads)), 1,
      std::min<size_t>(kMaxThreads, std::max<size_t>(1, chunks))));
}

}  // namespace

absl::StatusOr<KMeansModel> TrainKMeans(const EmbeddingRows& rows,
                                        const KMeansOptions& options,
                                        JobContext* job) {
  const size_t n = rows.size();
  if (options.k < 1 || options.k > n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: k must be in [1, ", n, "] (the rows), got ", options.k));
  }
  if (options.max_iterations < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: max_iterations must be at least 1, got ",
                     options.max_iterations));
  }
  if (!(options.tolerance >= 0) || !std::isfinite(options.tolerance)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k-means: tolerance must be finite and >= 0, got ", options.tolerance));
  }
  const size_t m =
      options.training_sample_count == 0 || options.training_sample_count >= n
          ? n
          : static_cast<size_t>(options.training_sample_count);
  if (m < options.k) {
    return absl::InvalidArgumentError(
        absl::StrCat("k-means: training_sample_count must be 0 or at least k (",
                     options.k, "), got ", options.training_sample_count));
  }
  SingleThreadedBlas();
  if (job != nullptr) {
    job->SetPhase("training");
    job->SetTotal(options.max_iterations, "iterations");
  }
  JobGate gate(job);
  const uint32_t k = options.k;
  const uint32_t dim = rows.dim();
  RowReader train(rows,
                  m == n ? std::vector<uint32_t>()
                         : DrawRows(n, m, options.seed, kStreamTrainingSample));
  const int threads = ThreadCount(options.threads, train.num_chunks());

  KMeansModel model;
  model.k = k;
  model.dim = dim;
  model.centroids.assign(size_t{k} * dim, 0.0f);
  if (options.init == KMeansInit::kRandom) {
    RandomInit(train, k, options.seed, &model.centroids);
  } else if (!PlusPlusInit(train, k, options.seed, threads, &gate,
                           &model.centroids)) {
    return absl::CancelledError("k-means cancelled");
  }

  std::vector<std::vector<int64_t>> sums(threads), counts(threads);
  std::vector<double> chunk_distance(train.num_chunks());
  std::vector<double> sum(dim);
  for (int it = 0; it < options.max_iterations; ++it) {
    for (int t = 0; t < threads; ++t) {
      sums[t].assign(size_t{k} * dim, 0);
      counts[t].assign(k, 0);
    }
    PassOutput out;
    out.chunk_distance = &chunk_distance;
    out.sums = &sums;
    out.counts = &counts;
    if (!AssignPass(train, model.centroids.data(), k, threads, &gate, out)) {
      return absl::CancelledError("k-means cancelled");
    }
    double total = 0;
    for (const double d : chunk_distance) total += d;
    model.objective.push_back(total / static_cast<double>(m));
    // The update: each centroid with members becomes their normalized mean.
    double max_shift = 0;
    for (uint32_t c = 0; c < k; ++c) {
      int64_t members = 0;
      for (int t = 0; t < threads; ++t) members += counts[t][c];
      if (members == 0) continue;
      double norm2 = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        int64_t s = 0;
        for (int t = 0; t < threads; ++t) s += sums[t][size_t{c} * dim + d];
        sum[d] = static_cast<double>(s);
        norm2 += sum[d] * sum[d];
      }
      if (!(norm2 > 0)) continue;
      const double inv = 1.0 / std::sqrt(norm2);
      float* centroid = model.centroids.data() + size_t{c} * dim;
      // The shift, 1 - cos(old, new), divided by both norms so that a
      // centroid that did not change moves by exactly 0.
      double dot = 0, old2 = 0, new2 = 0;
      for (uint32_t d = 0; d < dim; ++d) {
        const float v = static_cast<float>(sum[d] * inv);
        dot += double{centroid[d]} * v;
        old2 += double{centroid[d]} * centroid[d];
        new2 += double{v} * v;
        centroid[d] = v;
      }
      const double norms = std::sqrt(old2 * new2);
      max_shift = std::max(max_shift, norms > 0 ? 1.0 - dot / norms : 1.0);
    }
    model.iterations = it + 1;
    if (job != nullptr) job->SetDone(it + 1);
    if (options.tolerance > 0 && max_shift <= options.tolerance) break;
  }
  return model;
}

absl::StatusOr<KMeansAssignment> AssignClusters(const EmbeddingRows& rows,
                                                const KMeansModel& model,
                                                bool second, int threads,
                                                JobContext* job) {
  if (model.k < 1 || model.dim != rows.dim() ||
      model.centroids.size() != size_t{model.k} * model.dim) {
    return absl::InvalidArgumentError(
        "k-means: the model does not fit the rows");
  }
  SingleThreadedBlas();
  const size_t n = rows.size();
  if (job != nullptr) {
    job->SetPhase("assigning");
    job->SetTotal(static_cast<int64_t>(n), "documents");
  }
  JobGate gate(job);
  gate.ReportRows();
  const RowReader reader(rows, {});
  KMeansAssignment a;
  a.cluster.resize(n);
  a.distance.resize(n);
  PassOutput out;
  out.cluster = a.cluster.data();
  out.distance = a.distance.data();
  if (second) {
    a.second_cluster.resize(n);
    a.second_distance.resize(n);
    out.second_cluster = a.second_cluster.data();
    out.second_distance = a.second_distance.data();
  }
  if (!AssignPass(reader, model.centroids.data(), model.k,
                  ThreadCount(threads, reader.num_chunks()), &gate, out)) {
    return absl::CancelledError("k-means cancelled");
  }
  return a;
}

}  // namespace winnow
