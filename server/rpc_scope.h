// RpcScope: what every RPC records about itself, in one place: a request
// id, the start time, and at the end one structured log line (and, once the
// metrics issue lands, the RED metrics of design §7).
//
//   RpcScope scope(context, "winnow.v1.CollectionService/GetCollection");
//   ...
//   reactor->Finish(scope.Done(ToGrpcStatus(status)));
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

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/auth.h"

namespace winnow::server {

class RpcScope {
 public:
  // `method` must outlive the scope (a string literal).
  RpcScope(grpc::CallbackServerContext* context, std::string_view method,
           bool streaming = false);

  const std::string& request_id() const { return request_id_; }

  // Who makes the call (auth.h), once it is authorized; the unlimited
  // admin when tokens are off. Setting a named one notes "token=NAME".
  const Principal& principal() const { return principal_; }
  void set_principal(Principal principal);

  // Adds "key=value" to the log line (the collection, counts).
  void Note(std::string_view key, std::string_view value);
  void Note(std::string_view key, int64_t value);

  // Logs the outcome and returns `status` unchanged. Call once.
  grpc::Status Done(grpc::Status status);

 private:
  std::string_view method_;
  bool streaming_;
  std::string request_id_;
  std::string notes_;
  Principal principal_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_RPC_SCOPE_H_
