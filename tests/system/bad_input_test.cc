// Every bad input of docs/api.md that the end-to-end RPCs can receive gets its
// status code and a message naming the field, leaves nothing half-written,
// and never takes the server down.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::ExpectError;
using testing::TempDir;
using testing::WinnowdProcess;

class BadInputTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = WinnowdProcess::Start(dir_->path() + "/data", 0,
                                    {"--max-message-bytes", "16777216"})
                  .release();
    ASSERT_NE(server_, nullptr);
    client_ = new Client(*Client::Connect(server_->target()));
    v1::CreateCollectionRequest req;
    req.mutable_collection()->set_name("docs");
    req.mutable_collection()->set_embedding_dimension(4);
    ASSERT_TRUE(client_->CreateCollection(req).ok());
    ASSERT_TRUE(Upsert(GoodBatch(0, 100)).ok());
  }
  static void TearDownTestSuite() {
    delete client_;
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->Wait(), 0) << server_->Log();
    delete server_;
    delete dir_;
  }
  void TearDown() override {
    // Nothing half-written, and the server still answers.
    v1::CountRequest req;
    req.set_collection("docs");
    absl::StatusOr<v1::CountResponse> r = client_->Count(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->count(), 100);
  }

  // Documents [begin, end) with ids "g-<i>", a quality score and a 4-d
  // embedding.
  static v1::UpsertDocumentsRequest GoodBatch(int begin, int end) {
    v1::UpsertDocumentsRequest req;
    for (int i = begin; i < end; ++i) {
      v1::Document* d = req.add_documents();
      d->set_id("g-" + std::to_string(i));
      d->set_domain("web");
      d->set_length(100 + i);
      (*d->mutable_scores())["quality"] = 0.5f;
      for (int k = 0; k < 4; ++k) d->add_embedding(k == i % 4 ? 1.f : 0.f);
    }
    return req;
  }

  // A batch of 10 new, valid documents whose 6th is changed by `spoil`.
  template <typename Fn>
  static v1::UpsertDocumentsRequest Spoiled(Fn spoil) {
    v1::UpsertDocumentsRequest req = GoodBatch(1000, 1010);
    spoil(req.mutable_documents(5));
    return req;
  }

  static absl::Status Upsert(v1::UpsertDocumentsRequest req) {
    WriterOptions opts;
    opts.max_reconnect_attempts = 0;
    DocumentWriter w = client_->UpsertDocuments("docs", opts);
    absl::Status s = w.Write(std::move(req));
    absl::Status c = w.Close();
    return s.ok() ? c : s;
  }

  static TempDir* dir_;
  static WinnowdProcess* server_;
  static Client* client_;
};

TempDir* BadInputTest::dir_ = nullptr;
WinnowdProcess* BadInputTest::server_ = nullptr;
Client* BadInputTest::client_ = nullptr;

TEST_F(BadInputTest, BadCollectionNameIsInvalidArgument) {
  const std::string too_long(65, 'a');
  for (const std::string& name :
       std::vector<std::string>{"Bad Name", "", "-x", "UPPER", too_long}) {
    v1::CreateCollectionRequest req;
    req.mutable_collection()->set_name(name);
    ExpectError(client_->CreateCollection(req).status(),
                absl::StatusCode::kInvalidArgument, "name");
  }
}

TEST_F(BadInputTest, ExistingCollectionIsAlreadyExistsAndUnknownIsNotFound) {
  v1::CreateCollectionRequest req;
  req.mutable_collection()->set_name("docs");
  EXPECT_EQ(client_->CreateCollection(req).status().code(),
            absl::StatusCode::kAlreadyExists);
  v1::CountRequest count;
  count.set_collection("nope");
  ExpectError(client_->Count(count).status(), absl::StatusCode::kNotFound,
              "nope");
}

TEST_F(BadInputTest, ReservedOrMalformedScoreNameIsInvalidArgument) {
  for (const char* name : {"domain", "and", "pct", "length", "id", "attr"}) {
    absl::Status s = Upsert(
        Spoiled([&](v1::Document* d) { (*d->mutable_scores())[name] = 1.0f; }));
    ExpectError(s, absl::StatusCode::kInvalidArgument, name);
    EXPECT_NE(s.message().find("reserved"), std::string::npos) << s;
  }
  ExpectError(Upsert(Spoiled([](v1::Document* d) {
                (*d->mutable_scores())["Bad-Name"] = 1.0f;
              })),
              absl::StatusCode::kInvalidArgument, "Bad-Name");
}

TEST_F(BadInputTest, FilterErrorsNameTheFieldAndPosition) {
  v1::CountRequest req;
  req.set_collection("docs");
  req.set_filter("qualty > 0.5");
  absl::Status s = client_->Count(req).status();
  ExpectError(s, absl::StatusCode::kInvalidArgument, "filter");
  EXPECT_NE(s.message().find("1:1"), std::string::npos) << s;
  EXPECT_NE(s.message().find("did you mean 'quality'"), std::string::npos) << s;

  req.set_filter("quality >");
  ExpectError(client_->Count(req).status(), absl::StatusCode::kInvalidArgument,
              "filter");
  req.set_filter("domain > 3");
  ExpectError(client_->Count(req).status(), absl::StatusCode::kInvalidArgument,
              "filter");

  v1::SampleRequest sample;
  sample.set_collection("docs");
  sample.set_batch_size(4);
  sample.set_world_size(1);
  sample.set_filter("length <");
  SampleReader reader = client_->Sample(sample);
  v1::SampleResponse resp;
  EXPECT_FALSE(reader.Next(&resp));
  ExpectError(reader.Finish(), absl::StatusCode::kInvalidArgument, "filter");
}

TEST_F(BadInputTest, WrongEmbeddingLengthIsInvalidArgument) {
  ExpectError(Upsert(Spoiled([](v1::Document* d) { d->add_embedding(0.5f); })),
              absl::StatusCode::kInvalidArgument, "embedding");
}

TEST_F(BadInputTest, NanOrInfScoreIsInvalidArgument) {
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    ExpectError(Upsert(Spoiled([&](v1::Document* d) {
                  (*d->mutable_scores())["quality"] = bad;
                })),
                absl::StatusCode::kInvalidArgument, "quality");
  }
  ScoreWriter w =
      client_->PutScores("docs", WriterOptions{.max_reconnect_attempts = 0});
  v1::PutScoresRequest req;
  req.add_ids("g-1");
  v1::ScoreColumn* col = req.add_scores();
  col->set_name("quality");
  col->add_values(NAN);
  absl::Status s = w.Write(req);
  absl::Status c = w.Close();
  ExpectError(s.ok() ? c : s, absl::StatusCode::kInvalidArgument, "quality");
}

TEST_F(BadInputTest, PutScoresOnUnknownDocumentIsNotFound) {
  ScoreWriter w =
      client_->PutScores("docs", WriterOptions{.max_reconnect_attempts = 0});
  v1::PutScoresRequest req;
  req.add_ids("g-1");
  req.add_ids("never-written");
  v1::ScoreColumn* col = req.add_scores();
  col->set_name("quality");
  col->add_values(0.1f);
  col->add_values(0.2f);
  absl::Status s = w.Write(req);
  absl::Status c = w.Close();
  ExpectError(s.ok() ? c : s, absl::StatusCode::kNotFound, "never-written");
  // g-1 kept its old value: the batch is atomic.
  v1::GetScoresRequest get;
  get.set_collection("docs");
  get.add_ids("g-1");
  get.add_score_names("quality");
  absl::StatusOr<v1::GetScoresResponse> r = client_->GetScores(get);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->scores_size(), 1);
  EXPECT_FLOAT_EQ(r->scores(0).values(0), 0.5f);
}

TEST_F(BadInputTest, NegativeLengthIsInvalidArgument) {
  ExpectError(Upsert(Spoiled([](v1::Document* d) { d->set_length(-1); })),
              absl::StatusCode::kInvalidArgument, "length");
}

TEST_F(BadInputTest, IdOver512BytesIsInvalidArgument) {
  ExpectError(Upsert(Spoiled(
                  [](v1::Document* d) { d->set_id(std::string(513, 'x')); })),
              absl::StatusCode::kInvalidArgument, "id");
  ExpectError(Upsert(Spoiled([](v1::Document* d) { d->set_id(""); })),
              absl::StatusCode::kInvalidArgument, "id");
}

TEST_F(BadInputTest, PayloadOverTheLimitIsInvalidArgument) {
  ExpectError(Upsert(Spoiled([](v1::Document* d) {
                d->set_payload(std::string((8 << 20) + 1, 'p'));
              })),
              absl::StatusCode::kInvalidArgument, "payload");
}

TEST_F(BadInputTest, BadWorldSizeOrRankIsInvalidArgument) {
  struct Case {
    int rank, world;
    const char* field;
  };
  for (Case k : {Case{0, 0, "world_size"}, Case{2, 2, "rank"},
                 Case{-1, 2, "rank"}, Case{5, 3, "rank"}}) {
    v1::SampleRequest req;
    req.set_collection("docs");
    req.set_batch_size(4);
    req.set_rank(k.rank);
    req.set_world_size(k.world);
    SampleReader reader = client_->Sample(req);
    v1::SampleResponse resp;
    EXPECT_FALSE(reader.Next(&resp));
    ExpectError(reader.Finish(), absl::StatusCode::kInvalidArgument, k.field);
  }
}

TEST_F(BadInputTest, MessageOverTheSizeLimitIsResourceExhausted) {
  // The server runs with --max-message-bytes 16 MiB; send 17 MiB of payload
  // over 3 documents (each under the 8 MiB payload limit).
  v1::UpsertDocumentsRequest req = GoodBatch(2000, 2003);
  for (int i = 0; i < 3; ++i) {
    req.mutable_documents(i)->set_payload(std::string(6 << 20, 'p'));
  }
  absl::Status s = Upsert(req);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

}  // namespace
}  // namespace winnow
