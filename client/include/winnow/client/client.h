// winnow::Client: a thin typed C++ client for the winnow.v1 API (docs/api.md).
//
// Each method takes the generated request message and returns the response
// (unary calls), a StreamReader (server streams) or an AckedWriter
// (acknowledged write streams). Errors come back as absl::Status with the
// server's gRPC code and message. Every call has a deadline: unary calls
// ClientOptions::default_timeout, streams ClientOptions::stream_timeout
// (none by default: a trainer reads a Sample stream for as long as it
// trains); CallOptions overrides either per call.
//
//   absl::StatusOr<winnow::Client> client =
//       winnow::Client::Connect("127.0.0.1:7450", {.token = "secret"});
//   winnow::v1::CountRequest request;
//   request.set_collection("web");
//   request.set_filter("quality >= 0.7");
//   absl::StatusOr<winnow::v1::CountResponse> count = client->Count(request);
//
// Thread safety: a Client is safe for concurrent use from many threads, and
// cheap to copy (copies share the channel). The readers and writers it
// returns are used from one thread each; they keep the channel alive.
#ifndef WINNOW_CLIENT_CLIENT_H_
#define WINNOW_CLIENT_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "winnow/client/acked_writer.h"
#include "winnow/client/packed.h"
#include "winnow/client/status.h"
#include "winnow/client/stream_reader.h"
#include "winnow/v1/admin.grpc.pb.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/operation.grpc.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow {

// How a Client connects and what it sends with every call.
struct ClientOptions {
  // --- authentication and transport security ---

  // Bearer token sent as `authorization: Bearer <token>` metadata with every
  // call; empty sends none.
  std::string token;
  // PEM file of the root certificates that verify the server. Non-empty
  // turns TLS on.
  std::string tls_root_ca_file;
  // TLS with the system's root certificates, when tls_root_ca_file is empty.
  bool tls = false;
  // PEM files of a client certificate and its key, for a server that
  // requires mutual TLS. Both or neither; they turn TLS on.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Overrides the host name checked against the server's certificate (for
  // example "localhost" when connecting to 127.0.0.1); empty uses the
  // target's host.
  std::string tls_server_name;

  // --- deadlines ---

  // Deadline of each unary call, from its start.
  absl::Duration default_timeout = absl::Seconds(30);
  // Deadline of each stream (Filter, Sample, WaitOperation, and each stream
  // a writer opens) from its start; infinite by default.
  absl::Duration stream_timeout = absl::InfiniteDuration();
  // A writer's stream that completes no write and receives no
  // acknowledgement for this long is deemed lost: cancelled, reopened, and
  // its unacknowledged batches resent.
  absl::Duration stall_timeout = absl::Seconds(60);

  // --- performance ---

  // Largest message sent or received, in bytes: 64 MiB, the server's
  // default, enough for 4,096 documents with 1,024-d float32 embeddings.
  int max_message_bytes = 64 << 20;
  // Longest wait between two attempts to reconnect the channel while the
  // server is down (gRPC's default is 120 s, too long for a writer's retry
  // budget).
  absl::Duration max_reconnect_backoff = absl::Seconds(5);
};

// Per-call overrides.
struct CallOptions {
  // The call's deadline from its start; unset means the ClientOptions
  // default for its kind, and absl::InfiniteDuration() means none.
  std::optional<absl::Duration> timeout;
  // When true the call waits for the channel to connect (until its
  // deadline) instead of failing at once with UNAVAILABLE.
  bool wait_for_ready = false;
};

using FilterReader = StreamReader<v1::FilterResponse>;
using SampleReader = StreamReader<v1::SampleResponse>;
using OperationReader = StreamReader<v1::WaitOperationResponse>;

class Client {
 public:
  // Makes a client for `target` ("host:port", or any gRPC target such as
  // "dns:///winnow.example:7450"). Connects lazily: the first call that
  // finds no server fails with UNAVAILABLE. Fails with INVALID_ARGUMENT for
  // an empty target or an incomplete client certificate, and with the read
  // error when a TLS file cannot be read.
  static absl::StatusOr<Client> Connect(std::string_view target,
                                        ClientOptions options = {});
  // A client over an existing channel (for example a server's in-process
  // channel in a test). TLS fields of `options` are ignored.
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  // --- CollectionService ---
  absl::StatusOr<v1::CreateCollectionResponse> CreateCollection(
      const v1::CreateCollectionRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::GetCollectionResponse> GetCollection(
      const v1::GetCollectionRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListCollectionsResponse> ListCollections(
      const v1::ListCollectionsRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::DeleteCollectionResponse> DeleteCollection(
      const v1::DeleteCollectionRequest& request,
      const CallOptions& call = {}) const;

  // --- DocumentService ---
  // Opens a writer of document batches into `collection` (set on every
  // batch that names none). See acked_writer.h for the resend guarantee.
  DocumentWriter UpsertDocuments(std::string_view collection,
                                 WriterOptions writer = {},
                                 const CallOptions& call = {}) const;
  absl::StatusOr<v1::GetDocumentsResponse> GetDocuments(
      const v1::GetDocumentsRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::DeleteDocumentsResponse> DeleteDocuments(
      const v1::DeleteDocumentsRequest& request,
      const CallOptions& call = {}) const;

  // --- ScoreService ---
  // Opens a writer of score batches into `collection`, like UpsertDocuments.
  ScoreWriter PutScores(std::string_view collection, WriterOptions writer = {},
                        const CallOptions& call = {}) const;
  // Opens a reporter of training losses into `collection`; set
  // writer.stream_id (docs/feedback.md). See acked_writer.h.
  TrainingReporter ReportTraining(std::string_view collection,
                                  WriterOptions writer,
                                  const CallOptions& call = {}) const;
  absl::StatusOr<v1::GetScoresResponse> GetScores(
      const v1::GetScoresRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<v1::ComputeScoresResponse> ComputeScores(
      const v1::ComputeScoresRequest& request,
      const CallOptions& call = {}) const;

  // --- SelectionService ---
  FilterReader Filter(const v1::FilterRequest& request,
                      const CallOptions& call = {}) const;
  absl::StatusOr<v1::CountResponse> Count(const v1::CountRequest& request,
                                          const CallOptions& call = {}) const;
  SampleReader Sample(const v1::SampleRequest& request,
                      const CallOptions& call = {}) const;
  absl::StatusOr<v1::NearestResponse> Nearest(
      const v1::NearestRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListPlansResponse> ListPlans(
      const v1::ListPlansRequest& request, const CallOptions& call = {}) const;
  absl::StatusOr<v1::DeletePlanResponse> DeletePlan(
      const v1::DeletePlanRequest& request, const CallOptions& call = {}) const;

  // --- OperationService ---
  absl::StatusOr<v1::GetOperationResponse> GetOperation(
      const v1::GetOperationRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListOperationsResponse> ListOperations(
      const v1::ListOperationsRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::CancelOperationResponse> CancelOperation(
      const v1::CancelOperationRequest& request,
      const CallOptions& call = {}) const;
  OperationReader WaitOperation(const v1::WaitOperationRequest& request,
                                const CallOptions& call = {}) const;

  // --- AdminService ---
  absl::StatusOr<v1::BackupResponse> Backup(const v1::BackupRequest& request,
                                            const CallOptions& call = {}) const;
  absl::StatusOr<v1::ListBackupsResponse> ListBackups(
      const v1::ListBackupsRequest& request,
      const CallOptions& call = {}) const;
  absl::StatusOr<v1::GetServerInfoResponse> GetServerInfo(
      const v1::GetServerInfoRequest& request,
      const CallOptions& call = {}) const;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const ClientOptions& options() const { return options_; }

  // A context with the call's deadline and the token's metadata, for calls
  // made on the raw stubs.
  std::unique_ptr<grpc::ClientContext> MakeContext(
      const CallOptions& call, absl::Duration default_timeout) const;

 private:
  // Immutable after construction.
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::shared_ptr<v1::CollectionService::Stub> collections_;
  std::shared_ptr<v1::DocumentService::Stub> documents_;
  std::shared_ptr<v1::ScoreService::Stub> scores_;
  std::shared_ptr<v1::SelectionService::Stub> selection_;
  std::shared_ptr<v1::OperationService::Stub> operations_;
  std::shared_ptr<v1::AdminService::Stub> admin_;
};

}  // namespace winnow

#endif  // WINNOW_CLIENT_CLIENT_H_
