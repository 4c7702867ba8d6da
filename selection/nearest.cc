#include "selection/nearest.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>

#include "selection/blas.h"
#include "selection/clones.h"
#include "selection/parallel.h"

namespace winnow {
namespace {

// GCC vector extensions: the kernels below are written once and compiled
// for AVX2 (one ymm register per V8f) and for baseline x86-64 (two xmm), and
// both clones add the same lanes in the same order, so they return the same
// bits (-ffp-contract=off: no fused multiply-add in either).
using V8f = float __attribute__((vector_size(32)));
using V8u = uint32_t __attribute__((vector_size(32)));
using V8h = uint16_t __attribute__((vector_size(16)));

inline V8f LoadF32(const float* p) {
  V8f v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Eight halves to floats, exactly: the half's exponent and mantissa bits
// moved to a float's place, times 2^112 (15 - 127 rebias; subnormal halves
// become float subnormals that the product makes normal). Halves are finite:
// storage refuses anything else.
inline V8f LoadF16(const uint16_t* p) {
  V8h h;
  std::memcpy(&h, p, sizeof(h));
  const V8u x = __builtin_convertvector(h, V8u);
  const V8u magnitude = (x & 0x7fffu) << 13;
  const V8u sign = (x & 0x8000u) << 16;
  V8f f;
  std::memcpy(&f, &magnitude, sizeof(f));
  f *= 0x1p112f;
  V8u bits;
  std::memcpy(&bits, &f, sizeof(bits));
  bits |= sign;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

inline float HalfBitsToFloat(uint16_t h) {
  const uint32_t magnitude = uint32_t{h & 0x7fffu} << 13;
  const float f = std::bit_cast<float>(magnitude) * 0x1p112f;
  return std::bit_cast<float>(std::bit_cast<uint32_t>(f) |
                              (uint32_t{h & 0x8000u} << 16));
}

inline float SumLanes(V8f v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

// The dot product of q and r, dim floats each.
WINNOW_CLONES float DotF32(const float* q, const float* r, size_t dim) {
  V8f a0 = {}, a1 = {};
  size_t i = 0;
  for (; i + 16 <= dim; i += 16) {
    a0 += LoadF32(q + i) * LoadF32(r + i);
    a1 += LoadF32(q + i + 8) * LoadF32(r + i + 8);
  }
  if (i + 8 <= dim) {
    a0 += LoadF32(q + i) * LoadF32(r + i);
    i += 8;
  }
  float sum = SumLanes(a0 + a1);
  for (; i < dim; ++i) sum += q[i] * r[i];
  return sum;
}

// Decodes dim halves into out.
WINNOW_CLONES void DecodeF16(const uint16_t* h, size_t n, float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const V8f f = LoadF16(h + i);
    std::memcpy(out + i, &f, sizeof(f));
  }
  for (; i < n; ++i) out[i] = HalfBitsToFloat(h[i]);
}

// The first j in [from, n) with s[j] >= threshold, or n. Most scores of a
// block fall below a query's threshold: this skips them 16 at a time.
WINNOW_CLONES size_t NextAtLeast(const float* s, size_t n, size_t from,
                                 float threshold) {
  size_t j = from;
  for (; j + 16 <= n; j += 16) {
    bool any = false;
    for (size_t l = 0; l < 16; ++l) any |= s[j + l] >= threshold;
    if (any) break;
  }
  for (; j < n; ++j) {
    if (s[j] >= threshold) return j;
  }
  return n;
}

float Norm(const float* v, size_t dim) {
  double sum = 0;
  for (size_t d = 0; d < dim; ++d) sum += double{v[d]} * v[d];
  return static_cast<float>(std::sqrt(sum));
}

inline float Cosine(float dot, float query_norm, float row_norm) {
  const float denominator = query_norm * row_norm;
  return denominator > 0 ? dot / denominator : 0.0f;
}

// The candidates of one query seen so far: every item whose similarity is
// at least `threshold_`, the k-th highest similarity at the last prune, so
// that all ties with the k-th survive. Pruning happens when the buffer
// doubles, so pushes are amortized O(1) even when every item ties.
class TopK {
 public:
  explicit TopK(size_t k) : k_(k), limit_(2 * k + 64) {}

  // NaN never passes.
  bool Admits(float similarity) const { return similarity >= threshold_; }
  float threshold() const { return threshold_; }

  void Push(uint32_t ordinal, float similarity) {
    if (!Admits(similarity)) return;
    items_.push_back({ordinal, similarity});
    if (items_.size() >= limit_) Prune();
  }

  void Prune() {
    if (items_.size() > k_) {
      auto higher = [](const Neighbor& a, const Neighbor& b) {
        return a.similarity > b.similarity;
      };
      std::nth_element(items_.begin(), items_.begin() + (k_ - 1), items_.end(),
                       higher);
      threshold_ = items_[k_ - 1].similarity;
      std::erase_if(items_, [this](const Neighbor& n) {
        return n.similarity < threshold_;
      });
    }
    limit_ = std::max(limit_, 2 * items_.size());
  }

  const std::vector<Neighbor>& items() const { return items_; }

  // The kept items, most similar first, equal similarities by ordinal.
  std::vector<Neighbor> Finish() {
    Prune();
    std::sort(items_.begin(), items_.end(),
              [](const Neighbor& a, const Neighbor& b) {
                if (a.similarity != b.similarity) {
                  return a.similarity > b.similarity;
                }
                return a.ordinal < b.ordinal;
              });
    return std::move(items_);
  }

 private:
  size_t k_;
  size_t limit_;
  float threshold_ = -std::numeric_limits<float>::infinity();
  std::vector<Neighbor> items_;
};

// How many candidate rows ahead the scan prefetches.
constexpr size_t kPrefetchRows = 2;

struct Search {
  const NearestQuery& q;
  size_t num_queries;
  size_t dim;
  std::vector<float> query_norms;
  // Rows [0, end) may be candidates.
  uint32_t end;

  uint32_t Excluded(size_t query) const {
    return q.exclude.empty() ? kNoExclude : q.exclude[query];
  }

  float Score(size_t query, float dot, float row_norm) const {
    return q.metric == Similarity::kCosine
               ? Cosine(dot, query_norms[query], row_norm)
               : dot;
  }

  // One pass over the candidate rows in [begin, stop), each row scored
  // against every query. The candidates of a block are listed first, so
  // that the rows a few candidates ahead can be prefetched: with a sparse
  // filter the rows are scattered and the hardware prefetcher does not
  // guess them.
  void ScanRows(uint32_t begin, uint32_t stop, std::vector<TopK>* top) const {
    const EmbeddingMatrix& m = *q.matrix;
    const size_t row_bytes =
        dim *
        (m.type == VectorType::kFloat16 ? sizeof(uint16_t) : sizeof(float));
    std::vector<float> decoded(dim);
    std::vector<uint32_t> ords;
    ords.reserve(kEmbeddingBlockRows);
    for (uint32_t b = begin / kEmbeddingBlockRows;
         b * kEmbeddingBlockRows < stop; ++b) {
      const EmbeddingBlock* block = m.blocks[b].get();
      if (block == nullptr) continue;
      const uint32_t first = std::max(begin, block->first_ordinal);
      const uint32_t last = std::min(stop, block->first_ordinal + block->rows);
      ListCandidates(first, last, &ords);
      const char* base = m.type == VectorType::kFloat16
                             ? reinterpret_cast<const char*>(block->f16.data())
                             : reinterpret_cast<const char*>(block->f32.data());
      for (size_t j = 0; j < ords.size(); ++j) {
        if (j + kPrefetchRows < ords.size()) {
          const char* ahead =
              base +
              (ords[j + kPrefetchRows] - block->first_ordinal) * row_bytes;
          for (size_t line = 0; line < row_bytes; line += 64) {
            __builtin_prefetch(ahead + line);
          }
        }
        const uint32_t o = ords[j];
        const size_t r = o - block->first_ordinal;
        const float* row;
        if (m.type == VectorType::kFloat16) {
          DecodeF16(block->f16.data() + r * dim, dim, decoded.data());
          row = decoded.data();
        } else {
          row = block->f32.data() + r * dim;
        }
        for (size_t i = 0; i < num_queries; ++i) {
          if (o == Excluded(i)) continue;
          const float dot = DotF32(q.queries.data() + i * dim, row, dim);
          (*top)[i].Push(o, Score(i, dot, block->norms[r]));
        }
      }
    }
  }

  // The candidates in [first, last), ascending, into *out.
  void ListCandidates(uint32_t first, uint32_t last,
                      std::vector<uint32_t>* out) const {
    out->clear();
    const std::span<const uint64_t> words = q.candidates->words();
    for (uint32_t w = first / 64; w * 64 < last; ++w) {
      uint64_t bits = words[w];
      if (w * 64 < first) bits &= ~uint64_t{0} << (first - w * 64);
      if (last - w * 64 < 64) bits &= (uint64_t{1} << (last - w * 64)) - 1;
      while (bits != 0) {
        out->push_back(w * 64 + static_cast<uint32_t>(std::countr_zero(bits)));
        bits &= bits - 1;
      }
    }
  }

  // Blocks whose first ordinal is in [begin, stop), each scored with one
  // sgemm of every query against its candidate rows.
  void GemmBlocks(uint32_t begin, uint32_t stop, std::vector<TopK>* top) const {
    const EmbeddingMatrix& m = *q.matrix;
    std::vector<float> rows;     // the candidate rows, float32
    std::vector<uint32_t> ords;  // their ordinals
    std::vector<float> norms;    // their norms
    std::vector<float> scores;   // num_queries x ords.size()
    const uint32_t first_block =
        (begin + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows;
    for (uint32_t b = first_block; b * kEmbeddingBlockRows < stop; ++b) {
      const EmbeddingBlock* block = m.blocks[b].get();
      if (block == nullptr) continue;
      const uint32_t last = std::min(end, block->first_ordinal + block->rows);
      ListCandidates(block->first_ordinal, last, &ords);
      norms.clear();
      for (uint32_t o : ords) {
        norms.push_back(block->norms[o - block->first_ordinal]);
      }
      if (ords.empty()) continue;
      const size_t n = ords.size();
      const float* matrix_rows;
      const bool whole = n == block->rows;
      if (whole && m.type == VectorType::kFloat32) {
        matrix_rows = block->f32.data();
      } else {
        rows.resize(n * dim);
        for (size_t j = 0; j < n; ++j) {
          const size_t r = ords[j] - block->first_ordinal;
          if (m.type == VectorType::kFloat16) {
            DecodeF16(block->f16.data() + r * dim, dim, rows.data() + j * dim);
          } else {
            std::memcpy(rows.data() + j * dim, block->f32.data() + r * dim,
                        dim * sizeof(float));
          }
        }
        matrix_rows = rows.data();
      }
      scores.resize(num_queries * n);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                  static_cast<int>(num_queries), static_cast<int>(n),
                  static_cast<int>(dim), 1.0f, q.queries.data(),
                  static_cast<int>(dim), matrix_rows, static_cast<int>(dim),
                  0.0f, scores.data(), static_cast<int>(n));
      for (size_t i = 0; i < num_queries; ++i) {
        float* s = scores.data() + i * n;
        if (q.metric == Similarity::kCosine) {
          const float qn = query_norms[i];
          for (size_t j = 0; j < n; ++j) s[j] = Cosine(s[j], qn, norms[j]);
        }
        TopK& t = (*top)[i];
        const uint32_t excluded = Excluded(i);
        for (size_t j = NextAtLeast(s, n, 0, t.threshold()); j < n;
             j = NextAtLeast(s, n, j + 1, t.threshold())) {
          if (ords[j] != excluded) t.Push(ords[j], s[j]);
        }
      }
    }
  }
};

}  // namespace

std::vector<std::vector<Neighbor>> NearestWithTies(const NearestQuery& query) {
  const EmbeddingMatrix& m = *query.matrix;
  Search search{
      query, m.dim == 0 ? 0 : query.queries.size() / m.dim, m.dim, {}, 0};
  search.end = static_cast<uint32_t>(
      std::min<size_t>(m.num_rows, query.candidates->size()));
  search.end = std::min<uint32_t>(
      search.end, static_cast<uint32_t>(m.blocks.size()) * kEmbeddingBlockRows);
  for (size_t i = 0; i < search.num_queries; ++i) {
    search.query_norms.push_back(Norm(query.queries.data() + i * m.dim, m.dim));
  }
  const size_t k = std::max<size_t>(1, query.k);
  const bool batched = search.num_queries >= kNearestBatchQueries;
  if (batched) SingleThreadedBlas();

  std::mutex mu;
  std::vector<TopK> merged(search.num_queries, TopK(k));
  if (search.num_queries > 0 && search.end > 0) {
    ParallelChunks(search.end, [&](size_t begin, size_t stop) {
      std::vector<TopK> top(search.num_queries, TopK(k));
      if (batched) {
        search.GemmBlocks(static_cast<uint32_t>(begin),
                          static_cast<uint32_t>(stop), &top);
      } else {
        search.ScanRows(static_cast<uint32_t>(begin),
                        static_cast<uint32_t>(stop), &top);
      }
      std::lock_guard<std::mutex> lock(mu);
      for (size_t i = 0; i < top.size(); ++i) {
        for (const Neighbor& n : top[i].items()) {
          merged[i].Push(n.ordinal, n.similarity);
        }
      }
    });
  }
  std::vector<std::vector<Neighbor>> out;
  out.reserve(search.num_queries);
  for (TopK& t : merged) out.push_back(t.Finish());
  return out;
}

void BreakTies(std::vector<Neighbor>* neighbors, size_t k,
               absl::FunctionRef<bool(uint32_t, uint32_t)> id_less) {
  std::sort(neighbors->begin(), neighbors->end(),
            [&](const Neighbor& a, const Neighbor& b) {
              if (a.similarity != b.similarity) {
                return a.similarity > b.similarity;
              }
              return id_less(a.ordinal, b.ordinal);
            });
  if (neighbors->size() > k) neighbors->resize(k);
}

void RowAsFloat(const EmbeddingMatrix& matrix, uint32_t ordinal,
                std::span<float> out) {
  std::fill(out.begin(), out.end(), 0.0f);
  const uint32_t b = ordinal / kEmbeddingBlockRows;
  if (ordinal >= matrix.num_rows || b >= matrix.blocks.size()) return;
  const EmbeddingBlock* block = matrix.blocks[b].get();
  if (block == nullptr) return;
  const size_t r = ordinal - block->first_ordinal;
  if (r >= block->rows) return;
  if (matrix.type == VectorType::kFloat16) {
    DecodeF16(block->f16.data() + r * matrix.dim, matrix.dim, out.data());
  } else {
    std::memcpy(out.data(), block->f32.data() + r * matrix.dim,
                matrix.dim * sizeof(float));
  }
}

}  // namespace winnow
