// BlockMergeOperator: folds sparse updates into column blocks.
//
// A column block (format.h) is written whole with Put when it is fresh, and
// otherwise changed by Merge operands, which RocksDB folds into the block on
// read and on compaction:
//  - fixed-width columns: an operand is a sequence of runs
//      [fixed16 start][fixed16 count][count cells]
//    that overwrite cells [start, start + count) of the block, growing it
//    with default cells if it is shorter. A single-document update is a run
//    of one; an append of new ordinals to a partly filled block is one run.
//  - the ids column: an operand is more length-prefixed ids, appended.
// Both kinds compose by concatenation (runs apply in order; appends are in
// ordinal order, because writes to a collection are serialized), so a
// partial merge of several operands is their concatenation.
//
// Thread safety: stateless; safe for concurrent use (RocksDB requires it).
#ifndef WINNOW_STORAGE_BLOCK_MERGE_H_
#define WINNOW_STORAGE_BLOCK_MERGE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>

#include "rocksdb/merge_operator.h"
#include "storage/format.h"

namespace winnow::storage::internal {

// Appends one run to a fixed-width operand.
void AppendRun(std::string* operand, uint32_t start, uint32_t count,
               const char* cells, uint32_t width);

// Applies a fixed-width operand to a block value in place; false if the
// operand is malformed or runs past kBlockSize.
bool ApplyRuns(std::string* block, std::string_view operand, CellSpec spec);

// Appends `count` default cells of `spec` to `block`.
void AppendDefaultCells(std::string* block, uint32_t count, CellSpec spec);

// Sets `out` to the concatenation of `operands`: the partial merge of both
// merge operators, whose operands compose by concatenation.
void ConcatenateOperands(const std::deque<rocksdb::Slice>& operands,
                         std::string* out);

// The merge operator of the blocks column family. Its name is persisted by
// RocksDB in OPTIONS files; keep it stable.
std::shared_ptr<rocksdb::MergeOperator> NewBlockMergeOperator();

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_BLOCK_MERGE_H_
