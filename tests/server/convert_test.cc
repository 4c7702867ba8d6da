#include "server/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace winnow::server {
namespace {

using winnow::v1::UpsertDocumentsRequest;

// The values of score `name` in `batch`, with NaN for null.
std::vector<float> ScoreValues(const storage::DocumentBatch& batch,
                               std::string_view name) {
  for (const storage::ScoreColumn& c : batch.scores) {
    if (c.name != name) continue;
    std::vector<float> out(c.values.begin(), c.values.end());
    for (uint32_t i : c.null_indexes) out[i] = NAN;
    return out;
  }
  return {};
}

TEST(UpsertBatchTest, ColumnsConvertWithoutCopying) {
  UpsertDocumentsRequest r;
  auto* cols = r.mutable_columns();
  cols->add_ids("a");
  cols->add_ids("b");
  cols->add_domains("web");
  cols->add_lengths(10);
  cols->add_lengths(20);
  cols->add_payloads("text a");
  cols->add_payloads("");
  auto* s = cols->add_scores();
  s->set_name("quality");
  s->add_values(0.5f);
  s->add_values(0.0f);
  s->add_null_indexes(1);
  UpsertBatch batch;
  ASSERT_TRUE(batch.Build(r).ok());
  const storage::DocumentBatch& b = batch.batch();
  ASSERT_EQ(b.ids.size(), 2u);
  EXPECT_EQ(b.ids[0].data(), cols->ids(0).data());  // a view, not a copy
  EXPECT_EQ(b.lengths.data(), cols->lengths().data());
  ASSERT_EQ(b.domains.size(), 1u);  // one domain for all, as storage takes it
  ASSERT_EQ(b.payloads.size(), 2u);
  EXPECT_EQ(*b.payloads[0], "text a");
  EXPECT_FALSE(b.payloads[1].has_value());  // empty entry = no payload
  ASSERT_EQ(b.scores.size(), 1u);
  EXPECT_EQ(b.scores[0].values.data(), s->values().data());
  ASSERT_EQ(b.scores[0].null_indexes.size(), 1u);
}

TEST(UpsertBatchTest, RowsBecomeColumnsWithNullsForMissingScores) {
  UpsertDocumentsRequest r;
  auto* d0 = r.add_documents();
  d0->set_id("a");
  d0->set_domain("web");
  d0->set_length(5);
  (*d0->mutable_scores())["quality"] = 0.25f;
  (*d0->mutable_attributes())["lang"] = "en";
  d0->set_payload("hello");
  auto* d1 = r.add_documents();
  d1->set_id("b");
  d1->set_domain("code");
  d1->set_length(7);
  (*d1->mutable_scores())["edu"] = 2.0f;
  UpsertBatch batch;
  ASSERT_TRUE(batch.Build(r).ok());
  const storage::DocumentBatch& b = batch.batch();
  ASSERT_EQ(b.ids.size(), 2u);
  EXPECT_EQ(b.ids[1], "b");
  EXPECT_EQ(b.domains[1], "code");
  EXPECT_EQ(std::vector<int64_t>(b.lengths.begin(), b.lengths.end()),
            (std::vector<int64_t>{5, 7}));
  std::vector<float> q = ScoreValues(b, "quality");
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0], 0.25f);
  EXPECT_TRUE(std::isnan(q[1]));
  std::vector<float> e = ScoreValues(b, "edu");
  EXPECT_TRUE(std::isnan(e[0]));
  EXPECT_EQ(e[1], 2.0f);
  ASSERT_EQ(b.attributes.size(), 1u);
  EXPECT_EQ(b.attributes[0].values[0], "en");
  EXPECT_EQ(b.attributes[0].values[1], "");
  ASSERT_EQ(b.payloads.size(), 2u);
  EXPECT_EQ(*b.payloads[0], "hello");
  EXPECT_FALSE(b.payloads[1].has_value());
  EXPECT_TRUE(b.embeddings.empty());
}

TEST(UpsertBatchTest, RowsThenColumnsInOneBatch) {
  UpsertDocumentsRequest r;
  auto* d0 = r.add_documents();
  d0->set_id("row");
  (*d0->mutable_scores())["quality"] = 1.0f;
  auto* cols = r.mutable_columns();
  cols->add_ids("col1");
  cols->add_ids("col2");
  cols->add_domains("wiki");
  auto* s = cols->add_scores();
  s->set_name("quality");
  s->add_values(3.0f);
  s->add_values(4.0f);
  UpsertBatch batch;
  ASSERT_TRUE(batch.Build(r).ok());
  const storage::DocumentBatch& b = batch.batch();
  ASSERT_EQ(b.ids.size(), 3u);
  EXPECT_EQ(b.ids[2], "col2");
  EXPECT_EQ(b.domains[0], "");
  EXPECT_EQ(b.domains[2], "wiki");
  EXPECT_EQ(ScoreValues(b, "quality"), (std::vector<float>{1.0f, 3.0f, 4.0f}));
}

TEST(UpsertBatchTest, MisalignedColumnIsInvalidNamingIt) {
  UpsertDocumentsRequest r;
  auto* cols = r.mutable_columns();
  cols->add_ids("a");
  cols->add_ids("b");
  cols->add_lengths(1);
  UpsertBatch batch;
  absl::Status s = batch.Build(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("columns.lengths"), std::string::npos) << s;
}

TEST(UpsertBatchTest, MisalignedScoreColumnIsInvalid) {
  UpsertDocumentsRequest r;
  auto* cols = r.mutable_columns();
  cols->add_ids("a");
  auto* sc = cols->add_scores();
  sc->set_name("q");
  sc->add_values(1);
  sc->add_values(2);
  UpsertBatch batch;
  absl::Status s = batch.Build(r);
  EXPECT_NE(s.message().find("columns.scores[0].values"), std::string::npos)
      << s;
}

TEST(UpsertBatchTest, NegativeRowLengthNamesTheDocument) {
  UpsertDocumentsRequest r;
  r.add_documents()->set_id("a");
  auto* d = r.add_documents();
  d->set_id("b");
  d->set_length(-4);
  UpsertBatch batch;
  absl::Status s = batch.Build(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("documents[1].length"), std::string::npos) << s;
}

TEST(UpsertBatchTest, NonFiniteRowScoreNamesTheDocument) {
  UpsertDocumentsRequest r;
  auto* d = r.add_documents();
  d->set_id("a");
  (*d->mutable_scores())["q"] = INFINITY;
  UpsertBatch batch;
  absl::Status s = batch.Build(r);
  EXPECT_NE(s.message().find("documents[0].scores[\"q\"]"), std::string::npos)
      << s;
}

TEST(UpsertBatchTest, EmbeddingsForSomeRowsOnlyAreInvalid) {
  UpsertDocumentsRequest r;
  auto* d0 = r.add_documents();
  d0->set_id("a");
  d0->add_embedding(1);
  d0->add_embedding(2);
  r.add_documents()->set_id("b");
  UpsertBatch batch;
  absl::Status s = batch.Build(r);
  EXPECT_NE(s.message().find("documents[1].embedding"), std::string::npos) << s;
}

TEST(UpsertBatchTest, RowEmbeddingsAreLaidOutRowMajor) {
  UpsertDocumentsRequest r;
  for (int i = 0; i < 3; ++i) {
    auto* d = r.add_documents();
    d->set_id(std::to_string(i));
    d->add_embedding(i);
    d->add_embedding(i + 0.5f);
  }
  UpsertBatch batch;
  ASSERT_TRUE(batch.Build(r).ok());
  const storage::DocumentBatch& b = batch.batch();
  EXPECT_EQ(std::vector<float>(b.embeddings.begin(), b.embeddings.end()),
            (std::vector<float>{0, 0.5f, 1, 1.5f, 2, 2.5f}));
}

TEST(UpsertBatchTest, EmptyRequestIsAnEmptyBatch) {
  UpsertBatch batch;
  ASSERT_TRUE(batch.Build(UpsertDocumentsRequest()).ok());
  EXPECT_EQ(batch.size(), 0u);
}

TEST(ScoreBatchTest, IdsAndOrdinalsTogetherAreInvalid) {
  winnow::v1::PutScoresRequest r;
  r.add_ids("a");
  r.add_ordinals(1);
  EXPECT_EQ(ToScoreBatch(r).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ScoreBatchTest, ColumnsAreViewsAlignedWithIds) {
  winnow::v1::PutScoresRequest r;
  r.add_ids("a");
  r.add_ids("b");
  auto* s = r.add_scores();
  s->set_name("q");
  s->add_values(1);
  s->add_values(2);
  s->add_null_indexes(0);
  r.set_allow_missing(true);
  absl::StatusOr<storage::ScoreBatch> b = ToScoreBatch(r);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ids.size(), 2u);
  EXPECT_TRUE(b->allow_missing);
  EXPECT_EQ(b->scores[0].values.data(), s->values().data());
  s->add_values(3);
  EXPECT_NE(ToScoreBatch(r).status().message().find("scores[0].values"),
            std::string::npos);
}

TEST(CollectionConvertTest, SpecFromProto) {
  winnow::v1::Collection c;
  c.set_name("web");
  c.set_embedding_dimension(8);
  c.set_embedding_dtype(winnow::v1::EMBEDDING_DTYPE_FLOAT16);
  absl::StatusOr<storage::CollectionSpec> spec = ToCollectionSpec(c);
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->embedding_dimension, 8u);
  EXPECT_EQ(spec->embedding_type, storage::EmbeddingType::kFloat16);
  c.set_embedding_dimension(-1);
  EXPECT_NE(ToCollectionSpec(c).status().message().find(
                "collection.embedding_dimension"),
            std::string::npos);
}

TEST(CollectionConvertTest, InfoToProto) {
  storage::CollectionInfo info;
  info.name = "web";
  info.create_time_micros = 1'700'000'000'123'456;
  info.num_documents = 3;
  info.num_tokens = 30;
  info.domains = {{"code", 1, 10}, {"web", 2, 20}};
  info.scores = {{"quality", 2}};
  winnow::v1::Collection c;
  ToProto(info, &c);
  EXPECT_EQ(c.name(), "web");
  EXPECT_EQ(c.create_time().seconds(), 1'700'000'000);
  EXPECT_EQ(c.create_time().nanos(), 123'456'000);
  EXPECT_EQ(c.stats().document_count(), 3);
  EXPECT_EQ(c.stats().domains_size(), 2);
  EXPECT_EQ(c.stats().scores(0).value_count(), 2);
  EXPECT_FALSE(c.stats().has_update_time());
}

}  // namespace
}  // namespace winnow::server
