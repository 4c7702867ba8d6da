// Embedding blocks (format.h, "embeddings family"): the encoding of a
// write's embedding changes into Put and Merge operations, and the merge
// operator that folds them into blocks.
//
// A block value is the block's rows row-major, `row_bytes` each; a value
// shorter than the block means the missing rows hold zeros. A block none of
// whose ordinals existed before a write (a bulk ingest of new documents) is
// written whole with Put; any other change is a Merge operand of runs
//   [fixed16 start][fixed16 count | kZeroRun][fixed32 row_bytes][cells]
// where the cells (count * row_bytes bytes) are absent for a zero run (the
// rows of removed embeddings). So an upsert of a few documents into an
// existing block, or a delete, writes a few rows, not the ~4 MiB block;
// RocksDB folds the operands into the block when it reads it and at
// compaction. Runs are self-describing, so operands compose by
// concatenation. Internal to storage/.
//
// Thread safety: stateless functions; the merge operator is safe for
// concurrent use (RocksDB requires it).
#ifndef WINNOW_STORAGE_EMBEDDING_BLOCKS_H_
#define WINNOW_STORAGE_EMBEDDING_BLOCKS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/write_batch.h"

namespace winnow::storage::internal {

// The count's flag bit of a run of zero rows (no cells follow).
inline constexpr uint16_t kZeroRun = 0x8000;

// Appends one run of `count` rows from `start` (within a block); `cells`
// null for a zero run.
void AppendEmbeddingRun(std::string* operand, uint32_t start, uint32_t count,
                        uint32_t row_bytes, const char* cells);

// Applies an operand's runs to a block value in place, growing it with zero
// rows as needed; false if the operand is malformed, runs past the block, or
// its row size differs from the value's.
bool ApplyEmbeddingRuns(std::string* block, std::string_view operand);

// The merge operator of the embeddings family. Its name is persisted by
// RocksDB in OPTIONS files; keep it stable.
std::shared_ptr<rocksdb::MergeOperator> NewEmbeddingMergeOperator();

// One write's changes to a collection's embeddings: rows set to new cells
// (row_bytes each, as stored) and rows cleared (their embedding removed).
// An ordinal appears at most once.
struct EmbeddingChanges {
  uint32_t row_bytes = 0;
  std::vector<uint32_t> set;
  // The cells of `set`, row after row (set.size() * row_bytes bytes): in
  // `external` when it is set (the request's own float32 rows, which
  // outlive the write), else in `owned`.
  std::string owned;
  const char* external = nullptr;
  std::vector<uint32_t> cleared;

  bool empty() const { return set.empty() && cleared.empty(); }
  const char* row(size_t i) const {
    return (external != nullptr ? external : owned.data()) + i * row_bytes;
  }
  // A copy that owns its cells (to keep past the request).
  EmbeddingChanges Owned() const;

  // Adds the changes to `batch`: a Put of each block none of whose ordinals
  // existed before (its first ordinal >= old_rows), a Merge of runs for
  // every other block touched.
  void Encode(uint32_t collection, uint32_t old_rows,
              rocksdb::ColumnFamilyHandle* embeddings,
              rocksdb::WriteBatch* batch) const;
};

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_EMBEDDING_BLOCKS_H_
