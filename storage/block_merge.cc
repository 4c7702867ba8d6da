#include "storage/block_merge.h"

#include <cstring>
#include <deque>
#include <vector>

#include "rocksdb/slice.h"

namespace winnow::storage::internal {

void AppendRun(std::string* operand, uint32_t start, uint32_t count,
               const char* cells, uint32_t width) {
  PutFixed<uint16_t>(operand, static_cast<uint16_t>(start));
  PutFixed<uint16_t>(operand, static_cast<uint16_t>(count));
  operand->append(cells, size_t{count} * width);
}

void AppendDefaultCells(std::string* block, uint32_t count, CellSpec spec) {
  if (spec.default_bits == 0) {
    block->append(size_t{count} * spec.width, '\0');
    return;
  }
  for (uint32_t i = 0; i < count; ++i) {
    block->append(reinterpret_cast<const char*>(&spec.default_bits),
                  spec.width);
  }
}

bool ApplyRuns(std::string* block, std::string_view operand, CellSpec spec) {
  const size_t w = spec.width;
  if (w == 0 || block->size() % w != 0) return false;
  size_t pos = 0;
  while (pos < operand.size()) {
    if (operand.size() - pos < 4) return false;
    uint32_t start = GetFixed<uint16_t>(operand.data() + pos);
    uint32_t count = GetFixed<uint16_t>(operand.data() + pos + 2);
    pos += 4;
    if (start + count > kBlockSize || operand.size() - pos < count * w) {
      return false;
    }
    size_t end = (start + count) * w;
    if (block->size() < end) {
      AppendDefaultCells(
          block, static_cast<uint32_t>((end - block->size()) / w), spec);
    }
    std::memcpy(block->data() + start * w, operand.data() + pos, count * w);
    pos += count * w;
  }
  return true;
}

void ConcatenateOperands(const std::deque<rocksdb::Slice>& operands,
                         std::string* out) {
  size_t total = 0;
  for (const rocksdb::Slice& op : operands) total += op.size();
  out->clear();
  out->reserve(total);
  for (const rocksdb::Slice& op : operands) out->append(op.data(), op.size());
}

namespace {

class BlockMergeOperator final : public rocksdb::MergeOperator {
 public:
  const char* Name() const override { return "winnow.BlockMergeOperator"; }

  bool FullMergeV2(const MergeOperationInput& in,
                   MergeOperationOutput* out) const override {
    BlockKeyParts key;
    if (!ParseBlockKey(std::string_view(in.key.data(), in.key.size()), &key)) {
      return false;
    }
    std::string& value = out->new_value;
    value.clear();
    if (in.existing_value != nullptr) {
      value.assign(in.existing_value->data(), in.existing_value->size());
    }
    if (key.kind == ColumnKind::kIds) {
      for (const rocksdb::Slice& op : in.operand_list) {
        value.append(op.data(), op.size());
      }
      return true;
    }
    const CellSpec spec = CellSpecFor(key.kind);
    for (const rocksdb::Slice& op : in.operand_list) {
      if (!ApplyRuns(&value, std::string_view(op.data(), op.size()), spec)) {
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

std::shared_ptr<rocksdb::MergeOperator> NewBlockMergeOperator() {
  return std::make_shared<BlockMergeOperator>();
}

}  // namespace winnow::storage::internal
