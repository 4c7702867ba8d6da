// Metrics (server/metrics.h): the helpers, the data-plane API through
// Render(), and a real server's /metrics endpoint after real RPCs.
#include "server/metrics.h"

#include <arpa/inet.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/server.h"
#include "storage/store.h"
#include "tests/http_get.h"
#include "tests/server/server_fixture.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;
using Labels = std::map<std::string, std::string>;

// The value of the sample `name{labels}` (labels matched exactly) in a text
// exposition, or nullopt if absent.
std::optional<double> Sample(const std::string& text, const std::string& name,
                             const Labels& labels = {}) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    size_t end = line.find_first_of("{ ");
    if (end == absl::string_view::npos || line.substr(0, end) != name) continue;
    Labels got;
    size_t value_at = end;
    if (line[end] == '{') {
      size_t close = line.find('}', end);
      if (close == absl::string_view::npos) continue;
      for (absl::string_view pair : absl::StrSplit(
               line.substr(end + 1, close - end - 1), ',', absl::SkipEmpty())) {
        size_t eq = pair.find('=');
        if (eq == absl::string_view::npos || pair.size() < eq + 3) continue;
        got[std::string(pair.substr(0, eq))] =
            std::string(pair.substr(eq + 2, pair.size() - eq - 3));
      }
      value_at = close + 1;
    }
    if (got != labels) continue;
    absl::string_view rest = line.substr(value_at);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    rest = rest.substr(0, rest.find(' '));
    double v = 0;
    if (absl::SimpleAtod(rest, &v)) return v;
  }
  return std::nullopt;
}

Labels Rpc(const std::string& service, const std::string& method,
           const std::string& type) {
  return {{"grpc_service", "winnow.v1." + service},
          {"grpc_method", method},
          {"grpc_type", type}};
}

Labels With(Labels labels, const std::string& key, const std::string& value) {
  labels[key] = value;
  return labels;
}

TEST(MetricsHelpersTest, TypeAndCodeLabels) {
  EXPECT_EQ(RpcTypeName(RpcType::kUnary), "unary");
  EXPECT_EQ(RpcTypeName(RpcType::kServerStream), "server_stream");
  EXPECT_EQ(RpcTypeName(RpcType::kClientStream), "client_stream");
  EXPECT_EQ(RpcTypeName(RpcType::kBidiStream), "bidi_stream");
  EXPECT_EQ(GrpcCodeLabel(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeLabel(grpc::StatusCode::INVALID_ARGUMENT),
            "InvalidArgument");
  EXPECT_EQ(GrpcCodeLabel(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_EQ(GrpcCodeLabel(grpc::StatusCode::UNAUTHENTICATED),
            "Unauthenticated");
  EXPECT_EQ(GrpcCodeLabel(static_cast<grpc::StatusCode>(99)), "Unknown");
}

TEST(MetricsTest, DataPlaneApiFeedsTheDeclaredMetrics) {
  Metrics m;
  // Families without labels are exported from the start (prometheus-cpp
  // leaves out a labelled family until its first series exists).
  std::string text = m.Render();
  for (const char* family :
       {"winnow_sample_batch_padding_ratio histogram", "winnow_plans gauge",
        "winnow_plan_memory_bytes gauge", "winnow_rocksdb_live_sst_bytes gauge",
        "winnow_embedding_memory_bytes gauge",
        "winnow_embedding_matrices gauge",
        "winnow_rocksdb_pending_compaction_bytes gauge",
        "winnow_rocksdb_write_stall_seconds_total counter",
        "winnow_rocksdb_block_cache_hits_total counter",
        "process_resident_memory_bytes gauge",
        "process_cpu_seconds_total counter", "process_open_fds gauge",
        "process_start_time_seconds gauge"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + "\n"),
              std::string::npos)
        << family;
  }

  const Metrics::DomainCount batch1[] = {{"web", 3}, {"code", 1}};
  const Metrics::DomainCount batch2[] = {{"web", 2}, {"books", 0}};
  m.RecordSampleBatch("c", batch1, 0.0);
  m.RecordSampleBatch("c", batch2, 0.5);
  const std::pair<std::string_view, double> target[] = {{"web", 0.5},
                                                        {"code", 0.5}};
  m.SetMixtureTarget("c", target);
  m.SetServedMixtureDrift("c", "p1", 0.2);
  m.SetServedMixtureDrift("c", "p2", 0.4);
  m.SetPlans(3, 4096);
  m.RecordFeedbackReports("c", 1, 0.002);
  m.RecordFeedbackReports("c", 1, 0.004);
  m.OperationStarted("backup");
  m.OperationStarted("backup");
  m.OperationEnded("backup", "succeeded", 12.5);

  text = m.Render();
  for (const char* family : {"winnow_samples_served_total counter",
                             "winnow_mixture_target_share gauge",
                             "winnow_served_mixture_drift gauge",
                             "winnow_feedback_reports_total counter",
                             "winnow_feedback_report_seconds histogram",
                             "winnow_operations_running gauge",
                             "winnow_operation_seconds histogram"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + "\n"),
              std::string::npos)
        << family;
  }
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "web"}}),
            5);
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "code"}}),
            1);
  // A domain with no document in any batch has no series.
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "books"}}),
            std::nullopt);
  EXPECT_EQ(Sample(text, "winnow_sample_batch_padding_ratio_count"), 2);
  EXPECT_EQ(Sample(text, "winnow_sample_batch_padding_ratio_sum"), 0.5);
  EXPECT_EQ(
      Sample(text, "winnow_sample_batch_padding_ratio_bucket", {{"le", "0"}}),
      1);
  EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                   {{"collection", "c"}, {"domain", "code"}}),
            0.5);
  EXPECT_EQ(Sample(text, "winnow_served_mixture_drift",
                   {{"collection", "c"}, {"plan", "p1"}}),
            0.2);
  EXPECT_EQ(Sample(text, "winnow_served_mixture_drift",
                   {{"collection", "c"}, {"plan", "p2"}}),
            0.4);
  // A deleted plan's series goes.
  m.ForgetPlan("c", "p2");
  text = m.Render();
  EXPECT_EQ(Sample(text, "winnow_served_mixture_drift",
                   {{"collection", "c"}, {"plan", "p2"}}),
            std::nullopt);
  EXPECT_EQ(Sample(text, "winnow_plans"), 3);
  EXPECT_EQ(Sample(text, "winnow_plan_memory_bytes"), 4096);
  EXPECT_EQ(
      Sample(text, "winnow_feedback_reports_total", {{"collection", "c"}}), 2);
  EXPECT_EQ(Sample(text, "winnow_operations_running", {{"type", "backup"}}), 1);
  EXPECT_EQ(Sample(text, "winnow_operation_seconds_count",
                   {{"type", "backup"}, {"state", "succeeded"}}),
            1);

  // A new target replaces the old one; a deleted collection's gauges go.
  const std::pair<std::string_view, double> web_only[] = {{"web", 1.0}};
  m.SetMixtureTarget("c", web_only);
  text = m.Render();
  EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                   {{"collection", "c"}, {"domain", "code"}}),
            std::nullopt);
  EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                   {{"collection", "c"}, {"domain", "web"}}),
            1.0);
  m.ForgetCollection("c");
  text = m.Render();
  EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                   {{"collection", "c"}, {"domain", "web"}}),
            std::nullopt);
  EXPECT_EQ(Sample(text, "winnow_served_mixture_drift",
                   {{"collection", "c"}, {"plan", "p1"}}),
            std::nullopt);
  // Counters stay (a vanishing counter would read as a reset).
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "web"}}),
            5);
}

TEST(MetricsTest, ProcessMetricsComeFromProc) {
  Metrics m;
  std::string text = m.Render();
  std::optional<double> rss = Sample(text, "process_resident_memory_bytes");
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 1 << 20);
  std::optional<double> fds = Sample(text, "process_open_fds");
  ASSERT_TRUE(fds.has_value());
  EXPECT_GE(*fds, 3);
  EXPECT_GE(*Sample(text, "process_max_fds"), *fds);
  EXPECT_GE(*Sample(text, "process_threads"), 1);
  double now = std::chrono::duration<double>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::optional<double> start = Sample(text, "process_start_time_seconds");
  ASSERT_TRUE(start.has_value());
  EXPECT_LE(*start, now + 1);
  EXPECT_GT(*start, now - 24 * 3600.0);  // the test started today
  // CPU time grows with work.
  double before = *Sample(text, "process_cpu_seconds_total");
  volatile double x = 0;
  auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  while (std::chrono::steady_clock::now() < until) x = x + std::sqrt(x + 1);
  EXPECT_GT(*Sample(m.Render(), "process_cpu_seconds_total"), before);
}

TEST(MetricsTest, StorageMetricsFollowTheStore) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("winnow_metrics_store_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  storage::StoreOptions options;
  options.data_dir = dir.string();
  auto store = storage::Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  storage::CollectionSpec spec;
  spec.name = "docs";
  ASSERT_TRUE((*store)->CreateCollection(spec).ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 100; ++i) ids.push_back("d" + std::to_string(i));
  const std::vector<int64_t> lengths(ids.size(), 10);
  storage::DocumentBatch batch;
  batch.ids.assign(ids.begin(), ids.end());
  batch.lengths = lengths;
  ASSERT_TRUE((*store)->UpsertDocuments("docs", batch).ok());

  Metrics m;
  m.RefreshStorage(**store);
  std::string text = m.Render();
  EXPECT_EQ(Sample(text, "winnow_documents", {{"collection", "docs"}}), 100);
  EXPECT_GT(*Sample(text, "winnow_rocksdb_memtable_bytes"), 0);
  EXPECT_GT(*Sample(text, "winnow_rocksdb_written_bytes_total"), 0);
  EXPECT_GT(*Sample(text, "winnow_rocksdb_wal_syncs_total"), 0);
  EXPECT_EQ(*Sample(text, "winnow_rocksdb_block_cache_capacity_bytes"),
            static_cast<double>(options.block_cache_bytes));
  EXPECT_EQ(Sample(text, "winnow_rocksdb_write_stopped"), 0);
  EXPECT_GT(*Sample(text, "winnow_rocksdb_last_refresh_timestamp_seconds"), 0);

  // After a compaction, data is in SST files; counters never go back.
  const double written = *Sample(text, "winnow_rocksdb_written_bytes_total");
  ASSERT_TRUE((*store)->Compact().ok());
  ASSERT_TRUE((*store)->DeleteCollection("docs").ok());
  m.RefreshStorage(**store);
  text = m.Render();
  EXPECT_GT(*Sample(text, "winnow_rocksdb_live_sst_bytes"), 0);
  EXPECT_GT(*Sample(text, "winnow_rocksdb_flush_written_bytes_total"), 0);
  EXPECT_GE(*Sample(text, "winnow_rocksdb_written_bytes_total"), written);
  // A deleted collection's series goes away.
  EXPECT_EQ(Sample(text, "winnow_documents", {{"collection", "docs"}}),
            std::nullopt);

  // The timer refreshes too.
  spec.name = "later";
  ASSERT_TRUE((*store)->CreateCollection(spec).ok());
  m.StartStorageRefresh(store->get(), std::chrono::milliseconds(20));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!Sample(m.Render(), "winnow_documents", {{"collection", "later"}}) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Sample(m.Render(), "winnow_documents", {{"collection", "later"}}),
            0);
  m.StopStorageRefresh();
  ASSERT_TRUE((*store)->Close().ok());
  std::filesystem::remove_all(dir);
}

class MetricsServerTest : public testing::InProcessServerTest {
 protected:
  grpc::Status Create(const std::string& name) {
    grpc::ClientContext context;
    v1::CreateCollectionRequest request;
    request.mutable_collection()->set_name(name);
    v1::CreateCollectionResponse response;
    return collections_->CreateCollection(&context, request, &response);
  }
};

TEST_F(MetricsServerTest, RedMetricsCountEveryRpcWithItsCodeAndMessages) {
  ASSERT_FALSE(server_.metrics_address().empty());
  EXPECT_NE(server_.metrics_address(), "127.0.0.1:0");

  // Unary: two creates (one fails), one get of a missing collection.
  ASSERT_TRUE(Create("c").ok());
  EXPECT_EQ(Create("c").error_code(), grpc::StatusCode::ALREADY_EXISTS);
  {
    grpc::ClientContext context;
    v1::GetCollectionRequest request;
    request.set_name("missing");
    v1::GetCollectionResponse response;
    EXPECT_EQ(
        collections_->GetCollection(&context, request, &response).error_code(),
        grpc::StatusCode::NOT_FOUND);
  }
  // Bidirectional: three batches, three acks.
  {
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    for (int b = 0; b < 3; ++b) {
      v1::UpsertDocumentsRequest request;
      request.set_collection("c");
      request.set_sequence(b + 1);
      for (int i = 0; i < 100; ++i) {
        v1::Document* d = request.add_documents();
        d->set_id("d" + std::to_string(b * 100 + i));
        d->set_length(10);
        d->set_domain(i % 2 ? "web" : "code");
      }
      ASSERT_TRUE(stream->Write(request));
    }
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    int acks = 0;
    while (stream->Read(&ack)) ++acks;
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(acks, 3);
  }
  // Server streaming: 300 documents in batches of 100.
  int batches = 0;
  {
    grpc::ClientContext context;
    v1::SampleRequest request;
    request.set_collection("c");
    request.set_batch_size(100);
    request.set_num_epochs(1);
    request.set_world_size(1);
    auto reader = selection_->Sample(&context, request);
    v1::SampleResponse response;
    while (reader->Read(&response)) ++batches;
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_EQ(batches, 3);
  }

  // A small GetScores, answered on its completion queue's polling thread
  // (get_scores_pollers.h).
  {
    grpc::ClientContext context;
    v1::GetScoresRequest request;
    request.set_collection("c");
    request.add_ids("d1");
    v1::GetScoresResponse response;
    ASSERT_TRUE(scores_->GetScores(&context, request, &response).ok());
  }

  const std::string& address = server_.metrics_address();
  std::string text =
      winnow::testing::HttpGet(
          std::stoi(address.substr(address.rfind(':') + 1)), "/metrics")
          .value_or("");
  ASSERT_FALSE(text.empty());
  const Labels create = Rpc("CollectionService", "CreateCollection", "unary");
  EXPECT_EQ(Sample(text, "grpc_server_started_total", create), 2);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(create, "grpc_code", "OK")),
            1);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(create, "grpc_code", "AlreadyExists")),
            1);
  EXPECT_EQ(Sample(text, "grpc_server_msg_received_total", create), 2);
  EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total", create), 1);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_count", create), 2);
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_bucket",
                   With(create, "le", "+Inf")),
            2);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(Rpc("CollectionService", "GetCollection", "unary"),
                        "grpc_code", "NotFound")),
            1);

  const Labels upsert =
      Rpc("DocumentService", "UpsertDocuments", "bidi_stream");
  EXPECT_EQ(Sample(text, "grpc_server_started_total", upsert), 1);
  EXPECT_EQ(Sample(text, "grpc_server_msg_received_total", upsert), 3);
  EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total", upsert), 3);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(upsert, "grpc_code", "OK")),
            1);

  const Labels sample = Rpc("SelectionService", "Sample", "server_stream");
  EXPECT_EQ(Sample(text, "grpc_server_msg_received_total", sample), 1);
  EXPECT_EQ(Sample(text, "grpc_server_msg_sent_total", sample), batches);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(sample, "grpc_code", "OK")),
            1);
  EXPECT_EQ(Sample(text, "grpc_server_handled_total",
                   With(Rpc("ScoreService", "GetScores", "unary"), "grpc_code",
                        "OK")),
            1);
  // Every document once, counted under its domain.
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "web"}}),
            150);
  EXPECT_EQ(Sample(text, "winnow_samples_served_total",
                   {{"collection", "c"}, {"domain", "code"}}),
            150);

  // Storage and process metrics are served from the same endpoint; the
  // first storage refresh ran at start.
  EXPECT_TRUE(Sample(text, "winnow_rocksdb_live_sst_bytes").has_value());
  EXPECT_GT(*Sample(text, "process_resident_memory_bytes"), 0);
}

TEST_F(MetricsServerTest, AMixturePlansDriftIsServedAndForgottenWithIt) {
  ASSERT_TRUE(Create("mix").ok());
  {
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    v1::UpsertDocumentsRequest request;
    request.set_collection("mix");
    request.set_sequence(1);
    for (int i = 0; i < 400; ++i) {
      v1::Document* d = request.add_documents();
      d->set_id("m" + std::to_string(i));
      d->set_length(10);
      d->set_domain(i % 4 == 0 ? "code" : "web");
    }
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    while (stream->Read(&ack)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }
  // A 50/50 mixture over 300 web and 100 code documents, 200 samples.
  std::string plan_id;
  {
    grpc::ClientContext context;
    v1::SampleRequest request;
    request.set_collection("mix");
    request.set_run_id("mixture-run");
    request.set_batch_size(50);
    request.set_samples_per_epoch(200);
    request.set_num_epochs(1);
    request.set_world_size(1);
    auto* m = request.mutable_strategy()->mutable_mixture();
    for (const char* d : {"web", "code"}) {
      auto* w = m->add_domain_weights();
      w->set_domain(d);
      w->set_weight(1);
    }
    auto reader = selection_->Sample(&context, request);
    v1::SampleResponse response;
    std::map<std::string, int> served;
    while (reader->Read(&response)) {
      plan_id = response.plan_id();
      for (const std::string& d : response.batch().domains()) ++served[d];
    }
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_EQ(served["web"] + served["code"], 200);
    // The drift the server reports is the L1 distance of these shares.
    const double expected = std::abs(served["web"] / 200.0 - 0.5) +
                            std::abs(served["code"] / 200.0 - 0.5);
    const int port = std::stoi(server_.metrics_address().substr(
        server_.metrics_address().rfind(':') + 1));
    std::string text = winnow::testing::HttpGet(port, "/metrics").value_or("");
    std::optional<double> drift =
        Sample(text, "winnow_served_mixture_drift",
               {{"collection", "mix"}, {"plan", plan_id}});
    ASSERT_TRUE(drift.has_value()) << text;
    EXPECT_NEAR(*drift, expected, 1e-12);
    EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                     {{"collection", "mix"}, {"domain", "code"}}),
              0.5);
  }
  {
    grpc::ClientContext context;
    v1::GetCollectionRequest request;
    request.set_name("mix");
    v1::GetCollectionResponse response;
    ASSERT_TRUE(collections_->GetCollection(&context, request, &response).ok());
    EXPECT_EQ(response.collection().stats().plan_count(), 1);
  }
  {
    grpc::ClientContext context;
    v1::DeletePlanRequest request;
    request.set_plan_id(plan_id);
    v1::DeletePlanResponse response;
    ASSERT_TRUE(selection_->DeletePlan(&context, request, &response).ok());
  }
  const int port = std::stoi(server_.metrics_address().substr(
      server_.metrics_address().rfind(':') + 1));
  std::string text = winnow::testing::HttpGet(port, "/metrics").value_or("");
  EXPECT_EQ(Sample(text, "winnow_served_mixture_drift",
                   {{"collection", "mix"}, {"plan", plan_id}}),
            std::nullopt);
  // Deleting the collection drops its target shares too.
  {
    grpc::ClientContext context;
    v1::DeleteCollectionRequest request;
    request.set_name("mix");
    v1::DeleteCollectionResponse response;
    ASSERT_TRUE(
        collections_->DeleteCollection(&context, request, &response).ok());
  }
  text = winnow::testing::HttpGet(port, "/metrics").value_or("");
  EXPECT_EQ(Sample(text, "winnow_mixture_target_share",
                   {{"collection", "mix"}, {"domain", "code"}}),
            std::nullopt);
}

TEST_F(MetricsServerTest, ATakenMetricsPortFailsTheStartNamingTheFlag) {
  Server second;
  ServerOptions options;
  options.data_dir = (dir_ / "second").string();
  options.listen = "127.0.0.1:0";
  options.metrics_listen = server_.metrics_address();
  absl::Status s = second.BuildAndStart(options);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("metrics_listen"), std::string::npos) << s;
}

TEST_F(MetricsServerTest, AnEmptyMetricsListenTurnsMetricsOff) {
  Server second;
  ServerOptions options;
  options.data_dir = (dir_ / "second").string();
  options.listen = "127.0.0.1:0";
  options.metrics_listen = "";
  ASSERT_TRUE(second.BuildAndStart(options).ok());
  EXPECT_TRUE(second.metrics_address().empty());
  second.RequestShutdown("test");
  EXPECT_TRUE(second.WaitForTermination().ok());
}

}  // namespace
}  // namespace winnow::server
