// StartUpsertDocuments / FinishUpsertDocuments: batches in flight are
// invisible until durable, later batches build on them, and concurrent
// writers end in the same state as serial ones.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "storage/store.h"
#include "tests/storage/model.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::DocBatchBuilder;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestDoc;
using testing::TestOptions;

uint64_t VisibleRows(const Store& store) {
  absl::StatusOr<ColumnsSnapshot> snap = store.ReadColumns("c");
  EXPECT_TRUE(snap.ok());
  return snap.ok() ? snap->num_rows() : 0;
}

TEST(StorePipelineTest, StartedBatchIsInvisibleUntilFinished) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  DocBatchBuilder a({{"a1", "web", 1}, {"a2", "web", 2}, {"a3", "web", 3}}, {},
                    {});
  absl::StatusOr<PendingUpsert> pa =
      store->StartUpsertDocuments("c", a.batch());
  ASSERT_TRUE(pa.ok()) << pa.status();

  // Readers do not see it yet...
  EXPECT_EQ(VisibleRows(*store), 0u);
  std::vector<std::string_view> ids = {"a1"};
  EXPECT_EQ(store->GetDocuments("c", ids, {}, {}).status().code(),
            absl::StatusCode::kNotFound);
  std::vector<uint64_t> ords = {0};
  EXPECT_EQ(store->GetDocuments("c", {}, ords, {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetCollection("c")->num_ordinals, 0u);
  EXPECT_EQ(store->GetCollection("c")->num_documents, 0u);
  EXPECT_EQ(store->ReadColumns("c")->FindId("a1"), std::nullopt);

  // ...but the next batch builds on it: fresh ordinals after it.
  DocBatchBuilder b({{"b1", "code", 4}}, {}, {});
  absl::StatusOr<PendingUpsert> pb =
      store->StartUpsertDocuments("c", b.batch());
  ASSERT_TRUE(pb.ok());

  // Finishing the later batch makes both durable and visible.
  absl::StatusOr<UpsertResult> rb =
      store->FinishUpsertDocuments(*std::move(pb));
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(rb->ordinals, std::vector<uint32_t>{3});
  EXPECT_EQ(VisibleRows(*store), 4u);
  absl::StatusOr<CollectionInfo> info = store->GetCollection("c");
  EXPECT_EQ(info->num_documents, 4u);
  EXPECT_EQ(info->num_tokens, 10u);
  EXPECT_EQ(info->write_seq, 2u);

  absl::StatusOr<UpsertResult> ra =
      store->FinishUpsertDocuments(*std::move(pa));
  ASSERT_TRUE(ra.ok());
  EXPECT_EQ(ra->ordinals, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(ra->num_created, 3u);
  EXPECT_EQ(store->GetCollection("c")->num_documents, 4u);
}

TEST(StorePipelineTest, ChangingAnInvisibleDocumentPublishesEverything) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  DocBatchBuilder a({{"x", "web", 1, {}, "old", {}, {{"q", 1}}}}, {"q"}, {});
  absl::StatusOr<PendingUpsert> pa =
      store->StartUpsertDocuments("c", a.batch());
  ASSERT_TRUE(pa.ok());
  // A replace is durable and visible when Start returns, and so is what it
  // builds on.
  DocBatchBuilder b({{"x", "code", 2, {}, "new", {}, {}}}, {}, {});
  absl::StatusOr<PendingUpsert> pb =
      store->StartUpsertDocuments("c", b.batch());
  ASSERT_TRUE(pb.ok());
  EXPECT_EQ(VisibleRows(*store), 1u);
  std::vector<std::string_view> ids = {"x"};
  absl::StatusOr<GetDocumentsResult> got =
      store->GetDocuments("c", ids, {}, {});
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->documents[0].domain, "code");
  EXPECT_EQ(got->documents[0].payload, "new");
  EXPECT_TRUE(got->documents[0].scores.empty());
  EXPECT_EQ(store->GetCollection("c")->scores[0].num_values, 0u);
  // Deleting and scoring see invisible documents too (they are writers).
  ASSERT_TRUE(store->FinishUpsertDocuments(*std::move(pb)).ok());
  ASSERT_TRUE(store->FinishUpsertDocuments(*std::move(pa)).ok());
}

TEST(StorePipelineTest, UnfinishedBatchIsVisibleAfterCloseAndReopen) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    DocBatchBuilder a({{"a", "web", 1}}, {}, {});
    ASSERT_TRUE(store->StartUpsertDocuments("c", a.batch()).ok());
    // Never finished; Close flushes what RocksDB holds.
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  EXPECT_EQ(VisibleRows(*store), 1u);
  EXPECT_EQ(store->GetCollection("c")->num_documents, 1u);
}

// Writers on several threads, each owning a range of ids and upserting
// (creating and replacing) and scoring them, with batches in flight; then
// every document must hold its owner's last write, before and after reopen.
TEST(StorePipelineTest, ConcurrentWritersEndInTheLastWrittenState) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  constexpr int kThreads = 4;
  constexpr int kBatches = 40;
  std::vector<std::map<std::string, TestDoc>> want(kThreads);
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(100 + t);
        std::deque<PendingUpsert> in_flight;
        for (int b = 0; b < kBatches; ++b) {
          std::vector<TestDoc> docs;
          std::set<std::string> used;
          const int n = 1 + static_cast<int>(rng() % 300);
          for (int i = 0; i < n; ++i) {
            // Mostly new ids; sometimes one written before (a replace).
            const uint64_t k =
                rng() % 4 == 0 ? rng() % (b * 300 + 1) : b * 300 + i;
            std::string id = "t" + std::to_string(t) + "-" + std::to_string(k);
            if (!used.insert(id).second) continue;
            TestDoc d{id, "d" + std::to_string(rng() % 3),
                      static_cast<int64_t>(rng() % 1000)};
            d.scores["s"] = static_cast<float>(rng() % 1000);
            docs.push_back(d);
          }
          DocBatchBuilder builder(docs, {"s"}, {});
          absl::StatusOr<PendingUpsert> p =
              store->StartUpsertDocuments("c", builder.batch());
          ASSERT_TRUE(p.ok()) << p.status();
          for (const TestDoc& d : docs) want[t][d.id] = d;
          in_flight.push_back(*std::move(p));
          if (in_flight.size() > 3) {
            ASSERT_TRUE(
                store->FinishUpsertDocuments(std::move(in_flight.front()))
                    .ok());
            in_flight.pop_front();
          }
        }
        while (!in_flight.empty()) {
          ASSERT_TRUE(
              store->FinishUpsertDocuments(std::move(in_flight.front())).ok());
          in_flight.pop_front();
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<Store> store = OpenOrDie(options);
    size_t total = 0;
    std::vector<std::string_view> ids;
    std::vector<const TestDoc*> docs;
    for (const auto& m : want) {
      for (const auto& [id, d] : m) {
        ids.push_back(id);
        docs.push_back(&d);
      }
      total += m.size();
    }
    absl::StatusOr<CollectionInfo> info = store->GetCollection("c");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->num_ordinals, total);
    EXPECT_EQ(info->num_documents, total);
    EXPECT_EQ(info->scores[0].num_values, total);
    absl::StatusOr<GetDocumentsResult> got =
        store->GetDocuments("c", ids, {}, {});
    ASSERT_TRUE(got.ok()) << got.status();
    std::set<uint32_t> ordinals;
    for (size_t i = 0; i < ids.size(); ++i) {
      const StoredDocument& g = got->documents[i];
      ASSERT_EQ(g.id, docs[i]->id);
      ASSERT_EQ(g.domain, docs[i]->domain);
      ASSERT_EQ(g.length, docs[i]->length);
      ASSERT_EQ(g.scores, docs[i]->scores);
      ordinals.insert(g.ordinal);
    }
    // Ordinals are dense and unique.
    EXPECT_EQ(ordinals.size(), total);
    EXPECT_EQ(*ordinals.rbegin(), total - 1);
    if (round == 0) {
      ASSERT_TRUE(store->Compact().ok());
    }
  }
}

}  // namespace
}  // namespace winnow::storage
