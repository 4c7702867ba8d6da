// The token file, the token store and the per-RPC role table (auth.h).
#include "server/auth.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "winnow/v1/admin.grpc.pb.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/operation.grpc.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::server {
namespace {

constexpr char kReaderToken[] = "reader-secret";
constexpr char kWriterToken[] = "writer-secret";

std::string Line(std::string_view role, std::string_view token,
                 std::string_view extra = "") {
  std::string line = std::string("role=") + std::string(role) +
                     " sha256=" + ToHex(Sha256(token));
  if (!extra.empty()) line += " " + std::string(extra);
  return line + "\n";
}

TEST(Sha256Test, MatchesTheKnownDigest) {
  // printf %s test | sha256sum
  EXPECT_EQ(ToHex(Sha256("test")),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

TEST(DigestEqualsTest, EqualOnlyWhenEveryByteIs) {
  const Sha256Digest a = Sha256("a token");
  EXPECT_TRUE(DigestEquals(a, a));
  for (size_t i = 0; i < a.size(); ++i) {
    Sha256Digest b = a;
    b[i] ^= 0x01;
    EXPECT_FALSE(DigestEquals(a, b)) << "differs at byte " << i;
  }
}

TEST(ParseTokenFileTest, ReadsFieldsCommentsAndBlankLines) {
  std::string text = "# tokens of the test\n\n" +
                     Line("reader", kReaderToken,
                          "collections=web-* name=trainer-7  # a comment") +
                     "   \n" + Line("admin", kWriterToken);
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile(text, "tokens.txt");
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 2u);
  const TokenEntry& reader = (*entries)[0];
  EXPECT_EQ(reader.line, 3);
  EXPECT_EQ(reader.principal.role, Role::kReader);
  EXPECT_EQ(reader.principal.name, "trainer-7");
  EXPECT_EQ(reader.principal.collections, "web-*");
  EXPECT_EQ(reader.sha256, Sha256(kReaderToken));
  const TokenEntry& admin = (*entries)[1];
  EXPECT_EQ(admin.principal.role, Role::kAdmin);
  EXPECT_FALSE(admin.principal.limited());
  // Unnamed: named by its digest.
  EXPECT_EQ(admin.principal.name,
            "sha256:" + ToHex(Sha256(kWriterToken)).substr(0, 12));
}

TEST(ParseTokenFileTest, UppercaseHexIsAccepted) {
  std::string hex = ToHex(Sha256(kReaderToken));
  for (char& c : hex) c = static_cast<char>(toupper(c));
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile("role=reader sha256=" + hex + "\n", "t");
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ((*entries)[0].sha256, Sha256(kReaderToken));
}

TEST(ParseTokenFileTest, BadLinesNameTheLineAndTheField) {
  const std::string digest = ToHex(Sha256("x"));
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"\nrole=root sha256=" + digest, "t:2: role: expected reader"},
      {"role=reader", "t:1: sha256: missing"},
      {"sha256=" + digest, "t:1: role: missing"},
      {"role=reader sha256=abc", "t:1: sha256: expected 64 hex digits"},
      {"role=reader sha256=" + std::string(64, 'g'),
       "t:1: sha256: expected 64 hex digits"},
      {"role=reader sha256=" + digest + " colour=red",
       "t:1: unknown key 'colour'"},
      {"role=reader sha256=" + digest + " trainer", "t:1: expected key=value"},
      {"role=reader role=admin sha256=" + digest, "t:1: role: given twice"},
      {"role=reader sha256=" + digest + " name=", "t:1: name: empty"},
      {"role=reader sha256=" + digest + "\n#\nrole=admin sha256=" + digest,
       "t:3: sha256: the same token as line 1"},
      {Line("reader", "a", "name=n") + Line("reader", "b", "name=n"),
       "t:2: name: 'n' is used by an earlier line"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<TokenEntry>> entries =
        ParseTokenFile(c.text, "t");
    ASSERT_FALSE(entries.ok()) << c.text;
    EXPECT_EQ(entries.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(entries.status().message().find(c.error), std::string::npos)
        << entries.status() << " should contain " << c.error;
  }
}

TEST(PrincipalTest, CollectionGlob) {
  Principal all;
  EXPECT_TRUE(all.MaySee("anything"));
  Principal web{"t", Role::kReader, "web-*"};
  EXPECT_TRUE(web.MaySee("web-a"));
  EXPECT_TRUE(web.MaySee("web-"));
  EXPECT_FALSE(web.MaySee("wiki"));
  EXPECT_FALSE(web.MaySee("xweb-a"));
  EXPECT_FALSE(web.MaySee(""));
  Principal set{"t", Role::kReader, "[ab]?"};
  EXPECT_TRUE(set.MaySee("a1"));
  EXPECT_FALSE(set.MaySee("c1"));
}

class TokenStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/winnow-auth-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/tokens";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text) {
    std::ofstream(path_, std::ios::trunc) << text;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(TokenStoreTest, AuthenticatesOnlyTheTokensOfTheFile) {
  Write(Line("reader", kReaderToken, "name=r collections=web-*") +
        Line("writer", kWriterToken, "name=w"));
  absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 2u);

  absl::StatusOr<Principal> reader = (*store)->Authenticate(kReaderToken);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ(reader->name, "r");
  EXPECT_EQ(reader->role, Role::kReader);
  EXPECT_EQ(reader->collections, "web-*");
  absl::StatusOr<Principal> writer = (*store)->Authenticate(kWriterToken);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(writer->name, "w");

  // The digest is not a token; nor is a prefix, an extension or a token
  // one character off.
  for (std::string bad :
       {ToHex(Sha256(kReaderToken)), std::string("reader-secre"),
        std::string("reader-secret2"), std::string("reader-secreT"),
        std::string("")}) {
    absl::StatusOr<Principal> p = (*store)->Authenticate(bad);
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnauthenticated) << bad;
  }
}

TEST_F(TokenStoreTest, ReloadAddsAndRemovesAndABadFileKeepsTheOldTokens) {
  Write(Line("reader", kReaderToken));
  absl::StatusOr<std::unique_ptr<TokenStore>> opened = TokenStore::Open(path_);
  ASSERT_TRUE(opened.ok());
  TokenStore& store = **opened;
  EXPECT_FALSE(store.Authenticate(kWriterToken).ok());

  Write(Line("writer", kWriterToken));  // the reader removed, a writer added
  ASSERT_TRUE(store.Reload().ok());
  EXPECT_TRUE(store.Authenticate(kWriterToken).ok());
  EXPECT_EQ(store.Authenticate(kReaderToken).status().code(),
            absl::StatusCode::kUnauthenticated);

  Write(Line("reader", kReaderToken) + "role=oops\n");
  absl::Status bad = store.Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find(":2:"), std::string::npos) << bad;
  EXPECT_TRUE(store.Authenticate(kWriterToken).ok());
  EXPECT_FALSE(store.Authenticate(kReaderToken).ok());

  std::remove(path_.c_str());
  EXPECT_EQ(store.Reload().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(store.Authenticate(kWriterToken).ok());
}

// SIGHUP reloads race with every RPC's Authenticate: a token in both the
// old and the new file never fails, and each answer for a token in only one
// of them is one of the two files' answers (run under TSan by
// scripts/sanitizers.sh).
TEST_F(TokenStoreTest, ReloadWhileAuthenticating) {
  const std::string both = Line("writer", kWriterToken, "name=w");
  Write(both);
  absl::StatusOr<std::unique_ptr<TokenStore>> opened = TokenStore::Open(path_);
  ASSERT_TRUE(opened.ok());
  TokenStore& store = **opened;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        absl::StatusOr<Principal> w = store.Authenticate(kWriterToken);
        ASSERT_TRUE(w.ok()) << w.status();
        EXPECT_EQ(w->name, "w");
        absl::StatusOr<Principal> r = store.Authenticate(kReaderToken);
        if (r.ok()) {
          EXPECT_EQ(r->role, Role::kReader);
        } else {
          EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
        }
      }
    });
  }
  const std::string tmp = path_ + ".new";
  for (int i = 0; i < 200; ++i) {
    // Operators replace the file atomically (write, then rename).
    std::ofstream(tmp, std::ios::trunc)
        << (i % 2 ? both : both + Line("reader", kReaderToken, "name=r"));
    ASSERT_EQ(std::rename(tmp.c_str(), path_.c_str()), 0);
    ASSERT_TRUE(store.Reload().ok());
    EXPECT_EQ(store.size(), i % 2 ? 1u : 2u);
  }
  stop = true;
  for (std::thread& th : readers) th.join();
}

TEST_F(TokenStoreTest, OpenFailsOnABadFileWithItsLine) {
  Write("# ok\nrole=reader sha256=12\n");
  absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Open(path_);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(path_ + ":2: sha256"),
            std::string::npos)
      << store.status();
  EXPECT_EQ(TokenStore::Open(dir_ + "/missing").status().code(),
            absl::StatusCode::kNotFound);
}

// The methods of the winnow.v1 services, from the compiled protos.
std::vector<std::string> AllMethods() {
  std::vector<std::string> methods;
  for (const char* name : {v1::CollectionService::service_full_name(),
                           v1::DocumentService::service_full_name(),
                           v1::ScoreService::service_full_name(),
                           v1::SelectionService::service_full_name(),
                           v1::OperationService::service_full_name(),
                           v1::AdminService::service_full_name()}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    EXPECT_NE(service, nullptr);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      methods.push_back(service->full_name() + "/" +
                        service->method(i)->name());
    }
  }
  return methods;
}

TEST(MethodRulesTest, EveryRpcIsInTheTableWithAFieldItsRequestHas) {
  std::vector<std::string> methods = AllMethods();
  EXPECT_EQ(methods.size(), 25u);  // every RPC of proto/winnow/v1/
  EXPECT_EQ(MethodRules().size(), methods.size());
  for (const std::string& method : methods) {
    const MethodRule* rule = FindMethodRule(method);
    ASSERT_NE(rule, nullptr) << method << " is missing from the role table";
    if (rule->field.empty()) continue;
    const std::string dotted = method.substr(0, method.find('/')) + "." +
                               method.substr(method.find('/') + 1);
    const google::protobuf::MethodDescriptor* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
            dotted);
    ASSERT_NE(descriptor, nullptr) << dotted;
    const google::protobuf::Descriptor* message = descriptor->input_type();
    std::string_view path = rule->field;
    const google::protobuf::FieldDescriptor* field = nullptr;
    while (true) {
      size_t dot = path.find('.');
      field = message->FindFieldByName(std::string(path.substr(0, dot)));
      ASSERT_NE(field, nullptr) << method << ": " << rule->field;
      if (dot == std::string_view::npos) break;
      message = field->message_type();
      ASSERT_NE(message, nullptr) << method << ": " << rule->field;
      path = path.substr(dot + 1);
    }
    EXPECT_EQ(field->type(), google::protobuf::FieldDescriptor::TYPE_STRING)
        << method;
  }
}

// The roles table of docs/operations.md ("Tokens"), spelled out.
TEST(MethodRulesTest, RolesAreTheDocumentedTable) {
  const std::set<std::string> reader = {
      "GetCollection",   "ListCollections", "GetDocuments", "GetScores",
      "GetScoresStream", "Filter",          "Count",        "Sample",
      "Nearest",         "ListPlans",       "GetOperation", "ListOperations",
      "WaitOperation",   "GetServerInfo"};
  const std::set<std::string> writer = {
      "UpsertDocuments", "DeleteDocuments", "PutScores", "ReportTraining",
      "ComputeScores",   "CancelOperation", "DeletePlan"};
  const std::set<std::string> admin = {"CreateCollection", "DeleteCollection",
                                       "Backup", "ListBackups"};
  for (const MethodRule& rule : MethodRules()) {
    std::string name(rule.method.substr(rule.method.find('/') + 1));
    Role expected = reader.contains(name)   ? Role::kReader
                    : writer.contains(name) ? Role::kWriter
                                            : Role::kAdmin;
    EXPECT_TRUE(reader.contains(name) || writer.contains(name) ||
                admin.contains(name))
        << name;
    EXPECT_EQ(rule.role, expected) << name;
  }
  EXPECT_EQ(FindMethodRule("winnow.v1.AdminService/Backup")->scope,
            Scope::kServer);
  EXPECT_EQ(FindMethodRule("winnow.v1.AdminService/ListBackups")->scope,
            Scope::kServer);
}

class AuthorizeTest : public TokenStoreTest {
 protected:
  void SetUp() override {
    TokenStoreTest::SetUp();
    Write(Line("reader", kReaderToken, "name=r collections=web-*") +
          Line("writer", kWriterToken, "name=w") +
          Line("admin", "admin-web", "name=aw collections=web-*") +
          Line("admin", "admin-all", "name=a"));
    absl::StatusOr<std::unique_ptr<TokenStore>> store = TokenStore::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  absl::StatusOr<Principal> Call(std::string_view authorization,
                                 std::string_view method,
                                 const google::protobuf::Message* request) {
    ClientMetadata metadata;
    std::string value(authorization);
    if (!authorization.empty()) {
      metadata.emplace("authorization", grpc::string_ref(value));
    }
    return Authorize(store_.get(), metadata, method, request);
  }

  std::unique_ptr<TokenStore> store_;
};

TEST_F(AuthorizeTest, TokensOffMeansAnUnlimitedAdmin) {
  v1::GetCollectionRequest request;
  request.set_name("anything");
  absl::StatusOr<Principal> p = Authorize(
      nullptr, {}, "winnow.v1.CollectionService/GetCollection", &request);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->role, Role::kAdmin);
  EXPECT_FALSE(p->limited());
}

TEST_F(AuthorizeTest, MissingMalformedOrUnknownTokenIsUnauthenticated) {
  const char* method = "winnow.v1.CollectionService/ListCollections";
  v1::ListCollectionsRequest request;
  for (const char* header :
       {"", "reader-secret", "Basic reader-secret", "Bearer ", "Bearer nope"}) {
    EXPECT_EQ(Call(header, method, &request).status().code(),
              absl::StatusCode::kUnauthenticated)
        << "'" << header << "'";
  }
  EXPECT_TRUE(Call("Bearer reader-secret", method, &request).ok());
  EXPECT_TRUE(Call("bearer reader-secret", method, &request).ok());
}

TEST_F(AuthorizeTest, RoleAndCollectionAreCheckedInThatOrder) {
  v1::DeleteCollectionRequest del;
  del.set_name("web-a");
  absl::StatusOr<Principal> p =
      Call("Bearer writer-secret",
           "winnow.v1.CollectionService/DeleteCollection", &del);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(p.status().message().find("needs admin"), std::string::npos)
      << p.status();

  v1::GetCollectionRequest get;
  get.set_name("wiki");
  p = Call("Bearer reader-secret", "winnow.v1.CollectionService/GetCollection",
           &get);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(p.status().message().find("name: token 'r' is limited to "
                                      "collections matching 'web-*'"),
            std::string::npos)
      << p.status();
  get.set_name("web-a");
  p = Call("Bearer reader-secret", "winnow.v1.CollectionService/GetCollection",
           &get);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "r");

  // A nested field: CreateCollection names collection.name.
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("wiki");
  EXPECT_EQ(Call("Bearer admin-web",
                 "winnow.v1.CollectionService/CreateCollection", &create)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  create.mutable_collection()->set_name("web-new");
  EXPECT_TRUE(Call("Bearer admin-web",
                   "winnow.v1.CollectionService/CreateCollection", &create)
                  .ok());
}

TEST_F(AuthorizeTest, ListCallsPassWithoutACollectionAndCheckOneThatIsSet) {
  v1::ListPlansRequest list;
  EXPECT_TRUE(Call("Bearer reader-secret",
                   "winnow.v1.SelectionService/ListPlans", &list)
                  .ok());
  list.set_collection("wiki");
  EXPECT_EQ(Call("Bearer reader-secret", "winnow.v1.SelectionService/ListPlans",
                 &list)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizeTest, BackupNeedsAnAdminWithoutCollectionLimit) {
  v1::BackupRequest backup;
  for (const char* header :
       {"Bearer admin-web", "Bearer writer-secret", "Bearer reader-secret"}) {
    EXPECT_EQ(
        Call(header, "winnow.v1.AdminService/Backup", &backup).status().code(),
        absl::StatusCode::kPermissionDenied)
        << header;
  }
  EXPECT_TRUE(
      Call("Bearer admin-all", "winnow.v1.AdminService/Backup", &backup).ok());
  // Streams authorize before their first message: without a request.
  EXPECT_EQ(
      Call("Bearer admin-web", "winnow.v1.AdminService/ListBackups", nullptr)
          .status()
          .code(),
      absl::StatusCode::kPermissionDenied);
}

TEST_F(AuthorizeTest, StreamMessagesAreCheckedOneByOne) {
  absl::StatusOr<Principal> writer =
      Call("Bearer writer-secret", "winnow.v1.DocumentService/UpsertDocuments",
           nullptr);
  ASSERT_TRUE(writer.ok());
  v1::UpsertDocumentsRequest batch;
  batch.set_collection("wiki");
  EXPECT_TRUE(AuthorizeMessage(
                  *writer, "winnow.v1.DocumentService/UpsertDocuments", batch)
                  .ok());
  Principal limited{"lw", Role::kWriter, "web-*"};
  EXPECT_EQ(AuthorizeMessage(limited,
                             "winnow.v1.DocumentService/UpsertDocuments", batch)
                .code(),
            absl::StatusCode::kPermissionDenied);
  batch.set_collection("web-1");
  EXPECT_TRUE(AuthorizeMessage(
                  limited, "winnow.v1.DocumentService/UpsertDocuments", batch)
                  .ok());
}

TEST_F(AuthorizeTest, AMethodOutsideTheTableIsRefused) {
  EXPECT_EQ(Call("Bearer admin-all", "winnow.v1.AdminService/Format", nullptr)
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace winnow::server
