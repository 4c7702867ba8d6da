#include "winnow/client/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc_ack_stream.h"

namespace winnow {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " file '", path, "'"));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// One unary call: a fresh context, the stub method, the status converted.
template <typename Stub, typename Request, typename Response>
absl::StatusOr<Response> CallUnary(
    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                 Response*),
    Stub& stub, const Client& client, const Request& request,
    const CallOptions& call) {
  std::unique_ptr<grpc::ClientContext> context =
      client.MakeContext(call, client.options().default_timeout);
  Response response;
  grpc::Status status = (stub.*method)(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

// A writer whose every stream is a GrpcAckStream made by `prepare`.
template <typename Request, typename Response, typename Prepare>
AckedWriter<Request, Response> MakeWriter(const Client& client,
                                          std::string_view collection,
                                          WriterOptions writer,
                                          const CallOptions& call,
                                          Prepare prepare) {
  writer.collection = std::string(collection);
  // The factory outlives this call and may outlive the Client: it holds a
  // copy (channel and stubs are shared).
  AckStreamFactory<Request, Response> factory = [client, call, prepare]() {
    return std::make_unique<GrpcAckStream<Request, Response>>(
        client.MakeContext(call, client.options().stream_timeout), prepare,
        client.options().stall_timeout);
  };
  return AckedWriter<Request, Response>(std::move(factory), std::move(writer));
}

}  // namespace

absl::StatusOr<Client> Client::Connect(std::string_view target,
                                       ClientOptions options) {
  if (target.empty()) return absl::InvalidArgumentError("empty server target");
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const bool client_cert =
      !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (options.tls || !options.tls_root_ca_file.empty() || client_cert) {
    grpc::SslCredentialsOptions ssl;
    if (!options.tls_root_ca_file.empty()) {
      absl::StatusOr<std::string> ca =
          ReadFile(options.tls_root_ca_file, "TLS root CA");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *std::move(ca);
    }
    if (client_cert) {
      if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
        return absl::InvalidArgumentError(
            "a client certificate needs both a certificate and a key file");
      }
      absl::StatusOr<std::string> cert =
          ReadFile(options.tls_cert_file, "TLS certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key =
          ReadFile(options.tls_key_file, "TLS key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *std::move(cert);
      ssl.pem_private_key = *std::move(key);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  const int max_backoff_ms = static_cast<int>(std::max<int64_t>(
      1, absl::ToInt64Milliseconds(options.max_reconnect_backoff)));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              std::min(1000, max_backoff_ms));
  if (!options.tls_server_name.empty()) {
    args.SetSslTargetNameOverride(options.tls_server_name);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(std::string(target), credentials, args);
  return Client(std::move(channel), std::move(options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : options_(std::move(options)),
      channel_(std::move(channel)),
      collections_(v1::CollectionService::NewStub(channel_)),
      documents_(v1::DocumentService::NewStub(channel_)),
      scores_(v1::ScoreService::NewStub(channel_)),
      selection_(v1::SelectionService::NewStub(channel_)),
      operations_(v1::OperationService::NewStub(channel_)),
      admin_(v1::AdminService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::MakeContext(
    const CallOptions& call, absl::Duration default_timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  const absl::Duration timeout = call.timeout.value_or(default_timeout);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + options_.token);
  }
  context->set_wait_for_ready(call.wait_for_ready);
  return context;
}

// --- CollectionService ---

absl::StatusOr<v1::CreateCollectionResponse> Client::CreateCollection(
    const v1::CreateCollectionRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::CollectionService::Stub::CreateCollection,
                   *collections_, *this, request, call);
}

absl::StatusOr<v1::GetCollectionResponse> Client::GetCollection(
    const v1::GetCollectionRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::CollectionService::Stub::GetCollection, *collections_,
                   *this, request, call);
}

absl::StatusOr<v1::ListCollectionsResponse> Client::ListCollections(
    const v1::ListCollectionsRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::CollectionService::Stub::ListCollections, *collections_,
                   *this, request, call);
}

absl::StatusOr<v1::DeleteCollectionResponse> Client::DeleteCollection(
    const v1::DeleteCollectionRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::CollectionService::Stub::DeleteCollection,
                   *collections_, *this, request, call);
}

// --- DocumentService ---

DocumentWriter Client::UpsertDocuments(std::string_view collection,
                                       WriterOptions writer,
                                       const CallOptions& call) const {
  std::shared_ptr<v1::DocumentService::Stub> stub = documents_;
  return MakeWriter<v1::UpsertDocumentsRequest, v1::UpsertDocumentsResponse>(
      *this, collection, std::move(writer), call,
      [stub](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareAsyncUpsertDocuments(context, cq);
      });
}

absl::StatusOr<v1::GetDocumentsResponse> Client::GetDocuments(
    const v1::GetDocumentsRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::DocumentService::Stub::GetDocuments, *documents_, *this,
                   request, call);
}

absl::StatusOr<v1::DeleteDocumentsResponse> Client::DeleteDocuments(
    const v1::DeleteDocumentsRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::DocumentService::Stub::DeleteDocuments, *documents_,
                   *this, request, call);
}

// --- ScoreService ---

ScoreWriter Client::PutScores(std::string_view collection, WriterOptions writer,
                              const CallOptions& call) const {
  std::shared_ptr<v1::ScoreService::Stub> stub = scores_;
  return MakeWriter<v1::PutScoresRequest, v1::PutScoresResponse>(
      *this, collection, std::move(writer), call,
      [stub](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareAsyncPutScores(context, cq);
      });
}

TrainingReporter Client::ReportTraining(std::string_view collection,
                                        WriterOptions writer,
                                        const CallOptions& call) const {
  std::shared_ptr<v1::ScoreService::Stub> stub = scores_;
  return MakeWriter<v1::ReportTrainingRequest, v1::ReportTrainingResponse>(
      *this, collection, std::move(writer), call,
      [stub](grpc::ClientContext* context, grpc::CompletionQueue* cq) {
        return stub->PrepareAsyncReportTraining(context, cq);
      });
}

absl::StatusOr<v1::GetScoresResponse> Client::GetScores(
    const v1::GetScoresRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::ScoreService::Stub::GetScores, *scores_, *this, request,
                   call);
}

absl::StatusOr<v1::ComputeScoresResponse> Client::ComputeScores(
    const v1::ComputeScoresRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::ScoreService::Stub::ComputeScores, *scores_, *this,
                   request, call);
}

// --- SelectionService ---

FilterReader Client::Filter(const v1::FilterRequest& request,
                            const CallOptions& call) const {
  std::unique_ptr<grpc::ClientContext> context =
      MakeContext(call, options_.stream_timeout);
  auto reader = selection_->Filter(context.get(), request);
  return FilterReader(std::move(context), std::move(reader));
}

absl::StatusOr<v1::CountResponse> Client::Count(const v1::CountRequest& request,
                                                const CallOptions& call) const {
  return CallUnary(&v1::SelectionService::Stub::Count, *selection_, *this,
                   request, call);
}

SampleReader Client::Sample(const v1::SampleRequest& request,
                            const CallOptions& call) const {
  std::unique_ptr<grpc::ClientContext> context =
      MakeContext(call, options_.stream_timeout);
  auto reader = selection_->Sample(context.get(), request);
  return SampleReader(std::move(context), std::move(reader));
}

absl::StatusOr<v1::NearestResponse> Client::Nearest(
    const v1::NearestRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::SelectionService::Stub::Nearest, *selection_, *this,
                   request, call);
}

absl::StatusOr<v1::ListPlansResponse> Client::ListPlans(
    const v1::ListPlansRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::SelectionService::Stub::ListPlans, *selection_, *this,
                   request, call);
}

absl::StatusOr<v1::DeletePlanResponse> Client::DeletePlan(
    const v1::DeletePlanRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::SelectionService::Stub::DeletePlan, *selection_, *this,
                   request, call);
}

// --- OperationService ---

absl::StatusOr<v1::GetOperationResponse> Client::GetOperation(
    const v1::GetOperationRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::OperationService::Stub::GetOperation, *operations_,
                   *this, request, call);
}

absl::StatusOr<v1::ListOperationsResponse> Client::ListOperations(
    const v1::ListOperationsRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::OperationService::Stub::ListOperations, *operations_,
                   *this, request, call);
}

absl::StatusOr<v1::CancelOperationResponse> Client::CancelOperation(
    const v1::CancelOperationRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::OperationService::Stub::CancelOperation, *operations_,
                   *this, request, call);
}

OperationReader Client::WaitOperation(const v1::WaitOperationRequest& request,
                                      const CallOptions& call) const {
  std::unique_ptr<grpc::ClientContext> context =
      MakeContext(call, options_.stream_timeout);
  auto reader = operations_->WaitOperation(context.get(), request);
  return OperationReader(std::move(context), std::move(reader));
}

// --- AdminService ---

absl::StatusOr<v1::BackupResponse> Client::Backup(
    const v1::BackupRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::AdminService::Stub::Backup, *admin_, *this, request,
                   call);
}

absl::StatusOr<v1::ListBackupsResponse> Client::ListBackups(
    const v1::ListBackupsRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::AdminService::Stub::ListBackups, *admin_, *this,
                   request, call);
}

absl::StatusOr<v1::GetServerInfoResponse> Client::GetServerInfo(
    const v1::GetServerInfoRequest& request, const CallOptions& call) const {
  return CallUnary(&v1::AdminService::Stub::GetServerInfo, *admin_, *this,
                   request, call);
}

}  // namespace winnow
