// StreamReader: the client side of a server-streaming RPC (Filter, Sample,
// WaitOperation), read message by message or with a range-for loop.
//
//   winnow::SampleReader reader = client.Sample(request);
//   winnow::v1::SampleResponse response;
//   while (reader.Next(&response)) Train(response.batch());
//   absl::Status status = reader.Finish();  // OK: the stream ended normally
#ifndef WINNOW_CLIENT_STREAM_READER_H_
#define WINNOW_CLIENT_STREAM_READER_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <cstddef>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "winnow/client/status.h"

namespace winnow {

// Thread safety: not thread-safe; one thread reads. Cancel() may be called
// from any thread.
template <typename Response>
class StreamReader {
 public:
  StreamReader(std::unique_ptr<grpc::ClientContext> context,
               std::unique_ptr<grpc::ClientReaderInterface<Response>> reader)
      : context_(std::move(context)), reader_(std::move(reader)) {}
  // Cancels the stream if it has not been finished.
  ~StreamReader() {
    if (reader_ != nullptr && !finished_) Finish().IgnoreError();
  }

  StreamReader(StreamReader&&) noexcept = default;
  StreamReader& operator=(StreamReader&&) noexcept = default;
  StreamReader(const StreamReader&) = delete;
  StreamReader& operator=(const StreamReader&) = delete;

  // Blocks for the next message. Returns false when the stream has ended,
  // normally or not; Finish() then tells which.
  bool Next(Response* response) {
    if (ended_) return false;
    if (reader_->Read(response)) return true;
    ended_ = true;
    return false;
  }

  // Returns the stream's final status: OK when the server ended it normally.
  // Called before Next() returned false, it cancels the stream first and
  // returns CANCELLED. Later calls return the same status.
  absl::Status Finish() {
    if (finished_) return status_;
    if (!ended_) {
      context_->TryCancel();
      ended_ = true;
    }
    status_ = FromGrpcStatus(reader_->Finish());
    finished_ = true;
    return status_;
  }

  // Asks the server to stop; Next() then returns false soon. Thread-safe.
  void Cancel() { context_->TryCancel(); }

  // An input iterator over the messages, for range-for loops. Check
  // Finish() after the loop: an error ends the loop like the normal end.
  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Response;
    using difference_type = std::ptrdiff_t;
    using pointer = const Response*;
    using reference = const Response&;

    Iterator() = default;
    explicit Iterator(StreamReader* reader) : reader_(reader) { ++*this; }

    reference operator*() const { return current_; }
    pointer operator->() const { return &current_; }
    Iterator& operator++() {
      if (!reader_->Next(&current_)) reader_ = nullptr;
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.reader_ == b.reader_;
    }
    friend bool operator!=(const Iterator& a, const Iterator& b) {
      return !(a == b);
    }

   private:
    StreamReader* reader_ = nullptr;
    Response current_;
  };
  Iterator begin() { return Iterator(this); }
  Iterator end() { return Iterator(); }

 private:
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderInterface<Response>> reader_;
  bool ended_ = false;  // Next() returned false
  bool finished_ = false;
  absl::Status status_;
};

}  // namespace winnow

#endif  // WINNOW_CLIENT_STREAM_READER_H_
