// RunUnary: the shape every unary handler shares.
//
//   grpc::ServerUnaryReactor* GetCollection(grpc::CallbackServerContext* c,
//                                           const Req* req, Resp* resp) {
//     return RunUnary(c, env_, "winnow.v1.CollectionService/GetCollection",
//                     *req, [=](RpcScope&) -> absl::Status { ...; });
//   }
//
// It answers UNAVAILABLE while the server shuts down, then authorizes the
// call against `request` (auth.h: UNAUTHENTICATED or PERMISSION_DENIED
// before any work) and records its principal in the scope, runs `work` on a
// worker thread (never blocking gRPC's callback threads with storage I/O),
// skips it if the client has already gone (cancelled or past its
// deadline), converts its status with ToGrpcStatus and logs through an
// RpcScope.
#ifndef WINNOW_SERVER_UNARY_H_
#define WINNOW_SERVER_UNARY_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <memory>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "server/auth.h"
#include "server/rpc_scope.h"
#include "server/service_env.h"
#include "server/status_util.h"

namespace winnow::server {

// Answer for any RPC that arrives after shutdown began.
inline absl::Status ShuttingDownError() {
  return absl::UnavailableError("server is shutting down");
}

// Authorizes the call that `scope` records (auth.h) and sets its
// principal. `request` is null for a stream whose messages are checked one
// by one (AuthorizeMessage).
inline absl::Status AuthorizeCall(grpc::ServerContextBase* context,
                                  const ServiceEnv& env, RpcScope& scope,
                                  std::string_view method,
                                  const google::protobuf::Message* request) {
  absl::StatusOr<Principal> principal =
      Authorize(env.tokens, context->client_metadata(), method, request);
  if (!principal.ok()) return principal.status();
  scope.set_principal(*std::move(principal));
  return absl::OkStatus();
}

template <typename Work>
grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context,
                                   ServiceEnv& env, std::string_view method,
                                   const google::protobuf::Message& request,
                                   Work work) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto scope =
      std::make_shared<RpcScope>(context, method, RpcType::kUnary, env);
  if (env.draining.load(std::memory_order_acquire)) {
    reactor->Finish(scope->Done(ToGrpcStatus(ShuttingDownError())));
    return reactor;
  }
  if (absl::Status s = AuthorizeCall(context, env, *scope, method, &request);
      !s.ok()) {
    reactor->Finish(scope->Done(ToGrpcStatus(s)));
    return reactor;
  }
  env.workers->Post(
      [context, reactor, scope, work = std::move(work)]() mutable {
        absl::Status status;
        if (context->IsCancelled()) {
          status = absl::CancelledError("cancelled before it ran");
        } else {
          status = work(*scope);
        }
        reactor->Finish(scope->Done(ToGrpcStatus(status)));
      });
  return reactor;
}

}  // namespace winnow::server

#endif  // WINNOW_SERVER_UNARY_H_
