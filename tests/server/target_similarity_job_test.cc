// The target_similarity job over a real store: a target document without an
// embedding, a cancelled job and a failed one write nothing, and the scores
// it writes are the best cosine with the target (checked against the
// rows' own cosine here; the numpy reference is tests/python).
#include "server/target_similarity_job.h"

#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/store_fixture.h"

namespace winnow::server {
namespace {

class FakeJob : public JobContext {
 public:
  void SetPhase(std::string) override {}
  void SetTotal(int64_t, std::string) override {}
  void SetDone(int64_t) override {}
  bool Cancelled() const override { return cancelled; }
  bool cancelled = false;
};

constexpr uint32_t kDim = 4;

class TargetSimilarityJobTest : public testing::StoreTest {
 protected:
  TargetSimilarityJobTest() : StoreTest("plain") {}

  // Collection "e": d0..d3 along the axes, d4 (no embedding).
  void SetUp() override {
    StoreTest::SetUp();
    ASSERT_TRUE(store_->CreateCollection({"e", kDim}).ok());
    storage::DocumentBatch with;
    with.ids = {"d0", "d1", "d2", "d3"};
    const std::vector<float> axes = {1, 0, 0, 0, 0, 1, 0, 0,
                                     0, 0, 1, 0, 0, 0, 0, 1};
    with.embeddings = axes;
    ASSERT_TRUE(store_->UpsertDocuments("e", with).ok());
    storage::DocumentBatch without;
    without.ids = {"d4"};
    ASSERT_TRUE(store_->UpsertDocuments("e", without).ok());
  }

  winnow::v1::ComputeScoresRequest Request(std::vector<std::string> ids) {
    winnow::v1::ComputeScoresRequest request;
    request.set_collection("e");
    for (const std::string& id : ids) {
      request.mutable_scorer()->mutable_target_similarity()->add_target_ids(id);
    }
    return request;
  }

  bool HasScore(const std::string& name) {
    absl::StatusOr<storage::ColumnsSnapshot> snap = store_->ReadColumns("e");
    return snap.ok() && snap->columns().scores.contains(name);
  }
};

TEST_F(TargetSimilarityJobTest, ScoresAreTheCosineWithTheMeanDirection) {
  FakeJob job;
  absl::StatusOr<winnow::v1::ComputeScoresResult> r =
      RunTargetSimilarity(*store_, Request({"d0", "d1"}), job);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->document_count(), 4);  // d4 has no embedding
  const std::vector<std::string_view> ids = {"d0", "d1", "d2", "d3", "d4"};
  storage::GetDocumentsOptions o;
  o.scores = true;
  absl::StatusOr<storage::GetDocumentsResult> docs =
      store_->GetDocuments("e", ids, {}, o);
  ASSERT_TRUE(docs.ok());
  const double half = 1 / std::sqrt(2.0);
  const std::vector<double> want = {half, half, 0, 0};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(docs->documents[i].scores.at("target_similarity"), want[i],
                1e-6);
  }
  EXPECT_FALSE(docs->documents[4].scores.contains("target_similarity"));
}

TEST_F(TargetSimilarityJobTest, ATargetWithoutAnEmbeddingFailsNamingIt) {
  FakeJob job;
  absl::Status s =
      RunTargetSimilarity(*store_, Request({"d0", "d4"}), job).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("target_ids[1]"), std::string::npos) << s;
  EXPECT_FALSE(HasScore("target_similarity"));
}

TEST_F(TargetSimilarityJobTest, ACancelledJobWritesNothing) {
  FakeJob job;
  job.cancelled = true;
  EXPECT_EQ(RunTargetSimilarity(*store_, Request({"d0"}), job).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_FALSE(HasScore("target_similarity"));
}

TEST_F(TargetSimilarityJobTest, ChecksNameTheField) {
  EXPECT_EQ(CheckTargetSimilarity(*store_, Request({"nope"})).status().code(),
            absl::StatusCode::kNotFound);
  winnow::v1::ComputeScoresRequest plain = Request({});
  plain.set_collection(collection_);
  plain.mutable_scorer()->mutable_target_similarity()->add_target_vectors(1);
  EXPECT_EQ(CheckTargetSimilarity(*store_, plain).status().code(),
            absl::StatusCode::kFailedPrecondition);
  winnow::v1::ComputeScoresRequest empty = Request({});
  absl::Status s = CheckTargetSimilarity(*store_, empty).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("scorer.target_similarity.target_ids"),
            std::string::npos)
      << s;
  absl::StatusOr<std::vector<std::string>> ok =
      CheckTargetSimilarity(*store_, Request({"d0"}));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, std::vector<std::string>{"target_similarity"});
}

}  // namespace
}  // namespace winnow::server
