// ComputeScores through the real server with a test scorer registered in
// place of kmeans (Server::scorers()): the operation it starts, its
// request_id, the column reservation, CancelOperation, and DeleteCollection
// cancelling the collection's job.
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "absl/time/clock.h"
#include "server/operations.h"
#include "tests/server/server_fixture.h"
#include "winnow/v1/operation.grpc.pb.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

class ComputeScoresTest : public testing::InProcessServerTest {
 protected:
  void SetUp() override {
    InProcessServerTest::SetUp();
    // Writes "cluster" of its collection; runs until cancelled (10 s at
    // most), and then writes nothing.
    server_.scorers()->Register(
        v1::Scorer::kKmeans, [this](const v1::ComputeScoresRequest& request) {
          JobSpec spec;
          spec.columns = {{request.collection(), "cluster"}};
          spec.run = [this](JobContext& job, v1::Operation*) {
            job.SetTotal(100, "documents");
            job.SetDone(1);
            const absl::Time end = absl::Now() + absl::Seconds(10);
            while (!job.Cancelled() && absl::Now() < end) {
              absl::SleepFor(absl::Milliseconds(5));
            }
            if (job.Cancelled()) return absl::CancelledError("stopped");
            ++completed_;
            return absl::OkStatus();
          };
          return spec;
        });
    operations_ = v1::OperationService::NewStub(grpc::CreateChannel(
        server_.address(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::CreateCollectionRequest create;
    create.mutable_collection()->set_name("c");
    v1::CreateCollectionResponse created;
    ASSERT_TRUE(
        collections_->CreateCollection(&context, create, &created).ok());
  }

  grpc::Status Compute(const std::string& request_id, v1::Operation* op) {
    grpc::ClientContext context;
    v1::ComputeScoresRequest request;
    request.set_collection("c");
    request.mutable_scorer()->mutable_kmeans()->set_cluster_count(2);
    request.set_request_id(request_id);
    v1::ComputeScoresResponse response;
    grpc::Status status = scores_->ComputeScores(&context, request, &response);
    *op = response.operation();
    return status;
  }

  v1::Operation WaitDone(const std::string& id) {
    grpc::ClientContext context;
    v1::WaitOperationRequest request;
    request.set_operation_id(id);
    request.mutable_update_interval()->set_nanos(10000000);
    auto reader = operations_->WaitOperation(&context, request);
    v1::WaitOperationResponse response;
    v1::Operation last;
    while (reader->Read(&response)) last = response.operation();
    EXPECT_TRUE(reader->Finish().ok());
    return last;
  }

  std::atomic<int> completed_{0};
  std::unique_ptr<v1::OperationService::Stub> operations_;
};

TEST_F(ComputeScoresTest, StartsAnOperationReservesItsColumnAndCancels) {
  v1::Operation op;
  ASSERT_TRUE(Compute("r1", &op).ok());
  EXPECT_EQ(op.kind(), v1::OPERATION_KIND_COMPUTE_SCORES);
  EXPECT_EQ(op.collection(), "c");
  EXPECT_EQ(op.scorer().kmeans().cluster_count(), 2);
  EXPECT_FALSE(op.done());
  v1::Operation again;
  ASSERT_TRUE(Compute("r1", &again).ok());
  EXPECT_EQ(again.operation_id(), op.operation_id());
  v1::Operation second;
  grpc::Status refused = Compute("r2", &second);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("'cluster'"), std::string::npos)
      << refused.error_message();

  grpc::ClientContext context;
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(op.operation_id());
  v1::CancelOperationResponse cancelled;
  ASSERT_TRUE(operations_->CancelOperation(&context, cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.operation().cancel_requested() ||
              cancelled.operation().done());
  v1::Operation end = WaitDone(op.operation_id());
  EXPECT_EQ(end.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(completed_.load(), 0);
  // The column is free again.
  ASSERT_TRUE(Compute("r3", &second).ok());
}

TEST_F(ComputeScoresTest, DeleteCollectionCancelsItsJob) {
  v1::Operation op;
  ASSERT_TRUE(Compute("", &op).ok());
  grpc::ClientContext context;
  v1::DeleteCollectionRequest del;
  del.set_name("c");
  v1::DeleteCollectionResponse deleted;
  ASSERT_TRUE(collections_->DeleteCollection(&context, del, &deleted).ok());
  v1::Operation end = WaitDone(op.operation_id());
  EXPECT_EQ(end.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_NE(end.error().message().find("collection 'c' was deleted"),
            std::string::npos)
      << end.error().message();
  EXPECT_EQ(completed_.load(), 0);
}

}  // namespace
}  // namespace winnow::server
