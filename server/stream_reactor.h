// StreamReactor: the server-streaming shape shared by Filter and Sample.
//
// Messages are produced on worker threads, one at a time, and written one
// at a time (gRPC allows one outstanding write). The two overlap: while a
// message is being written, the next one is produced into a second buffer,
// so a stream holds at most two messages (one written, one ready or being
// produced) and generates at most one message further ahead than the
// client reads (gRPC flow control paces it). A step that takes
// milliseconds never blocks gRPC's callback threads.
//
// A step checks first whether the client has cancelled (or passed its
// deadline) and whether the server is about to stop; either ends the stream
// (CANCELLED, or UNAVAILABLE so that the client knows to retry) once the
// outstanding write, if any, is done. So does the end of the stream or an
// error: Finish() waits for the last write.
//
// Thread safety: Produce() calls never overlap (the next is posted only
// when the previous has returned, through mu_), so subclass state needs no
// lock. Finish() is called exactly once, when no step runs and no write is
// outstanding, as the last touch of `this` by the calling thread; OnDone
// deletes the reactor.
#ifndef WINNOW_SERVER_STREAM_REACTOR_H_
#define WINNOW_SERVER_STREAM_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
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
    if (ok) scope_.MessageSent();
    Response* write = nullptr;
    bool produce = false;
    std::optional<absl::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = -1;
      if (!ok && !end_)
        end_ = absl::CancelledError("the client stopped reading");
      if (end_) {
        // A step still running ends the stream when it returns.
        if (producing_ < 0) finish = *end_;
      } else if (ready_ >= 0) {
        write = StartWriteLocked(ready_);
        ready_ = -1;
        produce = StartProducingLocked();
      }
    }
    if (finish) {
      Finish(*finish);
      return;
    }
    if (write != nullptr) this->StartWrite(write);
    if (produce) env_.workers->Post([this] { Step(); });
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
    {
      absl::MutexLock lock(&mu_);
      StartProducingLocked();
    }
    env_.workers->Post([this] { Step(); });
  }

  // Fills *out with the next message and returns true, returns false when
  // the stream is complete (it ends with OK), or returns an error to end it
  // with. *out is empty on entry. Runs on a worker thread, possibly while
  // the previous message is being written (and OnWriteDone counts it in
  // scope_): so scope_.Note() only in the first call, before any write.
  virtual absl::StatusOr<bool> Produce(Response* out) = 0;

  ServiceEnv& env_;
  RpcScope scope_;

 private:
  // A message buffer: each message lives on an arena (a batch of 100k ids
  // is 200k small allocations otherwise), reset when it is reused.
  struct Slot {
    google::protobuf::Arena arena{ArenaOptions()};
    Response* response = nullptr;
  };

  // Produces into slot producing_ (set by StartProducingLocked).
  void Step() {
    int slot = 0;
    {
      absl::MutexLock lock(&mu_);
      slot = producing_;
    }
    absl::StatusOr<bool> produced = true;
    if (cancelled_.load()) {
      produced = absl::CancelledError("cancelled by the client");
    } else if (env_.Stopping()) {
      produced = absl::UnavailableError("server is shutting down");
    } else {
      // Neither written nor waiting to be: the slot's message is done with.
      Slot& s = slots_[slot];
      s.arena.Reset();
      s.response = google::protobuf::Arena::CreateMessage<Response>(&s.arena);
      produced = Produce(s.response);
    }
    Response* write = nullptr;
    bool produce = false;
    std::optional<absl::Status> finish;
    {
      absl::MutexLock lock(&mu_);
      producing_ = -1;
      if (!end_ && !produced.ok()) end_ = produced.status();
      if (!end_ && !*produced) end_ = absl::OkStatus();
      if (end_) {
        // The outstanding write, if any, ends the stream when it is done.
        if (writing_ < 0) finish = *end_;
      } else if (writing_ < 0) {
        write = StartWriteLocked(slot);
        produce = StartProducingLocked();
      } else {
        ready_ = slot;
      }
    }
    if (finish) {
      Finish(*finish);
      return;
    }
    if (write != nullptr) this->StartWrite(write);
    if (produce) env_.workers->Post([this] { Step(); });
  }

  // Marks slot `slot` as being written and returns its message.
  Response* StartWriteLocked(int slot) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = slot;
    return slots_[slot].response;
  }

  // Claims the slot that is neither written nor ready for the next step;
  // the caller posts Step() (after releasing mu_). Returns true.
  bool StartProducingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    producing_ = writing_ == 0 ? 1 : 0;
    return true;
  }

  void Finish(const absl::Status& status) {
    grpc::ServerWriteReactor<Response>::Finish(
        scope_.Done(ToGrpcStatus(status)));
  }

  grpc::CallbackServerContext* const context_;
  const std::string_view method_;
  bool holds_stream_ = false;  // counted in env_.open_streams
  std::atomic<bool> cancelled_{false};

  absl::Mutex mu_;
  // Indexes into slots_, or -1: the message being written (between
  // StartWrite and OnWriteDone), the one produced and waiting for that
  // write, and the one a step is producing. At most two are in use.
  int writing_ ABSL_GUARDED_BY(mu_) = -1;
  int ready_ ABSL_GUARDED_BY(mu_) = -1;
  int producing_ ABSL_GUARDED_BY(mu_) = -1;
  // How the stream ends, once known: the stream is finished with it when
  // neither a step nor a write is outstanding.
  std::optional<absl::Status> end_ ABSL_GUARDED_BY(mu_);
  Slot slots_[2];

  static google::protobuf::ArenaOptions ArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.start_block_size = 64 << 10;
    options.max_block_size = 8 << 20;
    return options;
  }
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_STREAM_REACTOR_H_
