// Collections: name rules, create/get/list/delete, and what survives a
// reopen.
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "storage/names.h"
#include "storage/store.h"
#include "tests/storage/model.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::DocBatchBuilder;
using testing::Model;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestDoc;
using testing::TestOptions;

TEST(NamesTest, CollectionNamesFollowThePattern) {
  for (const char* ok :
       {"a", "web-docs", "v1.2_final", "0abc",
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz01"}) {
    EXPECT_TRUE(ValidateCollectionName(ok, "name").ok()) << ok;
  }
  for (const char* bad :
       {"", "Web", "-web", ".x", "_x", "a b", "a/b", "é",
        "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012"}) {
    absl::Status s = ValidateCollectionName(bad, "name");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().rfind("name: ", 0), 0u) << s;
  }
}

TEST(NamesTest, ColumnNamesFollowThePatternAndAvoidReservedWords) {
  for (const char* ok : {"quality", "_x", "loss_ema", "a1", "domains", "ids"}) {
    EXPECT_TRUE(ValidateColumnName(ok, "f").ok()) << ok;
  }
  for (const char* bad : {"", "1a", "Quality", "a-b", "a.b", "a b"}) {
    EXPECT_EQ(ValidateColumnName(bad, "f").code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  absl::Status s = ValidateColumnName("domain", "scores[1].name");
  EXPECT_EQ(s.message(), "scores[1].name: 'domain' is a reserved name");
  for (const char* reserved : {"and", "or", "not", "in", "is_null", "pct",
                               "domain", "length", "id", "attr"}) {
    EXPECT_TRUE(IsReservedName(reserved)) << reserved;
  }
  EXPECT_EQ(ValidateColumnName(std::string(129, 'a'), "f").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StoreCollectionTest, CreateRejectsBadSpecsAndDuplicates) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  absl::Status s = store->CreateCollection({"Bad Name"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("name"), std::string::npos);
  s = store->CreateCollection({"c", kMaxEmbeddingDimension + 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("embedding_dimension"), std::string::npos);
  ASSERT_TRUE(store->CreateCollection({"c", 16}).ok());
  EXPECT_EQ(store->CreateCollection({"c"}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->ListCollections().size(), 1u);
}

TEST(StoreCollectionTest, ListIsSortedAndSurvivesReopen) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  int64_t created = 0;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    for (const char* name : {"zeta", "alpha", "mid.1"}) {
      ASSERT_TRUE(store->CreateCollection({name, 3}).ok());
    }
    created = store->GetCollection("alpha")->create_time_micros;
    EXPECT_GT(created, 0);
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  std::vector<CollectionInfo> all = store->ListCollections();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_EQ(all[1].name, "mid.1");
  EXPECT_EQ(all[2].name, "zeta");
  EXPECT_EQ(all[0].embedding_dimension, 3u);
  EXPECT_EQ(all[0].create_time_micros, created);
  EXPECT_EQ(all[0].num_documents, 0u);
  EXPECT_EQ(all[0].update_time_micros, 0);
}

TEST(StoreCollectionTest, DeleteCollectionRemovesEverything) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  Model other;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"doomed", 2}).ok());
    ASSERT_TRUE(store->CreateCollection({"other", 2}).ok());
    std::vector<TestDoc> docs;
    for (int i = 0; i < 5000; ++i) {
      docs.push_back(TestDoc{"d" + std::to_string(i),
                             "web",
                             i,
                             {{"lang", "en"}},
                             "payload",
                             {1, 2},
                             {{"q", 1.0f * i}}});
    }
    DocBatchBuilder b(docs, {"q"}, {"lang"});
    ASSERT_TRUE(store->UpsertDocuments("doomed", b.batch()).ok());
    absl::Status other_status =
        store->UpsertDocuments("other", b.batch()).status();
    ASSERT_TRUE(other_status.ok()) << other_status;
    other.Upsert(docs, {"q"}, {"lang"});

    // A snapshot taken before stays readable after the delete.
    absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("doomed");
    ASSERT_TRUE(snap.ok());
    std::thread deleter(
        [&] { EXPECT_TRUE(store->DeleteCollection("doomed").ok()); });
    deleter.join();  // deleting waits for no snapshot
    EXPECT_EQ(snap->num_rows(), 5000u);
    EXPECT_EQ(snap->id(4999), "d4999");
    EXPECT_EQ(snap->columns().scores.at("q")[7], 7.0f);

    EXPECT_EQ(store->GetCollection("doomed").status().code(),
              absl::StatusCode::kNotFound);
    std::vector<std::string_view> ids = {"d1"};
    EXPECT_EQ(store->DeleteDocuments("doomed", ids).status().code(),
              absl::StatusCode::kNotFound);
  }
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    EXPECT_EQ(store->GetCollection("doomed").status().code(),
              absl::StatusCode::kNotFound);
    ASSERT_EQ(store->ListCollections().size(), 1u);
    other.ExpectMatches(*store, "other");

    // A new collection of the same name starts empty.
    ASSERT_TRUE(store->CreateCollection({"doomed", 2}).ok());
    absl::StatusOr<CollectionInfo> info = store->GetCollection("doomed");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->num_ordinals, 0u);
    EXPECT_TRUE(info->scores.empty());
    EXPECT_TRUE(info->domains.empty());
    std::vector<std::string_view> ids = {"d1"};
    EXPECT_EQ(store->GetDocuments("doomed", ids, {}, {}).status().code(),
              absl::StatusCode::kNotFound);
    DocBatchBuilder b({TestDoc{"new", "code", 1}}, {}, {});
    absl::StatusOr<UpsertResult> r =
        store->UpsertDocuments("doomed", b.batch());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->ordinals[0], 0u);
    ASSERT_TRUE(store->Compact().ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  Model fresh;
  fresh.Upsert({TestDoc{"new", "code", 1}}, {}, {});
  fresh.ExpectMatches(*store, "doomed");
  other.ExpectMatches(*store, "other");
}

TEST(StoreCollectionTest, UpsertReplacesInPlaceAndRevivesDeleted) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c", 2}).ok());
  Model model;
  std::vector<TestDoc> v1 = {
      {"a", "web", 10, {{"lang", "en"}}, "one", {1, 1}, {{"q", 1}, {"r", 2}}},
      {"b", "web", 20, {}, "two", {2, 2}, {{"q", 3}}},
  };
  DocBatchBuilder b1(v1, {"q", "r"}, {"lang"});
  ASSERT_TRUE(store->UpsertDocuments("c", b1.batch()).ok());
  model.Upsert(v1, {"q", "r"}, {"lang"});

  // Replace "a": scores and attributes not given become null; the
  // embedding and payload go too.
  std::vector<TestDoc> v2 = {{"a", "code", 11, {}, std::nullopt, {}, {}}};
  DocBatchBuilder b2(v2, {}, {});
  absl::StatusOr<UpsertResult> r = store->UpsertDocuments("c", b2.batch());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_replaced, 1u);
  EXPECT_EQ(r->ordinals[0], 0u);
  model.Upsert(v2, {}, {});
  model.ExpectMatches(*store, "c");

  // Delete and revive "b": same ordinal, live again.
  std::vector<std::string_view> ids = {"b"};
  ASSERT_TRUE(store->DeleteDocuments("c", ids).ok());
  model.Delete({"b"});
  model.ExpectMatches(*store, "c");
  std::vector<TestDoc> v3 = {{"b", "wiki", 5, {}, "back", {3, 3}, {{"r", 9}}}};
  DocBatchBuilder b3(v3, {"r"}, {});
  r = store->UpsertDocuments("c", b3.batch());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->num_revived, 1u);
  EXPECT_EQ(r->ordinals[0], 1u);
  model.Upsert(v3, {"r"}, {});
  model.ExpectMatches(*store, "c");
  ASSERT_TRUE(store->Close().ok());
  store = OpenOrDie(options);
  model.ExpectMatches(*store, "c");
}

TEST(StoreCollectionTest, SnapshotIsStableWhileWritesCommit) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  DocBatchBuilder b({TestDoc{"a", "web", 1}}, {}, {});
  ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());

  std::atomic<bool> written{false};
  std::thread writer;
  {
    absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
    ASSERT_TRUE(snap.ok());
    writer = std::thread([&] {
      DocBatchBuilder b2({TestDoc{"b", "code", 2}}, {}, {});
      EXPECT_TRUE(store->UpsertDocuments("c", b2.batch()).ok());
      written = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // The write waits to apply while the snapshot is held.
    EXPECT_FALSE(written.load());
    EXPECT_EQ(snap->num_rows(), 1u);
    EXPECT_EQ(snap->FindId("b"), std::nullopt);
    // Moving keeps it valid.
    ColumnsSnapshot moved = *std::move(snap);
    EXPECT_EQ(moved.columns().num_rows, 1u);
  }
  writer.join();
  EXPECT_TRUE(written.load());
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->num_rows(), 2u);
  EXPECT_EQ(snap->FindId("b"), std::optional<uint32_t>(1));
}

// A short plan reads id hashes after its snapshot is released, while
// writers grow the collection (and its hash array) past every capacity.
TEST(StoreCollectionTest, PinnedIdHashesOutliveTheSnapshotAndGrowth) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  DocBatchBuilder b({TestDoc{"a", "web", 1}, TestDoc{"b", "web", 2}}, {}, {});
  ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());
  ColumnsSnapshot::PinnedIdHashes pinned;
  std::vector<uint64_t> at_pin;
  {
    absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
    ASSERT_TRUE(snap.ok());
    pinned = snap->PinIdHashes();
    at_pin.assign(snap->id_hashes().begin(), snap->id_hashes().end());
  }
  ASSERT_EQ(pinned.values.size(), 2u);
  for (int round = 0; round < 4; ++round) {
    std::vector<TestDoc> docs;
    for (int i = 0; i < 3000; ++i) {
      docs.push_back(TestDoc{absl::StrCat("r", round, "-", i), "web", 1});
    }
    DocBatchBuilder more(docs, {}, {});
    ASSERT_TRUE(store->UpsertDocuments("c", more.batch()).ok());
  }
  EXPECT_EQ(std::vector<uint64_t>(pinned.values.begin(), pinned.values.end()),
            at_pin);
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->num_rows(), 12002u);
  EXPECT_EQ(snap->id_hashes()[0], at_pin[0]);
  EXPECT_EQ(snap->id_hashes()[1], at_pin[1]);
  EXPECT_NE(snap->id_hashes().data(), pinned.values.data());  // it grew
}

TEST(StoreCollectionTest, FindIdsAgreesWithFindId) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  std::vector<TestDoc> docs;
  for (int i = 0; i < 300; ++i) {
    docs.push_back(TestDoc{"id-" + std::to_string(i), "web", 1});
  }
  DocBatchBuilder b(docs, {}, {});
  ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  ASSERT_TRUE(snap.ok());
  std::vector<std::string> owned;
  for (int i = 0; i < 40; ++i) {
    owned.push_back("id-" + std::to_string((i * 37) % 300));
    owned.push_back("missing-" + std::to_string(i));
  }
  owned.push_back("");
  std::vector<std::string_view> ids(owned.begin(), owned.end());
  std::vector<uint32_t> out(ids.size());
  snap->FindIds(ids, out);
  for (size_t i = 0; i < ids.size(); ++i) {
    std::optional<uint32_t> one = snap->FindId(ids[i]);
    EXPECT_EQ(out[i], one ? *one : ColumnsSnapshot::kNoOrdinal) << ids[i];
  }
  EXPECT_EQ(out[0], 0u);
  EXPECT_EQ(out[2], 37u);
  EXPECT_EQ(out[1], ColumnsSnapshot::kNoOrdinal);
}

TEST(StoreCollectionTest, CheckpointOpensAsACopy) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  DocBatchBuilder b({TestDoc{"a", "web", 4, {}, "x", {}, {{"q", 1}}}}, {"q"},
                    {});
  ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());
  const std::string copy = dir.path() + "/backup";
  ASSERT_TRUE(store->CreateCheckpoint(copy).ok());
  EXPECT_EQ(store->CreateCheckpoint(copy).code(),
            absl::StatusCode::kInvalidArgument);
  StoreOptions copy_options = options;
  copy_options.data_dir = copy;
  std::unique_ptr<Store> restored = OpenOrDie(copy_options);
  Model model;
  model.Upsert({TestDoc{"a", "web", 4, {}, "x", {}, {{"q", 1}}}}, {"q"}, {});
  model.ExpectMatches(*restored, "c");
  StoreStats stats = store->GetStats();
  EXPECT_GT(stats.block_cache_capacity_bytes, 0u);
}

}  // namespace
}  // namespace winnow::storage
