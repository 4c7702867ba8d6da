// A full disk (docs/operations.md): writes fail with RESOURCE_EXHAUSTED and
// leave nothing behind, reads keep working, and writes recover once space
// returns. The disk is a DiskQuota on the store's file system
// (storage/disk_quota.h).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <string>
#include <vector>

#include "storage/disk_quota.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

// Documents "<prefix>-0" ... with 4 KiB payloads and one score.
struct Batch {
  std::vector<std::string> ids;
  std::vector<std::string> payloads;
  std::vector<float> quality;
  std::vector<int64_t> lengths;

  Batch(const std::string& prefix, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      ids.push_back(prefix + "-" + std::to_string(i));
      payloads.push_back(std::string(4096, static_cast<char>('a' + i % 26)));
      quality.push_back(static_cast<float>(i) / n);
      lengths.push_back(static_cast<int64_t>(i + 1));
    }
  }
  DocumentBatch View() const {
    DocumentBatch b;
    for (size_t i = 0; i < ids.size(); ++i) {
      b.ids.push_back(ids[i]);
      b.payloads.push_back(payloads[i]);
    }
    b.lengths = lengths;
    b.scores.push_back({"quality", quality, {}});
    return b;
  }
};

uint64_t LiveDocuments(const Store& store, const std::string& collection) {
  absl::StatusOr<CollectionInfo> info = store.GetCollection(collection);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->num_documents : 0;
}

TEST(DiskFullTest, WritesFailReadsWorkAndWritesRecover) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  auto quota = std::make_shared<DiskQuota>(UINT64_MAX);
  options.disk_quota = quota;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateCollection({"web", 0}).ok());

  // About 2 MiB of payloads more than the store has now, in batches of
  // 64 documents (256 KiB each).
  quota->set_limit(quota->used() + (2 << 20));
  size_t acked = 0;
  absl::Status full;
  for (int b = 0; b < 100; ++b) {
    Batch batch("b" + std::to_string(b), 64);
    absl::StatusOr<UpsertResult> r =
        store->UpsertDocuments("web", batch.View());
    if (!r.ok()) {
      full = r.status();
      break;
    }
    acked += 64;
  }
  ASSERT_FALSE(full.ok()) << "the quota never filled";
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_GT(quota->refusals(), 0u);
  ASSERT_GT(acked, 0u);

  // The failed batch left nothing, in memory or on disk.
  EXPECT_EQ(LiveDocuments(*store, "web"), acked);

  // Every other write fails the same way, and so does PutScores.
  Batch more("more", 64);
  EXPECT_EQ(store->UpsertDocuments("web", more.View()).status().code(),
            absl::StatusCode::kResourceExhausted);
  std::vector<std::string_view> first = {"b0-0", "b0-1"};
  std::vector<float> half = {0.5f, 0.5f};
  ScoreBatch scores;
  scores.ids = first;
  scores.scores.push_back({"edu", half, {}});
  EXPECT_EQ(store->PutScores("web", scores).status().code(),
            absl::StatusCode::kResourceExhausted);

  // Reads keep working: stats, columns, documents with payloads.
  EXPECT_EQ(LiveDocuments(*store, "web"), acked);
  {
    // (A snapshot holds the columns' reader lock: released before writing.)
    absl::StatusOr<ColumnsSnapshot> columns = store->ReadColumns("web");
    ASSERT_TRUE(columns.ok()) << columns.status();
  }
  GetDocumentsOptions get;
  absl::StatusOr<GetDocumentsResult> docs =
      store->GetDocuments("web", first, {}, get);
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->documents.size(), 2u);
  EXPECT_EQ(docs->documents[0].payload, std::string(4096, 'a'));
  EXPECT_EQ(docs->documents[1].scores.count("edu"), 0u);

  // Space returns: RocksDB's recovery, retried every 5 s, clears the
  // error, and writes succeed again within seconds.
  quota->set_limit(UINT64_MAX);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<UpsertResult> r = store->UpsertDocuments("web", more.View());
  while (!r.ok() && std::chrono::steady_clock::now() - start <
                        std::chrono::seconds(15)) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
        << r.status();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    r = store->UpsertDocuments("web", more.View());
  }
  ASSERT_TRUE(r.ok()) << r.status();
  std::printf("writes recovered %lld ms after space returned\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count()));
  ASSERT_TRUE(store->PutScores("web", scores).ok());
  EXPECT_EQ(LiveDocuments(*store, "web"), acked + 64);

  // And everything acknowledged survives a reopen.
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  options.disk_quota = nullptr;
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(LiveDocuments(*store, "web"), acked + 64);
  docs = store->GetDocuments("web", first, {}, get);
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs->documents[1].scores.at("edu"), 0.5f);
}

TEST(DiskFullTest, QuotaFollowsDeletedFiles) {
  // Compaction rewrites files and deletes the old ones; the quota must see
  // the space come back, or a long-running store would fill up for good.
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  auto quota = std::make_shared<DiskQuota>(UINT64_MAX);
  options.disk_quota = quota;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateCollection({"web", 0}).ok());
  for (int round = 0; round < 6; ++round) {
    Batch batch("same", 64);  // the same ids each time: replaces
    ASSERT_TRUE(store->UpsertDocuments("web", batch.View()).ok());
  }
  const uint64_t before = quota->used();
  ASSERT_TRUE(store->Compact().ok());
  // Six copies of the same documents shrink to one (payloads compress
  // well, so only the direction is checked).
  EXPECT_LT(quota->used(), before / 2);
  EXPECT_GT(quota->used(), 0u);
}

}  // namespace
}  // namespace winnow::storage
