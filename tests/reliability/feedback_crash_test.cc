// Training feedback under SIGKILL (docs/feedback.md): a TrainingReporter
// streams losses while winnowd is killed at a random moment, 8 times, with
// a statistics checkpoint every 15 messages so that kills land on both
// sides of checkpoints. After each restart:
//  - the messages that landed are a prefix of those sent that includes
//    every acknowledged one (none lost, none half-applied);
//  - resending the unacknowledged ones with their (stream_id, sequence)
//    applies exactly those that had not landed (none applied twice);
//  - every document's loss_count, loss_last and loss_ema equal a reference
//    recomputed from the whole log of applied reports.
// The seed is printed; set WINNOW_CRASH_SEED to replay one run.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/feedback_reference.h"
#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kCycles = 8;
constexpr int kDocs = 200;
constexpr int kPerMessage = 20;
constexpr double kHalfLife = 50;
constexpr char kCollection[] = "fb";
constexpr char kStream[] = "run-1/rank-0";

std::string Id(int i) { return "doc-" + std::to_string(i); }

struct Sent {
  v1::ReportTrainingRequest message;
  bool acked = false;
};

class FeedbackCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = testing::CrashSeed("feedback crash test");
    rng_.seed(seed_);
  }

  v1::ReportTrainingRequest NextMessage() {
    v1::ReportTrainingRequest m;
    const uint64_t seq = next_sequence_++;
    m.set_stream_id(kStream);
    m.set_sequence(seq);
    m.set_collection(kCollection);
    // 20 distinct documents (13 is prime to 200); steps out of order.
    for (int i = 0; i < kPerMessage; ++i) {
      m.add_ids(Id(static_cast<int>((seq * 7 + i * 13) % kDocs)));
      m.add_losses(std::uniform_real_distribution<float>(0, 8)(rng_));
      m.add_steps(static_cast<int64_t>(seq) +
                  static_cast<int64_t>(rng_() % 40));
    }
    return m;
  }

  void Apply(const v1::ReportTrainingRequest& m) {
    for (int i = 0; i < m.ids_size(); ++i) {
      log_[m.ids(i)].push_back({m.steps(i), m.losses(i)});
    }
    applied_ += m.ids_size();
  }

  // loss_count of every document, summed, as the server has it.
  std::map<std::string, std::map<std::string, float>> Read(
      const Client& client) {
    v1::GetScoresRequest req;
    req.set_collection(kCollection);
    for (int i = 0; i < kDocs; ++i) req.add_ids(Id(i));
    req.add_score_names("loss_count");
    req.add_score_names("loss_last");
    req.add_score_names("loss_ema");
    absl::StatusOr<v1::GetScoresResponse> r = client.GetScores(req);
    EXPECT_TRUE(r.ok()) << r.status();
    std::map<std::string, std::map<std::string, float>> out;
    if (!r.ok()) return out;
    for (const v1::ScoreColumn& c : r->scores()) {
      std::vector<bool> null(r->ids_size(), false);
      for (uint32_t k : c.null_indexes()) null[k] = true;
      for (int i = 0; i < r->ids_size(); ++i) {
        if (!null[i]) out[r->ids(i)][c.name()] = c.values(i);
      }
    }
    return out;
  }

  static int64_t Total(
      const std::map<std::string, std::map<std::string, float>>& scores) {
    int64_t total = 0;
    for (const auto& [id, s] : scores) {
      auto it = s.find("loss_count");
      if (it != s.end()) total += static_cast<int64_t>(it->second);
    }
    return total;
  }

  void CheckAgainstReference(const Client& client, int cycle) {
    auto scores = Read(client);
    for (int i = 0; i < kDocs; ++i) {
      const std::string id = Id(i);
      auto it = log_.find(id);
      if (it == log_.end()) {
        EXPECT_FALSE(scores.contains(id)) << id;
        continue;
      }
      const winnow::testing::ReferenceStats want =
          winnow::testing::Reference(it->second, kHalfLife);
      const auto& got = scores[id];
      ASSERT_TRUE(got.contains("loss_count")) << id << " cycle " << cycle;
      EXPECT_EQ(got.at("loss_count"), static_cast<float>(want.count))
          << id << " cycle " << cycle;
      EXPECT_EQ(got.at("loss_last"), want.last) << id << " cycle " << cycle;
      EXPECT_NEAR(got.at("loss_ema"), want.ema, 1e-6 * want.ema + 1e-6)
          << id << " cycle " << cycle;
    }
  }

  // Reports until the server dies; fills sent_.
  void ReportUntilKilled(const Client& client, WinnowdProcess& server,
                         int kill_after_ms) {
    std::mutex mu;
    std::atomic<bool> dead{false};
    std::thread reporter([&] {
      WriterOptions o;
      o.stream_id = kStream;
      o.first_sequence = next_sequence_;
      o.max_reconnect_attempts = 0;  // the server is gone; stop
      TrainingReporter w = client.ReportTraining(kCollection, o);
      const uint64_t first = next_sequence_;
      w.set_on_ack([&](const v1::ReportTrainingResponse& r) {
        std::lock_guard lock(mu);
        Sent& s = sent_.at(r.sequence() - first);
        EXPECT_FALSE(r.duplicate());
        s.acked = true;
      });
      while (!dead.load()) {
        v1::ReportTrainingRequest m;
        {
          std::lock_guard lock(mu);
          m = NextMessage();
          sent_.push_back({m, false});
        }
        if (!w.Write(std::move(m)).ok()) break;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    server.Signal(SIGKILL);
    EXPECT_EQ(server.Wait(), 128 + SIGKILL);
    dead = true;
    reporter.join();
  }

  // After a restart: which of sent_ landed, then the resends.
  void Resolve(const Client& client, int cycle) {
    const int64_t total = Total(Read(client));
    const int64_t landed_reports = total - applied_;
    ASSERT_EQ(landed_reports % kPerMessage, 0)
        << "cycle " << cycle << ": a message is half-applied";
    const size_t landed = static_cast<size_t>(landed_reports / kPerMessage);
    size_t acked = 0;
    while (acked < sent_.size() && sent_[acked].acked) ++acked;
    for (size_t i = acked; i < sent_.size(); ++i) {
      ASSERT_FALSE(sent_[i].acked) << "acks out of order";
    }
    ASSERT_GE(landed, acked)
        << "cycle " << cycle << ": an acknowledged message was lost";
    ASSERT_LE(landed, sent_.size())
        << "cycle " << cycle << ": a message was applied twice";
    for (size_t i = 0; i < landed; ++i) Apply(sent_[i].message);
    acked_total_ += acked;
    landed_unacked_ += landed - acked;
    // Resend the unacknowledged: the landed ones are duplicates.
    if (acked < sent_.size()) {
      WriterOptions o;
      o.stream_id = kStream;
      o.first_sequence = sent_[acked].message.sequence();
      TrainingReporter w = client.ReportTraining(kCollection, o);
      std::vector<bool> duplicate;
      w.set_on_ack([&](const v1::ReportTrainingResponse& r) {
        duplicate.push_back(r.duplicate());
      });
      for (size_t i = acked; i < sent_.size(); ++i) {
        ASSERT_TRUE(w.Write(sent_[i].message).ok());
      }
      ASSERT_TRUE(w.Close().ok());
      ASSERT_EQ(duplicate.size(), sent_.size() - acked);
      for (size_t i = acked; i < sent_.size(); ++i) {
        EXPECT_EQ(duplicate[i - acked], i < landed)
            << "cycle " << cycle << ": resend of sequence "
            << sent_[i].message.sequence();
        if (i >= landed) Apply(sent_[i].message);
      }
      resent_ += sent_.size() - acked;
    }
    sent_.clear();
    CheckAgainstReference(client, cycle);
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  uint64_t next_sequence_ = 1;
  std::vector<Sent> sent_;
  std::map<std::string, std::vector<std::pair<int64_t, float>>> log_;
  int64_t applied_ = 0;
  size_t acked_total_ = 0, landed_unacked_ = 0, resent_ = 0;
};

TEST_F(FeedbackCrashTest, SigkillWhileReportingLosesNoneAndAppliesNoneTwice) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--feedback-checkpoint-reports",
                                         "300"};
  for (int cycle = 0; cycle <= kCycles; ++cycle) {
    std::unique_ptr<WinnowdProcess> server =
        WinnowdProcess::Start(data, 0, args);
    ASSERT_NE(server, nullptr) << "cycle " << cycle;
    ClientOptions copts;
    copts.default_timeout = absl::Seconds(10);
    absl::StatusOr<Client> client = Client::Connect(server->target(), copts);
    ASSERT_TRUE(client.ok());
    if (cycle == 0) {
      v1::CreateCollectionRequest req;
      req.mutable_collection()->set_name(kCollection);
      req.mutable_collection()->set_loss_ema_half_life_steps(kHalfLife);
      ASSERT_TRUE(client->CreateCollection(req).ok());
      DocumentWriter docs = client->UpsertDocuments(kCollection);
      v1::UpsertDocumentsRequest batch;
      for (int i = 0; i < kDocs; ++i) {
        batch.mutable_columns()->add_ids(Id(i));
        batch.mutable_columns()->add_lengths(1);
      }
      ASSERT_TRUE(docs.Write(std::move(batch)).ok());
      ASSERT_TRUE(docs.Close().ok());
    } else {
      Resolve(*client, cycle);
      if (HasFatalFailure()) return;
    }
    if (cycle == kCycles) {
      server->Signal(SIGTERM);
      EXPECT_EQ(server->Wait(), 0) << server->Log();
      break;
    }
    std::uniform_int_distribution<int> when(50, 600);
    ReportUntilKilled(*client, *server, when(rng_));
  }
  std::printf(
      "feedback crash test: %d kills, %zu messages acknowledged, %zu landed "
      "unacknowledged, %zu resent, %lld reports applied\n",
      kCycles, acked_total_, landed_unacked_, resent_,
      static_cast<long long>(applied_));
  // Meaningful only if the kills hit reports in flight, past checkpoints.
  EXPECT_GT(acked_total_, static_cast<size_t>(kCycles) * 5);
  EXPECT_GT(applied_, 300 * 3);
}

}  // namespace
}  // namespace winnow
