// Payload hashes: written with each payload, removed with it, and
// backfilled by Store::ReadPayloadHashes for payloads stored without one.
#include <openssl/evp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "storage/format.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

PayloadHash Digest(std::string_view bytes) {
  PayloadHash out;
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(bytes.data(), bytes.size(), out.data(), &len,
                       EVP_sha256(), nullptr),
            1);
  return out;
}

class RecordingJob : public JobContext {
 public:
  void SetPhase(std::string phase) override { phases.push_back(phase); }
  void SetTotal(int64_t items, std::string) override { total = items; }
  void SetDone(int64_t items) override {
    EXPECT_GE(items, done);
    done = items;
    if (cancel_after >= 0 && done >= cancel_after) cancelled = true;
  }
  bool Cancelled() const override { return cancelled; }

  std::vector<std::string> phases;
  int64_t total = 0, done = 0, cancel_after = -1;
  bool cancelled = false;
};

std::string Id(int i) { return "doc-" + std::to_string(i); }
std::string Payload(int i) { return "payload " + std::to_string(i % 7); }

// n documents; document i has a payload unless i % 5 == 4.
void Write(Store& store, int n) {
  std::vector<std::string> ids, payloads;
  for (int i = 0; i < n; ++i) {
    ids.push_back(Id(i));
    payloads.push_back(Payload(i));
  }
  DocumentBatch b;
  for (int i = 0; i < n; ++i) {
    b.ids.push_back(ids[i]);
    b.payloads.push_back(i % 5 == 4
                             ? std::nullopt
                             : std::optional<std::string_view>(payloads[i]));
  }
  ASSERT_TRUE(store.UpsertDocuments("c", b).ok());
}

void ExpectHashes(const PayloadHashes& h, int n) {
  ASSERT_EQ(h.hashes.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(h.present.Get(i), i % 5 != 4) << i;
    if (i % 5 != 4) EXPECT_EQ(h.hashes[i], Digest(Payload(i))) << i;
  }
  EXPECT_TRUE(h.missing.empty());
}

// Removes the hash keys of every third ordinal, as a data directory written
// before hashes were kept has none.
void DropSomeHashes(const std::string& data_dir, int n) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, data_dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  size_t docs = 0;
  for (const std::string& name : names) {
    if (name == internal::kDocsFamily) docs = families.size();
    families.push_back({name, {}});
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open({}, data_dir, families, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (int o = 0; o < n; o += 3) {
    ASSERT_TRUE(
        db->Delete({}, handles[docs],
                   internal::DocKey(1, internal::DocField::kPayloadHash, o))
            .ok());
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
}

TEST(PayloadHashTest, IsTheSha256OfThePayload) {
  EXPECT_EQ(absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(Digest("abc").data()), 32)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  Write(*store, 50);
  RecordingJob job;
  absl::StatusOr<PayloadHashes> h = store->ReadPayloadHashes("c", job);
  ASSERT_TRUE(h.ok()) << h.status();
  ExpectHashes(*h, 50);
  EXPECT_EQ(h->backfilled, 0);
  EXPECT_TRUE(job.phases.empty());  // nothing to backfill
}

TEST(PayloadHashTest, FollowsReplacesAndDeletes) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  Write(*store, 10);
  // Document 0 gets a new payload, 1 loses its payload, 2 is deleted.
  DocumentBatch b;
  const std::string id0 = Id(0), id1 = Id(1), fresh = "fresh";
  b.ids = {id0, id1};
  b.payloads = {fresh, std::nullopt};
  ASSERT_TRUE(store->UpsertDocuments("c", b).ok());
  const std::string id2 = Id(2);
  std::vector<std::string_view> del = {id2};
  ASSERT_TRUE(store->DeleteDocuments("c", del, false).ok());
  RecordingJob job;
  absl::StatusOr<PayloadHashes> h = store->ReadPayloadHashes("c", job);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->hashes[0], Digest(fresh));
  EXPECT_FALSE(h->present.Get(1));
  EXPECT_FALSE(h->present.Get(2));
  EXPECT_TRUE(h->present.Get(3));
  EXPECT_EQ(h->backfilled, 0);
}

TEST(PayloadHashTest, BackfillsPayloadsStoredWithoutAHash) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  constexpr int kDocs = 3000;  // the backfill runs in several chunks
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    Write(*store, kDocs);
  }
  DropSomeHashes(options.data_dir, kDocs);
  int expect_missing = 0;
  for (int o = 0; o < kDocs; o += 3) expect_missing += o % 5 != 4;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    RecordingJob job;
    absl::StatusOr<PayloadHashes> h = store->ReadPayloadHashes("c", job);
    ASSERT_TRUE(h.ok()) << h.status();
    ExpectHashes(*h, kDocs);
    EXPECT_EQ(h->backfilled, expect_missing);
    EXPECT_EQ(job.total, expect_missing);
    EXPECT_EQ(job.done, expect_missing);
    EXPECT_EQ(job.phases, std::vector<std::string>{"hashing older payloads"});
  }
  // Stored durably: a reopened store has nothing left to backfill.
  std::unique_ptr<Store> store = OpenOrDie(options);
  RecordingJob job;
  absl::StatusOr<PayloadHashes> h = store->ReadPayloadHashes("c", job);
  ASSERT_TRUE(h.ok()) << h.status();
  ExpectHashes(*h, kDocs);
  EXPECT_EQ(h->backfilled, 0);
}

TEST(PayloadHashTest,
     ACancelledBackfillStopsBetweenChunksAndKeepsWhatItStored) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  constexpr int kDocs = 6000;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    Write(*store, kDocs);
  }
  DropSomeHashes(options.data_dir, kDocs);
  std::unique_ptr<Store> store = OpenOrDie(options);
  RecordingJob job;
  job.cancel_after = 1;  // after the first chunk
  absl::StatusOr<PayloadHashes> h = store->ReadPayloadHashes("c", job);
  EXPECT_EQ(h.status().code(), absl::StatusCode::kCancelled) << h.status();
  EXPECT_EQ(job.done, 1024);  // one chunk
  int expect_missing = 0;
  for (int o = 0; o < kDocs; o += 3) expect_missing += o % 5 != 4;
  RecordingJob again;
  h = store->ReadPayloadHashes("c", again);
  ASSERT_TRUE(h.ok()) << h.status();
  ExpectHashes(*h, kDocs);
  EXPECT_EQ(h->backfilled, expect_missing - 1024);
}

TEST(PayloadHashTest, UnknownCollectionIsNotFound) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  RecordingJob job;
  EXPECT_EQ(store->ReadPayloadHashes("nope", job).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace winnow::storage
