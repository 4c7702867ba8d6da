#include "selection/strategies.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "selection/det_math.h"
#include "selection/hash.h"

namespace winnow {

std::vector<uint32_t> SortByDocId(uint32_t n, const DocIdFn& doc_id) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return doc_id(a) < doc_id(b); });
  return order;
}

// ---- AliasTable ----

absl::StatusOr<AliasTable> AliasTable::Build(std::span<const double> weights) {
  const size_t n = weights.size();
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight ", i, " is not finite and >= 0"));
    }
    sum += weights[i];
  }
  if (!(sum > 0)) {
    return absl::InvalidArgumentError("no candidate has a positive weight");
  }
  if (n > UINT32_MAX) return absl::InvalidArgumentError("too many weights");
  AliasTable t;
  t.prob_.resize(n);
  t.alias_.resize(n);
  // Vose: scaled weights p_i = w_i * n / sum; columns below 1 are topped up
  // by an alias from a column above 1. Stacks in index order keep it
  // deterministic.
  std::vector<double> p(n);
  std::vector<uint32_t> small, large;
  const double scale = static_cast<double>(n) / sum;
  for (size_t i = 0; i < n; ++i) {
    p[i] = weights[i] * scale;
    (p[i] < 1.0 ? small : large).push_back(static_cast<uint32_t>(i));
  }
  while (!small.empty() && !large.empty()) {
    uint32_t s = small.back();
    small.pop_back();
    uint32_t l = large.back();
    t.prob_[s] = p[s];
    t.alias_[s] = l;
    p[l] = (p[l] + p[s]) - 1.0;
    if (p[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  for (uint32_t l : large) {
    t.prob_[l] = 1.0;
    t.alias_[l] = l;
  }
  for (uint32_t s : small) {  // rounding leftovers
    t.prob_[s] = 1.0;
    t.alias_[s] = s;
  }
  return t;
}

uint32_t AliasTable::Draw(uint64_t draw) const {
  const uint64_t n = prob_.size();
  // Column from the high 32 bits (multiply-shift, no modulo bias beyond
  // 2^-32), coin from the low 32 bits.
  const uint64_t column = ((draw >> 32) * n) >> 32;
  const double coin =
      (static_cast<double>(draw & 0xffffffffULL) + 0.5) * 0x1p-32;
  return coin < prob_[column] ? static_cast<uint32_t>(column) : alias_[column];
}

// ---- Ordering ----

std::vector<uint32_t> SortByScore(std::span<const float> scores,
                                  bool descending, const DocIdFn& doc_id) {
  std::vector<uint32_t> order;
  order.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isnan(scores[i])) order.push_back(static_cast<uint32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const float x = scores[a];
    const float y = scores[b];
    if (x != y) return descending ? x > y : x < y;
    return doc_id(a) < doc_id(b);
  });
  return order;
}

std::vector<uint32_t> FoldingOrder(std::span<const uint32_t> sorted,
                                   uint32_t folds) {
  std::vector<uint32_t> out;
  out.reserve(sorted.size());
  if (folds == 0) folds = 1;
  for (uint32_t l = 0; l < folds; ++l) {
    for (size_t i = l; i < sorted.size(); i += folds) out.push_back(sorted[i]);
  }
  return out;
}

// ---- S2L ----

namespace {

// `members` sorted by the uniform keyed order of (seed, epoch 0), first
// `k` kept.
std::vector<uint32_t> KeyedFirst(std::vector<uint32_t> members, size_t k,
                                 std::span<const uint64_t> id_hashes,
                                 uint64_t seed, const DocIdFn& doc_id) {
  const uint64_t ek = EpochKey(seed, 0);
  auto key = [&](uint32_t i) { return DocDraw(ek, id_hashes[i]) >> 12; };
  auto before = [&](uint32_t a, uint32_t b) {
    uint64_t ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;  // u descending
    return doc_id(a) < doc_id(b);
  };
  k = std::min(k, members.size());
  std::partial_sort(members.begin(), members.begin() + k, members.end(),
                    before);
  members.resize(k);
  return members;
}

}  // namespace

std::vector<uint32_t> ClusterBalancedSelect(std::span<const float> clusters,
                                            std::span<const uint64_t> id_hashes,
                                            uint64_t budget, uint64_t seed,
                                            const DocIdFn& doc_id) {
  std::map<float, std::vector<uint32_t>> groups;
  for (size_t i = 0; i < clusters.size(); ++i) {
    if (!std::isnan(clusters[i])) {
      groups[clusters[i]].push_back(static_cast<uint32_t>(i));
    }
  }
  std::vector<uint32_t> tiny;
  std::vector<const std::vector<uint32_t>*> rest;
  for (auto& [cluster, members] : groups) {
    if (members.size() <= 2) {
      tiny.insert(tiny.end(), members.begin(), members.end());
    } else {
      rest.push_back(&members);
    }
  }
  // Size ascending; the map already orders equal sizes by cluster value.
  std::stable_sort(rest.begin(), rest.end(),
                   [](auto* a, auto* b) { return a->size() < b->size(); });
  std::vector<uint32_t> selected;
  uint64_t remaining = budget;
  uint64_t left = rest.size();
  for (const std::vector<uint32_t>* members : rest) {
    const uint64_t quota = remaining / left;
    --left;
    if (members->size() <= quota) {
      selected.insert(selected.end(), members->begin(), members->end());
      remaining -= members->size();
    } else {
      std::vector<uint32_t> taken =
          KeyedFirst(*members, quota, id_hashes, seed, doc_id);
      selected.insert(selected.end(), taken.begin(), taken.end());
      remaining -= taken.size();
    }
  }
  if (remaining > 0 && !tiny.empty()) {
    std::sort(tiny.begin(), tiny.end());
    std::vector<uint32_t> taken =
        KeyedFirst(std::move(tiny), remaining, id_hashes, seed, doc_id);
    selected.insert(selected.end(), taken.begin(), taken.end());
  }
  std::sort(selected.begin(), selected.end());
  return selected;
}

// ---- Repetition budget ----

std::vector<PoolParams> DefaultPools() {
  const double b[] = {-0.16, -0.125, -0.10, -0.085};
  const double tau[] = {6.7, 8.5, 5.3, 2.3};
  std::vector<PoolParams> pools(4);
  for (int i = 0; i < 4; ++i) {
    pools[i] = PoolParams{0.25, 0.025, b[i], tau[i], 0.1};
  }
  return pools;
}

namespace {

// x^y for x > 0, deterministic (det_math.h).
double DetPow(double x, double y) { return DetExp2(y * DetLog2(x)); }

}  // namespace

absl::StatusOr<PoolPrediction> PredictPools(std::span<const int64_t> sizes,
                                            std::span<const PoolParams> pools,
                                            int64_t budget) {
  if (budget < 1) {
    return absl::InvalidArgumentError("sample_budget must be >= 1");
  }
  for (size_t i = 0; i < pools.size(); ++i) {
    const PoolParams& p = pools[i];
    if (!(p.b < 0) || !std::isfinite(p.b)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pools[", i, "].b must be < 0, got ", p.b));
    }
    if (!(p.tau > 0) || !std::isfinite(p.tau)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pools[", i, "].tau must be > 0, got ", p.tau));
    }
    if (!(p.a > 0) || !std::isfinite(p.a) || !std::isfinite(p.d)) {
      return absl::InvalidArgumentError(
          absl::StrCat("pools[", i, "].a must be > 0 and d finite, got a=", p.a,
                       " d=", p.d));
    }
  }
  PoolPrediction out;
  int64_t pool_size = 0;
  double best = 0;
  const size_t m_max = std::min(sizes.size(), pools.size());
  for (size_t m = 1; m <= m_max; ++m) {
    if (sizes[m - 1] <= 0) break;
    pool_size += sizes[m - 1];
    PoolChoice c;
    c.pool_count = static_cast<int32_t>(m);
    c.pool_size = pool_size;
    c.repetitions = (budget + pool_size - 1) / pool_size;
    double a = 0, d = 0;
    for (size_t i = 0; i < m; ++i) {
      a += pools[i].a;
      d += pools[i].d;
    }
    a /= static_cast<double>(m);
    d /= static_cast<double>(m);
    double y = 0;
    double n_prev = 0;
    for (int64_t e = 0; e < c.repetitions; ++e) {
      const double n =
          static_cast<double>(std::min<int64_t>(pool_size * (e + 1), budget));
      double b_e = 0;
      for (size_t i = 0; i < m; ++i) {
        b_e += pools[i].b * DetExp2(-static_cast<double>(e) / pools[i].tau);
      }
      b_e /= static_cast<double>(m);
      if (e == 0) {
        y = DetPow(a * n / 1e5, b_e) + d;
      } else {
        y = y * DetPow(n / n_prev, b_e);
      }
      n_prev = n;
      c.curve.push_back(CurvePoint{e, static_cast<int64_t>(n), y});
    }
    c.predicted_error = y;
    if (out.choices.empty() || y < best) {
      best = y;
      out.chosen = c.pool_count;
    }
    out.choices.push_back(std::move(c));
  }
  if (out.choices.empty()) {
    return absl::FailedPreconditionError("no candidate is in any pool");
  }
  return out;
}

// ---- Length buckets ----

std::vector<uint32_t> EstimateBucketEdges(std::vector<uint32_t> lengths,
                                          int32_t num_buckets) {
  std::vector<uint32_t> edges;
  if (lengths.empty() || num_buckets <= 1) return edges;
  std::sort(lengths.begin(), lengths.end());
  long double total = 0;
  for (uint32_t l : lengths) total += l;
  const long double per_bucket = total / num_buckets;
  long double sum = 0;
  long double next = per_bucket;
  for (uint32_t l : lengths) {
    sum += l;
    if (sum >= next && static_cast<int32_t>(edges.size()) < num_buckets - 1) {
      if (edges.empty() || l > edges.back()) edges.push_back(l);
      while (next <= sum) next += per_bucket;
    }
  }
  // The final bucket is "longer than the last edge": an edge at the longest
  // length would leave it empty.
  if (!edges.empty() && edges.back() >= lengths.back()) edges.pop_back();
  return edges;
}

BucketBatcher::BucketBatcher(std::vector<uint32_t> edges, int64_t max_tokens,
                             std::vector<int32_t> batch_sizes)
    : edges_(std::move(edges)),
      max_tokens_(max_tokens),
      batch_sizes_(std::move(batch_sizes)),
      buckets_(edges_.size() + 1),
      longest_(edges_.size() + 1, 0) {}

int32_t BucketBatcher::BucketOf(uint32_t length) const {
  return static_cast<int32_t>(
      std::lower_bound(edges_.begin(), edges_.end(), length) - edges_.begin());
}

void BucketBatcher::Emit(int32_t bucket, std::vector<Batch>* out) {
  Batch b;
  b.items = std::move(buckets_[bucket]);
  b.bucket = bucket;
  buckets_[bucket].clear();
  longest_[bucket] = 0;
  out->push_back(std::move(b));
}

void BucketBatcher::Add(uint32_t index, uint32_t length,
                        std::vector<Batch>* out) {
  const int32_t bucket = BucketOf(length);
  if (max_tokens_ > 0 && static_cast<int64_t>(length) > max_tokens_) {
    Batch b;
    b.items.push_back(index);
    b.bucket = bucket;
    b.over_budget = true;
    out->push_back(std::move(b));
    return;
  }
  std::vector<uint32_t>& items = buckets_[bucket];
  if (max_tokens_ > 0 && !items.empty()) {
    const int64_t longest = std::max(longest_[bucket], length);
    if (static_cast<int64_t>(items.size() + 1) * longest > max_tokens_) {
      Emit(bucket, out);
    }
  }
  buckets_[bucket].push_back(index);
  longest_[bucket] = std::max(longest_[bucket], length);
  if (!batch_sizes_.empty() &&
      static_cast<int64_t>(buckets_[bucket].size()) >= batch_sizes_[bucket]) {
    Emit(bucket, out);
  }
}

void BucketBatcher::Flush(std::vector<Batch>* out) {
  for (int32_t b = 0; b < num_buckets(); ++b) {
    if (!buckets_[b].empty()) Emit(b, out);
  }
}

void BucketBatcher::Restore(std::vector<std::vector<uint32_t>> contents,
                            std::span<const uint32_t> lengths_by_index) {
  buckets_ = std::move(contents);
  buckets_.resize(edges_.size() + 1);
  longest_.assign(buckets_.size(), 0);
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (uint32_t i : buckets_[b]) {
      longest_[b] = std::max(longest_[b], lengths_by_index[i]);
    }
  }
}

size_t BucketBatcher::MemoryBytes() const {
  size_t bytes = 0;
  for (const auto& b : buckets_) bytes += b.capacity() * sizeof(uint32_t);
  return bytes + edges_.capacity() * sizeof(uint32_t);
}

}  // namespace winnow
