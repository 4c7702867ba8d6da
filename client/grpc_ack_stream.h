// GrpcAckStream: AckStream over a gRPC bidirectional stream, with a stall
// timeout (private to the client library).
//
// It drives the call through its own CompletionQueue from the caller's
// thread, so that each wait has a deadline: a server that stops answering
// (hung, or a peer gone without a reset) is noticed after `stall_timeout`
// without progress, the call is cancelled, and the writer reconnects. The
// synchronous API cannot bound a blocked Write or Read this way.
#ifndef WINNOW_CLIENT_GRPC_ACK_STREAM_H_
#define WINNOW_CLIENT_GRPC_ACK_STREAM_H_

#include <grpcpp/client_context.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/support/async_stream.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "winnow/client/acked_writer.h"
#include "winnow/client/status.h"

namespace winnow {

// Thread safety: one thread at a time, like every AckStream.
template <typename Request, typename Response>
class GrpcAckStream final : public AckStream<Request, Response> {
 public:
  using Call = grpc::ClientAsyncReaderWriter<Request, Response>;
  // Prepares (does not start) the call, as Stub::PrepareAsyncX does.
  using Prepare = std::function<std::unique_ptr<Call>(grpc::ClientContext*,
                                                      grpc::CompletionQueue*)>;

  GrpcAckStream(std::unique_ptr<grpc::ClientContext> context,
                const Prepare& prepare, absl::Duration stall_timeout)
      : context_(std::move(context)), stall_timeout_(stall_timeout) {
    call_ = prepare(context_.get(), &cq_);
    call_->StartCall(Tag(kStart));
    pending_[kStart] = true;
    if (Wait(kStart)) {
      PostRead();
    } else {
      broken_ = true;
    }
  }

  ~GrpcAckStream() override {
    if (!finished_) {
      cancelling_ = true;
      context_->TryCancel();
      Finish().IgnoreError();
    }
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }

  bool Write(const Request& request) override {
    if (broken_ || finished_) return false;
    call_->Write(request, Tag(kWrite));
    pending_[kWrite] = true;
    if (!Wait(kWrite)) broken_ = true;
    return !broken_;
  }

  bool Read(Response* response) override {
    absl::Time deadline = absl::Now() + stall_timeout_;
    while (acks_.empty() && pending_[kRead]) {
      if (!Next(&deadline)) break;
    }
    if (acks_.empty()) return false;
    *response = std::move(acks_.front());
    acks_.pop_front();
    return true;
  }

  absl::Status Finish() override {
    if (finished_) return status_;
    if (!broken_ && !stalled_) {
      call_->WritesDone(Tag(kWritesDone));
      pending_[kWritesDone] = true;
      Wait(kWritesDone);
    }
    grpc::Status status;
    call_->Finish(&status, Tag(kFinish));
    pending_[kFinish] = true;
    Wait(kFinish);
    // The read posted last completes (false) once the call is over.
    absl::Time deadline = absl::Now() + stall_timeout_;
    while (pending_[kRead]) Next(&deadline);
    finished_ = true;
    status_ = FromGrpcStatus(status);
    if (stalled_ && absl::IsCancelled(status_)) {
      // Our own cancel: report it as the lost connection it most likely is,
      // so that the writer reconnects and resends.
      status_ = absl::UnavailableError(
          absl::StrCat("the stream made no progress for ",
                       absl::FormatDuration(stall_timeout_)));
    } else if (absl::IsCancelled(status_) && !cancelling_) {
      // Cancelled by the server side, as a server shutting down with a
      // deadline does: resending is safe, so treat it as UNAVAILABLE.
      status_ = absl::UnavailableError(
          absl::StrCat("the server cancelled the stream: ", status_.message()));
    }
    return status_;
  }

 private:
  enum TagId : int { kStart = 0, kWrite, kRead, kWritesDone, kFinish, kTags };
  static void* Tag(TagId id) {
    return reinterpret_cast<void*>(static_cast<intptr_t>(id) + 1);
  }

  void PostRead() {
    call_->Read(&read_buffer_, Tag(kRead));
    pending_[kRead] = true;
  }

  // Waits for `id` to complete and returns its ok.
  bool Wait(TagId id) {
    absl::Time deadline = absl::Now() + stall_timeout_;
    while (pending_[id]) Next(&deadline);
    return ok_[id];
  }

  // Handles one completion. At the deadline it cancels the call, after
  // which every pending operation completes promptly; returns false then.
  bool Next(absl::Time* deadline) {
    void* tag;
    bool ok;
    grpc::CompletionQueue::NextStatus next =
        cq_.AsyncNext(&tag, &ok, absl::ToChronoTime(*deadline));
    if (next == grpc::CompletionQueue::TIMEOUT) {
      stalled_ = true;
      broken_ = true;
      context_->TryCancel();
      *deadline = absl::InfiniteFuture();
      return false;
    }
    if (next == grpc::CompletionQueue::SHUTDOWN) return false;
    const int id = static_cast<int>(reinterpret_cast<intptr_t>(tag) - 1);
    pending_[id] = false;
    ok_[id] = ok;
    if (id == kRead) {
      if (ok) {
        acks_.push_back(std::move(read_buffer_));
        read_buffer_.Clear();
        PostRead();
      } else {
        broken_ = true;
      }
    }
    // Progress: the next stall is measured from now.
    *deadline =
        stalled_ ? absl::InfiniteFuture() : absl::Now() + stall_timeout_;
    return true;
  }

  std::unique_ptr<grpc::ClientContext> context_;
  const absl::Duration stall_timeout_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<Call> call_;
  bool pending_[kTags] = {};
  bool ok_[kTags] = {};
  Response read_buffer_;
  // Acknowledgements received and not yet returned by Read.
  std::deque<Response> acks_;
  bool broken_ = false;
  bool stalled_ = false;
  bool finished_ = false;
  bool cancelling_ = false;  // the destructor cancels
  absl::Status status_;
};

}  // namespace winnow

#endif  // WINNOW_CLIENT_GRPC_ACK_STREAM_H_
