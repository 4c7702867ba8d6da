// ScoreService.ReportTraining in process (server/score_service.cc): acks in
// order echoing (stream_id, sequence), resends acknowledged as duplicates,
// unknown ids counted, statistics visible to GetScores, Count and Filter at
// acknowledgement, a bad message ending the stream with its sequence and
// field, and the feedback metrics.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tests/http_get.h"
#include "tests/server/server_fixture.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

class FeedbackServiceTest : public testing::InProcessServerTest {
 protected:
  void CreateAndLoad(const std::string& name, int n, double half_life) {
    {
      grpc::ClientContext context;
      v1::CreateCollectionRequest request;
      request.mutable_collection()->set_name(name);
      request.mutable_collection()->set_loss_ema_half_life_steps(half_life);
      v1::CreateCollectionResponse response;
      ASSERT_TRUE(
          collections_->CreateCollection(&context, request, &response).ok());
      EXPECT_EQ(response.collection().loss_ema_half_life_steps(),
                half_life == 0 ? 1000.0 : half_life);
    }
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    v1::UpsertDocumentsRequest request;
    request.set_collection(name);
    request.set_sequence(1);
    for (int i = 0; i < n; ++i) {
      v1::Document* d = request.add_documents();
      d->set_id("doc-" + std::to_string(i));
      d->set_length(1);
    }
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    while (stream->Read(&ack)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }

  static v1::ReportTrainingRequest Message(const std::string& stream,
                                           uint64_t sequence,
                                           std::vector<std::string> ids,
                                           std::vector<float> losses,
                                           int64_t step) {
    v1::ReportTrainingRequest m;
    m.set_stream_id(stream);
    m.set_sequence(sequence);
    m.set_collection("c");
    for (const std::string& id : ids) m.add_ids(id);
    for (float l : losses) m.add_losses(l);
    m.add_steps(step);
    return m;
  }

  // Sends every message, half-closes, and returns the acks and status.
  grpc::Status Run(const std::vector<v1::ReportTrainingRequest>& messages,
                   std::vector<v1::ReportTrainingResponse>* acks) {
    grpc::ClientContext context;
    auto stream = scores_->ReportTraining(&context);
    for (const auto& m : messages) {
      if (!stream->Write(m)) break;
    }
    stream->WritesDone();
    v1::ReportTrainingResponse ack;
    while (stream->Read(&ack)) acks->push_back(ack);
    return stream->Finish();
  }

  int64_t Count(const std::string& filter) {
    grpc::ClientContext context;
    v1::CountRequest request;
    request.set_collection("c");
    request.set_filter(filter);
    v1::CountResponse response;
    grpc::Status s = selection_->Count(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.count();
  }
};

TEST_F(FeedbackServiceTest, ReportsAreAppliedOnceAndVisibleWhenAcked) {
  CreateAndLoad("c", 10, 100);
  std::vector<v1::ReportTrainingResponse> acks;
  grpc::Status s =
      Run({Message("run/rank-0", 1, {"doc-0", "doc-1", "doc-2"}, {3, 2, 1}, 10),
           Message("run/rank-0", 2, {"doc-0", "nope"}, {1, 9}, 20),
           Message("run/rank-0", 1, {"doc-0", "doc-1", "doc-2"}, {3, 2, 1}, 10),
           Message("run/rank-1", 1, {"doc-3"}, {5}, 15)},
          &acks);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(acks.size(), 4u);
  EXPECT_EQ(acks[0].stream_id(), "run/rank-0");
  EXPECT_EQ(acks[0].sequence(), 1u);
  EXPECT_EQ(acks[0].applied_count(), 3);
  EXPECT_FALSE(acks[0].duplicate());
  EXPECT_EQ(acks[1].applied_count(), 1);
  EXPECT_EQ(acks[1].skipped_count(), 1);
  EXPECT_TRUE(acks[2].duplicate());
  EXPECT_EQ(acks[2].sequence(), 1u);
  EXPECT_EQ(acks[2].applied_count(), 0);
  EXPECT_EQ(acks[3].stream_id(), "run/rank-1");
  EXPECT_EQ(acks[3].weight_version(), 0);

  // Visible to Count and Filter like any score.
  EXPECT_EQ(Count("loss_count >= 1"), 4);
  EXPECT_EQ(Count("loss_count == 2"), 1);
  EXPECT_EQ(Count("learnability > 1"), 1);  // doc-0: 3 -> 1
  {
    grpc::ClientContext context;
    v1::FilterRequest request;
    request.set_collection("c");
    request.set_filter("loss_last >= 2");
    auto reader = selection_->Filter(&context, request);
    v1::FilterResponse response;
    std::vector<std::string> ids;
    while (reader->Read(&response)) {
      for (const std::string& id : response.ids()) ids.push_back(id);
    }
    ASSERT_TRUE(reader->Finish().ok());
    std::sort(ids.begin(), ids.end());
    EXPECT_EQ(ids, (std::vector<std::string>{"doc-1", "doc-3"}));
  }
  // And to GetScores, with the formula's loss_ema.
  grpc::ClientContext context;
  v1::GetScoresRequest get;
  get.set_collection("c");
  get.add_ids("doc-0");
  get.add_ids("doc-5");
  get.add_score_names("loss_ema");
  get.add_score_names("loss_first");
  get.add_score_names("reducible_loss");
  v1::GetScoresResponse scores;
  ASSERT_TRUE(scores_->GetScores(&context, get, &scores).ok());
  const double w = std::pow(0.5, 10.0 / 100.0);  // step 10 vs S = 20
  EXPECT_NEAR(scores.scores(0).values(0), (w * 3 + 1) / (w + 1), 1e-5);
  EXPECT_EQ(scores.scores(0).null_indexes_size(), 1);  // doc-5: no reports
  EXPECT_EQ(scores.scores(1).values(0), 3.0f);
  EXPECT_EQ(scores.scores(2).null_indexes_size(), 2);  // no irreducible

  // The producer of the feedback metrics.
  const std::string& address = server_.metrics_address();
  const std::string text =
      winnow::testing::HttpGet(
          std::stoi(address.substr(address.rfind(':') + 1)), "/metrics")
          .value_or("");
  EXPECT_NE(text.find("winnow_feedback_reports_total{collection=\"c\"} 5\n"),
            std::string::npos)
      << text.substr(0, 2000);
  EXPECT_NE(text.find("winnow_feedback_report_seconds_count 3\n"),
            std::string::npos);
}

TEST_F(FeedbackServiceTest, ABadMessageEndsTheStreamNamingItAndAppliesNothing) {
  CreateAndLoad("c", 4, 0);
  struct Case {
    v1::ReportTrainingRequest bad;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  {
    auto m = Message("s", 2, {"doc-0", "doc-1"}, {1, NAN}, 1);
    cases.push_back({m, grpc::StatusCode::INVALID_ARGUMENT,
                     "sequence 2: losses[1]: nan is NaN"});
    m = Message("s", 2, {"doc-0", "doc-1"}, {1, -2}, 1);
    cases.push_back({m, grpc::StatusCode::INVALID_ARGUMENT,
                     "sequence 2: losses[1]: -2.000000 is negative"});
    m = Message("s", 2, {"doc-0", "doc-1"}, {1, INFINITY}, 1);
    cases.push_back({m, grpc::StatusCode::INVALID_ARGUMENT,
                     "sequence 2: losses[1]: inf is infinite"});
    m = Message("s", 2, {"doc-0", "doc-1"}, {1}, 1);
    cases.push_back({m, grpc::StatusCode::INVALID_ARGUMENT,
                     "sequence 2: losses: 1 losses"});
    m = Message("s", 2, {"doc-0"}, {1}, 1);
    m.add_ordinals(1);
    cases.push_back(
        {m, grpc::StatusCode::INVALID_ARGUMENT, "sequence 2: ids, ordinals:"});
    m = Message("s", 2, {"doc-0"}, {1}, 1);
    m.set_collection("nope");
    cases.push_back({m, grpc::StatusCode::INVALID_ARGUMENT,
                     "sequence 2: collection: 'nope' not found"});
    m = Message("s", 2, {"doc-0"}, {1}, 1);
    m.add_domain_losses()->set_domain("web");
    cases.push_back(
        {m, grpc::StatusCode::INVALID_ARGUMENT, "sequence 2: plan_id:"});
    m.set_plan_id("p");
    m.add_steps(2);
    cases.push_back(
        {m, grpc::StatusCode::INVALID_ARGUMENT, "sequence 2: steps:"});
  }
  for (const Case& c : cases) {
    std::vector<v1::ReportTrainingResponse> acks;
    grpc::Status s = Run({Message("s", 1, {"doc-0"}, {1}, 1), c.bad,
                          Message("s", 3, {"doc-0"}, {1}, 1)},
                         &acks);
    EXPECT_EQ(s.error_code(), c.code) << c.message;
    EXPECT_EQ(s.error_message().rfind(c.message, 0), 0u)
        << s.error_message() << " should start with " << c.message;
    // The message before it is acknowledged (and applied once: later runs
    // resend it as a duplicate); nothing after it.
    ASSERT_EQ(acks.size(), 1u) << c.message;
    EXPECT_EQ(acks[0].sequence(), 1u);
  }
  EXPECT_EQ(Count("loss_count == 1"), 1);  // only doc-0, once
  EXPECT_EQ(Count("loss_count >= 1"), 1);
}

TEST_F(FeedbackServiceTest, TheHalfLifeIsValidatedAtCreation) {
  grpc::ClientContext context;
  v1::CreateCollectionRequest request;
  request.mutable_collection()->set_name("c");
  request.mutable_collection()->set_loss_ema_half_life_steps(-1);
  v1::CreateCollectionResponse response;
  grpc::Status s = collections_->CreateCollection(&context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("collection.loss_ema_half_life_steps:", 0),
            0u)
      << s.error_message();
}

}  // namespace
}  // namespace winnow::server
