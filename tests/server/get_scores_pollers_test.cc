// GetScoresPollers (server/get_scores_pollers.h): GetScores on completion
// queues keeps every property that RpcScope and RunUnary give the callback
// RPCs. A real gRPC server on a free loopback port serves the pollers with
// a recording handler and a worker pool the test can hold up, so that
// "skipped because the client has gone" and "shutdown waits for it" are
// deterministic. The store-backed handler is tested through the whole
// server in server_test.cc.
#include "server/get_scores_pollers.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/service_env.h"
#include "server/workers.h"
#include "winnow/v1/score.grpc.pb.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

constexpr int kInlineMax = 8;

class GetScoresPollersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.options = &options_;
    env_.workers = &workers_;
    env_.metrics = &metrics_;
    // The worker pool's one thread.
    absl::Notification posted;
    workers_.Post([&] {
      worker_id_ = std::this_thread::get_id();
      posted.Notify();
    });
    posted.WaitForNotification();
  }

  void Start() {
    pollers_ = std::make_unique<GetScoresPollers>(
        &service_, env_,
        [this](const v1::GetScoresRequest& request,
               v1::GetScoresResponse* response, RpcScope&) -> absl::Status {
          handled_.fetch_add(1);
          last_thread_.store(std::this_thread::get_id());
          if (request.collection() == "missing") {
            return absl::NotFoundError("collection: no collection 'missing'");
          }
          *response->mutable_ids() = request.ids();
          return absl::OkStatus();
        },
        GetScoresPollers::Options{.threads = 1, .inline_max_ids = kInlineMax});
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    pollers_->AddQueues(builder);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    pollers_->Start();
    stub_ = v1::ScoreService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                            grpc::InsecureChannelCredentials()));
  }

  // The server's shutdown order (server.cc): new calls refused, running
  // ones awaited, then gRPC, the workers and the queues shut down.
  void Stop() {
    if (server_ == nullptr) return;
    env_.draining.store(true);
    for (int i = 0; i < 500 && env_.calls_in_flight.load() > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(200));
    workers_.Join();
    pollers_->Shutdown();
    server_.reset();
  }

  void TearDown() override {
    Stop();
    if (!token_file_.empty()) std::filesystem::remove(token_file_);
  }

  static v1::GetScoresRequest Request(const std::string& collection, int ids) {
    v1::GetScoresRequest request;
    request.set_collection(collection);
    for (int i = 0; i < ids; ++i) request.add_ids("doc-" + std::to_string(i));
    return request;
  }

  grpc::Status Get(const v1::GetScoresRequest& request,
                   v1::GetScoresResponse* response,
                   grpc::ClientContext* context) {
    return stub_->GetScores(context, request, response);
  }
  grpc::Status Get(const v1::GetScoresRequest& request) {
    grpc::ClientContext context;
    v1::GetScoresResponse response;
    return Get(request, &response, &context);
  }

  // Holds the worker pool's one thread until the returned notification.
  std::shared_ptr<absl::Notification> BlockWorker() {
    auto release = std::make_shared<absl::Notification>();
    workers_.Post([release] { release->WaitForNotification(); });
    return release;
  }

  int64_t Handled(const std::string& code) const {
    const std::string series =
        "grpc_server_handled_total{grpc_code=\"" + code +
        "\",grpc_method=\"GetScores\",grpc_service=\"winnow.v1.ScoreService\","
        "grpc_type=\"unary\"} ";
    const std::string text = metrics_.Render();
    const size_t at = text.find(series);
    if (at == std::string::npos) return 0;
    return std::stoll(text.substr(at + series.size()));
  }

  ServerOptions options_;
  Workers workers_{1};
  Metrics metrics_;
  ServiceEnv env_;
  ScoreServiceBase service_;
  std::unique_ptr<GetScoresPollers> pollers_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ScoreService::Stub> stub_;
  std::atomic<int> handled_{0};
  // Written by the serving thread; gRPC's own synchronization is not
  // visible to TSan, hence atomics.
  std::atomic<std::thread::id> last_thread_;
  std::thread::id worker_id_;
  std::filesystem::path token_file_;
  // Outlives the polling threads (joined in Stop).
  std::unique_ptr<TokenStore> tokens_;
};

TEST_F(GetScoresPollersTest, SmallCallsRunOnThePollerAndLargeOnesOnAWorker) {
  Start();
  for (int ids : {1, kInlineMax, kInlineMax + 1, 100}) {
    grpc::ClientContext context;
    v1::GetScoresResponse response;
    ASSERT_TRUE(Get(Request("c", ids), &response, &context).ok()) << ids;
    ASSERT_EQ(response.ids_size(), ids);
    EXPECT_EQ(response.ids(ids - 1), "doc-" + std::to_string(ids - 1));
    if (ids <= kInlineMax) {
      EXPECT_NE(last_thread_.load(), worker_id_) << ids;
    } else {
      EXPECT_EQ(last_thread_.load(), worker_id_) << ids;
    }
  }
  EXPECT_EQ(handled_.load(), 4);
}

TEST_F(GetScoresPollersTest, RequestIdIsTheClientsOrAFreshOne) {
  Start();
  grpc::ClientContext named;
  named.AddMetadata("x-request-id", "trace-42");
  v1::GetScoresResponse response;
  ASSERT_TRUE(Get(Request("c", 1), &response, &named).ok());
  auto it = named.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(it, named.GetServerInitialMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "trace-42");

  // Also on an error, and on the worker path.
  grpc::ClientContext fresh;
  EXPECT_EQ(
      Get(Request("missing", kInlineMax + 1), &response, &fresh).error_code(),
      grpc::StatusCode::NOT_FOUND);
  it = fresh.GetServerInitialMetadata().find("x-request-id");
  ASSERT_NE(it, fresh.GetServerInitialMetadata().end());
  EXPECT_EQ(it->second.substr(0, 1), "r");
  EXPECT_GT(it->second.size(), 1u);
}

TEST_F(GetScoresPollersTest, RedMetricsCountEachCallByCode) {
  Start();
  ASSERT_TRUE(Get(Request("c", 1)).ok());
  ASSERT_TRUE(Get(Request("c", kInlineMax + 1)).ok());
  EXPECT_EQ(Get(Request("missing", 1)).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Handled("OK"), 2);
  EXPECT_EQ(Handled("NotFound"), 1);
  const std::string text = metrics_.Render();
  EXPECT_NE(text.find("grpc_server_started_total{grpc_method=\"GetScores\","
                      "grpc_service=\"winnow.v1.ScoreService\","
                      "grpc_type=\"unary\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("grpc_server_msg_sent_total{grpc_method=\"GetScores\","
                      "grpc_service=\"winnow.v1.ScoreService\","
                      "grpc_type=\"unary\"} 2"),
            std::string::npos);
}

TEST_F(GetScoresPollersTest, TokensAndTheRoleTableAreCheckedBeforeTheWork) {
  token_file_ = std::filesystem::temp_directory_path() /
                ("winnow_pollers_tokens_" + std::to_string(::getpid()));
  {
    std::ofstream out(token_file_);
    out << "role=reader sha256=" << ToHex(Sha256("reader-secret"))
        << " collections=web-* name=trainer\n";
  }
  absl::StatusOr<std::unique_ptr<TokenStore>> tokens =
      TokenStore::Open(token_file_.string());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  tokens_ = *std::move(tokens);
  env_.tokens = tokens_.get();
  Start();

  grpc::ClientContext anonymous;
  v1::GetScoresResponse response;
  EXPECT_EQ(Get(Request("web-1", 1), &response, &anonymous).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext outside;
  outside.AddMetadata("authorization", "Bearer reader-secret");
  grpc::Status denied = Get(Request("books", 1), &response, &outside);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("books"), std::string::npos)
      << denied.error_message();
  EXPECT_EQ(handled_.load(), 0);

  grpc::ClientContext inside;
  inside.AddMetadata("authorization", "Bearer reader-secret");
  EXPECT_TRUE(Get(Request("web-1", 1), &response, &inside).ok());
  EXPECT_EQ(handled_.load(), 1);
}

TEST_F(GetScoresPollersTest, WhileDrainingNewCallsAreUnavailable) {
  Start();
  env_.draining.store(true);
  for (int ids : {1, kInlineMax + 1}) {
    grpc::Status status = Get(Request("c", ids));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << ids;
    EXPECT_EQ(status.error_message(), "server is shutting down");
  }
  EXPECT_EQ(handled_.load(), 0);
}

// A queued large call whose client has gone is skipped, not run; the calls
// count as running until they are answered.
TEST_F(GetScoresPollersTest, WorkWhoseClientHasGoneIsSkipped) {
  Start();
  std::shared_ptr<absl::Notification> release = BlockWorker();

  grpc::ClientContext late;
  late.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(200));
  v1::GetScoresResponse response;
  EXPECT_EQ(Get(Request("c", kInlineMax + 1), &response, &late).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  grpc::ClientContext cancelled;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancelled.TryCancel();
  });
  EXPECT_EQ(
      Get(Request("c", kInlineMax + 1), &response, &cancelled).error_code(),
      grpc::StatusCode::CANCELLED);
  canceller.join();
  EXPECT_EQ(env_.calls_in_flight.load(), 2);

  // Let the server see both ends before the worker runs them.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  release->Notify();
  for (int i = 0; i < 500 && env_.calls_in_flight.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(env_.calls_in_flight.load(), 0);
  EXPECT_EQ(handled_.load(), 0);
  EXPECT_EQ(Handled("Canceled") + Handled("DeadlineExceeded"), 2);
}

// Shutdown in the server's order lets a running large call finish and
// answer through its queue, which is then drained.
TEST_F(GetScoresPollersTest, ShutdownWaitsForARunningCall) {
  Start();
  std::shared_ptr<absl::Notification> release = BlockWorker();
  grpc::Status status;
  v1::GetScoresResponse response;
  std::thread client([&] {
    grpc::ClientContext context;
    status = Get(Request("c", kInlineMax + 1), &response, &context);
  });
  for (int i = 0; i < 500 && env_.calls_in_flight.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(env_.calls_in_flight.load(), 1);
  std::thread releaser([release] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    release->Notify();
  });
  Stop();
  client.join();
  releaser.join();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.ids_size(), kInlineMax + 1);
  EXPECT_EQ(env_.calls_in_flight.load(), 0);
}

}  // namespace
}  // namespace winnow::server
