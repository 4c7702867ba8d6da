// AckedWriter: the client side of Winnow's acknowledged bulk-write streams,
// DocumentService.UpsertDocuments, ScoreService.PutScores and
// ScoreService.ReportTraining (docs/api.md, docs/feedback.md).
//
// Each request message is one atomic batch. The server answers every batch,
// in order, with a response echoing the batch's `sequence` once the batch is
// durable. The writer numbers the batches 1, 2, 3, ..., keeps every batch
// that is not yet acknowledged, and never has more than
// WriterOptions::max_in_flight of them on the wire. When the stream breaks
// (UNAVAILABLE: a connection reset, a server restart or shutdown, or a stream
// that made no progress for ack_timeout) it opens a new stream, with
// exponential backoff and a bounded number of attempts, and resends every
// unacknowledged batch in order. Upserts and score writes are idempotent (a
// document or a score is replaced in place), so the result is exactly one
// copy of each document however often a batch was resent. Training reports
// are not idempotent; the server applies each (stream_id, sequence) once,
// so a TrainingReporter resends as safely.
//
// Any other error ends the writer: an INVALID_ARGUMENT from the server names
// the batch's sequence and the field, and every batch acknowledged before it
// stays durable.
//
//   winnow::DocumentWriter writer = client.UpsertDocuments("web");
//   for (...) {
//     winnow::v1::UpsertDocumentsRequest batch;
//     ...fill batch.mutable_columns()...
//     if (absl::Status s = writer.Write(std::move(batch)); !s.ok()) return s;
//   }
//   absl::Status s = writer.Close();  // OK: every batch is durable
#ifndef WINNOW_CLIENT_ACKED_WRITER_H_
#define WINNOW_CLIENT_ACKED_WRITER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "winnow/v1/document.pb.h"
#include "winnow/v1/score.pb.h"

namespace winnow {

// One bidirectional stream of batches and acknowledgements, as the writer
// sees it. The gRPC implementation lives in the library; tests implement it
// to drive the writer without a network.
//
// Semantics follow grpc::ClientReaderWriter: Write and Read return false
// once the stream is broken or ended, and Finish then tells why.
//
// Thread safety: used by one thread at a time (the writer's).
template <typename Request, typename Response>
class AckStream {
 public:
  virtual ~AckStream() = default;
  // Sends one batch. Returns false if the stream is broken.
  virtual bool Write(const Request& request) = 0;
  // Blocks for the next acknowledgement. Returns false when the stream is
  // broken or the server ended it.
  virtual bool Read(Response* response) = 0;
  // Half-closes the stream if it is still open, waits for the server's final
  // status and returns it. Called once; Write and Read are not called after.
  virtual absl::Status Finish() = 0;
};

// Makes a fresh stream: called for the first batch and on every reconnect.
template <typename Request, typename Response>
using AckStreamFactory =
    std::function<std::unique_ptr<AckStream<Request, Response>>()>;

// Options of an AckedWriter. The defaults suit a bulk load over a LAN.
struct WriterOptions {
  // --- behaviour ---

  // Collection written to. When not empty it is set on every batch whose
  // `collection` is empty.
  std::string collection;

  // ReportTraining only: the reporting stream's id, set on every message
  // (for example "<run_id>/rank-3"). Keep it across reconnects and give a
  // restarted reporter first_sequence above its last acknowledged message.
  std::string stream_id;
  // The sequence of the first batch; later ones count up from it.
  uint64_t first_sequence = 1;

  // Most batches sent and not yet acknowledged. Write blocks while the
  // window is full. Together with the batch size this bounds the memory the
  // writer holds for resends.
  int max_in_flight = 8;

  // --- reconnecting ---

  // Most consecutive attempts to reopen a broken stream without an
  // acknowledgement in between; then the writer fails with the last error.
  int max_reconnect_attempts = 30;
  // Most time spent reconnecting without an acknowledgement in between.
  absl::Duration max_reconnect_time = absl::Minutes(2);
  // Backoff before the first reconnect; each further attempt doubles it,
  // up to max_backoff, with +-20% jitter.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);

  // --- hooks (for tests) ---

  // Sleeps for a backoff; tests replace it to run without waiting.
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) {
    absl::SleepFor(d);
  };
};

// Counters of one writer, for progress displays and tests.
struct WriterStats {
  // Batches handed to Write.
  int64_t batches_written = 0;
  // Batches acknowledged (durable).
  int64_t batches_acked = 0;
  // Documents in the acknowledged batches, as the server counted them
  // (for training reports: the samples applied).
  int64_t documents_acked = 0;
  // Attempts to send a batch after its first one: the resends after a
  // reconnect (a batch whose write failed may still have landed, so every
  // attempt counts).
  int64_t resends = 0;
  // Streams opened after the first one.
  int64_t reconnects = 0;
};

// Writes batches on an acknowledged stream, resending after a reconnect.
// Instantiated for (UpsertDocumentsRequest, UpsertDocumentsResponse),
// (PutScoresRequest, PutScoresResponse) and (ReportTrainingRequest,
// ReportTrainingResponse); see DocumentWriter, ScoreWriter and
// TrainingReporter.
//
// Thread safety: not thread-safe; one thread calls Write, Flush and Close.
template <typename Request, typename Response>
class AckedWriter {
 public:
  AckedWriter(AckStreamFactory<Request, Response> factory,
              WriterOptions options);
  // Abandons the stream without waiting: batches not yet acknowledged may or
  // may not be durable. Call Close() to be sure.
  ~AckedWriter();

  AckedWriter(AckedWriter&&) noexcept;
  AckedWriter& operator=(AckedWriter&&) noexcept;
  AckedWriter(const AckedWriter&) = delete;
  AckedWriter& operator=(const AckedWriter&) = delete;

  // Called for every acknowledgement, in order, on the writer's thread.
  void set_on_ack(std::function<void(const Response&)> on_ack);

  // Queues one batch, assigning it the next sequence number (1, 2, 3, ...;
  // any sequence already in `batch` is overwritten) and sends it. Blocks
  // while max_in_flight batches are unacknowledged. Returns OK once the batch
  // is sent (not yet durable), or the writer's error: after an error every
  // call returns it, and batches acknowledged before it stay durable.
  absl::Status Write(Request batch);

  // Blocks until every batch written so far is acknowledged (durable), or
  // returns the writer's error. The stream stays open.
  absl::Status Flush();

  // Flush(), then ends the stream. Returns OK when every batch is durable.
  // Write fails after Close.
  absl::Status Close();

  // The sequence number the next Write assigns.
  uint64_t next_sequence() const { return next_sequence_; }
  // Batches written and not yet acknowledged.
  size_t unacknowledged() const { return unacked_.size(); }
  const WriterStats& stats() const { return stats_; }

 private:
  // Sends every unsent batch the window allows and reads acknowledgements
  // until at most `max_unacked` batches are unacknowledged and all are sent.
  absl::Status Drive(size_t max_unacked);
  // Ends the broken stream; returns its error if it is not worth a retry.
  absl::Status OnBroken();
  // Opens a stream, after a backoff if this is a retry.
  absl::Status Connect();
  absl::Status OnAck(const Response& response);
  absl::Status Fail(absl::Status status);

  // Constant after construction.
  AckStreamFactory<Request, Response> factory_;
  WriterOptions options_;
  std::function<void(const Response&)> on_ack_;

  std::unique_ptr<AckStream<Request, Response>> stream_;
  // Every batch not yet acknowledged, in sequence order. The first
  // sent_on_stream_ of them were written on the current stream.
  std::deque<Request> unacked_;
  size_t sent_on_stream_ = 0;
  uint64_t next_sequence_ = 1;
  // Highest sequence whose transmission was attempted, to count resends.
  uint64_t highest_sent_ = 0;
  // Reconnect budget, reset by every acknowledgement.
  int attempts_ = 0;
  absl::Time first_failure_ = absl::InfinitePast();
  absl::Duration backoff_;
  absl::Status last_error_;
  uint64_t rng_state_ = 0x9e3779b97f4a7c15ull;
  // Non-OK once the writer failed; every later call returns it.
  absl::Status status_;
  bool closed_ = false;
  WriterStats stats_;
};

extern template class AckedWriter<v1::UpsertDocumentsRequest,
                                  v1::UpsertDocumentsResponse>;
extern template class AckedWriter<v1::PutScoresRequest, v1::PutScoresResponse>;
extern template class AckedWriter<v1::ReportTrainingRequest,
                                  v1::ReportTrainingResponse>;

// Streams documents to DocumentService.UpsertDocuments.
using DocumentWriter =
    AckedWriter<v1::UpsertDocumentsRequest, v1::UpsertDocumentsResponse>;
// Streams scores to ScoreService.PutScores.
using ScoreWriter = AckedWriter<v1::PutScoresRequest, v1::PutScoresResponse>;
// Streams per-sample losses to ScoreService.ReportTraining, one message per
// Write (typically one training step of one rank), each applied once:
//
//   winnow::WriterOptions o;
//   o.stream_id = run_id + "/rank-" + std::to_string(rank);
//   winnow::TrainingReporter reporter = client.ReportTraining("web", o);
//   winnow::v1::ReportTrainingRequest m;
//   ...m.add_ids(id); m.add_losses(loss); m.add_steps(step)...
//   if (absl::Status s = reporter.Write(std::move(m)); !s.ok()) return s;
//   reporter.Close();  // OK: every report applied and durable
using TrainingReporter =
    AckedWriter<v1::ReportTrainingRequest, v1::ReportTrainingResponse>;

// Whether a broken stream's status is worth reopening the stream for:
// UNAVAILABLE (connection lost, server restarting or shutting down) and
// ABORTED. Everything else, INVALID_ARGUMENT first, is the caller's to fix.
bool IsRetryableStreamError(const absl::Status& status);

}  // namespace winnow

#endif  // WINNOW_CLIENT_ACKED_WRITER_H_
