// Whole-system security and limits (docs/operations.md): bearer tokens with the
// role table and collection globs, TLS and mutual TLS, the plaintext health
// port, SIGHUP reloads, winnowctl's token command, and the stream limit.
// Certificates are made at test time with the openssl command: a CA, a
// server certificate for 127.0.0.1 and localhost, a client certificate, and
// a second, unrelated CA with a client certificate of its own.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::TempDir;
using testing::WinnowdProcess;
using Code = absl::StatusCode;

// ---- helpers ----

struct ShellRun {
  int exit_code = -1;
  std::string output;  // stdout (and stderr when merged)
};

// Runs a shell command line, bounded to 30 s.
ShellRun Shell(const std::string& command) {
  ShellRun run;
  FILE* pipe = popen(("timeout 30 " + command).c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    run.output.append(buffer, n);
  }
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

std::string Sha256Hex(const std::string& token) {
  ShellRun r = Shell("printf %s " + Quote(token) + " | sha256sum");
  return r.output.substr(0, 64);
}

std::string TokenLine(const std::string& role, const std::string& token,
                      const std::string& extra = "") {
  return "role=" + role + " sha256=" + Sha256Hex(token) +
         (extra.empty() ? "" : " " + extra) + "\n";
}

// Polls `done` every 20 ms for up to `seconds`.
bool Eventually(const std::function<bool()>& done, double seconds = 10) {
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// One call of any method with raw bytes (for grpc.health.v1 and reflection,
// whose stubs are not part of this project): one request message, at most
// one response message.
struct RawResult {
  grpc::Status status;
  std::string response;
  bool got_response = false;
};

RawResult RawCall(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& method, const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer buffer(&slice, 1);
  call->Write(buffer, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  RawResult result;
  call->Read(&response, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  if (ok) {
    result.got_response = true;
    std::vector<grpc::Slice> slices;
    (void)response.Dump(&slices);
    for (const grpc::Slice& s : slices) {
      result.response.append(reinterpret_cast<const char*>(s.begin()),
                             s.size());
    }
  }
  call->Finish(&result.status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

constexpr char kHealthCheck[] = "/grpc.health.v1.Health/Check";
constexpr char kReflection[] =
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
// HealthCheckResponse{status: SERVING} and {status: NOT_SERVING}.
const std::string kServing("\x08\x01", 2);
const std::string kNotServing("\x08\x02", 2);
// ServerReflectionRequest{list_services: ""}.
const std::string kListServices("\x3a\x00", 2);

std::shared_ptr<grpc::Channel> Plaintext(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

// The health port a server logged ("health_listen=127.0.0.1:PORT").
std::string HealthTarget(const WinnowdProcess& server) {
  std::string log = server.Log();
  size_t at = log.find("health_listen=127.0.0.1:");
  if (at == std::string::npos) return "";
  size_t begin = at + std::string("health_listen=").size();
  size_t end = log.find_first_of(" \n", begin);
  return log.substr(begin, end - begin);
}

std::vector<std::string> Names(const v1::ListCollectionsResponse& list) {
  std::vector<std::string> names;
  for (const auto& c : list.collections()) names.push_back(c.name());
  return names;
}

// ---- tokens ----

constexpr char kReader[] = "tok-reader-0123456789";
constexpr char kWriter[] = "tok-writer-0123456789";
constexpr char kAdmin[] = "tok-admin-0123456789";
constexpr char kWebReader[] = "tok-web-reader-0123456789";
constexpr char kWebWriter[] = "tok-web-writer-0123456789";
constexpr char kWebAdmin[] = "tok-web-admin-0123456789";

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokens_path_ = dir_.path() + "/tokens";
    WriteFile(
        tokens_path_,
        "# the test's tokens\n" + TokenLine("reader", kReader, "name=reader") +
            TokenLine("writer", kWriter, "name=writer") +
            TokenLine("admin", kAdmin, "name=admin") + "\n" +
            TokenLine("reader", kWebReader,
                      "name=web-reader collections=web-*") +
            TokenLine("writer", kWebWriter,
                      "name=web-writer collections=web-*") +
            TokenLine("admin", kWebAdmin, "name=web-admin collections=web-*"));
    server_ = WinnowdProcess::Start(dir_.path() + "/data", 0,
                                    {"--tokens", tokens_path_});
    ASSERT_NE(server_, nullptr);
    Client admin = As(kAdmin);
    for (const char* name : {"web-a", "wiki"}) {
      v1::CreateCollectionRequest create;
      create.mutable_collection()->set_name(name);
      ASSERT_TRUE(admin.CreateCollection(create).ok()) << name;
    }
  }

  Client As(const std::string& token) const {
    ClientOptions options;
    options.token = token;
    options.default_timeout = absl::Seconds(10);
    options.stream_timeout = absl::Seconds(10);
    return *Client::Connect(server_->target(), options);
  }

  TempDir dir_;
  std::string tokens_path_;
  std::unique_ptr<WinnowdProcess> server_;
};

// Ends a bidirectional stream after one message and returns its status.
template <typename Stream, typename Request, typename Response>
Code OneMessage(Stream stream, const Request& request) {
  stream->Write(request);
  stream->WritesDone();
  Response response;
  while (stream->Read(&response)) {
  }
  return static_cast<Code>(stream->Finish().error_code());
}

template <typename Response>
Code Drain(StreamReader<Response> reader) {
  Response response;
  while (reader.Next(&response)) {
  }
  return reader.Finish().code();
}

struct Rpc {
  std::string name;
  std::string role;  // the least role that may call it
  std::function<Code(const Client&)> call;
};

// Every RPC of the contract, each with a harmless request on the collection
// "web-a": an allowed call may succeed or fail for its own reasons, but
// never with UNAUTHENTICATED or PERMISSION_DENIED.
std::vector<Rpc> AllRpcs() {
  auto unary = [](auto result) { return result.status().code(); };
  std::vector<Rpc> rpcs = {
      {"CreateCollection", "admin",
       [=](const Client& c) {
         v1::CreateCollectionRequest r;
         r.mutable_collection()->set_name("web-a");  // ALREADY_EXISTS
         return unary(c.CreateCollection(r));
       }},
      {"GetCollection", "reader",
       [=](const Client& c) {
         v1::GetCollectionRequest r;
         r.set_name("web-a");
         return unary(c.GetCollection(r));
       }},
      {"ListCollections", "reader",
       [=](const Client& c) { return unary(c.ListCollections({})); }},
      {"DeleteCollection", "admin",
       [=](const Client& c) {
         v1::DeleteCollectionRequest r;
         r.set_name("web-absent");  // NOT_FOUND
         return unary(c.DeleteCollection(r));
       }},
      {"UpsertDocuments", "writer",
       [](const Client& c) {
         auto context = c.MakeContext({}, absl::Seconds(10));
         auto stub = v1::DocumentService::NewStub(c.channel());
         v1::UpsertDocumentsRequest r;
         r.set_collection("web-a");
         r.set_sequence(1);
         v1::Document* d = r.add_documents();
         d->set_id("doc-1");
         d->set_length(10);
         return OneMessage<decltype(stub->UpsertDocuments(context.get())),
                           v1::UpsertDocumentsRequest,
                           v1::UpsertDocumentsResponse>(
             stub->UpsertDocuments(context.get()), r);
       }},
      {"GetDocuments", "reader",
       [=](const Client& c) {
         v1::GetDocumentsRequest r;
         r.set_collection("web-a");
         r.add_ids("absent");
         r.set_allow_missing(true);
         return unary(c.GetDocuments(r));
       }},
      {"DeleteDocuments", "writer",
       [=](const Client& c) {
         v1::DeleteDocumentsRequest r;
         r.set_collection("web-a");
         r.add_ids("absent");
         r.set_allow_missing(true);
         return unary(c.DeleteDocuments(r));
       }},
      {"PutScores", "writer",
       [](const Client& c) {
         auto context = c.MakeContext({}, absl::Seconds(10));
         auto stub = v1::ScoreService::NewStub(c.channel());
         v1::PutScoresRequest r;
         r.set_collection("web-a");
         r.set_sequence(1);
         return OneMessage<decltype(stub->PutScores(context.get())),
                           v1::PutScoresRequest, v1::PutScoresResponse>(
             stub->PutScores(context.get()), r);
       }},
      {"GetScores", "reader",
       [=](const Client& c) {
         v1::GetScoresRequest r;
         r.set_collection("web-a");
         r.add_ids("absent");
         r.set_allow_missing(true);
         return unary(c.GetScores(r));
       }},
      {"GetScoresStream", "reader",
       [](const Client& c) {
         auto context = c.MakeContext({}, absl::Seconds(10));
         auto stub = v1::ScoreService::NewStub(c.channel());
         v1::GetScoresStreamRequest r;
         r.mutable_request()->set_collection("web-a");
         r.mutable_request()->add_ids("absent");
         r.mutable_request()->set_allow_missing(true);
         return OneMessage<decltype(stub->GetScoresStream(context.get())),
                           v1::GetScoresStreamRequest,
                           v1::GetScoresStreamResponse>(
             stub->GetScoresStream(context.get()), r);
       }},
      {"ComputeScores", "writer",
       [=](const Client& c) {
         v1::ComputeScoresRequest r;
         r.set_collection("web-a");
         return unary(c.ComputeScores(r));
       }},
      {"ReportTraining", "writer",
       [](const Client& c) {
         auto context = c.MakeContext({}, absl::Seconds(10));
         auto stub = v1::ScoreService::NewStub(c.channel());
         v1::ReportTrainingRequest r;
         r.set_collection("web-a");
         return OneMessage<decltype(stub->ReportTraining(context.get())),
                           v1::ReportTrainingRequest,
                           v1::ReportTrainingResponse>(
             stub->ReportTraining(context.get()), r);
       }},
      {"Filter", "reader",
       [](const Client& c) {
         v1::FilterRequest r;
         r.set_collection("web-a");
         return Drain(c.Filter(r));
       }},
      {"Count", "reader",
       [=](const Client& c) {
         v1::CountRequest r;
         r.set_collection("web-a");
         return unary(c.Count(r));
       }},
      {"Sample", "reader",
       [](const Client& c) {
         v1::SampleRequest r;
         r.set_collection("web-a");
         r.set_batch_size(1);
         r.set_world_size(1);
         r.set_num_epochs(1);
         r.set_max_batches(1);
         return Drain(c.Sample(r));
       }},
      {"Nearest", "reader",
       [=](const Client& c) {
         v1::NearestRequest r;
         r.set_collection("web-a");
         r.add_query_ids("absent");
         r.set_k(1);
         return unary(c.Nearest(r));
       }},
      {"ListPlans", "reader",
       [=](const Client& c) {
         v1::ListPlansRequest r;
         r.set_collection("web-a");
         return unary(c.ListPlans(r));
       }},
      {"DeletePlan", "writer",
       [=](const Client& c) {
         v1::DeletePlanRequest r;
         r.set_plan_id("absent");
         r.set_allow_missing(true);
         return unary(c.DeletePlan(r));
       }},
      {"GetOperation", "reader",
       [=](const Client& c) {
         v1::GetOperationRequest r;
         r.set_operation_id("absent");
         return unary(c.GetOperation(r));
       }},
      {"ListOperations", "reader",
       [=](const Client& c) { return unary(c.ListOperations({})); }},
      {"CancelOperation", "writer",
       [=](const Client& c) {
         v1::CancelOperationRequest r;
         r.set_operation_id("absent");
         return unary(c.CancelOperation(r));
       }},
      {"WaitOperation", "reader",
       [](const Client& c) {
         v1::WaitOperationRequest r;
         r.set_operation_id("absent");
         return Drain(c.WaitOperation(r));
       }},
      {"Backup", "admin",
       [=](const Client& c) {
         // Validated before any work: a request_id too long to be one.
         v1::BackupRequest r;
         r.set_request_id(std::string(100000, 'x'));
         return unary(c.Backup(r));
       }},
      {"ListBackups", "admin",
       [=](const Client& c) { return unary(c.ListBackups({})); }},
      {"GetServerInfo", "reader",
       [=](const Client& c) { return unary(c.GetServerInfo({})); }},
  };
  return rpcs;
}

bool IsAuthError(Code code) {
  return code == Code::kUnauthenticated || code == Code::kPermissionDenied;
}

TEST_F(TokenTest, EveryRoleAgainstEveryRpc) {
  const std::map<std::string, int> rank = {
      {"reader", 1}, {"writer", 2}, {"admin", 3}};
  const std::map<std::string, std::string> token_of = {
      {"reader", kReader}, {"writer", kWriter}, {"admin", kAdmin}};
  std::vector<Rpc> rpcs = AllRpcs();
  ASSERT_EQ(rpcs.size(), 25u);  // every RPC of proto/winnow/v1/
  std::set<std::string> served;
  std::vector<std::string> not_served;
  for (const Rpc& rpc : rpcs) {
    SCOPED_TRACE(rpc.name);
    std::map<std::string, Code> codes;
    codes["none"] = rpc.call(As(""));
    codes["bad"] = rpc.call(As("not-a-token"));
    codes["reader"] = rpc.call(As(kReader));
    codes["writer"] = rpc.call(As(kWriter));
    codes["admin"] = rpc.call(As(kAdmin));
    if (codes["admin"] == Code::kUnimplemented) {
      // Not served by this build (its issue has not landed): there is
      // nothing to authorize, and every caller is told the same.
      for (const auto& [who, code] : codes) {
        EXPECT_EQ(code, Code::kUnimplemented) << who;
      }
      not_served.push_back(rpc.name);
      continue;
    }
    served.insert(rpc.name);
    EXPECT_EQ(codes["none"], Code::kUnauthenticated);
    EXPECT_EQ(codes["bad"], Code::kUnauthenticated);
    for (const char* role : {"reader", "writer", "admin"}) {
      if (rank.at(role) >= rank.at(rpc.role)) {
        EXPECT_FALSE(IsAuthError(codes[role]))
            << role << " may call it, got "
            << absl::StatusCodeToString(codes[role]);
      } else {
        EXPECT_EQ(codes[role], Code::kPermissionDenied) << role;
      }
    }
  }
  // The RPCs served when this test was written must stay covered.
  for (const char* name :
       {"CreateCollection", "GetCollection", "ListCollections",
        "DeleteCollection", "UpsertDocuments", "GetDocuments",
        "DeleteDocuments", "PutScores", "GetScores", "Filter", "Count",
        "Sample", "Nearest", "ComputeScores", "GetOperation", "ListOperations",
        "CancelOperation", "WaitOperation", "Backup"}) {
    EXPECT_TRUE(served.contains(name)) << name;
  }
  std::string list;
  for (const std::string& name : not_served) list += " " + name;
  std::printf("RPCs not served by this build (UNIMPLEMENTED for all):%s\n",
              list.c_str());
}

TEST_F(TokenTest, ATokenOutsideItsCollectionsIsDeniedBeforeExistence) {
  Client reader = As(kWebReader);
  v1::GetCollectionRequest get;
  get.set_name("web-a");
  EXPECT_TRUE(reader.GetCollection(get).ok());
  get.set_name("web-absent");  // inside the glob: the truth
  EXPECT_EQ(reader.GetCollection(get).status().code(), Code::kNotFound);
  for (const char* name : {"wiki", "no-such-collection"}) {
    get.set_name(name);
    absl::Status s = reader.GetCollection(get).status();
    EXPECT_EQ(s.code(), Code::kPermissionDenied) << name << ": " << s;
    EXPECT_NE(s.message().find("limited to collections matching 'web-*'"),
              std::string::npos)
        << s;
    v1::CountRequest count;
    count.set_collection(name);
    EXPECT_EQ(reader.Count(count).status().code(), Code::kPermissionDenied);
    v1::FilterRequest filter;
    filter.set_collection(name);
    EXPECT_EQ(Drain(reader.Filter(filter)), Code::kPermissionDenied);
    v1::SampleRequest sample;
    sample.set_collection(name);
    EXPECT_EQ(Drain(reader.Sample(sample)), Code::kPermissionDenied);
    v1::NearestRequest nearest;
    nearest.set_collection(name);
    nearest.add_query_ids("x");
    nearest.set_k(1);
    EXPECT_EQ(reader.Nearest(nearest).status().code(), Code::kPermissionDenied);
  }

  // A limited writer: its batches for other collections are refused and
  // nothing of them is written.
  Client writer = As(kWebWriter);
  WriterOptions no_retry;
  no_retry.max_reconnect_attempts = 0;
  for (const char* name : {"wiki", "web-a"}) {
    DocumentWriter w = writer.UpsertDocuments(name, no_retry);
    v1::UpsertDocumentsRequest batch;
    v1::Document* d = batch.add_documents();
    d->set_id("x");
    d->set_length(1);
    absl::Status s = w.Write(std::move(batch));
    absl::Status closed = w.Close();
    if (s.ok()) s = closed;
    if (std::string(name) == "wiki") {
      EXPECT_EQ(s.code(), Code::kPermissionDenied) << s;
    } else {
      EXPECT_TRUE(s.ok()) << s;
    }
  }
  v1::CountRequest count;
  count.set_collection("wiki");
  absl::StatusOr<v1::CountResponse> wiki = As(kAdmin).Count(count);
  ASSERT_TRUE(wiki.ok()) << wiki.status();
  EXPECT_EQ(wiki->count(), 0);

  // A limited admin manages only its own collections, and takes no
  // backups.
  Client admin = As(kWebAdmin);
  v1::DeleteCollectionRequest del;
  del.set_name("wiki");
  EXPECT_EQ(admin.DeleteCollection(del).status().code(),
            Code::kPermissionDenied);
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("other");
  EXPECT_EQ(admin.CreateCollection(create).status().code(),
            Code::kPermissionDenied);
  create.mutable_collection()->set_name("web-b");
  EXPECT_TRUE(admin.CreateCollection(create).ok());
  if (As(kAdmin).ListBackups({}).status().code() != Code::kUnimplemented) {
    EXPECT_EQ(admin.ListBackups({}).status().code(), Code::kPermissionDenied);
    EXPECT_EQ(admin.Backup({}).status().code(), Code::kPermissionDenied);
  }
}

TEST_F(TokenTest, PlansOfOtherCollectionsStayHidden) {
  // One document in each collection, so that each can hold a plan.
  for (const char* name : {"web-a", "wiki"}) {
    DocumentWriter w = As(kAdmin).UpsertDocuments(name);
    v1::UpsertDocumentsRequest batch;
    v1::Document* d = batch.add_documents();
    d->set_id("d1");
    d->set_length(1);
    ASSERT_TRUE(w.Write(std::move(batch)).ok());
    ASSERT_TRUE(w.Close().ok());
  }
  // A plan on each, and the first batch's cursor.
  std::map<std::string, v1::SampleResponse> first;
  for (const char* name : {"web-a", "wiki"}) {
    v1::SampleRequest r;
    r.set_collection(name);
    r.set_batch_size(1);
    r.set_world_size(1);
    r.set_num_epochs(1);
    SampleReader reader = As(kReader).Sample(r);
    ASSERT_TRUE(reader.Next(&first[name])) << reader.Finish();
    ASSERT_FALSE(first[name].plan_id().empty());
  }
  const std::string wiki_plan = first["wiki"].plan_id();

  // Listed: only the plans of visible collections.
  absl::StatusOr<v1::ListPlansResponse> all = As(kReader).ListPlans({});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->plans_size(), 2);
  absl::StatusOr<v1::ListPlansResponse> web = As(kWebReader).ListPlans({});
  ASSERT_TRUE(web.ok()) << web.status();
  ASSERT_EQ(web->plans_size(), 1);
  EXPECT_EQ(web->plans(0).plan_id(), first["web-a"].plan_id());
  v1::ListPlansRequest wiki_only;
  wiki_only.set_collection("wiki");
  EXPECT_EQ(As(kWebReader).ListPlans(wiki_only).status().code(),
            Code::kPermissionDenied);

  // By plan id: as unknown as a plan that does not exist.
  v1::SampleRequest by_id;
  by_id.set_plan_id(wiki_plan);
  by_id.set_world_size(1);
  SampleReader hidden = As(kWebReader).Sample(by_id);
  v1::SampleResponse response;
  EXPECT_FALSE(hidden.Next(&response));
  absl::Status s = hidden.Finish();
  EXPECT_EQ(s.code(), Code::kNotFound) << s;
  EXPECT_EQ(s.message().find("wiki"), std::string::npos) << s;
  v1::DeletePlanRequest del;
  del.set_plan_id(wiki_plan);
  absl::Status deleted = As(kWebWriter).DeletePlan(del).status();
  EXPECT_EQ(deleted.code(), Code::kNotFound) << deleted;
  del.set_allow_missing(true);
  absl::StatusOr<v1::DeletePlanResponse> missing =
      As(kWebWriter).DeletePlan(del);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->deleted());

  // By cursor, which names its collection: denied.
  v1::SampleRequest by_cursor;
  by_cursor.set_cursor(first["wiki"].cursor());
  by_cursor.set_world_size(1);
  SampleReader denied = As(kWebReader).Sample(by_cursor);
  EXPECT_FALSE(denied.Next(&response));
  EXPECT_EQ(denied.Finish().code(), Code::kPermissionDenied);
  // ...while the web plan resumes for the web token.
  by_cursor.set_cursor(first["web-a"].cursor());
  SampleReader resumed = As(kWebReader).Sample(by_cursor);
  EXPECT_EQ(Drain(std::move(resumed)), Code::kOk);

  // The wiki plan is still there for those who may see it.
  absl::StatusOr<v1::DeletePlanResponse> gone = As(kWriter).DeletePlan(del);
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->deleted());
}

TEST_F(TokenTest, ListCallsShowOnlyVisibleCollections) {
  absl::StatusOr<v1::ListCollectionsResponse> all =
      As(kReader).ListCollections({});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Names(*all), (std::vector<std::string>{"web-a", "wiki"}));
  absl::StatusOr<v1::ListCollectionsResponse> web =
      As(kWebReader).ListCollections({});
  ASSERT_TRUE(web.ok());
  EXPECT_EQ(Names(*web), (std::vector<std::string>{"web-a"}));
  // Paging walks the visible ones only.
  v1::ListCollectionsRequest page;
  page.set_page_size(1);
  absl::StatusOr<v1::ListCollectionsResponse> first =
      As(kWebReader).ListCollections(page);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(Names(*first), (std::vector<std::string>{"web-a"}));
  EXPECT_EQ(first->next_page_token(), "");
}

TEST_F(TokenTest, HealthAndReflectionNeedNoToken) {
  auto channel = Plaintext(server_->target());
  RawResult health = RawCall(channel, kHealthCheck, "");
  ASSERT_TRUE(health.status.ok()) << health.status.error_message();
  EXPECT_EQ(health.response, kServing);
  RawResult reflection = RawCall(channel, kReflection, kListServices);
  ASSERT_TRUE(reflection.status.ok()) << reflection.status.error_message();
  EXPECT_NE(reflection.response.find("winnow.v1.CollectionService"),
            std::string::npos);
  // ...while the API itself needs one.
  EXPECT_EQ(As("").ListCollections({}).status().code(), Code::kUnauthenticated);
}

TEST_F(TokenTest, SighupReloadsTheTokenFile) {
  constexpr char kNew[] = "tok-new-0123456789";
  EXPECT_EQ(As(kNew).ListCollections({}).status().code(),
            Code::kUnauthenticated);
  // Add one token, remove the writer.
  WriteFile(tokens_path_, TokenLine("reader", kReader, "name=reader") +
                              TokenLine("admin", kAdmin, "name=admin") +
                              TokenLine("reader", kNew, "name=new"));
  server_->Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] { return As(kNew).ListCollections({}).ok(); }));
  EXPECT_EQ(As(kWriter).ListCollections({}).status().code(),
            Code::kUnauthenticated);
  EXPECT_TRUE(As(kReader).ListCollections({}).ok());

  // A broken file is refused with its line; the tokens stay as they were.
  WriteFile(tokens_path_, TokenLine("reader", kWriter) + "role=superuser\n");
  server_->Signal(SIGHUP);
  EXPECT_TRUE(Eventually([&] {
    return server_->Log().find("tokens: reload failed") != std::string::npos;
  }));
  EXPECT_NE(server_->Log().find(tokens_path_ + ":2: role"), std::string::npos)
      << server_->Log();
  EXPECT_TRUE(As(kNew).ListCollections({}).ok());
  EXPECT_EQ(As(kWriter).ListCollections({}).status().code(),
            Code::kUnauthenticated);
  // Still alive and serving after the signals.
  EXPECT_TRUE(As(kAdmin).GetServerInfo({}).status().code() !=
              Code::kUnauthenticated);
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0);
}

TEST_F(TokenTest, WinnowctlTokenPrintsATokenAndItsLine) {
  ShellRun made =
      Shell(std::string(WINNOWCTL_PATH) +
            " token --role reader --collections 'web-*' --name ctl");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::istringstream lines(made.output);
  std::string token, line, extra;
  ASSERT_TRUE(std::getline(lines, token));
  ASSERT_TRUE(std::getline(lines, line));
  EXPECT_FALSE(std::getline(lines, extra));
  EXPECT_EQ(token.rfind("wnw_", 0), 0u) << token;
  EXPECT_EQ(token.size(), 4u + 43u);  // 32 random bytes, base64url
  EXPECT_EQ(token.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"
                                    "OPQRSTUVWXYZ0123456789-_",
                                    4),
            std::string::npos);
  EXPECT_EQ(line, "role=reader sha256=" + Sha256Hex(token) +
                      " collections=web-* name=ctl");
  // Two tokens are never the same.
  ShellRun again = Shell(std::string(WINNOWCTL_PATH) + " token --role admin");
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_NE(again.output.substr(0, token.size()), token);
  EXPECT_EQ(
      Shell(std::string(WINNOWCTL_PATH) + " token --role root 2>&1").exit_code,
      2);

  // The line works in the server's file, the token with winnowctl.
  std::ofstream(tokens_path_, std::ios::app) << line << "\n";
  server_->Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return As(token).ListCollections({}).ok(); }));
  const std::string ctl =
      std::string(WINNOWCTL_PATH) + " --server " + server_->target();
  ShellRun list = Shell(ctl + " --token " + token + " list");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("web-a"), std::string::npos) << list.output;
  EXPECT_EQ(list.output.find("wiki"), std::string::npos) << list.output;
  ShellRun denied =
      Shell("env WINNOW_TOKEN=" + token + " " + ctl + " count wiki 2>&1");
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.output.find("PERMISSION_DENIED"), std::string::npos)
      << denied.output;
  ShellRun none = Shell(ctl + " list 2>&1");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.output.find("UNAUTHENTICATED"), std::string::npos)
      << none.output;
}

TEST(TokenStartupTest, ABadTokenFileStopsTheServerNamingItsLine) {
  TempDir dir;
  const std::string tokens = dir.path() + "/tokens";
  WriteFile(tokens, "# fine\nrole=reader sha256=abc name=x\n");
  ShellRun run =
      Shell(std::string(WINNOWD_PATH) + " --data-dir " + dir.path() +
            "/data --listen 127.0.0.1:0 --tokens " + tokens + " 2>&1");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find(tokens + ":2: sha256"), std::string::npos)
      << run.output;
}

// ---- limits ----

TEST(StreamLimitTest, OneStreamOverTheLimitIsResourceExhausted) {
  TempDir dir;
  auto server = WinnowdProcess::Start(dir.path() + "/data", 0,
                                      {"--max-concurrent-streams", "2"});
  ASSERT_NE(server, nullptr);
  Client client = *Client::Connect(server->target());
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("docs");
  ASSERT_TRUE(client.CreateCollection(create).ok());
  {
    DocumentWriter w = client.UpsertDocuments("docs");
    v1::UpsertDocumentsRequest batch;
    for (int i = 0; i < 64; ++i) {
      v1::Document* d = batch.add_documents();
      d->set_id("d" + std::to_string(i));
      d->set_length(1);
    }
    ASSERT_TRUE(w.Write(std::move(batch)).ok());
    ASSERT_TRUE(w.Close().ok());
  }
  v1::SampleRequest endless;
  endless.set_collection("docs");
  endless.set_batch_size(1);
  endless.set_world_size(1);
  endless.set_num_epochs(0);  // unbounded: open until cancelled
  std::vector<SampleReader> open;
  for (int i = 0; i < 2; ++i) {
    open.push_back(client.Sample(endless));
    v1::SampleResponse first;
    ASSERT_TRUE(open.back().Next(&first)) << open.back().Finish();
  }
  SampleReader third = client.Sample(endless);
  v1::SampleResponse response;
  EXPECT_FALSE(third.Next(&response));
  absl::Status s = third.Finish();
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("max_concurrent_streams is 2"), std::string::npos)
      << s;
  // A write stream counts too.
  {
    WriterOptions no_retry;
    no_retry.max_reconnect_attempts = 0;
    DocumentWriter w = client.UpsertDocuments("docs", no_retry);
    v1::UpsertDocumentsRequest batch;
    v1::Document* d = batch.add_documents();
    d->set_id("late");
    d->set_length(1);
    absl::Status ws = w.Write(std::move(batch));
    if (ws.ok()) ws = w.Close();
    EXPECT_EQ(ws.code(), Code::kResourceExhausted) << ws;
  }
  // Unary calls are not streams.
  v1::CountRequest count;
  count.set_collection("docs");
  EXPECT_TRUE(client.Count(count).ok());
  // A slot is free again once a stream ends.
  open.front().Cancel();
  (void)open.front().Finish();
  EXPECT_TRUE(Eventually([&] {
    SampleReader again = client.Sample(endless);
    v1::SampleResponse r;
    return again.Next(&r);
  }));
}

// ---- TLS ----

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    certs_ = new TempDir();
    const std::string d = certs_->path();
    // EC keys: quick to make. Every certificate is valid for two days.
    const std::string script =
        "set -e; cd " + d +
        "\n"
        "key() { openssl genpkey -algorithm EC -pkeyopt "
        "ec_paramgen_curve:prime256v1 -out $1 2>/dev/null; }\n"
        "ca() { key $1.key; openssl req -x509 -new -key $1.key -out $1.pem "
        "-days 2 -subj /CN=$1 2>/dev/null; }\n"
        "leaf() { key $1.key; openssl req -new -key $1.key -out $1.csr "
        "-subj /CN=$3 2>/dev/null; printf '%s\\n' \"$4\" > $1.ext; "
        "openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
        "-set_serial $5 -days 2 -out $1.pem -extfile $1.ext 2>/dev/null; }\n"
        "ca ca; ca other-ca\n"
        "leaf server ca localhost "
        "'subjectAltName=IP:127.0.0.1,DNS:localhost' 1\n"
        "leaf client ca trainer 'extendedKeyUsage=clientAuth' 2\n"
        "leaf stranger other-ca trainer 'extendedKeyUsage=clientAuth' 3\n";
    WriteFile(d + "/make.sh", script);
    ShellRun run = Shell("sh " + d + "/make.sh 2>&1");
    ASSERT_EQ(run.exit_code, 0) << run.output;
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  static std::string Cert(const std::string& name) {
    return certs_->path() + "/" + name;
  }

  // Starts a TLS server; mutual TLS with `client_ca`.
  void Start(bool mutual, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--tls-cert", Cert("server.pem"),
                                     "--tls-key", Cert("server.key")};
    if (mutual) {
      args.push_back("--tls-client-ca");
      args.push_back(Cert("ca.pem"));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = WinnowdProcess::Start(dir_.path() + "/data", 0, args);
    ASSERT_NE(server_, nullptr);
  }

  absl::Status List(ClientOptions options) {
    options.default_timeout = absl::Seconds(5);
    absl::StatusOr<Client> client = Client::Connect(server_->target(), options);
    if (!client.ok()) return client.status();
    return client->ListCollections({}).status();
  }

  static ClientOptions Tls(const std::string& ca) {
    ClientOptions options;
    options.tls_root_ca_file = Cert(ca);
    return options;
  }

  static TempDir* certs_;
  TempDir dir_;
  std::unique_ptr<WinnowdProcess> server_;
};

TempDir* TlsTest::certs_ = nullptr;

TEST_F(TlsTest, TlsServesClientsThatTrustItsCaOnly) {
  Start(/*mutual=*/false, {"--health-listen", "127.0.0.1:0"});
  EXPECT_TRUE(List(Tls("ca.pem")).ok());
  // The name in the certificate: localhost works as well as 127.0.0.1.
  ClientOptions by_name = Tls("ca.pem");
  by_name.tls_server_name = "localhost";
  EXPECT_TRUE(List(by_name).ok());
  absl::Status plaintext = List(ClientOptions());
  EXPECT_EQ(plaintext.code(), Code::kUnavailable) << plaintext;
  absl::Status wrong_ca = List(Tls("other-ca.pem"));
  EXPECT_EQ(wrong_ca.code(), Code::kUnavailable) << wrong_ca;

  // winnowctl with --tls-ca.
  const std::string ctl =
      std::string(WINNOWCTL_PATH) + " --server " + server_->target();
  ShellRun list = Shell(ctl + " --tls-ca " + Cert("ca.pem") + " list 2>&1");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  ShellRun plain = Shell(ctl + " --timeout 3 list 2>&1");
  EXPECT_EQ(plain.exit_code, 1) << plain.output;

  // The health port is plaintext and serves health checking only.
  const std::string health = HealthTarget(*server_);
  ASSERT_FALSE(health.empty()) << server_->Log();
  auto channel = Plaintext(health);
  RawResult check = RawCall(channel, kHealthCheck, "");
  ASSERT_TRUE(check.status.ok()) << check.status.error_message();
  EXPECT_EQ(check.response, kServing);
  EXPECT_EQ(RawCall(channel, kReflection, kListServices).status.error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(RawCall(channel, "/winnow.v1.CollectionService/ListCollections", "")
                .status.error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TlsTest, MutualTlsNeedsAClientCertificateFromItsCa) {
  Start(/*mutual=*/true);
  ClientOptions good = Tls("ca.pem");
  good.tls_cert_file = Cert("client.pem");
  good.tls_key_file = Cert("client.key");
  EXPECT_TRUE(List(good).ok());

  absl::Status no_cert = List(Tls("ca.pem"));
  EXPECT_EQ(no_cert.code(), Code::kUnavailable) << no_cert;
  ClientOptions stranger = Tls("ca.pem");
  stranger.tls_cert_file = Cert("stranger.pem");
  stranger.tls_key_file = Cert("stranger.key");
  absl::Status wrong = List(stranger);
  EXPECT_EQ(wrong.code(), Code::kUnavailable) << wrong;
  EXPECT_EQ(List(ClientOptions()).code(), Code::kUnavailable);
}

TEST_F(TlsTest, TokensWorkOverMutualTls) {
  const std::string tokens = dir_.path() + "/tokens";
  WriteFile(tokens, TokenLine("reader", kReader));
  Start(/*mutual=*/true, {"--tokens", tokens});
  ClientOptions options = Tls("ca.pem");
  options.tls_cert_file = Cert("client.pem");
  options.tls_key_file = Cert("client.key");
  EXPECT_EQ(List(options).code(), Code::kUnauthenticated);
  options.token = kReader;
  EXPECT_TRUE(List(options).ok());
}

TEST_F(TlsTest, BadTlsSettingsStopTheServerNamingTheOption) {
  const std::string winnowd = std::string(WINNOWD_PATH) + " --data-dir " +
                              dir_.path() + "/data --listen 127.0.0.1:0 ";
  struct Case {
    std::string args;
    int exit_code;
    std::string error;
  };
  const Case cases[] = {
      {"--tls-cert " + Cert("server.pem"), 2, "tls_key: must be set"},
      {"--tls-key " + Cert("server.key"), 2, "tls_cert: must be set"},
      {"--tls-client-ca " + Cert("ca.pem"), 2, "tls_client_ca: needs"},
      {"--tls-cert " + Cert("server.pem") + " --tls-key " + Cert("client.key"),
       1, "tls_key: '" + Cert("client.key") + "' is not the key"},
      {"--tls-cert " + Cert("absent.pem") + " --tls-key " + Cert("server.key"),
       1, "tls_cert: cannot read"},
      {"--tls-cert " + Cert("server.key") + " --tls-key " + Cert("server.key"),
       1, "tls_cert: '" + Cert("server.key") + "' holds no PEM certificate"},
      {"--tls-cert " + Cert("server.pem") + " --tls-key " + Cert("server.key") +
           " --tls-client-ca " + Cert("make.sh"),
       1, "tls_client_ca:"},
  };
  for (const Case& c : cases) {
    ShellRun run = Shell(winnowd + c.args + " 2>&1");
    EXPECT_EQ(run.exit_code, c.exit_code) << c.args << "\n" << run.output;
    EXPECT_NE(run.output.find(c.error), std::string::npos) << c.args << "\n"
                                                           << run.output;
  }
}

TEST(HealthPortTest, ReportsNotServingWhileTheServerDrains) {
  TempDir dir;
  auto server = WinnowdProcess::Start(
      dir.path() + "/data", 0,
      {"--health-listen", "127.0.0.1:0", "--shutdown-grace-seconds", "4"});
  ASSERT_NE(server, nullptr);
  const std::string health = HealthTarget(*server);
  ASSERT_FALSE(health.empty()) << server->Log();
  auto channel = Plaintext(health);
  EXPECT_EQ(RawCall(channel, kHealthCheck, "").response, kServing);

  // An open stream keeps the server draining for a while after SIGTERM.
  Client client = *Client::Connect(server->target());
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("docs");
  ASSERT_TRUE(client.CreateCollection(create).ok());
  {
    DocumentWriter w = client.UpsertDocuments("docs");
    v1::UpsertDocumentsRequest batch;
    for (int i = 0; i < 8; ++i) {
      v1::Document* d = batch.add_documents();
      d->set_id("d" + std::to_string(i));
      d->set_length(1);
    }
    ASSERT_TRUE(w.Write(std::move(batch)).ok());
    ASSERT_TRUE(w.Close().ok());
  }
  v1::SampleRequest endless;
  endless.set_collection("docs");
  endless.set_batch_size(1);
  endless.set_world_size(1);
  endless.set_num_epochs(0);
  SampleReader stream = client.Sample(endless);
  v1::SampleResponse first;
  ASSERT_TRUE(stream.Next(&first));

  server->Signal(SIGTERM);
  EXPECT_TRUE(Eventually(
      [&] {
        return RawCall(channel, kHealthCheck, "").response == kNotServing;
      },
      3))
      << server->Log();
  EXPECT_EQ(server->Wait(), 0);
}

}  // namespace
}  // namespace winnow
