// Writes documents, closes, reopens and reads everything back.
#include <gtest/gtest.h>

#include <random>

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

constexpr uint32_t kDim = 8;

std::vector<TestDoc> MakeDocs(size_t begin, size_t end, std::mt19937_64& rng) {
  const char* domains[] = {"web", "code", "wiki", ""};
  const char* langs[] = {"en", "de", "fr"};
  std::uniform_real_distribution<float> unit(-1, 1);
  std::vector<TestDoc> docs;
  for (size_t i = begin; i < end; ++i) {
    TestDoc d;
    d.id = "doc-" + std::to_string(i);
    d.domain = domains[rng() % 4];
    d.length = static_cast<int64_t>(rng() % 5000);
    if (rng() % 3 != 0) d.attributes["lang"] = langs[rng() % 3];
    if (rng() % 5 == 0)
      d.attributes["source"] = "crawl-" + std::to_string(i % 7);
    if (rng() % 4 != 0) d.payload = "text of document " + std::to_string(i);
    if (i % 10 == 3) d.payload = "";  // an empty payload is still a payload
    d.embedding.resize(kDim);
    for (float& x : d.embedding) x = unit(rng);
    d.scores["quality"] = unit(rng);
    if (rng() % 2) d.scores["edu"] = static_cast<float>(rng() % 100) / 7;
    if (rng() % 10 == 0) d.scores["dsir"] = -unit(rng) * 1e30f;
    docs.push_back(std::move(d));
  }
  return docs;
}

TEST(StoreRoundTripTest, ReopenReturnsEverythingWritten) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::mt19937_64 rng(7);
  Model model;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"web-docs", kDim}).ok());
    // 10,000 documents in batches of 3,000: batches straddle blocks.
    for (size_t begin = 0; begin < 10000; begin += 3000) {
      std::vector<TestDoc> docs =
          MakeDocs(begin, std::min<size_t>(begin + 3000, 10000), rng);
      std::set<std::string> scores = {"quality", "edu", "dsir"};
      std::set<std::string> attrs = {"lang", "source"};
      DocBatchBuilder b(docs, scores, attrs);
      absl::StatusOr<UpsertResult> r =
          store->UpsertDocuments("web-docs", b.batch());
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(r->num_created, docs.size());
      EXPECT_EQ(r->ordinals.front(), begin);
      model.Upsert(docs, scores, attrs);
    }
    model.ExpectMatches(*store, "web-docs");
    ASSERT_TRUE(store->Close().ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  model.ExpectMatches(*store, "web-docs");

  // By id too, in request order, with a repeat.
  std::vector<std::string_view> ids = {"doc-9999", "doc-0", "doc-4096",
                                       "doc-0"};
  GetDocumentsOptions opts;
  opts.embedding = true;
  absl::StatusOr<GetDocumentsResult> got =
      store->GetDocuments("web-docs", ids, {}, opts);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->documents.size(), 4u);
  for (size_t i = 0; i < ids.size(); ++i) {
    testing::ExpectDocEquals(got->documents[i],
                             model.docs()[*model.Find(std::string(ids[i]))],
                             true, true);
  }
}

TEST(StoreRoundTripTest, GetDocumentsHonoursFieldOptions) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c", 2}).ok());
  TestDoc d{"a",
            "web",
            5,
            {{"lang", "en"}},
            "hello",
            {1, 2},
            {{"q", 0.5f}, {"r", 1}}};
  DocBatchBuilder b({d}, {"q", "r"}, {"lang"});
  ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());
  std::vector<std::string_view> ids = {"a"};

  GetDocumentsOptions none;
  none.attributes = none.scores = none.payload = none.embedding = false;
  absl::StatusOr<GetDocumentsResult> got =
      store->GetDocuments("c", ids, {}, none);
  ASSERT_TRUE(got.ok());
  const StoredDocument& doc = got->documents[0];
  EXPECT_EQ(doc.domain, "web");
  EXPECT_EQ(doc.length, 5u);
  EXPECT_TRUE(doc.attributes.empty());
  EXPECT_TRUE(doc.scores.empty());
  EXPECT_FALSE(doc.payload.has_value());
  EXPECT_TRUE(doc.embedding.empty());

  GetDocumentsOptions some;
  some.score_names = {"r"};
  got = store->GetDocuments("c", ids, {}, some);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->documents[0].scores, (std::map<std::string, float>{{"r", 1}}));
  EXPECT_EQ(got->documents[0].payload, "hello");
  EXPECT_TRUE(got->documents[0].embedding.empty());  // only when asked

  some.score_names = {"nope"};
  got = store->GetDocuments("c", ids, {}, some);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("score_names[0]"), std::string::npos);
}

TEST(StoreRoundTripTest, Float16EmbeddingsRoundToNearestHalf) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  const std::vector<float> in = {1.0f,    -2.5f,  0.1f,    65504.0f,
                                 1e-7f,   0.0f,   -0.0f,   3.14159f,
                                 6.1e-5f, -1e-3f, 1000.3f, 2049.0f};
  // Exact halves of the above (2049 ties to even: 2048).
  // Checked against numpy.float16.
  const std::vector<float> want = {1.0f,
                                   -2.5f,
                                   0.0999755859375f,
                                   65504.0f,
                                   1.1920928955078125e-07f,
                                   0.0f,
                                   -0.0f,
                                   3.140625f,
                                   6.097555160522461e-05f,
                                   -0.0010004043579101562f,
                                   1000.5f,
                                   2048.0f};
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(
        store
            ->CreateCollection({"half", static_cast<uint32_t>(in.size()),
                                EmbeddingType::kFloat16})
            .ok());
    TestDoc d{"x", "", 1, {}, std::nullopt, in, {}};
    DocBatchBuilder b({d}, {}, {});
    ASSERT_TRUE(store->UpsertDocuments("half", b.batch()).ok());
    // Beyond the float16 range: refused, not turned into infinity.
    TestDoc big{"y", "", 1, {}, std::nullopt, in, {}};
    big.embedding[2] = 70000.0f;
    DocBatchBuilder b2({big}, {}, {});
    absl::StatusOr<UpsertResult> r = store->UpsertDocuments("half", b2.batch());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("embeddings[2]"), std::string::npos);
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  GetDocumentsOptions opts;
  opts.embedding = true;
  std::vector<std::string_view> ids = {"x"};
  absl::StatusOr<GetDocumentsResult> got =
      store->GetDocuments("half", ids, {}, opts);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->documents[0].embedding.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got->documents[0].embedding[i], want[i]) << i;
    EXPECT_EQ(std::signbit(got->documents[0].embedding[i]),
              std::signbit(want[i]))
        << i;
  }
  absl::StatusOr<CollectionInfo> info = store->GetCollection("half");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->embedding_type, EmbeddingType::kFloat16);
  EXPECT_EQ(info->num_embeddings, 1u);
}

TEST(StoreRoundTripTest, WritesWithoutWalSyncAreReadableAfterClose) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.sync_writes = false;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    DocBatchBuilder b({TestDoc{"a", "web", 3}}, {}, {});
    ASSERT_TRUE(store->UpsertDocuments("c", b.batch()).ok());
  }  // the destructor closes
  std::unique_ptr<Store> store = OpenOrDie(options);
  absl::StatusOr<CollectionInfo> info = store->GetCollection("c");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->num_documents, 1u);
  EXPECT_EQ(info->num_tokens, 3u);
}

}  // namespace
}  // namespace winnow::storage
