// StreamReactor: the server-streaming shape shared by Filter and Sample.
//
// Each step runs on a worker thread: it produces one message, starts its
// write, and the next step is posted only when that write is done. So a
// stream has exactly one outstanding write and generates no further ahead
// than the client reads (gRPC flow control paces it), and a step that
// takes milliseconds never blocks gRPC's callback threads.
//
// A step checks first whether the client has cancelled (or passed its
// deadline) and whether the server is about to stop; either ends the stream
// at once (CANCELLED, or UNAVAILABLE so that the client knows to retry).
//
// Thread safety: a step and a write are never outstanding together, so
// subclass state needs no lock. Finish() is called exactly once, as the last
// touch of `this` by the calling thread; OnDone deletes the reactor.
#ifndef WINNOW_SERVER_STREAM_REACTOR_H_
#define WINNOW_SERVER_STREAM_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/rpc_scope.h"
#include "server/service_env.h"
#include "server/status_util.h"
#include "server/unary.h"

namespace winnow::server {

template <typename Response>
class StreamReactor : public grpc::ServerWriteReactor<Response> {
 public:
  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(absl::CancelledError("the client stopped reading"));
      return;
    }
    scope_.MessageSent();
    env_.workers->Post([this] { Step(); });
  }

  void OnCancel() override { cancelled_.store(true); }

  void OnDone() override { delete this; }

 protected:
  StreamReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
                std::string_view method)
      : env_(env),
        scope_(context, method, RpcType::kServerStream, env.metrics) {}

  // The subclass constructor's last statement: starts the first step.
  void Begin() {
    if (env_.draining.load(std::memory_order_acquire)) {
      Finish(ShuttingDownError());
      return;
    }
    env_.workers->Post([this] { Step(); });
  }

  // Fills *out with the next message and returns true, returns false when
  // the stream is complete (it ends with OK), or returns an error to end it
  // with. *out is empty on entry. Runs on a worker thread.
  virtual absl::StatusOr<bool> Produce(Response* out) = 0;

  ServiceEnv& env_;
  RpcScope scope_;

 private:
  void Step() {
    if (cancelled_.load()) {
      Finish(absl::CancelledError("cancelled by the client"));
      return;
    }
    if (env_.Stopping()) {
      Finish(absl::UnavailableError("server is shutting down"));
      return;
    }
    response_.Clear();
    absl::StatusOr<bool> produced = Produce(&response_);
    if (!produced.ok()) {
      Finish(produced.status());
    } else if (!*produced) {
      Finish(absl::OkStatus());
    } else {
      this->StartWrite(&response_);
    }
  }

  void Finish(const absl::Status& status) {
    grpc::ServerWriteReactor<Response>::Finish(
        scope_.Done(ToGrpcStatus(status)));
  }

  std::atomic<bool> cancelled_{false};
  Response response_;  // being written between StartWrite and OnWriteDone
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_STREAM_REACTOR_H_
