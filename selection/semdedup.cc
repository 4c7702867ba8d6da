#include "selection/semdedup.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "selection/blas.h"
#include "selection/nearest.h"

namespace winnow {
namespace {

constexpr float kNone = -std::numeric_limits<float>::infinity();

// Rows of a cluster per work item, and columns per sgemm: a tile is at most
// kTileRows x kTileCols similarities (2 MiB), whatever the cluster's size.
constexpr size_t kTileRows = 512;
constexpr size_t kTileCols = 1024;

// Row `i` as unit-length float32 into out (dim floats); zeros stay zeros.
void UnitRow(const EmbeddingRows& rows, size_t i, float* out) {
  const uint32_t dim = rows.dim();
  if (rows.matrix != nullptr) {
    RowAsFloat(*rows.matrix, rows.ordinals[i], std::span<float>(out, dim));
  } else {
    std::copy_n(rows.dense.data() + i * dim, dim, out);
  }
  double sum = 0;
  for (uint32_t d = 0; d < dim; ++d) sum += double{out[d]} * out[d];
  if (sum <= 0) return;
  const double inverse = 1.0 / std::sqrt(sum);
  for (uint32_t d = 0; d < dim; ++d) {
    out[d] = static_cast<float>(out[d] * inverse);
  }
}

// The SemDeDup pass: the rows gathered in (cluster, distance descending,
// index) order, and the work items over them.
class Pass {
 public:
  Pass(const EmbeddingRows& rows, const SemDedupAssignment& a, int threads,
       JobContext* job)
      : rows_(rows), a_(a), threads_(threads), job_(job), n_(rows.size()) {}

  std::vector<float> Run() {
    SingleThreadedBlas();
    Order();
    Gather();
    Items();
    const size_t dim = rows_.dim();
    own_.assign(n_, kNone);
    std::vector<std::vector<float>> guest(a_.second_cluster.empty() ? 0
                                                                    : threads_);
    std::atomic<size_t> next{0};
    std::atomic<int64_t> done{0};
    if (job_ != nullptr) job_->SetTotal(static_cast<int64_t>(n_), "documents");
    OnThreads(threads_, [&](int t) {
      std::vector<float> tile(kTileRows * kTileCols);
      std::vector<float> guests;
      std::vector<float>* guest_max = nullptr;
      if (!guest.empty()) {
        guest[t].assign(n_, kNone);
        guest_max = &guest[t];
        guests.resize(kTileCols * dim);
      }
      for (size_t i = next++; i < items_.size(); i = next++) {
        if (job_ != nullptr && job_->Cancelled()) return;
        const Item& item = items_[i];
        WithinCluster(item, tile.data());
        if (guest_max != nullptr) {
          AcrossClusters(item, tile.data(), guests.data(), guest_max);
        }
        const int64_t d = done += static_cast<int64_t>(item.end - item.begin);
        if (job_ != nullptr) job_->SetDone(d);
      }
    });
    std::vector<float> m(n_);
    for (size_t p = 0; p < n_; ++p) {
      float best = own_[p];
      for (const std::vector<float>& g : guest) best = std::max(best, g[p]);
      m[order_[p]] = best;
    }
    return m;
  }

 private:
  struct Item {
    // Positions [begin, end) of cluster run `run`.
    size_t run;
    size_t begin;
    size_t end;
    double cost;
  };

  // Whether row a comes before row b: distance descending, then index.
  bool Before(uint32_t a, uint32_t b) const {
    const float da = a_.distance[a];
    const float db = a_.distance[b];
    return da != db ? da > db : a < b;
  }

  void Order() {
    order_.resize(n_);
    std::iota(order_.begin(), order_.end(), 0u);
    std::sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) {
      const uint32_t ca = a_.cluster[a];
      const uint32_t cb = a_.cluster[b];
      return ca != cb ? ca < cb : Before(a, b);
    });
    for (size_t p = 0; p < n_; ++p) {
      if (p == 0 || a_.cluster[order_[p]] != a_.cluster[order_[p - 1]]) {
        run_cluster_.push_back(a_.cluster[order_[p]]);
        run_begin_.push_back(p);
      }
    }
    run_begin_.push_back(n_);
    if (a_.second_cluster.empty()) return;
    // The guests of each run: rows of other clusters whose second-nearest
    // cluster it is, in (distance descending, index) order.
    guests_.assign(run_cluster_.size(), {});
    for (size_t p = 0; p < n_; ++p) {
      const uint32_t row = order_[p];
      const uint32_t second = a_.second_cluster[row];
      if (second == a_.cluster[row]) continue;
      auto it =
          std::lower_bound(run_cluster_.begin(), run_cluster_.end(), second);
      if (it == run_cluster_.end() || *it != second) continue;
      guests_[it - run_cluster_.begin()].push_back(static_cast<uint32_t>(p));
    }
    for (std::vector<uint32_t>& g : guests_) {
      std::sort(g.begin(), g.end(), [this](uint32_t p, uint32_t q) {
        return Before(order_[p], order_[q]);
      });
    }
  }

  void Gather() {
    const size_t dim = rows_.dim();
    unit_.resize(n_ * dim);
    const size_t per = (n_ + threads_ - 1) / threads_;
    OnThreads(threads_, [&](int t) {
      const size_t end = std::min(n_, (t + 1) * per);
      for (size_t p = t * per; p < end; ++p) {
        UnitRow(rows_, order_[p], unit_.data() + p * dim);
      }
    });
  }

  // One item per kTileRows members of a cluster, costliest first (so that
  // the last items to finish are short ones).
  void Items() {
    for (size_t r = 0; r + 1 < run_begin_.size(); ++r) {
      const size_t guests = guests_.empty() ? 0 : guests_[r].size();
      for (size_t b = run_begin_[r]; b < run_begin_[r + 1]; b += kTileRows) {
        const size_t e = std::min(run_begin_[r + 1], b + kTileRows);
        const double cost = static_cast<double>(e - b) *
                            static_cast<double>(e + guests + 1 - run_begin_[r]);
        items_.push_back({r, b, e, cost});
      }
    }
    std::stable_sort(
        items_.begin(), items_.end(),
        [](const Item& x, const Item& y) { return x.cost > y.cost; });
  }

  // s = rows [a, a + m) x rows of `b` (nc of them), row-major m x nc.
  void Tile(const float* a, size_t m, const float* b, size_t nc,
            float* s) const {
    const int dim = static_cast<int>(rows_.dim());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m),
                static_cast<int>(nc), dim, 1.0f, a, dim, b, dim, 0.0f, s,
                static_cast<int>(nc));
  }

  // Members [begin, end) against every earlier member of their cluster.
  void WithinCluster(const Item& item, float* tile) {
    const size_t dim = rows_.dim();
    const size_t m = item.end - item.begin;
    const float* a = unit_.data() + item.begin * dim;
    for (size_t c0 = run_begin_[item.run]; c0 + 1 < item.end; c0 += kTileCols) {
      const size_t c1 = std::min(item.end - 1, c0 + kTileCols);
      const size_t nc = c1 - c0;
      Tile(a, m, unit_.data() + c0 * dim, nc, tile);
      for (size_t i = 0; i < m; ++i) {
        const size_t p = item.begin + i;
        const size_t valid = std::min(nc, p > c0 ? p - c0 : 0);
        const float* s = tile + i * nc;
        float best = own_[p];
        for (size_t j = 0; j < valid; ++j) best = std::max(best, s[j]);
        own_[p] = best;
      }
    }
  }

  // Members [begin, end) against the cluster's guests: each similarity goes
  // to the later of the two.
  void AcrossClusters(const Item& item, float* tile, float* gathered,
                      std::vector<float>* guest_max) {
    const std::vector<uint32_t>& guests = guests_[item.run];
    const size_t dim = rows_.dim();
    const size_t m = item.end - item.begin;
    const float* a = unit_.data() + item.begin * dim;
    std::vector<float> column(kTileCols);
    for (size_t g0 = 0; g0 < guests.size(); g0 += kTileCols) {
      const size_t gc = std::min(guests.size() - g0, kTileCols);
      for (size_t j = 0; j < gc; ++j) {
        std::copy_n(unit_.data() + size_t{guests[g0 + j]} * dim, dim,
                    gathered + j * dim);
      }
      Tile(a, m, gathered, gc, tile);
      std::fill_n(column.begin(), gc, kNone);
      // Guests [0, split) come before member i; split grows with i.
      size_t split = 0;
      for (size_t i = 0; i < m; ++i) {
        const size_t p = item.begin + i;
        const uint32_t row = order_[p];
        while (split < gc && Before(order_[guests[g0 + split]], row)) ++split;
        const float* s = tile + i * gc;
        float best = own_[p];
        for (size_t j = 0; j < split; ++j) best = std::max(best, s[j]);
        own_[p] = best;
        for (size_t j = split; j < gc; ++j) {
          column[j] = std::max(column[j], s[j]);
        }
      }
      for (size_t j = 0; j < gc; ++j) {
        float& g = (*guest_max)[guests[g0 + j]];
        g = std::max(g, column[j]);
      }
    }
  }

  const EmbeddingRows& rows_;
  const SemDedupAssignment& a_;
  const int threads_;
  JobContext* const job_;
  const size_t n_;
  // order_[p]: the row at position p.
  std::vector<uint32_t> order_;
  // Run r: cluster run_cluster_[r] at positions [run_begin_[r],
  // run_begin_[r + 1]); guests_[r]: positions of its guests.
  std::vector<uint32_t> run_cluster_;
  std::vector<size_t> run_begin_;
  std::vector<std::vector<uint32_t>> guests_;
  // The unit rows by position, n_ x dim.
  std::vector<float> unit_;
  std::vector<Item> items_;
  // M by position from the member's own items (each written by one item).
  std::vector<float> own_;
};

}  // namespace

absl::StatusOr<std::vector<float>> SemDedupMaxSimilarity(
    const EmbeddingRows& rows, const SemDedupAssignment& assignment,
    int threads, JobContext* job) {
  const size_t n = rows.size();
  if (assignment.cluster.size() != n || assignment.distance.size() != n ||
      (!assignment.second_cluster.empty() &&
       assignment.second_cluster.size() != n)) {
    return absl::InvalidArgumentError(
        absl::StrCat("SemDeDup: the assignment has ", assignment.cluster.size(),
                     " clusters and ", assignment.distance.size(),
                     " distances for ", n, " rows"));
  }
  if (n > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("SemDeDup: more than 2^32 rows");
  }
  for (size_t i = 0; i < n; ++i) {
    if (std::isnan(assignment.distance[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("SemDeDup: the distance of row ", i, " is NaN"));
    }
  }
  Pass pass(rows, assignment, std::max(1, threads), job);
  std::vector<float> m = pass.Run();
  if (job != nullptr && job->Cancelled()) {
    return absl::CancelledError("cancelled");
  }
  return m;
}

int64_t CountSemDuplicates(std::span<const float> max_similarity,
                           double epsilon) {
  int64_t count = 0;
  for (const float m : max_similarity) count += IsSemDuplicate(m, epsilon);
  return count;
}

uint64_t KeepCount(double ratio, uint64_t rows) {
  const double exact = ratio * static_cast<double>(rows);
  const double nearest = std::round(exact);
  const double count = std::abs(exact - nearest) <= 1e-9 * std::max(1.0, exact)
                           ? nearest
                           : std::ceil(exact);
  return std::min<uint64_t>(rows, static_cast<uint64_t>(std::max(0.0, count)));
}

double EpsilonForKeepRatio(std::span<const float> max_similarity,
                           double target_keep_ratio) {
  const uint64_t keep = KeepCount(target_keep_ratio, max_similarity.size());
  if (keep == 0) return kMaxSemDedupEpsilon;
  std::vector<float> sorted(max_similarity.begin(), max_similarity.end());
  std::nth_element(sorted.begin(), sorted.begin() + (keep - 1), sorted.end());
  // Keeping `keep` rows needs 1 - epsilon >= s.
  const double epsilon = 1.0 - static_cast<double>(sorted[keep - 1]);
  return std::clamp(epsilon, kMinSemDedupEpsilon, kMaxSemDedupEpsilon);
}

std::vector<bool> PrototypeKeep(std::span<const uint32_t> cluster,
                                std::span<const float> distance,
                                const std::vector<bool>& candidate,
                                uint64_t keep, bool per_cluster) {
  const size_t n = cluster.size();
  std::vector<uint32_t> rows;
  for (size_t i = 0; i < n; ++i) {
    if (candidate[i]) rows.push_back(static_cast<uint32_t>(i));
  }
  keep = std::min<uint64_t>(keep, rows.size());
  // Farthest first; equal distances: the lower index counts as farther.
  auto farther = [&](uint32_t a, uint32_t b) {
    return distance[a] != distance[b] ? distance[a] > distance[b] : a < b;
  };
  std::vector<bool> kept(n, false);
  if (!per_cluster) {
    std::sort(rows.begin(), rows.end(), farther);
    for (uint64_t i = 0; i < keep; ++i) kept[rows[i]] = true;
    return kept;
  }
  std::sort(rows.begin(), rows.end(), [&](uint32_t a, uint32_t b) {
    return cluster[a] != cluster[b] ? cluster[a] < cluster[b] : farther(a, b);
  });
  // Runs of one cluster, then each run's share: floor, then largest
  // remainders.
  struct Run {
    size_t begin;
    size_t size;
    uint64_t keep;
    double remainder;
  };
  std::vector<Run> runs;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i == 0 || cluster[rows[i]] != cluster[rows[i - 1]]) {
      runs.push_back({i, 0, 0, 0});
    }
    ++runs.back().size;
  }
  const double fraction =
      rows.empty() ? 0 : static_cast<double>(keep) / rows.size();
  uint64_t assigned = 0;
  for (Run& r : runs) {
    const double share = fraction * static_cast<double>(r.size);
    r.keep = std::min<uint64_t>(r.size, static_cast<uint64_t>(share));
    r.remainder = share - static_cast<double>(r.keep);
    assigned += r.keep;
  }
  std::vector<size_t> by_remainder(runs.size());
  std::iota(by_remainder.begin(), by_remainder.end(), size_t{0});
  std::stable_sort(by_remainder.begin(), by_remainder.end(),
                   [&](size_t a, size_t b) {
                     return runs[a].remainder > runs[b].remainder;
                   });
  for (size_t i = 0; assigned < keep && i < by_remainder.size(); ++i) {
    Run& r = runs[by_remainder[i]];
    if (r.keep < r.size) {
      ++r.keep;
      ++assigned;
    }
  }
  for (const Run& r : runs) {
    for (uint64_t i = 0; i < r.keep; ++i) kept[rows[r.begin + i]] = true;
  }
  return kept;
}

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
