// winnow::Client over real gRPC, against the in-process fake server:
// metadata, deadlines, status conversion, stream readers, and the writer's
// reconnect-and-resend through real broken streams and a server restart.
#include "winnow/client/client.h"

#include <grpcpp/security/server_credentials.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/client/fake_server.h"

namespace winnow {
namespace {

using fake::FakeServer;
using fake::FakeState;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    {
      absl::MutexLock lock(&state_.mu);
      state_.collections["web"] = 0;
    }
  }

  Client MakeClient(ClientOptions options = {}) {
    options.max_reconnect_backoff = absl::Milliseconds(100);
    absl::StatusOr<Client> client = Client::Connect(server_.target(), options);
    EXPECT_TRUE(client.ok()) << client.status();
    return *std::move(client);
  }

  static WriterOptions FastRetries() {
    WriterOptions options;
    options.initial_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(100);
    options.max_reconnect_attempts = 100;
    options.max_reconnect_time = absl::Seconds(20);
    return options;
  }

  static v1::UpsertDocumentsRequest Batch(int b, int docs = 4) {
    v1::UpsertDocumentsRequest request;
    for (int i = 0; i < docs; ++i) {
      request.mutable_columns()->add_ids(absl::StrCat("doc-", b, "-", i));
    }
    return request;
  }

  FakeState state_;
  FakeServer server_{&state_};
};

TEST_F(ClientTest, UnaryCallsSendTheTokenAndReturnResponses) {
  ClientOptions options;
  options.token = "s3cret";
  Client client = MakeClient(options);
  v1::GetCollectionRequest get;
  get.set_name("web");
  absl::StatusOr<v1::GetCollectionResponse> response =
      client.GetCollection(get);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->collection().name(), "web");
  absl::MutexLock lock(&state_.mu);
  EXPECT_EQ(state_.authorization, "Bearer s3cret");
}

TEST_F(ClientTest, NoTokenSendsNoAuthorization) {
  Client client = MakeClient();
  ASSERT_TRUE(client.ListCollections({}).ok());
  absl::MutexLock lock(&state_.mu);
  EXPECT_EQ(state_.authorization, "");
}

TEST_F(ClientTest, ServerErrorsKeepTheirCodeAndMessage) {
  Client client = MakeClient();
  v1::GetCollectionRequest get;
  get.set_name("nope");
  absl::StatusOr<v1::GetCollectionResponse> response =
      client.GetCollection(get);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(response.status().message(), "collection 'nope' not found");
}

TEST_F(ClientTest, EveryCallHasADeadline) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.list_delay = absl::Seconds(5);
  }
  ClientOptions options;
  options.default_timeout = absl::Milliseconds(200);
  Client client = MakeClient(options);
  const absl::Time start = absl::Now();
  EXPECT_EQ(client.ListCollections({}).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  // A per-call override wins over the default.
  CallOptions call;
  call.timeout = absl::Milliseconds(50);
  EXPECT_EQ(client.ListCollections({}, call).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(ClientNoServerTest, NoServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  absl::StatusOr<Client> client = Client::Connect("127.0.0.1:1");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->ListCollections({}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(ClientNoServerTest, BadOptionsFailAtConnect) {
  EXPECT_EQ(Client::Connect("").status().code(),
            absl::StatusCode::kInvalidArgument);
  ClientOptions missing_ca;
  missing_ca.tls_root_ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(Client::Connect("127.0.0.1:1", missing_ca).status().code(),
            absl::StatusCode::kNotFound);
  ClientOptions half_pair;
  half_pair.tls_cert_file = "/etc/hostname";
  EXPECT_EQ(Client::Connect("127.0.0.1:1", half_pair).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A self-signed certificate for "localhost", made with the openssl tool.
struct TestCertificate {
  std::string cert_file, key_file, cert, key;
  // Null when the tool is missing. The files go with the object.
  static std::unique_ptr<TestCertificate> Make() {
    auto made = std::make_unique<TestCertificate>();
    TestCertificate& c = *made;
    const std::string dir = ::testing::TempDir();
    c.cert_file = absl::StrCat(dir, "/winnow_client_cert_", getpid(), ".pem");
    c.key_file = absl::StrCat(dir, "/winnow_client_key_", getpid(), ".pem");
    const std::string command = absl::StrCat(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost -keyout ",
        c.key_file, " -out ", c.cert_file, " >/dev/null 2>&1");
    if (std::system(command.c_str()) != 0) return nullptr;
    std::ifstream cert(c.cert_file), key(c.key_file);
    std::stringstream cert_text, key_text;
    cert_text << cert.rdbuf();
    key_text << key.rdbuf();
    c.cert = cert_text.str();
    c.key = key_text.str();
    return made;
  }
  ~TestCertificate() {
    std::remove(cert_file.c_str());
    std::remove(key_file.c_str());
  }
};

TEST(ClientTlsTest, VerifiesTheServerWithTheGivenRootCa) {
  std::unique_ptr<TestCertificate> certificate = TestCertificate::Make();
  if (!certificate) GTEST_SKIP() << "no openssl tool to make a certificate";
  FakeState state;
  FakeServer server(&state);
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({certificate->key, certificate->cert});
  server.set_credentials(grpc::SslServerCredentials(ssl));
  server.Start();

  ClientOptions options;
  options.tls_root_ca_file = certificate->cert_file;
  options.tls_server_name = "localhost";  // the certificate's name
  absl::StatusOr<Client> client = Client::Connect(server.target(), options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<v1::ListCollectionsResponse> list =
      client->ListCollections({});
  EXPECT_TRUE(list.ok()) << list.status();

  // Plaintext, or TLS without that root, does not get through.
  absl::StatusOr<Client> plaintext = Client::Connect(server.target());
  EXPECT_EQ(plaintext->ListCollections({}).status().code(),
            absl::StatusCode::kUnavailable);
  ClientOptions system_roots;
  system_roots.tls = true;
  system_roots.tls_server_name = "localhost";
  absl::StatusOr<Client> untrusted =
      Client::Connect(server.target(), system_roots);
  EXPECT_EQ(untrusted->ListCollections({}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(ClientTest, FilterReaderReadsEveryMessage) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.filter_ids = {"a", "b", "c", "d", "e"};
  }
  Client client = MakeClient();
  v1::FilterRequest request;
  request.set_collection("web");
  FilterReader reader = client.Filter(request);
  std::vector<std::string> ids;
  int messages = 0;
  for (const v1::FilterResponse& response : reader) {
    ++messages;
    EXPECT_EQ(response.total_count(), 5);
    ids.insert(ids.end(), response.ids().begin(), response.ids().end());
  }
  EXPECT_TRUE(reader.Finish().ok());
  EXPECT_EQ(messages, 3);  // batches of 2
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(ClientTest, FinishingAReaderEarlyCancelsIt) {
  {
    absl::MutexLock lock(&state_.mu);
    for (int i = 0; i < 10000; ++i) {
      state_.filter_ids.push_back(absl::StrCat("id-", i));
    }
  }
  Client client = MakeClient();
  FilterReader reader = client.Filter({});
  v1::FilterResponse response;
  ASSERT_TRUE(reader.Next(&response));
  EXPECT_EQ(reader.Finish().code(), absl::StatusCode::kCancelled);
  EXPECT_FALSE(reader.Next(&response));
  EXPECT_EQ(reader.Finish().code(), absl::StatusCode::kCancelled);
}

TEST_F(ClientTest, SampleReaderGivesARankItsBatches) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.sample_batches = {{"a", "b"}, {"c", "d"}, {"e", "f"}};
  }
  Client client = MakeClient();
  v1::SampleRequest request;
  request.set_collection("web");
  request.set_rank(1);
  request.set_world_size(2);
  SampleReader reader = client.Sample(request);
  v1::SampleResponse response;
  ASSERT_TRUE(reader.Next(&response));
  EXPECT_EQ(response.batch().global_batch_index(), 1);
  EXPECT_EQ(response.cursor(), "cursor-2");
  EXPECT_FALSE(reader.Next(&response));
  EXPECT_TRUE(reader.Finish().ok());
}

TEST_F(ClientTest, WriterStoresEveryBatchOnAHealthyStream) {
  Client client = MakeClient();
  DocumentWriter writer = client.UpsertDocuments("web");
  for (int b = 0; b < 30; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(writer.stats().batches_acked, 30);
  EXPECT_EQ(writer.stats().documents_acked, 120);
  EXPECT_EQ(writer.stats().reconnects, 0);
  EXPECT_EQ(state_.DocumentCount("web"), 120);
}

TEST_F(ClientTest, WriterResendsAfterTheServerEndsTheStream) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.break_after_apply = {3, 9};
  }
  Client client = MakeClient();
  DocumentWriter writer = client.UpsertDocuments("web", FastRetries());
  std::vector<uint64_t> acked;
  writer.set_on_ack([&](const v1::UpsertDocumentsResponse& r) {
    acked.push_back(r.sequence());
  });
  for (int b = 0; b < 20; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok()) << b;
  absl::Status closed = writer.Close();
  ASSERT_TRUE(closed.ok()) << closed;
  std::vector<uint64_t> want;
  for (uint64_t s = 1; s <= 20; ++s) want.push_back(s);
  EXPECT_EQ(acked, want);
  EXPECT_EQ(writer.stats().reconnects, 2);
  EXPECT_GT(writer.stats().resends, 0);
  EXPECT_EQ(state_.DocumentCount("web"), 80);  // one copy of each
  absl::MutexLock lock(&state_.mu);
  ASSERT_EQ(state_.streams.size(), 3u);
  for (const std::vector<uint64_t>& stream : state_.streams) {
    for (size_t i = 1; i < stream.size(); ++i) {
      EXPECT_EQ(stream[i], stream[i - 1] + 1);
    }
  }
}

TEST_F(ClientTest, WriterReconnectsWhenTheStreamStalls) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.stall_on = {2};
  }
  ClientOptions options;
  options.stall_timeout = absl::Milliseconds(300);
  Client client = MakeClient(options);
  DocumentWriter writer = client.UpsertDocuments("web", FastRetries());
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  absl::Status closed = writer.Close();
  ASSERT_TRUE(closed.ok()) << closed;
  EXPECT_EQ(writer.stats().batches_acked, 5);
  EXPECT_GE(writer.stats().reconnects, 1);
  EXPECT_EQ(state_.DocumentCount("web"), 20);
}

TEST_F(ClientTest, WriterSurvivesAServerRestart) {
  const int port = server_.port();
  std::atomic<bool> restart{false};
  state_.on_batch = [&](int batch) {
    if (batch == 5) restart = true;
  };
  std::thread restarter([&] {
    while (!restart) absl::SleepFor(absl::Milliseconds(1));
    server_.Stop(absl::Milliseconds(50));
    absl::SleepFor(absl::Milliseconds(200));  // down for a while
    server_.Start(port);
  });
  Client client = MakeClient();
  WriterOptions options = FastRetries();
  options.max_in_flight = 2;
  DocumentWriter writer = client.UpsertDocuments("web", options);
  for (int b = 0; b < 40; ++b) {
    absl::Status s = writer.Write(Batch(b));
    ASSERT_TRUE(s.ok()) << b << ": " << s;
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::Status closed = writer.Close();
  restarter.join();
  ASSERT_TRUE(closed.ok()) << closed;
  EXPECT_EQ(writer.stats().batches_acked, 40);
  EXPECT_GE(writer.stats().reconnects, 1);
  EXPECT_EQ(state_.DocumentCount("web"), 160);
}

TEST_F(ClientTest, WriterGivesUpWhenTheServerStaysDown) {
  server_.Stop();
  Client client = MakeClient();
  WriterOptions options = FastRetries();
  options.max_reconnect_attempts = 3;
  DocumentWriter writer = client.UpsertDocuments("web", options);
  absl::Status s = writer.Write(Batch(0));
  if (s.ok()) s = writer.Close();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_EQ(writer.stats().reconnects, 3);
}

}  // namespace
}  // namespace winnow
