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
#include "google/protobuf/arena.h"
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

  void OnDone() override {
    if (holds_stream_) env_.CloseStream();
    delete this;
  }

 protected:
  StreamReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
                std::string_view method)
      : env_(env),
        scope_(context, method, RpcType::kServerStream, env),
        context_(context),
        method_(method) {}

  // The subclass constructor's last statement: authorizes the call against
  // `request` (auth.h), takes one of the server's max_concurrent_streams,
  // and starts the first step.
  void Begin(const google::protobuf::Message& request) {
    if (env_.draining.load(std::memory_order_acquire)) {
      Finish(ShuttingDownError());
      return;
    }
    if (absl::Status s =
            AuthorizeCall(context_, env_, scope_, method_, &request);
        !s.ok()) {
      Finish(s);
      return;
    }
    if (absl::Status s = env_.OpenStream(); !s.ok()) {
      Finish(s);
      return;
    }
    holds_stream_ = true;
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
    // Each message lives on an arena: a batch of 100k ids is 200k small
    // allocations otherwise. The previous message's write is done here.
    arena_.Reset();
    response_ = google::protobuf::Arena::CreateMessage<Response>(&arena_);
    absl::StatusOr<bool> produced = Produce(response_);
    if (!produced.ok()) {
      Finish(produced.status());
    } else if (!*produced) {
      Finish(absl::OkStatus());
    } else {
      this->StartWrite(response_);
    }
  }

  void Finish(const absl::Status& status) {
    grpc::ServerWriteReactor<Response>::Finish(
        scope_.Done(ToGrpcStatus(status)));
  }

  grpc::CallbackServerContext* const context_;
  const std::string_view method_;
  bool holds_stream_ = false;  // counted in env_.open_streams
  std::atomic<bool> cancelled_{false};
  // Being written between StartWrite and OnWriteDone.
  google::protobuf::Arena arena_{ArenaOptions()};
  Response* response_ = nullptr;

  static google::protobuf::ArenaOptions ArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 64 << 10;
    options.max_block_size = 8 << 20;
    return options;
  }
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_STREAM_REACTOR_H_
