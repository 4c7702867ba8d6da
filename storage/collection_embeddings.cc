// The collection's cached embedding matrix (collection.h): loading it from
// the embeddings family, keeping it up to date with writes, and reading
// documents' embeddings for GetDocuments.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "storage/collection.h"
#include "storage/float16.h"
#include "storage/status.h"

namespace winnow::storage::internal {
namespace {

using ::winnow::EmbeddingBlock;
using ::winnow::EmbeddingMatrix;
using ::winnow::kEmbeddingBlockRows;

static_assert(kEmbeddingBlockRows == kBlockSize,
              "embedding blocks are storage blocks");

// Every half's float value: a table lookup is several times faster than
// HalfToFloat's branches, and the 256 KiB table stays in L2.
const std::array<float, 65536>& HalfTable() {
  static const auto* table = [] {
    auto* t = new std::array<float, 65536>;
    for (uint32_t h = 0; h < 65536; ++h) {
      (*t)[h] = HalfToFloat(static_cast<uint16_t>(h));
    }
    return t;
  }();
  return *table;
}

// L2 norm with eight independent sums, which the compiler vectorizes.
float NormF32(const float* row, uint32_t dim) {
  float acc[8] = {};
  uint32_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    for (int k = 0; k < 8; ++k) acc[k] += row[d + k] * row[d + k];
  }
  float sum = 0;
  for (; d < dim; ++d) sum += row[d] * row[d];
  for (float a : acc) sum += a;
  return std::sqrt(sum);
}

float NormF16(const uint16_t* row, uint32_t dim) {
  const std::array<float, 65536>& t = HalfTable();
  float acc[8] = {};
  uint32_t d = 0;
  for (; d + 8 <= dim; d += 8) {
    for (int k = 0; k < 8; ++k) {
      const float v = t[row[d + k]];
      acc[k] += v * v;
    }
  }
  float sum = 0;
  for (; d < dim; ++d) sum += t[row[d]] * t[row[d]];
  for (float a : acc) sum += a;
  return std::sqrt(sum);
}

size_t CellBytes(VectorType type) {
  return type == VectorType::kFloat16 ? sizeof(uint16_t) : sizeof(float);
}

char* RowData(EmbeddingBlock* b, VectorType type, uint32_t dim, uint32_t r) {
  return type == VectorType::kFloat16
             ? reinterpret_cast<char*>(b->f16.data() + size_t{r} * dim)
             : reinterpret_cast<char*>(b->f32.data() + size_t{r} * dim);
}

const char* RowData(const EmbeddingBlock& b, VectorType type, uint32_t dim,
                    uint32_t r) {
  return type == VectorType::kFloat16
             ? reinterpret_cast<const char*>(b.f16.data() + size_t{r} * dim)
             : reinterpret_cast<const char*>(b.f32.data() + size_t{r} * dim);
}

float RowNorm(const EmbeddingBlock& b, VectorType type, uint32_t dim,
              uint32_t r) {
  return type == VectorType::kFloat16
             ? NormF16(b.f16.data() + size_t{r} * dim, dim)
             : NormF32(b.f32.data() + size_t{r} * dim, dim);
}

// A block of `rows` zero rows, with exactly the memory it needs.
std::shared_ptr<EmbeddingBlock> NewBlock(VectorType type, uint32_t dim,
                                         uint32_t first, uint32_t rows) {
  auto block = std::make_shared<EmbeddingBlock>();
  block->first_ordinal = first;
  block->rows = rows;
  const size_t cells = size_t{rows} * dim;
  if (type == VectorType::kFloat16) {
    block->f16.assign(cells, 0);
  } else {
    block->f32.assign(cells, 0.0f);
  }
  block->norms.assign(rows, 0.0f);
  return block;
}

// Rows of block b in a matrix of num_rows rows.
uint32_t BlockRows(uint32_t num_rows, uint32_t b) {
  return std::min(kEmbeddingBlockRows, num_rows - b * kEmbeddingBlockRows);
}

VectorType TypeOf(EmbeddingType t) {
  return t == EmbeddingType::kFloat16 ? VectorType::kFloat16
                                      : VectorType::kFloat32;
}

}  // namespace

std::optional<EmbeddingsSnapshot> Collection::SnapshotWithEmbeddings() const {
  // The snapshot first (it holds columns_mu_ shared, so no write can
  // publish a new version meanwhile), then the version beside it.
  std::optional<EmbeddingsSnapshot> out(
      EmbeddingsSnapshot{Snapshot(), nullptr});
  {
    absl::MutexLock lock(&emb_mu_);
    out->matrix = emb_;
  }
  if (out->matrix == nullptr) return std::nullopt;
  return out;
}

bool Collection::EmbeddingsLoaded() const {
  absl::MutexLock lock(&emb_mu_);
  return emb_ != nullptr;
}

uint64_t Collection::EstimateEmbeddingBytes() const {
  AssertWriterMayRead();
  const uint64_t rows = ids_.size();
  const uint64_t row_bytes =
      uint64_t{embedding_dimension_} * CellBytes(TypeOf(embedding_type_)) +
      sizeof(float);
  // Blocks with no embedding are not allocated; count every row (the usual
  // collection has an embedding for each document).
  return rows * row_bytes + rows / 8 +
         (rows / kEmbeddingBlockRows + 1) * (sizeof(EmbeddingBlock) + 16) +
         sizeof(EmbeddingMatrix);
}

bool Collection::HasHiddenRows() const {
  absl::ReaderMutexLock lock(&columns_mu_);
  return published_rows_ < ids_.size();
}

void Collection::PublishAll() {
  absl::WriterMutexLock lock(&columns_mu_);
  PublishLocked(rows(), write_seq_, applied_update_micros_);
  PublishEmbeddings(rows());
}

uint64_t Collection::DropEmbeddings() {
  std::shared_ptr<const EmbeddingMatrix> old;
  {
    absl::MutexLock lock(&emb_mu_);
    old = std::move(emb_);
    emb_ = nullptr;
    emb_pending_.clear();
    emb_bytes_.store(0);
  }
  return old == nullptr ? 0 : old->MemoryBytes();
}

absl::Status Collection::LoadEmbeddings(rocksdb::DB* db, const Families& f) {
  if (EmbeddingsLoaded()) return absl::OkStatus();
  absl::StatusOr<std::shared_ptr<EmbeddingMatrix>> m = ReadMatrix(db, f);
  if (!m.ok()) return m.status();
  const uint64_t bytes = (*m)->MemoryBytes();
  absl::WriterMutexLock columns_lock(&columns_mu_);
  absl::MutexLock lock(&emb_mu_);
  emb_ = *std::move(m);
  emb_pending_.clear();
  emb_bytes_.store(bytes);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<EmbeddingMatrix>> Collection::ReadMatrix(
    rocksdb::DB* db, const Families& f) const {
  AssertWriterMayRead();
  const VectorType type = TypeOf(embedding_type_);
  const uint32_t dim = embedding_dimension_;
  const size_t row_bytes = size_t{dim} * CellBytes(type);
  auto m = std::make_shared<EmbeddingMatrix>();
  m->type = type;
  m->dim = dim;
  m->num_rows = rows();
  m->present = Bitmap(m->num_rows);
  const uint32_t num_blocks =
      (m->num_rows + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows;
  m->blocks.resize(num_blocks);

  // One sequential pass over the collection's blocks. Writers are held off
  // (the caller holds write_mu_), so what is read is what is published.
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = size_t{4} << 20;
  const std::string lower = CollectionPrefix(id_);
  const std::string upper = CollectionPrefix(id_ + 1);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, f.embeddings));
  for (it->Seek(lower); it->Valid(); it->Next()) {
    if (it->key().size() != kEmbeddingKeySize) {
      return absl::DataLossError(
          absl::StrFormat("collection '%s': an embedding block key of %d bytes",
                          name_, it->key().size()));
    }
    const uint32_t b = GetBig32(it->key().data() + 4);
    const rocksdb::Slice value = it->value();
    if (b >= num_blocks || value.size() % row_bytes != 0 ||
        value.size() / row_bytes > BlockRows(m->num_rows, b)) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': embedding block %d (%d bytes) does not fit its "
          "%d rows of %d bytes",
          name_, b, value.size(),
          b < num_blocks ? BlockRows(m->num_rows, b) : 0, row_bytes));
    }
    const uint32_t first = b * kEmbeddingBlockRows;
    const uint32_t stored = static_cast<uint32_t>(value.size() / row_bytes);
    bool any = false;
    for (uint32_t r = 0; r < stored && !any; ++r) {
      any = has_embedding_.Get(first + r);
    }
    if (!any) continue;
    std::shared_ptr<EmbeddingBlock> block =
        NewBlock(type, dim, first, BlockRows(m->num_rows, b));
    std::memcpy(RowData(block.get(), type, dim, 0), value.data(), value.size());
    for (uint32_t r = 0; r < stored; ++r) {
      if (has_embedding_.Get(first + r)) {
        m->present.Set(first + r);
        block->norms[r] = RowNorm(*block, type, dim, r);
      } else {
        // Rows without an embedding hold zeros, whatever is stored.
        std::memset(RowData(block.get(), type, dim, r), 0, row_bytes);
      }
    }
    m->blocks[b] = std::move(block);
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(),
                       "reading the embeddings of collection '" + name_ + "'");
  }
  return m;
}

void Collection::StageEmbeddings(const PendingWrite& p) {
  absl::MutexLock lock(&emb_mu_);
  if (emb_ == nullptr) return;
  emb_pending_.emplace_back(p.new_rows, p.embeddings.Owned());
}

void Collection::PublishEmbeddings(uint32_t rows) {
  absl::MutexLock lock(&emb_mu_);
  if (emb_ == nullptr) return;
  size_t count = 0;
  while (count < emb_pending_.size() && emb_pending_[count].first <= rows) {
    ++count;
  }
  if (count == 0 && rows <= emb_->num_rows) return;
  rows = std::max(rows, emb_->num_rows);
  const EmbeddingMatrix& cur = *emb_;
  const VectorType type = cur.type;
  const uint32_t dim = cur.dim;
  const size_t row_bytes = size_t{dim} * CellBytes(type);
  auto next = std::make_shared<EmbeddingMatrix>();
  next->type = type;
  next->dim = dim;
  next->num_rows = rows;
  next->present = cur.present;
  next->present.Resize(rows);
  const uint32_t num_blocks =
      (rows + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows;
  next->blocks.reserve(num_blocks);
  next->blocks.assign(cur.blocks.begin(), cur.blocks.end());
  next->blocks.resize(num_blocks);
  // Copies of the blocks this version changes, made on first touch: the
  // old version's blocks are shared and never written.
  absl::flat_hash_map<uint32_t, std::shared_ptr<EmbeddingBlock>> copies;
  auto writable = [&](uint32_t b) -> EmbeddingBlock* {
    auto [it, inserted] = copies.try_emplace(b);
    if (inserted) {
      const uint32_t first = b * kEmbeddingBlockRows;
      it->second = NewBlock(type, dim, first, BlockRows(rows, b));
      if (const auto& old = next->blocks[b]; old != nullptr) {
        std::memcpy(RowData(it->second.get(), type, dim, 0),
                    RowData(*old, type, dim, 0), size_t{old->rows} * row_bytes);
        std::copy(old->norms.begin(), old->norms.end(),
                  it->second->norms.begin());
      }
    }
    return it->second.get();
  };
  // The old last block grows to its new row count.
  if (cur.num_rows > 0 && rows > cur.num_rows) {
    const uint32_t b = (cur.num_rows - 1) / kEmbeddingBlockRows;
    if (next->blocks[b] != nullptr &&
        next->blocks[b]->rows < BlockRows(rows, b)) {
      writable(b);
    }
  }
  for (size_t e = 0; e < count; ++e) {
    const EmbeddingChanges& c = emb_pending_[e].second;
    for (uint32_t o : c.cleared) {
      const uint32_t b = o / kEmbeddingBlockRows;
      next->present.Clear(o);
      if (next->blocks[b] == nullptr && !copies.contains(b)) continue;
      EmbeddingBlock* block = writable(b);
      const uint32_t r = o - block->first_ordinal;
      std::memset(RowData(block, type, dim, r), 0, row_bytes);
      block->norms[r] = 0;
    }
    for (size_t i = 0; i < c.set.size(); ++i) {
      const uint32_t o = c.set[i];
      EmbeddingBlock* block = writable(o / kEmbeddingBlockRows);
      const uint32_t r = o - block->first_ordinal;
      std::memcpy(RowData(block, type, dim, r), c.row(i), row_bytes);
      block->norms[r] = RowNorm(*block, type, dim, r);
      next->present.Set(o);
    }
  }
  for (auto& [b, block] : copies) next->blocks[b] = std::move(block);
  emb_pending_.erase(emb_pending_.begin(), emb_pending_.begin() + count);
  emb_bytes_.store(next->MemoryBytes());
  emb_ = std::move(next);
}

absl::Status Collection::ReadEmbeddingRows(
    rocksdb::DB* db, const Families& f, std::span<const uint32_t> ordinals,
    std::span<std::vector<float>* const> out) const {
  const VectorType type = TypeOf(embedding_type_);
  const uint32_t dim = embedding_dimension_;
  const size_t row_bytes = size_t{dim} * CellBytes(type);
  // One read per distinct block.
  std::vector<uint32_t> blocks;
  for (uint32_t o : ordinals) blocks.push_back(o / kEmbeddingBlockRows);
  std::sort(blocks.begin(), blocks.end());
  blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
  std::vector<std::string> keys;
  for (uint32_t b : blocks) keys.push_back(EmbeddingBlockKey(id_, b));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> families(keys.size(), f.embeddings);
  std::vector<std::string> values;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::vector<rocksdb::Status> statuses =
      db->MultiGet(ro, families, slices, &values);
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!statuses[k].ok() && !statuses[k].IsNotFound()) {
      return FromRocksDb(
          statuses[k],
          absl::StrFormat("reading embeddings of collection '%s'", name_));
    }
  }
  const std::array<float, 65536>& half = HalfTable();
  for (size_t i = 0; i < ordinals.size(); ++i) {
    const uint32_t o = ordinals[i];
    const size_t k = std::lower_bound(blocks.begin(), blocks.end(),
                                      o / kEmbeddingBlockRows) -
                     blocks.begin();
    const size_t offset = size_t{o % kEmbeddingBlockRows} * row_bytes;
    // Missing: a concurrent write removed it after the columns were read.
    if (!statuses[k].ok() || values[k].size() < offset + row_bytes) continue;
    const char* p = values[k].data() + offset;
    std::vector<float>& e = *out[i];
    e.resize(dim);
    if (type == VectorType::kFloat16) {
      for (uint32_t d = 0; d < dim; ++d) {
        e[d] = half[GetFixed<uint16_t>(p + 2 * d)];
      }
    } else {
      std::memcpy(e.data(), p, row_bytes);
    }
  }
  return absl::OkStatus();
}

// Copies row o of a matrix into `out` as floats.
void CopyMatrixRow(const EmbeddingMatrix& m, uint32_t o,
                   std::vector<float>* out) {
  const EmbeddingBlock& b = *m.blocks[o / kEmbeddingBlockRows];
  const uint32_t r = o - b.first_ordinal;
  out->resize(m.dim);
  if (m.type == VectorType::kFloat16) {
    const std::array<float, 65536>& half = HalfTable();
    const uint16_t* row = b.f16.data() + size_t{r} * m.dim;
    for (uint32_t d = 0; d < m.dim; ++d) (*out)[d] = half[row[d]];
  } else {
    std::memcpy(out->data(), b.f32.data() + size_t{r} * m.dim,
                size_t{m.dim} * sizeof(float));
  }
}

}  // namespace winnow::storage::internal
