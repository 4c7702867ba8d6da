// BatchAckReactor: the bidirectional stream shared by UpsertDocuments and
// PutScores (document.proto, score.proto): each request message is one
// atomic, durable batch, acknowledged by one response echoing its sequence,
// in order, only after the batch is durable.
//
// Each batch is applied in two steps, on a worker thread:
//  - Start validates and writes it. Starts run one at a time, in stream
//    order, so each batch sees the ones before it.
//  - Finish waits until it is durable (the WAL fsync) and fills its
//    acknowledgement.
// As soon as a batch has started, the next message is read and started
// while the first one's fsync is pending, so a stream keeps up to
// kMaxBatchesInFlight batches in flight and storage can sync them together.
// Acknowledgements are written strictly in stream order, one write at a
// time, each only after its batch's Finish returned OK.
//
// A batch that fails (Start or Finish) ends the stream with its error,
// prefixed "sequence N: ", after the acknowledgements of the batches before
// it have been written; nothing after it is acknowledged, and nothing of a
// batch whose Start failed is applied. A client that half-closes gets OK
// once every acknowledgement is written. Cancellation (or a deadline) stops
// the stream at the next step. A stream keeps working while the server
// drains; once the drain deadline is close, the next batch is refused with
// UNAVAILABLE: the batches acknowledged so far are durable.
//
// The stream is authorized when it opens (the token's role) and each batch
// before it starts (the collection it names, auth.h); a refused batch ends
// the stream like any failed one.
//
// Thread safety: gRPC reactions and the worker tasks run on different
// threads; state is guarded by mu_ (ABSL_GUARDED_BY, checked by clang), and
// gRPC operations are started outside it. Finish() is called exactly once, when
// no operation or worker task is outstanding, as the last touch of `this` by
// that thread (OnDone deletes the reactor).
#ifndef WINNOW_SERVER_BATCH_ACK_REACTOR_H_
#define WINNOW_SERVER_BATCH_ACK_REACTOR_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc_scope.h"
#include "server/service_env.h"
#include "server/status_util.h"
#include "server/unary.h"

namespace winnow::server {

// Batches of one stream written but not yet acknowledged, at most. Each
// holds a worker thread while it waits for its fsync, so the bound also
// keeps one stream from occupying the whole pool.
inline constexpr size_t kMaxBatchesInFlight = 3;

template <typename Request, typename Response>
class BatchAckReactor final
    : public grpc::ServerBidiReactor<Request, Response> {
 public:
  // Waits until a started batch is durable and fills its acknowledgement
  // (the reactor sets the sequence).
  using Finisher = std::function<absl::Status(Response*)>;
  // Validates and writes one batch; the request may be reused once it
  // returns. On error nothing of the batch is applied.
  using Start = std::function<absl::StatusOr<Finisher>(const Request&)>;

  BatchAckReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
                  std::string_view method, Start start)
      : env_(env),
        scope_(context, method, RpcType::kBidiStream, env),
        method_(method),
        start_(std::move(start)) {
    mu_.Lock();
    if (env_.draining.load(std::memory_order_acquire)) {
      final_status_ = ShuttingDownError();
    } else if (absl::Status s =
                   AuthorizeCall(context, env_, scope_, method, nullptr);
               !s.ok()) {
      // The role now; each batch's collection as it comes (Process).
      final_status_ = s;
    } else if (absl::Status s = env_.OpenStream(); !s.ok()) {
      final_status_ = s;
    } else {
      holds_stream_ = true;
    }
    Advance();
  }

  void OnReadDone(bool ok) override {
    mu_.Lock();
    reading_ = false;
    if (!ok) {
      // The client half-closed, or the call was cancelled.
      reads_done_ = true;
      Advance();
      return;
    }
    scope_.MessageReceived();
    starting_ = true;
    mu_.Unlock();
    env_.workers->Post([this] { Process(); });
  }

  void OnWriteDone(bool ok) override {
    mu_.Lock();
    writing_ = false;
    slots_.pop_front();
    ++popped_;
    if (ok) scope_.MessageSent();
    if (!ok) {
      // The client is gone; nothing more can be acknowledged.
      popped_ += slots_.size();
      slots_.clear();
      if (!final_status_) final_status_ = absl::CancelledError("stream broken");
    }
    Advance();
  }

  void OnCancel() override { cancelled_.store(true); }

  void OnDone() override {
    if (holds_stream_) env_.CloseStream();
    delete this;
  }

 private:
  // One started batch, waiting for its Finish and then its write.
  struct Slot {
    uint64_t id;
    uint64_t sequence;
    bool ready = false;
    Response ack;
  };

  // Starts and then finishes the batch in request_ (worker thread).
  void Process() ABSL_LOCKS_EXCLUDED(mu_) {
    const uint64_t sequence = request_.sequence();
    absl::StatusOr<Finisher> finisher;
    if (cancelled_.load()) {
      finisher = absl::CancelledError("cancelled");
    } else if (env_.Stopping()) {
      finisher = absl::UnavailableError(
          "server is shutting down; every acknowledged batch is durable");
    } else if (absl::Status s =
                   AuthorizeMessage(scope_.principal(), method_, request_);
               !s.ok()) {
      finisher = s;
    } else {
      finisher = start_(request_);
    }
    mu_.Lock();
    starting_ = false;
    if (!finisher.ok()) {
      Fail(finisher.status(), sequence);
      Advance();
      return;
    }
    // A started batch must be finished even if the stream is failing.
    const bool keep = !final_status_;
    const uint64_t id = popped_ + slots_.size();
    if (keep) slots_.push_back(Slot{id, sequence, false, Response()});
    ++finishing_;
    Advance();  // reads the next batch while this one syncs
    // (Advance cannot finish the call: finishing_ > 0.)

    Response ack;
    absl::Status status = (*finisher)(&ack);
    mu_.Lock();
    --finishing_;
    Slot* slot = keep ? FindSlot(id) : nullptr;
    if (slot != nullptr) {
      if (status.ok()) {
        ack.set_sequence(sequence);
        slot->ack = std::move(ack);
        slot->ready = true;
      } else {
        // Drop this batch and every later one: acknowledgements stay in
        // order, so nothing after a failed batch may be acknowledged.
        slots_.erase(slots_.begin() + static_cast<ptrdiff_t>(id - popped_),
                     slots_.end());
        Fail(status, sequence);
      }
    }
    Advance();
  }

  Slot* FindSlot(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (id < popped_ || id - popped_ >= slots_.size()) return nullptr;
    Slot& slot = slots_[id - popped_];
    return slot.id == id ? &slot : nullptr;
  }

  void Fail(const absl::Status& status, uint64_t sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!final_status_) {
      final_status_ = Annotate(status, absl::StrCat("sequence ", sequence));
    }
  }

  // Under mu_, decides what to start next: the write of the first
  // acknowledgement once it is ready, the next read while there is room,
  // or, when nothing is outstanding and the stream is over, Finish. Then
  // releases mu_ and starts them. The caller must not touch `this`
  // afterwards unless it holds a reason for the call to stay open (an
  // outstanding worker task).
  void Advance() ABSL_UNLOCK_FUNCTION(mu_) {
    const Response* write = nullptr;
    bool read = false;
    std::optional<absl::Status> finish;
    if (!writing_ && !slots_.empty() && slots_.front().ready) {
      writing_ = true;
      write = &slots_.front().ack;
    }
    if (!reading_ && !starting_ && !reads_done_ && !final_status_ &&
        slots_.size() < kMaxBatchesInFlight) {
      reading_ = true;
      read = true;
    }
    if (!finished_ && !reading_ && !starting_ && finishing_ == 0 && !writing_ &&
        slots_.empty() && (reads_done_ || final_status_)) {
      finished_ = true;
      finish = final_status_.value_or(absl::OkStatus());
      if (finish->ok() && cancelled_.load()) {
        // gRPC ended the call (the client cancelled, a deadline passed, or
        // a message was over the size limit): say so in the log; the
        // client has its status already.
        finish = absl::CancelledError("the call was cancelled");
      }
      scope_.Note("batches", acked_);
    }
    if (write != nullptr) ++acked_;
    mu_.Unlock();
    if (write != nullptr) this->StartWrite(write);
    if (read) this->StartRead(&request_);
    if (finish) this->Finish(scope_.Done(ToGrpcStatus(*finish)));
  }

  ServiceEnv& env_;
  RpcScope scope_;
  const std::string_view method_;
  const Start start_;
  // Counted in env_.open_streams; set by the constructor only.
  bool holds_stream_ = false;
  std::atomic<bool> cancelled_{false};

  absl::Mutex mu_;
  // Owned by whoever the flags under mu_ say: gRPC reads into it while
  // reading_, then the one Process task uses it while starting_.
  Request request_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = false;
  // Process tasks waiting in a Finisher.
  int finishing_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> final_status_ ABSL_GUARDED_BY(mu_);
  // Started batches in stream order; the front's ack is being written
  // while writing_. Slot ids count from the stream's first batch; popped_
  // is the id of the front.
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t popped_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_BATCH_ACK_REACTOR_H_
