// RpcScope: what every RPC records about itself, in one place: a request
// id, the start time, the gRPC RED metrics (metrics.h), and at
// the end one structured log line.
//
//   RpcScope scope(context, "winnow.v1.CollectionService/GetCollection",
//                  RpcType::kUnary, env.metrics);
//   ...
//   reactor->Finish(scope.Done(ToGrpcStatus(status)));
//
// Metrics: the scope counts the RPC as started when constructed, and as
// handled (with its code and duration) in Done. A unary or server-streaming
// RPC's one request message is counted at construction and a unary
// response in Done when OK; streams count the rest of their messages
// themselves with MessageReceived and MessageSent.
//
// The request id is the client's "x-request-id" metadata when it sends one
// (up to 64 printable bytes), otherwise a fresh "r<hex>"; it is returned to
// the client in the initial metadata under the same key, so a client can
// quote it when reporting a problem.
//
// Thread safety: a scope belongs to one RPC; its methods are not called
// concurrently. Construct it on the thread that received the call, before
// the first write.
#ifndef WINNOW_SERVER_RPC_SCOPE_H_
#define WINNOW_SERVER_RPC_SCOPE_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/auth.h"
#include "server/metrics.h"

namespace winnow::server {

struct ServiceEnv;

class RpcScope {
 public:
  // `method` must outlive the scope (a string literal). Records metrics
  // when env.metrics is set, and counts the call in env.calls_in_flight
  // while the scope exists (the server's shutdown waits for them).
  // `context` is a callback call's or, for GetScores, a completion-queue
  // call's (get_scores_pollers.h).
  RpcScope(grpc::ServerContextBase* context, std::string_view method,
           RpcType type, ServiceEnv& env);
  ~RpcScope();
  RpcScope(const RpcScope&) = delete;
  RpcScope& operator=(const RpcScope&) = delete;

  const std::string& request_id() const { return request_id_; }

  // Who makes the call (auth.h), once it is authorized; the unlimited
  // admin when tokens are off. Setting a named one notes "token=NAME".
  const Principal& principal() const { return principal_; }
  void set_principal(Principal principal);

  // Adds "key=value" to the log line (the collection, counts).
  void Note(std::string_view key, std::string_view value);
  void Note(std::string_view key, int64_t value);

  // A stream's message received from or sent to the client
  // (grpc_server_msg_received_total, grpc_server_msg_sent_total).
  void MessageReceived() {
    if (rpc_metrics_ != nullptr) rpc_metrics_->MessageReceived();
  }
  void MessageSent() {
    if (rpc_metrics_ != nullptr) rpc_metrics_->MessageSent();
  }

  // Records the outcome in the metrics, logs it and returns `status`
  // unchanged. Call once.
  grpc::Status Done(grpc::Status status);

 private:
  std::string_view method_;
  RpcType type_;
  Metrics::Rpc* rpc_metrics_ = nullptr;
  std::string request_id_;
  std::string notes_;
  Principal principal_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<int64_t>& calls_in_flight_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_RPC_SCOPE_H_
