#include "storage/embedding_blocks.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "rocksdb/slice.h"
#include "storage/block_merge.h"
#include "storage/format.h"

namespace winnow::storage::internal {

void AppendEmbeddingRun(std::string* operand, uint32_t start, uint32_t count,
                        uint32_t row_bytes, const char* cells) {
  PutFixed<uint16_t>(operand, static_cast<uint16_t>(start));
  PutFixed<uint16_t>(operand, static_cast<uint16_t>(
                                  count | (cells == nullptr ? kZeroRun : 0)));
  PutFixed<uint32_t>(operand, row_bytes);
  if (cells != nullptr) operand->append(cells, size_t{count} * row_bytes);
}

bool ApplyEmbeddingRuns(std::string* block, std::string_view operand) {
  size_t pos = 0;
  while (pos < operand.size()) {
    if (operand.size() - pos < 8) return false;
    const uint32_t start = GetFixed<uint16_t>(operand.data() + pos);
    const uint32_t raw = GetFixed<uint16_t>(operand.data() + pos + 2);
    const uint32_t row_bytes = GetFixed<uint32_t>(operand.data() + pos + 4);
    pos += 8;
    const bool zero = (raw & kZeroRun) != 0;
    const uint32_t count = raw & ~uint32_t{kZeroRun};
    if (row_bytes == 0 || start + count > kBlockSize ||
        block->size() % row_bytes != 0) {
      return false;
    }
    const size_t bytes = size_t{count} * row_bytes;
    if (!zero && operand.size() - pos < bytes) return false;
    const size_t begin = size_t{start} * row_bytes;
    if (block->size() < begin + bytes) {
      if (zero && block->size() <= begin) {
        // Rows past the value hold zeros already.
        continue;
      }
      block->resize(begin + bytes, '\0');
    }
    if (zero) {
      std::memset(block->data() + begin, 0, bytes);
    } else {
      std::memcpy(block->data() + begin, operand.data() + pos, bytes);
      pos += bytes;
    }
  }
  return true;
}

namespace {

class EmbeddingMergeOperator final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "winnow.EmbeddingMergeOperator"; }

  bool FullMergeV2(const MergeOperationInput& in,
                   MergeOperationOutput* out) const override {
    std::string& value = out->new_value;
    value.clear();
    size_t total = in.existing_value != nullptr ? in.existing_value->size() : 0;
    for (const rocksdb::Slice& op : in.operand_list) total += op.size();
    value.reserve(total);
    if (in.existing_value != nullptr) {
      value.assign(in.existing_value->data(), in.existing_value->size());
    }
    for (const rocksdb::Slice& op : in.operand_list) {
      if (!ApplyEmbeddingRuns(&value, std::string_view(op.data(), op.size()))) {
        return false;
      }
    }
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& /*key*/,
                         const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value,
                         rocksdb::Logger* /*logger*/) const override {
    ConcatenateOperands(operands, new_value);
    return true;
  }
};

}  // namespace

std::shared_ptr<rocksdb::MergeOperator> NewEmbeddingMergeOperator() {
  return std::make_shared<EmbeddingMergeOperator>();
}

EmbeddingChanges EmbeddingChanges::Owned() const {
  EmbeddingChanges c;
  c.row_bytes = row_bytes;
  c.set = set;
  c.cleared = cleared;
  if (!set.empty()) c.owned.assign(row(0), set.size() * size_t{row_bytes});
  return c;
}

void EmbeddingChanges::Encode(uint32_t collection, uint32_t old_rows,
                              rocksdb::ColumnFamilyHandle* embeddings,
                              rocksdb::WriteBatch* batch) const {
  if (empty()) return;
  // (ordinal, index into set, or -1 for a cleared row), by ordinal.
  std::vector<std::pair<uint32_t, int64_t>> rows;
  rows.reserve(set.size() + cleared.size());
  for (size_t i = 0; i < set.size(); ++i) {
    rows.emplace_back(set[i], static_cast<int64_t>(i));
  }
  for (uint32_t o : cleared) rows.emplace_back(o, -1);
  if (!std::is_sorted(rows.begin(), rows.end())) {
    std::sort(rows.begin(), rows.end());
  }
  std::string value;
  size_t i = 0;
  while (i < rows.size()) {
    const uint32_t block = rows[i].first >> kBlockShift;
    const uint32_t block_start = block << kBlockShift;
    size_t end = i;
    while (end < rows.size() && (rows[end].first >> kBlockShift) == block) {
      ++end;
    }
    value.clear();
    const std::string key = EmbeddingBlockKey(collection, block);
    // A fresh block whose rows are consecutive in `cells` from its first
    // ordinal (a bulk ingest): Put them straight from there.
    bool straight = block_start >= old_rows && rows[i].first == block_start &&
                    rows[i].second >= 0;
    for (size_t k = i + 1; straight && k < end; ++k) {
      straight = rows[k].first == rows[k - 1].first + 1 &&
                 rows[k].second == rows[k - 1].second + 1;
    }
    if (straight) {
      batch->Put(embeddings, key,
                 rocksdb::Slice(row(static_cast<size_t>(rows[i].second)),
                                (end - i) * size_t{row_bytes}));
    } else if (block_start >= old_rows) {
      // A fresh block: the whole value, zero rows in any gaps.
      const uint32_t last = rows[end - 1].first - block_start;
      value.assign(size_t{last + 1} * row_bytes, '\0');
      for (size_t k = i; k < end; ++k) {
        if (rows[k].second < 0) continue;
        std::memcpy(
            value.data() + size_t{rows[k].first - block_start} * row_bytes,
            row(static_cast<size_t>(rows[k].second)), row_bytes);
      }
      batch->Put(embeddings, key, value);
    } else {
      // Runs of consecutive ordinals of one kind (set or cleared).
      size_t k = i;
      while (k < end) {
        const bool zero = rows[k].second < 0;
        size_t run_end = k + 1;
        while (run_end < end &&
               rows[run_end].first == rows[run_end - 1].first + 1 &&
               (rows[run_end].second < 0) == zero) {
          ++run_end;
        }
        const uint32_t count = static_cast<uint32_t>(run_end - k);
        const uint32_t start = rows[k].first - block_start;
        if (zero) {
          AppendEmbeddingRun(&value, start, count, row_bytes, nullptr);
        } else {
          // Set rows are usually consecutive in `cells` too; copy row by
          // row otherwise.
          PutFixed<uint16_t>(&value, static_cast<uint16_t>(start));
          PutFixed<uint16_t>(&value, static_cast<uint16_t>(count));
          PutFixed<uint32_t>(&value, row_bytes);
          for (size_t r = k; r < run_end; ++r) {
            value.append(row(static_cast<size_t>(rows[r].second)), row_bytes);
          }
        }
        k = run_end;
      }
      batch->Merge(embeddings, key, value);
    }
    i = end;
  }
}

}  // namespace winnow::storage::internal
