// InProcessServerTest: a gtest fixture running the whole server in process
// on a free loopback port (metrics on a free port too), with a fresh data
// directory and stubs for the services; shut down and removed after the
// test. Configure() changes the options of a derived fixture.
#ifndef WINNOW_TESTS_SERVER_SERVER_FIXTURE_H_
#define WINNOW_TESTS_SERVER_SERVER_FIXTURE_H_

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "server/server.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::server::testing {

class InProcessServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("winnow_server_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    std::filesystem::remove_all(dir_);
    ServerOptions options;
    options.data_dir = dir_.string();
    options.listen = "127.0.0.1:0";
    options.metrics_listen = "127.0.0.1:0";
    options.shutdown_grace_seconds = 2;
    options.worker_threads = 2;
    Configure(&options);
    ASSERT_TRUE(server_.BuildAndStart(options).ok());
    ASSERT_GT(server_.port(), 0);
    auto channel = grpc::CreateChannel(server_.address(),
                                       grpc::InsecureChannelCredentials());
    collections_ = winnow::v1::CollectionService::NewStub(channel);
    documents_ = winnow::v1::DocumentService::NewStub(channel);
    scores_ = winnow::v1::ScoreService::NewStub(channel);
    selection_ = winnow::v1::SelectionService::NewStub(channel);
  }

  // Overridden by fixtures that need other server options.
  virtual void Configure(ServerOptions* options) {}

  void TearDown() override {
    server_.RequestShutdown("test done");
    EXPECT_TRUE(server_.WaitForTermination().ok());
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  Server server_;
  std::unique_ptr<winnow::v1::CollectionService::Stub> collections_;
  std::unique_ptr<winnow::v1::DocumentService::Stub> documents_;
  std::unique_ptr<winnow::v1::ScoreService::Stub> scores_;
  std::unique_ptr<winnow::v1::SelectionService::Stub> selection_;
};

}  // namespace winnow::server::testing

#endif  // WINNOW_TESTS_SERVER_SERVER_FIXTURE_H_
