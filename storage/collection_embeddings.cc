// Collection::ReadEmbeddings (collection.h): the collection's embeddings as
// a EmbeddingMatrix.
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>

#include "absl/strings/str_format.h"
#include "storage/collection.h"
#include "storage/float16.h"
#include "storage/status.h"

namespace winnow::storage::internal {
namespace {

using ::winnow::EmbeddingBlock;
using ::winnow::EmbeddingMatrix;
using ::winnow::kEmbeddingBlockRows;

uint32_t DecodeBig32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// The block holding `ordinal`, made on first use.
EmbeddingBlock* BlockFor(EmbeddingMatrix* m,
                         std::vector<std::shared_ptr<EmbeddingBlock>>* owned,
                         uint32_t ordinal) {
  const uint32_t b = ordinal / kEmbeddingBlockRows;
  if ((*owned)[b] == nullptr) {
    auto block = std::make_shared<EmbeddingBlock>();
    block->first_ordinal = b * kEmbeddingBlockRows;
    block->rows =
        std::min(kEmbeddingBlockRows, m->num_rows - block->first_ordinal);
    const size_t cells = size_t{block->rows} * m->dim;
    if (m->type == VectorType::kFloat16) {
      block->f16.assign(cells, 0);
    } else {
      block->f32.assign(cells, 0.0f);
    }
    block->norms.assign(block->rows, 0.0f);
    (*owned)[b] = std::move(block);
  }
  return (*owned)[b].get();
}

}  // namespace

absl::StatusOr<EmbeddingsSnapshot> Collection::ReadEmbeddings(
    rocksdb::DB* db, const Families& f) const {
  if (embedding_dimension_ == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "collection '%s' has no embeddings (embedding_dimension 0)", name_));
  }
  auto m = std::make_shared<EmbeddingMatrix>();
  m->dim = embedding_dimension_;
  m->type = embedding_type_ == EmbeddingType::kFloat16
                ? VectorType::kFloat16
                : VectorType::kFloat32;
  rocksdb::ReadOptions ro;
  std::unique_ptr<const rocksdb::Snapshot,
                  std::function<void(const rocksdb::Snapshot*)>>
      db_snap(db->GetSnapshot(),
              [db](const rocksdb::Snapshot* s) { db->ReleaseSnapshot(s); });
  ro.snapshot = db_snap.get();
  {
    absl::ReaderMutexLock lock(&columns_mu_);
    m->num_rows = static_cast<uint32_t>(ids_.size());
  }
  m->present = Bitmap(m->num_rows);
  std::vector<std::shared_ptr<EmbeddingBlock>> owned(
      (size_t{m->num_rows} + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows);
  const std::string prefix = DocKey(id_, DocField::kEmbedding, 0).substr(0, 5);
  const size_t row_bytes =
      size_t{m->dim} * (m->type == VectorType::kFloat16 ? 2 : 4);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, f.docs));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    if (it->key().size() != 9) continue;
    const uint32_t o = DecodeBig32(it->key().data() + 5);
    if (o >= m->num_rows) continue;
    if (it->value().size() != row_bytes) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': embedding of ordinal %d has %d bytes, want %d",
          name_, o, it->value().size(), row_bytes));
    }
    EmbeddingBlock* block = BlockFor(m.get(), &owned, o);
    const size_t r = o - block->first_ordinal;
    double sum = 0;
    if (m->type == VectorType::kFloat16) {
      uint16_t* row = block->f16.data() + r * m->dim;
      std::memcpy(row, it->value().data(), row_bytes);
      for (uint32_t d = 0; d < m->dim; ++d) {
        const double v = HalfToFloat(row[d]);
        sum += v * v;
      }
    } else {
      float* row = block->f32.data() + r * m->dim;
      std::memcpy(row, it->value().data(), row_bytes);
      for (uint32_t d = 0; d < m->dim; ++d) sum += double{row[d]} * row[d];
    }
    block->norms[r] = static_cast<float>(std::sqrt(sum));
    m->present.Set(o);
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "read embeddings");
  m->blocks.assign(owned.begin(), owned.end());
  return EmbeddingsSnapshot{Snapshot(), std::move(m)};
}

}  // namespace winnow::storage::internal
