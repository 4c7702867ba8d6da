// Pins the public contract (docs/api.md): the services, RPCs, streaming
// kinds and request/response type names that clients outside this repository
// are written against, plus the few field-level properties later issues rely
// on (echoed sequence numbers, resumable cursors, packed columns). A change
// that breaks one of these tests breaks deployed clients.

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "winnow/v1/admin.grpc.pb.h"
#include "winnow/v1/admin.pb.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/collection.pb.h"
#include "winnow/v1/common.pb.h"
#include "winnow/v1/cursor.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/document.pb.h"
#include "winnow/v1/operation.grpc.pb.h"
#include "winnow/v1/operation.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/score.pb.h"
#include "winnow/v1/selection.grpc.pb.h"
#include "winnow/v1/selection.pb.h"
#include "winnow/v1/strategy.pb.h"

namespace winnow {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

enum class Kind { kUnary, kServerStreaming, kClientStreaming, kBidi };

struct Rpc {
  const char* service;
  const char* method;
  Kind kind;
};

// The binding services and RPCs (docs/api.md).
const std::vector<Rpc>& BindingRpcs() {
  static const std::vector<Rpc> kRpcs = {
      {"CollectionService", "CreateCollection", Kind::kUnary},
      {"CollectionService", "GetCollection", Kind::kUnary},
      {"CollectionService", "ListCollections", Kind::kUnary},
      {"CollectionService", "DeleteCollection", Kind::kUnary},
      {"DocumentService", "UpsertDocuments", Kind::kBidi},
      {"DocumentService", "GetDocuments", Kind::kUnary},
      {"DocumentService", "DeleteDocuments", Kind::kUnary},
      {"ScoreService", "PutScores", Kind::kBidi},
      {"ScoreService", "GetScores", Kind::kUnary},
      {"ScoreService", "ComputeScores", Kind::kUnary},
      {"ScoreService", "ReportTraining", Kind::kBidi},
      {"ScoreService", "GetScoresStream", Kind::kBidi},
      {"SelectionService", "Filter", Kind::kServerStreaming},
      {"SelectionService", "Count", Kind::kUnary},
      {"SelectionService", "Sample", Kind::kServerStreaming},
      {"SelectionService", "Nearest", Kind::kUnary},
      {"SelectionService", "ListPlans", Kind::kUnary},
      {"SelectionService", "DeletePlan", Kind::kUnary},
      {"OperationService", "GetOperation", Kind::kUnary},
      {"OperationService", "ListOperations", Kind::kUnary},
      {"OperationService", "CancelOperation", Kind::kUnary},
      {"OperationService", "WaitOperation", Kind::kServerStreaming},
      {"AdminService", "Backup", Kind::kUnary},
      {"AdminService", "ListBackups", Kind::kUnary},
      {"AdminService", "GetServerInfo", Kind::kUnary},
  };
  return kRpcs;
}

std::string FullName(const char* name) {
  return std::string("winnow.v1.") + name;
}

// Touching one generated symbol per file makes sure the shared library, and
// with it every descriptor, is loaded before the pool is searched.
const DescriptorPool* Pool() {
  winnow::v1::Collection::descriptor();
  winnow::v1::Document::descriptor();
  winnow::v1::PutScoresRequest::descriptor();
  winnow::v1::SampleRequest::descriptor();
  winnow::v1::Operation::descriptor();
  winnow::v1::GetServerInfoRequest::descriptor();
  winnow::v1::Cursor::descriptor();
  return DescriptorPool::generated_pool();
}

const MethodDescriptor* FindRpc(const Rpc& rpc) {
  const ServiceDescriptor* service =
      Pool()->FindServiceByName(FullName(rpc.service));
  if (service == nullptr) return nullptr;
  return service->FindMethodByName(rpc.method);
}

const FieldDescriptor* Field(const Descriptor* message, const char* name) {
  const FieldDescriptor* field = message->FindFieldByName(name);
  EXPECT_NE(field, nullptr) << message->full_name() << " lacks " << name;
  return field;
}

TEST(ContractTest, EveryBindingServiceExistsUnderItsFullName) {
  EXPECT_EQ(std::string(winnow::v1::CollectionService::service_full_name()),
            "winnow.v1.CollectionService");
  EXPECT_EQ(std::string(winnow::v1::DocumentService::service_full_name()),
            "winnow.v1.DocumentService");
  EXPECT_EQ(std::string(winnow::v1::ScoreService::service_full_name()),
            "winnow.v1.ScoreService");
  EXPECT_EQ(std::string(winnow::v1::SelectionService::service_full_name()),
            "winnow.v1.SelectionService");
  EXPECT_EQ(std::string(winnow::v1::OperationService::service_full_name()),
            "winnow.v1.OperationService");
  EXPECT_EQ(std::string(winnow::v1::AdminService::service_full_name()),
            "winnow.v1.AdminService");
  for (const Rpc& rpc : BindingRpcs()) {
    EXPECT_NE(Pool()->FindServiceByName(FullName(rpc.service)), nullptr)
        << rpc.service;
  }
}

TEST(ContractTest, EveryBindingRpcTakesXRequestAndReturnsXResponse) {
  for (const Rpc& rpc : BindingRpcs()) {
    const MethodDescriptor* method = FindRpc(rpc);
    ASSERT_NE(method, nullptr) << rpc.service << "." << rpc.method;
    EXPECT_EQ(method->input_type()->full_name(),
              FullName(rpc.method) + "Request")
        << method->full_name();
    EXPECT_EQ(method->output_type()->full_name(),
              FullName(rpc.method) + "Response")
        << method->full_name();
  }
}

TEST(ContractTest, EveryBindingRpcHasItsStreamingKind) {
  for (const Rpc& rpc : BindingRpcs()) {
    const MethodDescriptor* method = FindRpc(rpc);
    ASSERT_NE(method, nullptr) << rpc.service << "." << rpc.method;
    const bool client =
        rpc.kind == Kind::kClientStreaming || rpc.kind == Kind::kBidi;
    const bool server =
        rpc.kind == Kind::kServerStreaming || rpc.kind == Kind::kBidi;
    EXPECT_EQ(method->client_streaming(), client) << method->full_name();
    EXPECT_EQ(method->server_streaming(), server) << method->full_name();
  }
}

TEST(ContractTest, ServicesHaveOnlyTheBindingRpcs) {
  std::set<std::string> services;
  std::set<std::string> expected;
  for (const Rpc& rpc : BindingRpcs()) {
    services.insert(rpc.service);
    expected.insert(FullName(rpc.service) + "." + rpc.method);
  }
  EXPECT_EQ(services.size(), 6u);
  std::set<std::string> actual;
  for (const std::string& name : services) {
    const ServiceDescriptor* service =
        Pool()->FindServiceByName(FullName(name.c_str()));
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      actual.insert(service->method(i)->full_name());
    }
  }
  EXPECT_EQ(actual, expected);
}

TEST(ContractTest, GeneratedStubsAndCallbackServicesExist) {
  // The server uses the callback API (docs/architecture.md, "Threads"); the
  // client uses stubs.
  static_assert(
      std::is_polymorphic_v<winnow::v1::SelectionService::CallbackService>);
  static_assert(
      std::is_polymorphic_v<winnow::v1::DocumentService::CallbackService>);
  static_assert(
      std::is_polymorphic_v<winnow::v1::ScoreService::CallbackService>);
  static_assert(
      std::is_polymorphic_v<winnow::v1::CollectionService::CallbackService>);
  static_assert(
      std::is_polymorphic_v<winnow::v1::OperationService::CallbackService>);
  static_assert(
      std::is_polymorphic_v<winnow::v1::AdminService::CallbackService>);
  static_assert(std::is_class_v<winnow::v1::SelectionService::Stub>);
  SUCCEED();
}

TEST(ContractTest, BidiStreamsEchoAClientChosenSequence) {
  // Acknowledgements are matched to requests by sequence (docs/api.md), so a
  // client that loses a stream knows which messages landed.
  for (const char* rpc :
       {"UpsertDocuments", "PutScores", "ReportTraining", "GetScoresStream"}) {
    for (const char* suffix : {"Request", "Response"}) {
      const Descriptor* message =
          Pool()->FindMessageTypeByName(FullName(rpc) + suffix);
      ASSERT_NE(message, nullptr) << rpc << suffix;
      const FieldDescriptor* sequence = Field(message, "sequence");
      ASSERT_NE(sequence, nullptr);
      EXPECT_EQ(sequence->type(), FieldDescriptor::TYPE_UINT64);
    }
  }
  // ReportTraining applies a resent message once: (stream_id, sequence).
  EXPECT_NE(Field(winnow::v1::ReportTrainingRequest::descriptor(), "stream_id"),
            nullptr);
  EXPECT_NE(
      Field(winnow::v1::ReportTrainingResponse::descriptor(), "stream_id"),
      nullptr);
}

TEST(ContractTest, UpsertOffersRowsAndFasterColumns) {
  const Descriptor* request = winnow::v1::UpsertDocumentsRequest::descriptor();
  const FieldDescriptor* rows = Field(request, "documents");
  ASSERT_NE(rows, nullptr);
  EXPECT_TRUE(rows->is_repeated());
  EXPECT_EQ(rows->message_type(), winnow::v1::Document::descriptor());
  const FieldDescriptor* columns = Field(request, "columns");
  ASSERT_NE(columns, nullptr);
  EXPECT_EQ(columns->message_type(), winnow::v1::DocumentColumns::descriptor());
  const Descriptor* cols = winnow::v1::DocumentColumns::descriptor();
  for (const char* name : {"ids", "domains", "lengths", "payloads",
                           "embeddings", "scores", "attributes"}) {
    const FieldDescriptor* field = Field(cols, name);
    ASSERT_NE(field, nullptr);
    EXPECT_TRUE(field->is_repeated()) << name;
  }
}

TEST(ContractTest, NumericColumnsArePacked) {
  // Packed repeated scalars parse as one memcpy-like run, which is what the
  // ingest and sampling rates of docs/benchmarks.md depend on.
  const std::vector<std::pair<const Descriptor*, const char*>> columns = {
      {winnow::v1::Document::descriptor(), "embedding"},
      {winnow::v1::DocumentColumns::descriptor(), "lengths"},
      {winnow::v1::DocumentColumns::descriptor(), "embeddings"},
      {winnow::v1::ScoreColumn::descriptor(), "values"},
      {winnow::v1::ScoreColumn::descriptor(), "null_indexes"},
      {winnow::v1::PutScoresRequest::descriptor(), "ordinals"},
      {winnow::v1::ReportTrainingRequest::descriptor(), "losses"},
      {winnow::v1::FilterResponse::descriptor(), "ordinals"},
      {winnow::v1::SampleBatch::descriptor(), "ordinals"},
      {winnow::v1::SampleBatch::descriptor(), "lengths"},
  };
  for (const auto& [message, name] : columns) {
    const FieldDescriptor* field = Field(message, name);
    ASSERT_NE(field, nullptr);
    EXPECT_TRUE(field->is_packed()) << message->full_name() << "." << name;
  }
  const FieldDescriptor* ordinals =
      Field(winnow::v1::SampleBatch::descriptor(), "ordinals");
  ASSERT_NE(ordinals, nullptr);
  EXPECT_EQ(ordinals->type(), FieldDescriptor::TYPE_UINT64);
}

TEST(ContractTest, EverySampleResponseCarriesPlanIdAndCursor) {
  const Descriptor* response = winnow::v1::SampleResponse::descriptor();
  for (const char* name : {"plan_id", "cursor", "batch", "weight_version"}) {
    EXPECT_NE(Field(response, name), nullptr);
  }
  const Descriptor* request = winnow::v1::SampleRequest::descriptor();
  for (const char* name :
       {"collection", "filter", "strategy", "seed", "run_id", "plan_id",
        "num_epochs", "samples_per_epoch", "batch_size", "token_budget",
        "drop_last", "rank", "world_size", "cursor", "view", "score_names",
        "max_batches"}) {
    EXPECT_NE(Field(request, name), nullptr);
  }
  // batch_size and token_budget are alternatives.
  const FieldDescriptor* batch_size = Field(request, "batch_size");
  const FieldDescriptor* token_budget = Field(request, "token_budget");
  ASSERT_NE(batch_size, nullptr);
  ASSERT_NE(token_budget, nullptr);
  ASSERT_NE(batch_size->containing_oneof(), nullptr);
  EXPECT_EQ(batch_size->containing_oneof(), token_budget->containing_oneof());
}

TEST(ContractTest, DropLastHasPresenceSoUnsetMeansTrue) {
  const FieldDescriptor* drop_last =
      Field(winnow::v1::SampleRequest::descriptor(), "drop_last");
  ASSERT_NE(drop_last, nullptr);
  EXPECT_TRUE(drop_last->has_presence());
  winnow::v1::SampleRequest request;
  EXPECT_FALSE(request.has_drop_last());
  request.set_drop_last(false);
  EXPECT_TRUE(request.has_drop_last());
}

TEST(ContractTest, StrategyOneofOffersEveryDocumentedStrategy) {
  const Descriptor* strategy = winnow::v1::Strategy::descriptor();
  ASSERT_EQ(strategy->oneof_decl_count(), 1);
  std::set<std::string> names;
  for (int i = 0; i < strategy->oneof_decl(0)->field_count(); ++i) {
    names.insert(strategy->oneof_decl(0)->field(i)->name());
  }
  EXPECT_EQ(names, (std::set<std::string>{
                       "uniform", "weighted", "weighted_with_replacement",
                       "top_k", "mixture", "ordered", "cluster_balanced",
                       "repetition_budget"}));
}

TEST(ContractTest, SignedCursorRoundTripsItsCursorBytes) {
  winnow::v1::Cursor cursor;
  cursor.set_format_version(1);
  cursor.set_plan_id("p-1");
  cursor.set_collection("web");
  cursor.set_epoch(2);
  cursor.set_next_global_batch(17);
  winnow::v1::SignedCursor signed_cursor;
  signed_cursor.set_cursor(cursor.SerializeAsString());
  signed_cursor.set_signature(std::string(32, '\x5a'));
  winnow::v1::SignedCursor parsed_signed;
  ASSERT_TRUE(parsed_signed.ParseFromString(signed_cursor.SerializeAsString()));
  winnow::v1::Cursor parsed;
  ASSERT_TRUE(parsed.ParseFromString(parsed_signed.cursor()));
  EXPECT_EQ(parsed.plan_id(), "p-1");
  EXPECT_EQ(parsed.epoch(), 2);
  EXPECT_EQ(parsed.next_global_batch(), 17);
}

TEST(ContractTest, EveryEnumStartsWithAnUnspecifiedZero) {
  int files = 0;
  for (const char* file :
       {"common", "collection", "document", "score", "scorer", "operation",
        "backup", "strategy", "cursor", "selection", "admin"}) {
    const FileDescriptor* fd =
        Pool()->FindFileByName(std::string("winnow/v1/") + file + ".proto");
    ASSERT_NE(fd, nullptr) << file;
    ++files;
    EXPECT_EQ(fd->package(), "winnow.v1");
    for (int i = 0; i < fd->enum_type_count(); ++i) {
      const EnumDescriptor* e = fd->enum_type(i);
      ASSERT_GT(e->value_count(), 0);
      EXPECT_EQ(e->value(0)->number(), 0) << e->full_name();
      const std::string& zero = e->value(0)->name();
      EXPECT_EQ(zero.substr(zero.size() - 12), "_UNSPECIFIED")
          << e->full_name();
    }
  }
  EXPECT_EQ(files, 11);
}

}  // namespace
}  // namespace winnow
