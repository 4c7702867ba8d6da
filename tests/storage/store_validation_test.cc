// Every bad request gets the right status code and a message naming the
// field, and leaves the store exactly as it was.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

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

class StoreValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StoreOptions options = TestOptions(dir_.path());
    options.max_id_bytes = 16;
    options.max_payload_bytes = 100;
    store_ = OpenOrDie(options);
    ASSERT_TRUE(store_->CreateCollection({"c", 2}).ok());
    ASSERT_TRUE(store_->CreateCollection({"plain"}).ok());
    std::vector<TestDoc> docs = {
        {"a", "web", 10, {{"lang", "en"}}, "pa", {1, 2}, {{"q", 1}}},
        {"b", "code", 20, {}, std::nullopt, {3, 4}, {{"q", 2}}},
        {"gone", "web", 30, {}, std::nullopt, {5, 6}, {}},
    };
    DocBatchBuilder b(docs, {"q"}, {"lang"});
    ASSERT_TRUE(store_->UpsertDocuments("c", b.batch()).ok());
    model_.Upsert(docs, {"q"}, {"lang"});
    std::vector<std::string_view> gone = {"gone"};
    ASSERT_TRUE(store_->DeleteDocuments("c", gone).ok());
    model_.Delete({"gone"});
  }

  // Expects `status` to have `code` and a message containing `field`, and
  // the store to be unchanged.
  void ExpectRejected(const absl::Status& status, absl::StatusCode code,
                      const std::string& field) {
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find(field), std::string::npos)
        << "message '" << status.message() << "' does not name '" << field
        << "'";
    model_.ExpectMatches(*store_, "c");
  }

  // A valid one-document batch to break.
  static TestDoc Good(std::string id) {
    return TestDoc{std::move(id), "web", 1, {}, "p", {0.5f, 0.5f}, {{"q", 3}}};
  }

  absl::Status Upsert(const std::vector<TestDoc>& docs,
                      const std::function<void(DocumentBatch&)>& edit = {},
                      std::set<std::string> scores = {"q"},
                      std::set<std::string> keys = {}) {
    DocBatchBuilder b(docs, scores, keys);
    if (edit) edit(b.batch());
    return store_->UpsertDocuments("c", b.batch()).status();
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  Model model_;
};

TEST_F(StoreValidationTest, UnknownCollectionIsNotFound) {
  DocBatchBuilder b({Good("x")}, {"q"}, {});
  EXPECT_EQ(store_->UpsertDocuments("nope", b.batch()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->PutScores("nope", {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteDocuments("nope", {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetDocuments("nope", {}, {}, {}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ReadColumns("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->GetCollection("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteCollection("nope").code(),
            absl::StatusCode::kNotFound);
}

TEST_F(StoreValidationTest, BadIdsAreRejected) {
  ExpectRejected(Upsert({Good("x"), Good("")}),
                 absl::StatusCode::kInvalidArgument, "ids[1]");
  ExpectRejected(Upsert({Good("x"), Good(std::string(17, 'z'))}),
                 absl::StatusCode::kInvalidArgument, "ids[1]");
  // Repeats are refused rather than "last wins".
  ExpectRejected(Upsert({Good("x"), Good("y"), Good("x")}),
                 absl::StatusCode::kInvalidArgument, "ids[2]");
}

TEST_F(StoreValidationTest, BadLengthsAreRejected) {
  TestDoc neg = Good("x");
  neg.length = -1;
  ExpectRejected(Upsert({Good("y"), neg}), absl::StatusCode::kInvalidArgument,
                 "lengths[1] (id \"x\")");
  TestDoc big = Good("x");
  big.length = int64_t{1} << 32;
  ExpectRejected(Upsert({big}), absl::StatusCode::kInvalidArgument,
                 "lengths[0]");
}

TEST_F(StoreValidationTest, NonFiniteScoresAreRejected) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    TestDoc d = Good("x");
    d.scores["q"] = bad;
    ExpectRejected(Upsert({Good("y"), d}), absl::StatusCode::kInvalidArgument,
                   "scores[0].values[1] (id \"x\")");
  }
}

TEST_F(StoreValidationTest, ReservedAndMalformedScoreNamesAreRejected) {
  for (const char* name : {"domain", "and", "or", "not", "in", "is_null", "pct",
                           "length", "id", "attr"}) {
    TestDoc d = Good("x");
    d.scores = {{name, 1}};
    absl::Status s = Upsert({d}, {}, {name});
    ExpectRejected(s, absl::StatusCode::kInvalidArgument, "scores[0].name");
    EXPECT_NE(s.message().find("reserved"), std::string::npos) << s;
  }
  TestDoc d = Good("x");
  d.scores = {{"Quality", 1}};
  ExpectRejected(Upsert({d}, {}, {"Quality"}),
                 absl::StatusCode::kInvalidArgument, "scores[0].name");
  ExpectRejected(Upsert({Good("x")}, {}, {"a", "b-c"}),
                 absl::StatusCode::kInvalidArgument, "scores[1].name");
  // Reserved names as attribute keys too.
  ExpectRejected(Upsert({Good("x")}, {}, {"q"}, {"id"}),
                 absl::StatusCode::kInvalidArgument, "attributes[0].key");
  // And through PutScores.
  std::vector<float> v = {1};
  ScoreBatch batch;
  batch.ids = {"a"};
  batch.scores = {ScoreColumn{"pct", v, {}}};
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kInvalidArgument, "scores[0].name");
}

TEST_F(StoreValidationTest, RepeatedColumnsAreRejected) {
  std::vector<float> v = {1};
  ExpectRejected(Upsert({Good("x")},
                        [&](DocumentBatch& b) {
                          b.scores.push_back(ScoreColumn{"q", v, {}});
                        }),
                 absl::StatusCode::kInvalidArgument, "scores[1].name");
  ExpectRejected(Upsert({Good("x")},
                        [&](DocumentBatch& b) {
                          b.attributes.push_back(AttributeColumn{"k", {"a"}});
                          b.attributes.push_back(AttributeColumn{"k", {"b"}});
                        }),
                 absl::StatusCode::kInvalidArgument, "attributes[1].key");
}

TEST_F(StoreValidationTest, MisalignedColumnsAreRejected) {
  std::vector<int64_t> one = {1};
  std::vector<float> one_f = {1};
  std::vector<uint32_t> bad_nulls = {1, 0};
  ExpectRejected(Upsert({Good("x"), Good("y")},
                        [&](DocumentBatch& b) { b.lengths = one; }),
                 absl::StatusCode::kInvalidArgument, "lengths");
  ExpectRejected(Upsert({Good("x"), Good("y"), Good("z")},
                        [&](DocumentBatch& b) { b.domains.pop_back(); }),
                 absl::StatusCode::kInvalidArgument, "domains");
  ExpectRejected(Upsert({Good("x"), Good("y")},
                        [&](DocumentBatch& b) { b.payloads.pop_back(); }),
                 absl::StatusCode::kInvalidArgument, "payloads");
  ExpectRejected(Upsert({Good("x"), Good("y")},
                        [&](DocumentBatch& b) { b.scores[0].values = one_f; }),
                 absl::StatusCode::kInvalidArgument, "scores[0].values");
  ExpectRejected(
      Upsert({Good("x"), Good("y")},
             [&](DocumentBatch& b) { b.scores[0].null_indexes = bad_nulls; }),
      absl::StatusCode::kInvalidArgument, "scores[0].null_indexes[1]");
  ExpectRejected(Upsert({Good("x"), Good("y")},
                        [&](DocumentBatch& b) {
                          b.attributes.push_back(AttributeColumn{"k", {"a"}});
                        }),
                 absl::StatusCode::kInvalidArgument, "attributes[0].values");
}

TEST_F(StoreValidationTest, OneDomainMayApplyToAllDocuments) {
  std::vector<TestDoc> docs = {Good("x"), Good("y")};
  docs[0].domain = docs[1].domain = "shared";
  DocBatchBuilder b(docs, {"q"}, {});
  b.batch().domains = {"shared"};
  ASSERT_TRUE(store_->UpsertDocuments("c", b.batch()).ok());
  model_.Upsert(docs, {"q"}, {});
  model_.ExpectMatches(*store_, "c");
}

TEST_F(StoreValidationTest, BadEmbeddingsAreRejected) {
  std::vector<float> three = {1, 2, 3};
  ExpectRejected(Upsert({Good("x"), Good("y")},
                        [&](DocumentBatch& b) { b.embeddings = three; }),
                 absl::StatusCode::kInvalidArgument, "embeddings");
  TestDoc nan = Good("y");
  nan.embedding[1] = std::nanf("");
  ExpectRejected(Upsert({Good("x"), nan}), absl::StatusCode::kInvalidArgument,
                 "embeddings[3] (document 1, id \"y\")");
  // A collection without embeddings takes none.
  std::vector<float> two = {1, 2};
  std::vector<std::string_view> ids = {"x"};
  DocumentBatch b;
  b.ids = ids;
  b.embeddings = two;
  absl::Status s = store_->UpsertDocuments("plain", b).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("embeddings"), std::string::npos) << s;
}

TEST_F(StoreValidationTest, OversizedPayloadIsRejected) {
  TestDoc d = Good("x");
  d.payload = std::string(101, 'p');
  ExpectRejected(Upsert({Good("y"), d}), absl::StatusCode::kInvalidArgument,
                 "payloads[1] (id \"x\")");
  d.payload = std::string(100, 'p');  // at the limit: fine
  EXPECT_TRUE(Upsert({d}).ok());
}

TEST_F(StoreValidationTest, PutScoresOnUnknownOrDeletedDocumentIsNotFound) {
  std::vector<float> v = {1, 2};
  ScoreBatch batch;
  batch.ids = {"a", "never"};
  batch.scores = {ScoreColumn{"q", v, {}}};
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kNotFound, "ids[1]: document \"never\"");
  batch.ids = {"a", "gone"};
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kNotFound, "ids[1]: document \"gone\"");
  std::vector<uint64_t> ords = {0, 99};
  batch.ids.clear();
  batch.ordinals = ords;
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kNotFound, "ordinals[1]");
  // Both ids and ordinals: which one is meant?
  batch.ids = {"a", "b"};
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kInvalidArgument, "ordinals");
  // A document named twice.
  batch.ordinals = {};
  batch.ids = {"a", "a"};
  ExpectRejected(store_->PutScores("c", batch).status(),
                 absl::StatusCode::kInvalidArgument, "ids[1]");
}

TEST_F(StoreValidationTest, PutScoresWithAllowMissingSkipsUnknown) {
  std::vector<float> v = {7, 8, 9};
  std::vector<uint32_t> nulls = {};
  ScoreBatch batch;
  batch.ids = {"never", "a", "gone"};
  batch.scores = {ScoreColumn{"q", v, nulls}};
  batch.allow_missing = true;
  absl::StatusOr<PutScoresResult> r = store_->PutScores("c", batch);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_documents, 1u);
  EXPECT_EQ(r->num_missing, 2u);
  model_.PutScores({0}, {{"q", {8.0f}}});
  model_.ExpectMatches(*store_, "c");
}

TEST_F(StoreValidationTest, DeleteOfNeverWrittenIdIsNotFoundAndDeletesNothing) {
  std::vector<std::string_view> ids = {"a", "never"};
  ExpectRejected(store_->DeleteDocuments("c", ids).status(),
                 absl::StatusCode::kNotFound, "ids[1]: document \"never\"");
  absl::StatusOr<DeleteResult> r = store_->DeleteDocuments("c", ids, true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->num_deleted, 1u);
  EXPECT_EQ(r->missing_ids, std::vector<std::string>{"never"});
  model_.Delete({"a"});
  model_.ExpectMatches(*store_, "c");
}

TEST_F(StoreValidationTest, DeletingADeletedDocumentIsAHarmlessRetry) {
  std::vector<std::string_view> ids = {"gone", "b", "b"};
  absl::StatusOr<DeleteResult> r = store_->DeleteDocuments("c", ids);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_deleted, 1u);
  EXPECT_EQ(r->num_already_deleted, 1u);
  model_.Delete({"b"});
  model_.ExpectMatches(*store_, "c");
}

TEST_F(StoreValidationTest, GetDocumentsReportsMissingAndTombstones) {
  std::vector<std::string_view> ids = {"a", "never"};
  EXPECT_EQ(store_->GetDocuments("c", ids, {}, {}).status().code(),
            absl::StatusCode::kNotFound);
  GetDocumentsOptions opts;
  opts.allow_missing = true;
  std::vector<uint64_t> ords = {2, 77};
  absl::StatusOr<GetDocumentsResult> r =
      store_->GetDocuments("c", ids, ords, opts);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->documents.size(), 2u);
  EXPECT_EQ(r->documents[0].id, "a");
  // The tombstone: id and length kept, the rest dropped.
  EXPECT_EQ(r->documents[1].id, "gone");
  EXPECT_TRUE(r->documents[1].deleted);
  EXPECT_EQ(r->documents[1].length, 30u);
  EXPECT_FALSE(r->documents[1].payload.has_value());
  EXPECT_EQ(r->missing_ids, std::vector<std::string>{"never"});
  EXPECT_EQ(r->missing_ordinals, std::vector<uint64_t>{77});
  // Tombstones can count as missing instead.
  opts.include_deleted = false;
  opts.allow_missing = false;
  std::vector<std::string_view> gone = {"gone"};
  absl::Status s = store_->GetDocuments("c", gone, {}, opts).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("deleted"), std::string::npos) << s;
}

TEST_F(StoreValidationTest, EmptyBatchesWriteNothing) {
  EXPECT_TRUE(store_->UpsertDocuments("c", {}).ok());
  EXPECT_TRUE(store_->PutScores("c", {}).ok());
  EXPECT_TRUE(store_->DeleteDocuments("c", {}).ok());
  model_.ExpectMatches(*store_, "c");
}

TEST_F(StoreValidationTest, ClosedStoreRefusesCalls) {
  ASSERT_TRUE(store_->Close().ok());
  EXPECT_TRUE(store_->Close().ok());  // idempotent
  EXPECT_EQ(store_->GetCollection("c").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->CreateCollection({"d"}).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->UpsertDocuments("c", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store_->ListCollections().empty());
}

}  // namespace
}  // namespace winnow::storage
