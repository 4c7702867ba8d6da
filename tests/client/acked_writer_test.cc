// AckedWriter's sequencing, window and resend logic, driven through a
// scripted in-memory stream (no network).
#include "winnow/client/acked_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace winnow {
namespace {

template <typename Request>
std::vector<std::string> IdsOf(const Request& r);
template <>
std::vector<std::string> IdsOf(const v1::UpsertDocumentsRequest& r) {
  return {r.columns().ids().begin(), r.columns().ids().end()};
}
template <>
std::vector<std::string> IdsOf(const v1::PutScoresRequest& r) {
  return {r.ids().begin(), r.ids().end()};
}

// What the fake server does, and what it saw. Batch numbers k count every
// batch received on any stream, from 1.
struct Script {
  // End the stream on the k-th batch before applying it.
  std::set<int> break_before_apply;
  // Apply the k-th batch, then end the stream before acknowledging it (the
  // acknowledgement is lost).
  std::set<int> break_after_apply;
  // Streams (numbered from 1) that are broken from the start.
  std::set<int> dead_streams;
  // How a broken stream ends.
  absl::Status break_status = absl::UnavailableError("connection reset");
  // A batch with this sequence is refused with INVALID_ARGUMENT.
  std::optional<uint64_t> reject_sequence;
  // Acknowledge with a wrong sequence on the k-th batch.
  std::optional<int> bad_ack_on;

  // Observed.
  int streams = 0;
  int batches_received = 0;
  // Sequences received, per stream.
  std::vector<std::vector<uint64_t>> received;
  // Collections named by the batches.
  std::set<std::string> collections;
  // Times each id was applied (an upsert replaces in place, so the store
  // holds one copy however often it is applied).
  std::map<std::string, int> applied;
};

template <typename Request, typename Response>
class FakeStream final : public AckStream<Request, Response> {
 public:
  explicit FakeStream(Script* script) : script_(script) {
    id_ = ++script_->streams;
    script_->received.emplace_back();
    if (script_->dead_streams.count(id_)) Break(script_->break_status);
  }

  bool Write(const Request& request) override {
    if (broken_) return false;
    const int k = ++script_->batches_received;
    script_->received.back().push_back(request.sequence());
    script_->collections.insert(request.collection());
    if (script_->reject_sequence == request.sequence()) {
      Break(absl::InvalidArgumentError(
          absl::StrCat("batch ", request.sequence(), ": bad id")));
      return true;
    }
    if (script_->break_before_apply.count(k)) {
      Break(script_->break_status);
      return true;  // the bytes left; the server never saw them
    }
    const std::vector<std::string> ids = IdsOf(request);
    for (const std::string& id : ids) script_->applied[id]++;
    if (script_->break_after_apply.count(k)) {
      Break(script_->break_status);
      return true;
    }
    Response ack;
    ack.set_sequence(script_->bad_ack_on == k ? request.sequence() + 100
                                              : request.sequence());
    ack.set_document_count(static_cast<int64_t>(ids.size()));
    acks_.push_back(ack);
    return true;
  }

  bool Read(Response* response) override {
    // Acknowledgements sent before a break still arrive.
    if (!acks_.empty()) {
      *response = acks_.front();
      acks_.erase(acks_.begin());
      return true;
    }
    if (!broken_) {
      ADD_FAILURE() << "Read would block forever: nothing in flight";
    }
    return false;
  }

  absl::Status Finish() override {
    EXPECT_FALSE(finished_) << "Finish called twice";
    finished_ = true;
    return broken_ ? status_ : absl::OkStatus();
  }

 private:
  void Break(absl::Status status) {
    broken_ = true;
    status_ = std::move(status);
  }

  Script* script_;
  int id_ = 0;
  bool broken_ = false;
  bool finished_ = false;
  absl::Status status_;
  std::vector<Response> acks_;
};

using DocStream =
    FakeStream<v1::UpsertDocumentsRequest, v1::UpsertDocumentsResponse>;

struct Harness {
  Script script;
  std::vector<absl::Duration> sleeps;
  std::vector<uint64_t> acked;

  DocumentWriter MakeWriter(int max_in_flight = 8, int max_attempts = 30) {
    WriterOptions options;
    options.collection = "web";
    options.max_in_flight = max_in_flight;
    options.max_reconnect_attempts = max_attempts;
    options.sleep = [this](absl::Duration d) { sleeps.push_back(d); };
    DocumentWriter writer(
        [this] { return std::make_unique<DocStream>(&script); }, options);
    writer.set_on_ack([this](const v1::UpsertDocumentsResponse& r) {
      acked.push_back(r.sequence());
    });
    return writer;
  }
};

v1::UpsertDocumentsRequest Batch(int b, int docs = 3) {
  v1::UpsertDocumentsRequest request;
  for (int i = 0; i < docs; ++i) {
    request.mutable_columns()->add_ids(absl::StrCat("doc-", b, "-", i));
  }
  return request;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

// Each stream receives a run of consecutive sequences: the unacknowledged
// batches first, in order, then new ones.
void ExpectConsecutivePerStream(const Script& script) {
  for (size_t s = 0; s < script.received.size(); ++s) {
    const std::vector<uint64_t>& seqs = script.received[s];
    for (size_t i = 1; i < seqs.size(); ++i) {
      EXPECT_EQ(seqs[i], seqs[i - 1] + 1) << "stream " << s + 1;
    }
  }
}

TEST(AckedWriterTest, NumbersBatchesFromOneAndAcknowledgesInOrder) {
  Harness h;
  DocumentWriter writer = h.MakeWriter();
  EXPECT_EQ(writer.next_sequence(), 1u);
  for (int b = 0; b < 20; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.acked, Range(1, 20));
  ASSERT_EQ(h.script.streams, 1);
  EXPECT_EQ(h.script.received[0], Range(1, 20));
  EXPECT_EQ(h.script.collections, std::set<std::string>{"web"});
  EXPECT_EQ(writer.stats().batches_written, 20);
  EXPECT_EQ(writer.stats().batches_acked, 20);
  EXPECT_EQ(writer.stats().documents_acked, 60);
  EXPECT_EQ(writer.stats().resends, 0);
  EXPECT_EQ(writer.stats().reconnects, 0);
  EXPECT_EQ(writer.unacknowledged(), 0u);
}

TEST(AckedWriterTest, OverwritesAnySequenceTheCallerSet) {
  Harness h;
  DocumentWriter writer = h.MakeWriter();
  v1::UpsertDocumentsRequest batch = Batch(0);
  batch.set_sequence(77);
  batch.set_collection("other");  // an explicit collection is kept
  ASSERT_TRUE(writer.Write(batch).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.script.received[0], std::vector<uint64_t>{1});
  EXPECT_EQ(h.script.collections, std::set<std::string>{"other"});
}

TEST(AckedWriterTest, WindowBoundsUnacknowledgedBatches) {
  Harness h;
  DocumentWriter writer = h.MakeWriter(/*max_in_flight=*/4);
  for (int b = 0; b < 4; ++b) {
    ASSERT_TRUE(writer.Write(Batch(b)).ok());
    // Nothing is read while the window has room.
    EXPECT_EQ(writer.unacknowledged(), static_cast<size_t>(b + 1));
  }
  for (int b = 4; b < 10; ++b) {
    ASSERT_TRUE(writer.Write(Batch(b)).ok());
    EXPECT_EQ(writer.unacknowledged(), 4u);
  }
  ASSERT_TRUE(writer.Flush().ok());
  EXPECT_EQ(writer.unacknowledged(), 0u);
  EXPECT_EQ(h.acked, Range(1, 10));
  // Flush keeps the stream open.
  ASSERT_TRUE(writer.Write(Batch(10)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.script.streams, 1);
}

TEST(AckedWriterTest, ResendsUnacknowledgedBatchesInOrderAfterABreak) {
  Harness h;
  // Batch 5 lands but its acknowledgement is lost; batch 12 never lands.
  h.script.break_after_apply = {5};
  h.script.break_before_apply = {12};
  DocumentWriter writer = h.MakeWriter(/*max_in_flight=*/8);
  for (int b = 0; b < 20; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());

  // Every batch is acknowledged exactly once, in order.
  EXPECT_EQ(h.acked, Range(1, 20));
  EXPECT_EQ(h.script.streams, 3);
  EXPECT_EQ(writer.stats().reconnects, 2);
  EXPECT_GT(writer.stats().resends, 0);
  EXPECT_EQ(writer.stats().batches_acked, 20);
  ExpectConsecutivePerStream(h.script);
  // Each new stream starts with the oldest unacknowledged batch: the
  // acknowledgements of 1-4 arrived before the first break, 5's was lost.
  EXPECT_EQ(h.script.received[1].front(), 5u);
  // Exactly one copy of each document: 60 distinct ids, each applied at
  // least once (resent ones more, harmlessly).
  EXPECT_EQ(h.script.applied.size(), 60u);
  for (const auto& [id, times] : h.script.applied) EXPECT_GE(times, 1) << id;
}

TEST(AckedWriterTest, ResendStartsAfterTheLastAcknowledgedBatch) {
  Harness h;
  h.script.break_before_apply = {10};
  DocumentWriter writer = h.MakeWriter(/*max_in_flight=*/2);
  for (int b = 0; b < 12; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.acked, Range(1, 12));
  ASSERT_EQ(h.script.streams, 2);
  // With a window of 2, batches 1..8 were acknowledged before batch 10 was
  // lost, so the second stream starts at 9 or 10, never earlier.
  EXPECT_GE(h.script.received[1].front(), 9u);
  EXPECT_LE(writer.stats().resends, 2);
  ExpectConsecutivePerStream(h.script);
}

TEST(AckedWriterTest, AbortedIsRetriedToo) {
  Harness h;
  h.script.break_status = absl::AbortedError("leader changed");
  h.script.break_before_apply = {2};
  DocumentWriter writer = h.MakeWriter();
  for (int b = 0; b < 3; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.acked, Range(1, 3));
}

TEST(AckedWriterTest, ServerEndingTheStreamWithBatchesUnansweredIsRetried) {
  Harness h;
  h.script.break_status = absl::OkStatus();
  h.script.break_before_apply = {3};
  DocumentWriter writer = h.MakeWriter();
  for (int b = 0; b < 5; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.acked, Range(1, 5));
  EXPECT_EQ(writer.stats().reconnects, 1);
}

TEST(AckedWriterTest, GivesUpAfterTheAttemptBudgetWithGrowingBackoff) {
  Harness h;
  for (int s = 1; s <= 100; ++s) h.script.dead_streams.insert(s);
  DocumentWriter writer = h.MakeWriter(8, /*max_attempts=*/4);
  absl::Status status = writer.Write(Batch(0));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_NE(status.message().find("gave up after 4 reconnect attempts"),
            absl::string_view::npos)
      << status;
  EXPECT_EQ(h.script.streams, 5);  // the first stream and 4 retries
  ASSERT_EQ(h.sleeps.size(), 4u);
  const absl::Duration base[] = {
      absl::Milliseconds(100), absl::Milliseconds(200), absl::Milliseconds(400),
      absl::Milliseconds(800)};
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(h.sleeps[i], base[i] * 0.8) << i;
    EXPECT_LE(h.sleeps[i], base[i] * 1.2) << i;
  }
  // The writer stays failed.
  EXPECT_EQ(writer.Write(Batch(1)).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(writer.Close().code(), absl::StatusCode::kUnavailable);
}

TEST(AckedWriterTest, AnAcknowledgementResetsTheReconnectBudget) {
  Harness h;
  // Breaks separated by progress: each is a first retry again.
  h.script.break_before_apply = {2, 4, 6, 8, 10};
  DocumentWriter writer = h.MakeWriter(/*max_in_flight=*/1, /*max_attempts=*/1);
  for (int b = 0; b < 6; ++b) ASSERT_TRUE(writer.Write(Batch(b)).ok()) << b;
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.acked, Range(1, 6));
  for (absl::Duration d : h.sleeps) EXPECT_LE(d, absl::Milliseconds(120));
}

TEST(AckedWriterTest, InvalidArgumentEndsTheWriterAndKeepsEarlierBatches) {
  Harness h;
  h.script.reject_sequence = 3;
  DocumentWriter writer = h.MakeWriter(/*max_in_flight=*/1);
  ASSERT_TRUE(writer.Write(Batch(0)).ok());
  ASSERT_TRUE(writer.Write(Batch(1)).ok());
  ASSERT_TRUE(writer.Write(Batch(2)).ok());  // sent; refused when read
  absl::Status status = writer.Write(Batch(3));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_EQ(status.message(), "batch 3: bad id");
  EXPECT_EQ(h.acked, Range(1, 2));
  EXPECT_EQ(writer.stats().reconnects, 0);
  EXPECT_EQ(writer.Close().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(h.script.streams, 1);
}

TEST(AckedWriterTest, AnAcknowledgementOutOfOrderIsAnInternalError) {
  Harness h;
  h.script.bad_ack_on = 2;
  DocumentWriter writer = h.MakeWriter();
  ASSERT_TRUE(writer.Write(Batch(0)).ok());
  ASSERT_TRUE(writer.Write(Batch(1)).ok());
  absl::Status status = writer.Flush();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_EQ(h.acked, Range(1, 1));
}

TEST(AckedWriterTest, WriteAfterCloseFails) {
  Harness h;
  DocumentWriter writer = h.MakeWriter();
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(h.script.streams, 0);  // nothing written, no stream opened
  EXPECT_EQ(writer.Write(Batch(0)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AckedWriterTest, ScoreWriterSharesTheResendLogic) {
  Script script;
  script.break_after_apply = {2};
  WriterOptions options;
  options.collection = "web";
  options.sleep = [](absl::Duration) {};
  ScoreWriter writer(
      [&] {
        return std::make_unique<
            FakeStream<v1::PutScoresRequest, v1::PutScoresResponse>>(&script);
      },
      options);
  for (int b = 0; b < 4; ++b) {
    v1::PutScoresRequest request;
    request.add_ids(absl::StrCat("doc-", b));
    v1::ScoreColumn* column = request.add_scores();
    column->set_name("quality");
    column->add_values(0.5f);
    ASSERT_TRUE(writer.Write(request).ok());
  }
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_EQ(writer.stats().batches_acked, 4);
  EXPECT_EQ(writer.stats().reconnects, 1);
  EXPECT_EQ(script.applied.size(), 4u);
  EXPECT_EQ(script.collections, std::set<std::string>{"web"});
}

TEST(AckedWriterTest, RetryableErrors) {
  EXPECT_TRUE(IsRetryableStreamError(absl::UnavailableError("")));
  EXPECT_TRUE(IsRetryableStreamError(absl::AbortedError("")));
  EXPECT_FALSE(IsRetryableStreamError(absl::InvalidArgumentError("")));
  EXPECT_FALSE(IsRetryableStreamError(absl::PermissionDeniedError("")));
  EXPECT_FALSE(IsRetryableStreamError(absl::ResourceExhaustedError("")));
  EXPECT_FALSE(IsRetryableStreamError(absl::DeadlineExceededError("")));
}

// A ReportTraining server in memory: applies each (stream_id, sequence)
// once, acknowledges resends as duplicates, and loses the connection after
// applying the message numbered `break_after` (its acknowledgement lost).
struct ReportScript {
  int break_after = 0;
  int received = 0;
  std::map<std::string, uint64_t> high_water;
  std::vector<std::pair<std::string, uint64_t>> applied;
};

class FakeReportStream final
    : public AckStream<v1::ReportTrainingRequest, v1::ReportTrainingResponse> {
 public:
  explicit FakeReportStream(ReportScript* s) : s_(s) {}
  bool Write(const v1::ReportTrainingRequest& r) override {
    if (broken_) return false;
    ++s_->received;
    v1::ReportTrainingResponse ack;
    ack.set_stream_id(r.stream_id());
    ack.set_sequence(r.sequence());
    uint64_t& mark = s_->high_water[r.stream_id()];
    if (r.sequence() <= mark) {
      ack.set_duplicate(true);
    } else {
      mark = r.sequence();
      s_->applied.emplace_back(r.stream_id(), r.sequence());
      ack.set_applied_count(r.losses_size());
    }
    if (s_->received == s_->break_after) {
      broken_ = true;
      return true;
    }
    acks_.push_back(ack);
    return true;
  }
  bool Read(v1::ReportTrainingResponse* r) override {
    if (acks_.empty()) return false;
    *r = acks_.front();
    acks_.erase(acks_.begin());
    return true;
  }
  absl::Status Finish() override {
    return broken_ ? absl::UnavailableError("reset") : absl::OkStatus();
  }

 private:
  ReportScript* s_;
  bool broken_ = false;
  std::vector<v1::ReportTrainingResponse> acks_;
};

TEST(TrainingReporterTest, ResendsAfterALostAckApplyOnce) {
  ReportScript script;
  script.break_after = 3;
  WriterOptions options;
  options.collection = "web";
  options.stream_id = "run-1/rank-0";
  options.first_sequence = 100;
  options.max_in_flight = 4;
  options.sleep = [](absl::Duration) {};
  TrainingReporter reporter(
      [&script]() { return std::make_unique<FakeReportStream>(&script); },
      options);
  int duplicates = 0;
  reporter.set_on_ack([&](const v1::ReportTrainingResponse& ack) {
    EXPECT_EQ(ack.stream_id(), "run-1/rank-0");
    duplicates += ack.duplicate();
  });
  for (int step = 0; step < 6; ++step) {
    v1::ReportTrainingRequest m;
    m.add_ids("doc-" + std::to_string(step));
    m.add_losses(1.5f);
    m.add_steps(step);
    ASSERT_TRUE(reporter.Write(std::move(m)).ok());
  }
  ASSERT_TRUE(reporter.Close().ok());
  // Six messages, numbered from 100, each applied once although the third
  // was sent twice (its first acknowledgement was lost).
  ASSERT_EQ(script.applied.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(script.applied[i].first, "run-1/rank-0");
    EXPECT_EQ(script.applied[i].second, 100 + i);
  }
  EXPECT_EQ(duplicates, 1);
  EXPECT_GE(reporter.stats().resends, 1);
  EXPECT_EQ(reporter.stats().batches_acked, 6);
  EXPECT_EQ(reporter.stats().documents_acked, 5);  // the duplicate applied 0
}

}  // namespace
}  // namespace winnow
