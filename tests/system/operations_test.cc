// OperationService and Backup as an operation, whole system
// (docs/operations.md, "Operations"): a real winnowd, its Backup waiting up
// to backup_wait_seconds, WaitOperation's stream, a SIGKILL during jobs and
// the restart's verdict, the scope of tokens, bad input, and ComputeScores'
// refusals of scorers not built yet.
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::Create;
using testing::TempDir;
using testing::WinnowdProcess;

ClientOptions WithToken(std::string token) {
  ClientOptions options;
  options.token = std::move(token);
  return options;
}

std::string Sha256Hex(const std::string& token) {
  std::string cmd = "printf %s '" + token + "' | sha256sum";
  FILE* pipe = popen(cmd.c_str(), "r");
  char buf[128] = {};
  std::string out;
  if (pipe != nullptr) {
    while (fgets(buf, sizeof(buf), pipe) != nullptr) out += buf;
    pclose(pipe);
  }
  return out.substr(0, 64);
}

// A winnowd with its data and backups in `dir`, and `extra` flags.
std::unique_ptr<WinnowdProcess> StartIn(const TempDir& dir,
                                        std::vector<std::string> extra = {}) {
  extra.push_back("--backup-dir");
  extra.push_back(dir.path() + "/b");
  return WinnowdProcess::Start(dir.path() + "/data", 0, std::move(extra));
}

// Reads a WaitOperation stream to its end.
struct Waited {
  std::vector<v1::Operation> messages;
  absl::Status status;
};

Waited WaitAll(const Client& client, const std::string& id,
               int64_t interval_ms = 100) {
  v1::WaitOperationRequest req;
  req.set_operation_id(id);
  req.mutable_update_interval()->set_nanos(
      static_cast<int32_t>(interval_ms * 1000000));
  OperationReader reader = client.WaitOperation(req);
  Waited out;
  v1::WaitOperationResponse resp;
  while (reader.Next(&resp)) out.messages.push_back(resp.operation());
  out.status = reader.Finish();
  return out;
}

TEST(OperationsSystemTest, BackupWaitsOrAnswersRunningThenWaitOperationEnds) {
  TempDir dir;
  auto server = WinnowdProcess::Start(
      dir.path() + "/data", 0,
      {"--backup-dir", dir.path() + "/b", "--backup-wait-seconds", "0"});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(Create(*client, "c").ok());

  absl::StatusOr<v1::BackupResponse> started = client->Backup({});
  ASSERT_TRUE(started.ok()) << started.status();
  const v1::Operation& op = started->operation();
  EXPECT_EQ(op.kind(), v1::OPERATION_KIND_BACKUP);
  EXPECT_FALSE(op.done()) << op.ShortDebugString();
  EXPECT_TRUE(op.collection().empty());

  Waited waited = WaitAll(*client, op.operation_id());
  ASSERT_TRUE(waited.status.ok()) << waited.status;
  ASSERT_FALSE(waited.messages.empty());
  const v1::Operation& last = waited.messages.back();
  EXPECT_TRUE(last.done());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED)
      << last.ShortDebugString();
  ASSERT_TRUE(last.has_backup());
  EXPECT_EQ(last.backup().collection_count(), 1);
  EXPECT_EQ(last.progress_fraction(), 1.0);
  for (size_t i = 0; i + 1 < waited.messages.size(); ++i) {
    EXPECT_FALSE(waited.messages[i].done());
    EXPECT_LE(waited.messages[i].progress_fraction(),
              waited.messages[i + 1].progress_fraction());
  }
  // A finished operation: one message, then OK.
  Waited again = WaitAll(*client, op.operation_id());
  ASSERT_TRUE(again.status.ok());
  ASSERT_EQ(again.messages.size(), 1u);
  EXPECT_EQ(again.messages[0].state(), v1::OPERATION_STATE_SUCCEEDED);

  v1::GetOperationRequest get;
  get.set_operation_id(op.operation_id());
  absl::StatusOr<v1::GetOperationResponse> got = client->GetOperation(get);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->operation().backup().backup_id(), last.backup().backup_id());

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

// grpc.health.v1.Health/Check for `service`: the raw response bytes.
std::string HealthCheck(const std::string& target, const std::string& service) {
  auto channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  // HealthCheckRequest{service = 1}.
  std::string request =
      "\x0a" + std::string(1, static_cast<char>(service.size())) + service;
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check",
                                    buffer, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  cq.Next(&tag, &ok);
  if (!status.ok()) return "error: " + status.error_message();
  std::vector<grpc::Slice> slices;
  (void)response.Dump(&slices);
  std::string out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

TEST(OperationsSystemTest, BackupWithinTheWaitAnswersDoneAndListFilters) {
  TempDir dir;
  auto server = StartIn(dir);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  // HealthCheckResponse{status: SERVING}.
  EXPECT_EQ(HealthCheck(server->target(), "winnow.v1.OperationService"),
            std::string("\x08\x01", 2));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<v1::BackupResponse> b = client->Backup({});
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_TRUE(b->operation().done());
    EXPECT_EQ(b->operation().state(), v1::OPERATION_STATE_SUCCEEDED);
    ids.push_back(b->operation().operation_id());
  }
  // Newest first, two to a page.
  v1::ListOperationsRequest list;
  list.set_page_size(2);
  list.add_kinds(v1::OPERATION_KIND_BACKUP);
  absl::StatusOr<v1::ListOperationsResponse> page =
      client->ListOperations(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->operations_size(), 2);
  EXPECT_EQ(page->operations(0).operation_id(), ids[2]);
  EXPECT_EQ(page->operations(1).operation_id(), ids[1]);
  ASSERT_FALSE(page->next_page_token().empty());
  list.set_page_token(page->next_page_token());
  page = client->ListOperations(list);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->operations_size(), 1);
  EXPECT_EQ(page->operations(0).operation_id(), ids[0]);
  EXPECT_TRUE(page->next_page_token().empty());
  // Filters that match nothing.
  v1::ListOperationsRequest none;
  none.add_kinds(v1::OPERATION_KIND_COMPUTE_SCORES);
  EXPECT_EQ(client->ListOperations(none)->operations_size(), 0);
  none.clear_kinds();
  none.add_states(v1::OPERATION_STATE_RUNNING);
  EXPECT_EQ(client->ListOperations(none)->operations_size(), 0);
  none.clear_states();
  none.set_collection("c");
  EXPECT_EQ(client->ListOperations(none)->operations_size(), 0);

  // The operation metrics: three backups ended, none runs now.
  std::optional<std::string> metrics =
      testing::HttpGet(server->metrics_port(), "/metrics");
  ASSERT_TRUE(metrics.has_value());
  bool counted = false;
  bool running = false;
  std::istringstream lines(*metrics);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("winnow_operation_seconds_count{") &&
        line.find("type=\"backup\"") != std::string::npos &&
        line.find("state=\"succeeded\"") != std::string::npos) {
      EXPECT_TRUE(line.ends_with(" 3")) << line;
      counted = true;
    }
    if (line.starts_with("winnow_operations_running{") &&
        line.find("type=\"backup\"") != std::string::npos) {
      EXPECT_TRUE(line.ends_with(" 0")) << line;
      running = true;
    }
  }
  EXPECT_TRUE(counted && running) << *metrics;

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

TEST(OperationsSystemTest, SigkillDuringJobsThenRestartShowsThemFailed) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--backup-dir",
                                         dir.path() + "/b",
                                         "--backup-wait-seconds",
                                         "0",
                                         "--max-queued-operations",
                                         "16"};
  std::vector<std::string> ids;
  {
    auto server = WinnowdProcess::Start(data, 0, args);
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(Create(*client, "c").ok());
    // One job thread: the backups queue behind each other, so the last
    // ones are still pending or running when the process dies.
    for (int i = 0; i < 8; ++i) {
      absl::StatusOr<v1::BackupResponse> b = client->Backup({});
      ASSERT_TRUE(b.ok()) << b.status();
      ids.push_back(b->operation().operation_id());
    }
    server->Signal(SIGKILL);
    server->Wait();
  }
  auto server = WinnowdProcess::Start(data, 0, args);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  int interrupted = 0;
  for (const std::string& id : ids) {
    v1::GetOperationRequest get;
    get.set_operation_id(id);
    absl::StatusOr<v1::GetOperationResponse> got = client->GetOperation(get);
    ASSERT_TRUE(got.ok()) << id << ": " << got.status();
    const v1::Operation& op = got->operation();
    ASSERT_TRUE(op.done()) << op.ShortDebugString();
    if (op.state() == v1::OPERATION_STATE_SUCCEEDED) continue;
    EXPECT_EQ(op.state(), v1::OPERATION_STATE_FAILED);
    EXPECT_EQ(op.error().code(),
              static_cast<int>(absl::StatusCode::kUnavailable));
    EXPECT_NE(op.error().message().find("restarted"), std::string::npos)
        << op.error().message();
    ++interrupted;
  }
  EXPECT_GE(interrupted, 1);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

TEST(OperationsSystemTest, ScopedTokenSeesNoServerWideOperation) {
  TempDir dir;
  const std::string tokens = dir.path() + "/tokens.txt";
  {
    std::ofstream out(tokens);
    out << "role=admin sha256=" << Sha256Hex("admin-token") << " name=ops\n"
        << "role=writer sha256=" << Sha256Hex("web-token")
        << " collections=web-* name=web\n"
        << "role=reader sha256=" << Sha256Hex("reader-token")
        << " name=reader\n";
  }
  auto server = WinnowdProcess::Start(
      dir.path() + "/data", 0,
      {"--backup-dir", dir.path() + "/b", "--tokens", tokens});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> admin =
      Client::Connect(server->target(), WithToken("admin-token"));
  absl::StatusOr<Client> web =
      Client::Connect(server->target(), WithToken("web-token"));
  absl::StatusOr<Client> reader =
      Client::Connect(server->target(), WithToken("reader-token"));
  ASSERT_TRUE(admin.ok() && web.ok() && reader.ok());
  absl::StatusOr<v1::BackupResponse> b = admin->Backup({});
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string id = b->operation().operation_id();

  v1::GetOperationRequest get;
  get.set_operation_id(id);
  EXPECT_TRUE(reader->GetOperation(get).ok());  // no collection limit
  EXPECT_EQ(web->GetOperation(get).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(web->ListOperations({})->operations_size(), 0);
  EXPECT_EQ(reader->ListOperations({})->operations_size(), 1);
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(id);
  EXPECT_EQ(web->CancelOperation(cancel).status().code(),
            absl::StatusCode::kNotFound);
  // Cancel needs a writer.
  EXPECT_EQ(reader->CancelOperation(cancel).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(WaitAll(*web, id).status.code(), absl::StatusCode::kNotFound);
  // Listing another collection than its own is refused.
  v1::ListOperationsRequest other;
  other.set_collection("books");
  EXPECT_EQ(web->ListOperations(other).status().code(),
            absl::StatusCode::kPermissionDenied);

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

TEST(OperationsSystemTest, BadInputAndScorersNotBuiltYet) {
  TempDir dir;
  auto server = StartIn(dir);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(Create(*client, "c").ok());

  auto expect = [](const absl::Status& s, absl::StatusCode code,
                   const std::string& field) {
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(field), std::string::npos) << s;
  };
  v1::GetOperationRequest get;
  expect(client->GetOperation(get).status(), absl::StatusCode::kInvalidArgument,
         "operation_id");
  get.set_operation_id("op-0000000000000000-00000000");
  expect(client->GetOperation(get).status(), absl::StatusCode::kNotFound,
         "operation_id");
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id("nope");
  expect(client->CancelOperation(cancel).status(), absl::StatusCode::kNotFound,
         "operation_id");
  expect(WaitAll(*client, "nope").status, absl::StatusCode::kNotFound,
         "operation_id");
  v1::ListOperationsRequest list;
  list.set_page_token("not a token");
  expect(client->ListOperations(list).status(),
         absl::StatusCode::kInvalidArgument, "page_token");
  list.set_page_token("");
  list.set_page_size(-1);
  expect(client->ListOperations(list).status(),
         absl::StatusCode::kInvalidArgument, "page_size");

  absl::StatusOr<v1::BackupResponse> b = client->Backup({});
  ASSERT_TRUE(b.ok());
  v1::WaitOperationRequest wait;
  wait.set_operation_id(b->operation().operation_id());
  wait.mutable_update_interval()->set_seconds(-1);
  {
    OperationReader reader = client->WaitOperation(wait);
    v1::WaitOperationResponse resp;
    EXPECT_FALSE(reader.Next(&resp));
    expect(reader.Finish(), absl::StatusCode::kInvalidArgument,
           "update_interval");
  }
  v1::BackupRequest long_id;
  long_id.set_request_id(std::string(129, 'x'));
  expect(client->Backup(long_id).status(), absl::StatusCode::kInvalidArgument,
         "request_id");

  v1::ComputeScoresRequest compute;
  compute.set_collection("c");
  expect(client->ComputeScores(compute).status(),
         absl::StatusCode::kInvalidArgument, "scorer");
  compute.mutable_scorer()->mutable_kmeans()->set_cluster_count(4);
  compute.set_filter("no_such_score > 1");
  expect(client->ComputeScores(compute).status(),
         absl::StatusCode::kInvalidArgument, "filter");
  compute.clear_filter();
  compute.set_collection("missing");
  expect(client->ComputeScores(compute).status(), absl::StatusCode::kNotFound,
         "missing");
  compute.set_collection("c");
  // A scorer's own fields are checked before it starts.
  compute.mutable_scorer()->mutable_exact_dedup()->set_duplicate_score(
      "Bad-Name");
  expect(client->ComputeScores(compute).status(),
         absl::StatusCode::kInvalidArgument,
         "scorer.exact_dedup.duplicate_score");

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
}  // namespace winnow
