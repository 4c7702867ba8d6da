// Column blocks and their merge operands (storage/block_merge.h).
#include "storage/block_merge.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <deque>
#include <random>

#include "rocksdb/db.h"
#include "rocksdb/table_properties.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using internal::AppendRun;
using internal::ApplyRuns;
using internal::BlockKey;
using internal::CellSpecFor;
using internal::ColumnKind;

std::vector<float> Floats(const std::string& block) {
  std::vector<float> out(block.size() / 4);
  std::memcpy(out.data(), block.data(), block.size());
  return out;
}

TEST(BlockMergeTest, RunsOverwriteAndGrowWithDefaultCells) {
  const auto spec = CellSpecFor(ColumnKind::kScore);
  std::string block;
  std::string op;
  const float a[] = {1, 2};
  const float b[] = {9};
  AppendRun(&op, 3, 2, reinterpret_cast<const char*>(a), 4);
  AppendRun(&op, 0, 1, reinterpret_cast<const char*>(b), 4);
  ASSERT_TRUE(ApplyRuns(&block, op, spec));
  std::vector<float> v = Floats(block);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0], 9);
  EXPECT_TRUE(std::isnan(v[1]));  // grown with the score default: null
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], 1);
  EXPECT_EQ(v[4], 2);
}

TEST(BlockMergeTest, MalformedOperandsAreRejected) {
  const auto spec = CellSpecFor(ColumnKind::kLength);
  std::string block;
  std::string op;
  const uint32_t x[2] = {1, 2};
  AppendRun(&op, 4095, 2, reinterpret_cast<const char*>(x), 4);  // past end
  EXPECT_FALSE(ApplyRuns(&block, op, spec));
  EXPECT_FALSE(ApplyRuns(&block, std::string("\x01\x00", 2), spec));
}

TEST(BlockMergeTest, PartialMergeIsConcatenationAndFullMergeFolds) {
  auto merge = internal::NewBlockMergeOperator();
  const std::string key = BlockKey(1, ColumnKind::kLength, 0, 0);
  std::string base(3 * 4, '\0');
  std::string op1, op2;
  const uint32_t v1 = 7, v2 = 8;
  AppendRun(&op1, 1, 1, reinterpret_cast<const char*>(&v1), 4);
  AppendRun(&op2, 1, 1, reinterpret_cast<const char*>(&v2), 4);
  std::string partial;
  std::deque<rocksdb::Slice> ops = {op1, op2};
  ASSERT_TRUE(merge->PartialMergeMulti(key, ops, &partial, nullptr));
  EXPECT_EQ(partial, op1 + op2);

  std::vector<rocksdb::Slice> operands = {rocksdb::Slice(partial)};
  rocksdb::Slice existing(base);
  std::string out;
  rocksdb::Slice existing_operand;
  // MergeOperationInput keeps a reference to the key: keep the Slice alive.
  const rocksdb::Slice key_slice(key);
  rocksdb::MergeOperator::MergeOperationInput in(key_slice, &existing, operands,
                                                 nullptr);
  rocksdb::MergeOperator::MergeOperationOutput result(out, existing_operand);
  ASSERT_TRUE(merge->FullMergeV2(in, &result));
  ASSERT_EQ(out.size(), 12u);
  uint32_t cells[3];
  std::memcpy(cells, out.data(), 12);
  EXPECT_EQ(cells[0], 0u);
  EXPECT_EQ(cells[1], 8u);  // later operand wins
  EXPECT_EQ(cells[2], 0u);

  // Ids: operands append.
  const std::string ids_key = BlockKey(1, ColumnKind::kIds, 0, 0);
  std::vector<rocksdb::Slice> appends = {
      rocksdb::Slice("\x01"
                     "b",
                     2)};
  rocksdb::Slice ids_base(
      "\x01"
      "a",
      2);
  out.clear();
  const rocksdb::Slice ids_key_slice(ids_key);
  rocksdb::MergeOperator::MergeOperationInput in2(ids_key_slice, &ids_base,
                                                  appends, nullptr);
  rocksdb::MergeOperator::MergeOperationOutput result2(out, existing_operand);
  ASSERT_TRUE(merge->FullMergeV2(in2, &result2));
  EXPECT_EQ(out, std::string("\x01"
                             "a"
                             "\x01"
                             "b",
                             4));
}

// Many PutScores on the same blocks, then compaction folds the operands into
// the blocks; the values read back before and after, and after a reopen.
TEST(BlockMergeTest, ManySparseUpdatesFoldOnCompactionAndReopen) {
  testing::TempDir dir;
  const StoreOptions options = testing::TestOptions(dir.path());
  constexpr uint32_t kDocs = 9000;  // three blocks, the last partial
  std::vector<float> want(kDocs, std::nanf(""));
  std::mt19937_64 rng(11);
  {
    std::unique_ptr<Store> store = testing::OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    std::vector<std::string> ids;
    for (uint32_t i = 0; i < kDocs; ++i) ids.push_back("d" + std::to_string(i));
    DocumentBatch docs;
    docs.ids.assign(ids.begin(), ids.end());
    ASSERT_TRUE(store->UpsertDocuments("c", docs).ok());

    for (int round = 0; round < 300; ++round) {
      std::vector<uint64_t> ords;
      std::vector<float> values;
      std::vector<uint32_t> nulls;
      std::set<uint64_t> used;
      for (int k = 0; k < 20; ++k) {
        uint64_t o = rng() % kDocs;
        if (!used.insert(o).second) continue;
        ords.push_back(o);
        if (rng() % 5 == 0) {
          nulls.push_back(static_cast<uint32_t>(values.size()));
          values.push_back(0);
          want[o] = std::nanf("");
        } else {
          values.push_back(static_cast<float>(round * 100 + k));
          want[o] = values.back();
        }
      }
      ScoreBatch batch;
      batch.ordinals = ords;
      batch.scores = {ScoreColumn{"s", values, nulls}};
      ASSERT_TRUE(store->PutScores("c", batch).ok());
    }
    auto check = [&](const Store& s) {
      absl::StatusOr<ColumnsSnapshot> snap = s.ReadColumns("c");
      ASSERT_TRUE(snap.ok());
      std::span<const float> got = snap->columns().scores.at("s");
      for (uint32_t o = 0; o < kDocs; ++o) {
        ASSERT_EQ(std::isnan(got[o]), std::isnan(want[o])) << o;
        if (!std::isnan(want[o])) {
          ASSERT_EQ(got[o], want[o]) << o;
        }
      }
    };
    check(*store);
    ASSERT_TRUE(store->Close().ok());
    // Reopen: the operands are folded on read.
    store = testing::OpenOrDie(options);
    check(*store);
    ASSERT_TRUE(store->Compact().ok());
    ASSERT_TRUE(store->Close().ok());
    store = testing::OpenOrDie(options);
    check(*store);
  }
  // After compaction each block is one plain value: no operands remain.
  rocksdb::DB* raw = nullptr;
  rocksdb::Options o;
  rocksdb::ColumnFamilyOptions blocks;
  blocks.merge_operator = internal::NewBlockMergeOperator();
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}},
      {"meta", {}},
      {"blocks", blocks},
      {"docs", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(o, options.data_dir, cfs, &handles, &raw)
          .ok());
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(ro, handles[2]));
  int score_blocks = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    internal::BlockKeyParts parts;
    ASSERT_TRUE(internal::ParseBlockKey(
        std::string_view(it->key().data(), it->key().size()), &parts));
    if (parts.kind == ColumnKind::kScore) ++score_blocks;
  }
  EXPECT_EQ(score_blocks, 3);
  // No merge entries remain in the SSTs after a full compaction.
  rocksdb::TablePropertiesCollection tables;
  ASSERT_TRUE(raw->GetPropertiesOfAllTables(handles[2], &tables).ok());
  uint64_t merge_operands = 0;
  for (const auto& [file, props] : tables) {
    merge_operands += props->num_merge_operands;
  }
  EXPECT_FALSE(tables.empty());
  EXPECT_EQ(merge_operands, 0u);
  it.reset();
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

}  // namespace
}  // namespace winnow::storage
