#include "winnow/client/acked_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace winnow {

bool IsRetryableStreamError(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsAborted(status);
}

template <typename Request, typename Response>
AckedWriter<Request, Response>::AckedWriter(
    AckStreamFactory<Request, Response> factory, WriterOptions options)
    : factory_(std::move(factory)),
      options_(std::move(options)),
      backoff_(options_.initial_backoff) {
  next_sequence_ = options_.first_sequence;
  options_.max_in_flight = std::max(options_.max_in_flight, 1);
  if (!options_.sleep)
    options_.sleep = [](absl::Duration d) { absl::SleepFor(d); };
}

// Destroying the stream cancels it (see GrpcAckStream); nothing else to do.
template <typename Request, typename Response>
AckedWriter<Request, Response>::~AckedWriter() = default;

template <typename Request, typename Response>
AckedWriter<Request, Response>::AckedWriter(AckedWriter&&) noexcept = default;

template <typename Request, typename Response>
AckedWriter<Request, Response>& AckedWriter<Request, Response>::operator=(
    AckedWriter&&) noexcept = default;

template <typename Request, typename Response>
void AckedWriter<Request, Response>::set_on_ack(
    std::function<void(const Response&)> on_ack) {
  on_ack_ = std::move(on_ack);
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Write(Request batch) {
  if (!status_.ok()) return status_;
  if (closed_) return absl::FailedPreconditionError("Write after Close");
  batch.set_sequence(next_sequence_++);
  if (!options_.collection.empty() && batch.collection().empty()) {
    batch.set_collection(options_.collection);
  }
  if constexpr (requires { batch.set_stream_id(""); }) {
    if (!options_.stream_id.empty()) batch.set_stream_id(options_.stream_id);
  }
  unacked_.push_back(std::move(batch));
  ++stats_.batches_written;
  return Drive(static_cast<size_t>(options_.max_in_flight));
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Flush() {
  if (!status_.ok()) return status_;
  return Drive(0);
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Close() {
  if (closed_) return status_;
  absl::Status flushed = Flush();
  closed_ = true;
  if (!flushed.ok()) return flushed;
  if (stream_ == nullptr) return absl::OkStatus();
  absl::Status finished = stream_->Finish();
  stream_.reset();
  // Every batch is acknowledged, so a connection lost now loses nothing.
  if (!finished.ok() && !IsRetryableStreamError(finished)) {
    return Fail(finished);
  }
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Drive(size_t max_unacked) {
  const size_t window = static_cast<size_t>(options_.max_in_flight);
  while (true) {
    if (sent_on_stream_ == unacked_.size() && unacked_.size() <= max_unacked) {
      return absl::OkStatus();
    }
    if (stream_ == nullptr) {
      if (absl::Status s = Connect(); !s.ok()) return Fail(std::move(s));
    }
    bool broken = false;
    while (sent_on_stream_ < unacked_.size() && sent_on_stream_ < window) {
      const Request& batch = unacked_[sent_on_stream_];
      // A write that fails may still have reached the server, so every
      // attempt counts as a transmission.
      if (batch.sequence() <= highest_sent_) {
        ++stats_.resends;
      } else {
        highest_sent_ = batch.sequence();
      }
      if (!stream_->Write(batch)) {
        broken = true;
        break;
      }
      ++sent_on_stream_;
    }
    if (!broken) {
      if (sent_on_stream_ == unacked_.size() &&
          unacked_.size() <= max_unacked) {
        return absl::OkStatus();
      }
      Response response;
      if (stream_->Read(&response)) {
        if (absl::Status s = OnAck(response); !s.ok())
          return Fail(std::move(s));
        continue;
      }
    }
    if (absl::Status s = OnBroken(); !s.ok()) return Fail(std::move(s));
  }
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::OnAck(const Response& response) {
  if (sent_on_stream_ == 0 ||
      response.sequence() != unacked_.front().sequence()) {
    return absl::InternalError(absl::StrFormat(
        "the server acknowledged sequence %d, expected %s", response.sequence(),
        sent_on_stream_ == 0 ? std::string("none")
                             : absl::StrCat(unacked_.front().sequence())));
  }
  ++stats_.batches_acked;
  if constexpr (requires { response.applied_count(); }) {
    stats_.documents_acked += response.applied_count();
  } else {
    stats_.documents_acked += response.document_count();
  }
  unacked_.pop_front();
  --sent_on_stream_;
  // Progress: the stream works again, so the reconnect budget starts over.
  attempts_ = 0;
  backoff_ = options_.initial_backoff;
  last_error_ = absl::OkStatus();
  if (on_ack_) on_ack_(response);
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::OnBroken() {
  // Acknowledgements that arrived before the break still count: fewer
  // batches to resend.
  Response response;
  while (sent_on_stream_ > 0 && stream_->Read(&response)) {
    if (absl::Status s = OnAck(response); !s.ok()) return s;
  }
  absl::Status status = stream_->Finish();
  stream_.reset();
  sent_on_stream_ = 0;
  if (status.ok()) {
    // A server may not end a stream with batches unanswered; resending is
    // harmless, so treat it like a lost connection.
    status = absl::UnavailableError(
        absl::StrCat("the server ended the stream with ", unacked_.size(),
                     " batches unacknowledged"));
  }
  if (!IsRetryableStreamError(status)) return status;
  last_error_ = std::move(status);
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Connect() {
  if (!last_error_.ok()) {  // a reconnect after a broken stream
    const absl::Time now = absl::Now();
    if (attempts_ == 0) first_failure_ = now;
    if (attempts_ >= options_.max_reconnect_attempts ||
        now - first_failure_ > options_.max_reconnect_time) {
      return absl::Status(
          last_error_.code(),
          absl::StrCat(last_error_.message(), " (gave up after ", attempts_,
                       " reconnect attempts in ",
                       absl::FormatDuration(absl::Trunc(now - first_failure_,
                                                        absl::Milliseconds(1))),
                       ")"));
    }
    // xorshift64: jitter only has to keep many writers from reconnecting in
    // lockstep.
    rng_state_ ^= rng_state_ << 13;
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    const double jitter = 0.8 + 0.4 * static_cast<double>(rng_state_ >> 11) /
                                    static_cast<double>(1ull << 53);
    options_.sleep(backoff_ * jitter);
    backoff_ = std::min(backoff_ * 2, options_.max_backoff);
    ++attempts_;
    ++stats_.reconnects;
  }
  stream_ = factory_();
  if (stream_ == nullptr) return absl::InternalError("no stream to write to");
  return absl::OkStatus();
}

template <typename Request, typename Response>
absl::Status AckedWriter<Request, Response>::Fail(absl::Status status) {
  status_ = std::move(status);
  stream_.reset();
  sent_on_stream_ = 0;
  return status_;
}

template class AckedWriter<v1::UpsertDocumentsRequest,
                           v1::UpsertDocumentsResponse>;
template class AckedWriter<v1::PutScoresRequest, v1::PutScoresResponse>;
template class AckedWriter<v1::ReportTrainingRequest,
                           v1::ReportTrainingResponse>;

}  // namespace winnow
