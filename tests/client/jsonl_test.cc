// JSONL lines -> documents -> columnar UpsertDocumentsRequest batches.
#include "client/winnowctl/jsonl.h"

#include <gtest/gtest.h>

#include <string>

namespace winnow::ctl {
namespace {

TEST(DocumentParserTest, ParsesEveryField) {
  DocumentParser parser(/*embedding_dimension=*/3);
  ParsedDocument doc;
  absl::Status s =
      parser.Parse(R"({"id": "doc-1", "domain": "web", "length": 123,)"
                   R"( "scores": {"quality": 0.5, "dsir": -3, "gone": null},)"
                   R"( "attributes": {"lang": "en", "src": "", "x": null},)"
                   R"( "payload": "some text", "embedding": [0.25, 1, -2e-3]})",
                   &doc);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(doc.id, "doc-1");
  EXPECT_EQ(doc.domain, "web");
  EXPECT_EQ(doc.length, 123);
  ASSERT_EQ(doc.scores.size(), 2u);  // a null score is no score
  EXPECT_EQ(doc.scores[0].first, "quality");
  EXPECT_EQ(doc.scores[0].second, 0.5f);
  EXPECT_EQ(doc.scores[1].first, "dsir");
  EXPECT_EQ(doc.scores[1].second, -3.0f);
  // An empty or null attribute value means the key is absent.
  ASSERT_EQ(doc.attributes.size(), 1u);
  EXPECT_EQ(doc.attributes[0].first, "lang");
  EXPECT_EQ(doc.attributes[0].second, "en");
  EXPECT_EQ(doc.payload, "some text");
  EXPECT_EQ(doc.embedding, (std::vector<float>{0.25f, 1.0f, -2e-3f}));
}

TEST(DocumentParserTest, OnlyIdIsRequiredAndNullMeansAbsent) {
  DocumentParser parser(0);
  ParsedDocument doc;
  ASSERT_TRUE(parser.Parse(R"({"id":"a"})", &doc).ok());
  EXPECT_EQ(doc.id, "a");
  EXPECT_EQ(doc.length, 0);
  EXPECT_TRUE(doc.domain.empty());
  ASSERT_TRUE(parser
                  .Parse(R"({"id":"b","domain":null,"length":null,)"
                         R"("scores":null,"payload":null,"embedding":null})",
                         &doc)
                  .ok());
  EXPECT_EQ(doc.id, "b");
  // An empty embedding is no embedding, even with dimension 0.
  ASSERT_TRUE(parser.Parse(R"({"id":"c","embedding":[]})", &doc).ok());
  EXPECT_TRUE(doc.embedding.empty());
}

TEST(DocumentParserTest, ReusingTheDocumentClearsTheLastLine) {
  DocumentParser parser(2);
  ParsedDocument doc;
  ASSERT_TRUE(parser
                  .Parse(R"({"id":"a","domain":"web","length":5,)"
                         R"("scores":{"q":1},"embedding":[1,2],"payload":"p"})",
                         &doc)
                  .ok());
  ASSERT_TRUE(parser.Parse(R"({"id":"b"})", &doc).ok());
  EXPECT_EQ(doc.id, "b");
  EXPECT_TRUE(doc.domain.empty());
  EXPECT_EQ(doc.length, 0);
  EXPECT_TRUE(doc.scores.empty());
  EXPECT_TRUE(doc.embedding.empty());
  EXPECT_TRUE(doc.payload.empty());
}

struct BadLine {
  const char* line;
  const char* message;  // expected substring
};

class BadLineTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(BadLineTest, IsInvalidArgumentNamingTheProblem) {
  DocumentParser parser(/*embedding_dimension=*/2);
  ParsedDocument doc;
  absl::Status s = parser.Parse(GetParam().line, &doc);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << GetParam().line;
  EXPECT_NE(s.message().find(GetParam().message), absl::string_view::npos)
      << "line: " << GetParam().line << "\nmessage: " << s.message();
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, BadLineTest,
    ::testing::Values(
        BadLine{R"({"id": "a",)", "invalid JSON"},
        BadLine{R"({"id": "a"} trailing)", "invalid JSON"},
        BadLine{"not json", "invalid JSON"},
        BadLine{R"({"id": "a", "length": 1e999})", "invalid JSON"},
        BadLine{R"(["a"])", "must be a JSON object"},
        BadLine{R"("a")", "must be a JSON object"},
        BadLine{R"({})", "missing field 'id'"},
        BadLine{R"({"domain": "web"})", "missing field 'id'"},
        BadLine{R"({"id": ""})", "'id' must not be empty"},
        BadLine{R"({"id": 7})", "'id' must be a string, not a number"},
        BadLine{R"({"id": null})", "'id' must be a string, not null"},
        BadLine{R"({"id": "a", "id": "b"})", "duplicate field 'id'"},
        BadLine{R"({"id": "a", "lenght": 3})", "unknown field 'lenght'"},
        BadLine{R"({"id": "a", "domain": 3})",
                "'domain' must be a string, not a number"},
        BadLine{R"({"id": "a", "length": -1})",
                "'length' must not be negative, got -1"},
        BadLine{R"({"id": "a", "length": 1.5})",
                "'length' must be a whole number of tokens, not a fraction"},
        BadLine{R"({"id": "a", "length": "12"})",
                "'length' must be a whole number of tokens, not a string"},
        BadLine{R"({"id": "a", "length": 18446744073709551615})",
                "'length' is too large"},
        BadLine{R"({"id": "a", "scores": [1]})",
                "'scores' must be an object of name: number, not an array"},
        BadLine{R"({"id": "a", "scores": {"q": "high"}})",
                "score 'q' must be a number, not a string"},
        BadLine{R"({"id": "a", "scores": {"q": true}})",
                "score 'q' must be a number, not a boolean"},
        BadLine{R"({"id": "a", "scores": {"q": 1e39}})",
                "score 'q' is outside the float range"},
        BadLine{R"({"id": "a", "scores": {"Quality": 1}})",
                "score name 'Quality' must match"},
        BadLine{R"({"id": "a", "scores": {"9lives": 1}})",
                "score name '9lives' must match"},
        BadLine{R"({"id": "a", "scores": {"length": 1}})",
                "score name 'length' must match [a-z_][a-z0-9_]* and not be a "
                "reserved word"},
        BadLine{R"({"id": "a", "scores": {"q": 1, "q": 2}})",
                "duplicate score 'q'"},
        BadLine{R"({"id": "a", "attributes": "en"})",
                "'attributes' must be an object of key: string, not a string"},
        BadLine{R"({"id": "a", "attributes": {"lang": 1}})",
                "attribute 'lang' must be a string, not a number"},
        BadLine{R"({"id": "a", "attributes": {"my-key": "x"}})",
                "attribute key 'my-key' must match"},
        BadLine{R"({"id": "a", "attributes": {"k": "x", "k": "y"}})",
                "duplicate attribute 'k'"},
        BadLine{R"({"id": "a", "payload": 5})",
                "'payload' must be a string, not a number"},
        BadLine{R"({"id": "a", "embedding": {"x": 1}})",
                "'embedding' must be an array of numbers, not an object"},
        BadLine{R"({"id": "a", "embedding": [1, 2, 3]})",
                "'embedding' has 3 values; the collection's "
                "embedding_dimension is 2"},
        BadLine{R"({"id": "a", "embedding": [1, "2"]})",
                "embedding[1] must be a number, not a string"},
        BadLine{R"({"id": "a", "embedding": [1, 1e300]})",
                "embedding[1] is outside the float range"},
        BadLine{"{\"id\": \"\xff\"}", "invalid JSON"}));

TEST(DocumentParserTest, EmbeddingInACollectionWithoutEmbeddingsIsAnError) {
  DocumentParser parser(0);
  ParsedDocument doc;
  absl::Status s = parser.Parse(R"({"id":"a","embedding":[1]})", &doc);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("has no embeddings"), absl::string_view::npos)
      << s;
}

TEST(DocumentParserTest, BlankLines) {
  EXPECT_TRUE(DocumentParser::IsBlank(""));
  EXPECT_TRUE(DocumentParser::IsBlank(" \t\r"));
  EXPECT_FALSE(DocumentParser::IsBlank(" {}"));
}

TEST(NamesTest, ScoreNamesAndAttributeKeys) {
  EXPECT_TRUE(IsValidScoreName("quality"));
  EXPECT_TRUE(IsValidScoreName("_x9"));
  EXPECT_FALSE(IsValidScoreName(""));
  EXPECT_FALSE(IsValidScoreName("9x"));
  EXPECT_FALSE(IsValidScoreName("a.b"));
  for (const char* reserved : {"and", "or", "not", "in", "is_null", "pct",
                               "domain", "length", "id", "attr"}) {
    EXPECT_FALSE(IsValidScoreName(reserved)) << reserved;
    EXPECT_FALSE(IsValidAttributeKey(reserved)) << reserved;
    EXPECT_TRUE(IsReservedName(reserved)) << reserved;
  }
  EXPECT_TRUE(IsValidAttributeKey("lang"));
  EXPECT_TRUE(IsValidAttributeKey("id_"));
  EXPECT_FALSE(IsReservedName("lang"));
}

TEST(DocumentParserTest, ReservedAttributeKeysAreRefusedOnTheLine) {
  DocumentParser parser(0);
  ParsedDocument doc;
  for (const char* reserved : {"and", "or", "not", "in", "is_null", "pct",
                               "domain", "length", "id", "attr"}) {
    const std::string key = reserved;
    absl::Status s = parser.Parse(
        R"({"id":"a","attributes":{"lang":"en",")" + key + R"(":"x"}})", &doc);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(s.message(),
              "attributes." + key + ": '" + key + "' is a reserved name");
  }
  // A null value is checked too: the key is what the server refuses.
  EXPECT_FALSE(
      parser.Parse(R"({"id":"a","attributes":{"id":null}})", &doc).ok());
  EXPECT_TRUE(
      parser.Parse(R"({"id":"a","attributes":{"id_":"x","lang":"en"}})", &doc)
          .ok());
}

ParsedDocument Parse(DocumentParser& parser, const std::string& line) {
  ParsedDocument doc;
  absl::Status s = parser.Parse(line, &doc);
  EXPECT_TRUE(s.ok()) << s << " in " << line;
  return doc;
}

TEST(ColumnarBatchBuilderTest, AlignsSparseScoresAndAttributesWithNulls) {
  DocumentParser parser(0);
  ColumnarBatchBuilder builder("web-docs");
  for (const char* line :
       {R"({"id":"a","domain":"web","length":10,"scores":{"q":1}})",
        R"({"id":"b","domain":"code","length":20,"scores":{"p":2},)"
        R"("attributes":{"lang":"en"}})",
        R"({"id":"c","domain":"web","scores":{"q":3,"p":4},"payload":"t"})",
        R"({"id":"d"})"}) {
    ParsedDocument doc = Parse(parser, line);
    ASSERT_TRUE(builder.Accepts(doc));
    builder.Add(doc);
  }
  EXPECT_EQ(builder.size(), 4u);
  v1::UpsertDocumentsRequest batch = builder.Take();
  EXPECT_TRUE(builder.empty());
  EXPECT_EQ(batch.collection(), "web-docs");
  EXPECT_EQ(batch.sequence(), 0u);
  const v1::DocumentColumns& c = batch.columns();
  EXPECT_EQ(std::vector<std::string>(c.ids().begin(), c.ids().end()),
            (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(std::vector<std::string>(c.domains().begin(), c.domains().end()),
            (std::vector<std::string>{"web", "code", "web", ""}));
  EXPECT_EQ(std::vector<int64_t>(c.lengths().begin(), c.lengths().end()),
            (std::vector<int64_t>{10, 20, 0, 0}));
  EXPECT_EQ(std::vector<std::string>(c.payloads().begin(), c.payloads().end()),
            (std::vector<std::string>{"", "", "t", ""}));
  EXPECT_TRUE(c.embeddings().empty());

  ASSERT_EQ(c.scores_size(), 2);
  const v1::ScoreColumn& q = c.scores(0);
  EXPECT_EQ(q.name(), "q");
  ASSERT_EQ(q.values_size(), 4);
  EXPECT_EQ(q.values(0), 1.0f);
  EXPECT_EQ(q.values(2), 3.0f);
  EXPECT_EQ(
      std::vector<uint32_t>(q.null_indexes().begin(), q.null_indexes().end()),
      (std::vector<uint32_t>{1, 3}));
  const v1::ScoreColumn& p = c.scores(1);
  EXPECT_EQ(p.name(), "p");
  ASSERT_EQ(p.values_size(), 4);
  EXPECT_EQ(p.values(1), 2.0f);
  EXPECT_EQ(p.values(2), 4.0f);
  EXPECT_EQ(
      std::vector<uint32_t>(p.null_indexes().begin(), p.null_indexes().end()),
      (std::vector<uint32_t>{0, 3}));

  ASSERT_EQ(c.attributes_size(), 1);
  EXPECT_EQ(c.attributes(0).key(), "lang");
  EXPECT_EQ(std::vector<std::string>(c.attributes(0).values().begin(),
                                     c.attributes(0).values().end()),
            (std::vector<std::string>{"", "en", "", ""}));
}

TEST(ColumnarBatchBuilderTest, DropsEmptyColumnsAndSharesOneDomain) {
  DocumentParser parser(2);
  ColumnarBatchBuilder builder("c");
  for (const char* line : {R"({"id":"a","domain":"web","embedding":[1,2]})",
                           R"({"id":"b","domain":"web","embedding":[3,4]})"}) {
    builder.Add(Parse(parser, line));
  }
  v1::UpsertDocumentsRequest batch = builder.Take();
  const v1::DocumentColumns& c = batch.columns();
  EXPECT_EQ(c.ids_size(), 2);
  ASSERT_EQ(c.domains_size(), 1);  // one entry applies to every document
  EXPECT_EQ(c.domains(0), "web");
  EXPECT_EQ(c.lengths_size(), 0);   // all 0
  EXPECT_EQ(c.payloads_size(), 0);  // none
  EXPECT_EQ(std::vector<float>(c.embeddings().begin(), c.embeddings().end()),
            (std::vector<float>{1, 2, 3, 4}));

  builder.Add(Parse(parser, R"({"id":"z"})"));
  v1::UpsertDocumentsRequest next = builder.Take();
  EXPECT_EQ(next.columns().domains_size(), 0);  // every domain ""
  EXPECT_EQ(next.columns().ids(0), "z");
}

TEST(ColumnarBatchBuilderTest,
     ARepeatedIdOrAnEmbeddingMismatchStartsANewBatch) {
  DocumentParser parser(1);
  ColumnarBatchBuilder builder("c");
  builder.Add(Parse(parser, R"({"id":"a","length":1})"));
  builder.Add(Parse(parser, R"({"id":"b"})"));
  // The server refuses a batch that repeats an id; the later line must land
  // after the earlier one.
  EXPECT_FALSE(builder.Accepts(Parse(parser, R"({"id":"a","length":2})")));
  // Embeddings are one row-major column: all or none per batch.
  EXPECT_FALSE(builder.Accepts(Parse(parser, R"({"id":"c","embedding":[1]})")));
  EXPECT_TRUE(builder.Accepts(Parse(parser, R"({"id":"c"})")));
  builder.Take();
  EXPECT_TRUE(builder.Accepts(Parse(parser, R"({"id":"a","length":2})")));
  builder.Add(Parse(parser, R"({"id":"e","embedding":[1]})"));
  EXPECT_FALSE(builder.Accepts(Parse(parser, R"({"id":"f"})")));
  EXPECT_TRUE(builder.Accepts(Parse(parser, R"({"id":"f","embedding":[2]})")));
}

}  // namespace
}  // namespace winnow::ctl
