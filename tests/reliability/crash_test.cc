// Crash test (docs/operations.md, "Durability"): 20 cycles of SIGKILL at a
// random moment while three clients write at once: upserts and score puts on
// acknowledged streams, and deletes. After each restart:
//  - every acknowledged write is there;
//  - every unacknowledged one is all there or not there at all (each
//    message is one atomic batch), and a stream's batches land in order;
//  - the store reopened cleanly: winnowd started and its counts agree with
//    the model of every write ever made.
// The seed is printed; set WINNOW_CRASH_SEED to replay one run.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::ReadDocuments;
using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kCycles = 20;
constexpr int kUpsertDocs = 25;  // per upsert batch
constexpr int kScoreDocs = 10;   // per PutScores batch
constexpr int kDeleteDocs = 5;   // per delete call
constexpr char kCollection[] = "crash";

// What the test knows for certain about one document.
struct DocState {
  bool live = true;
  std::optional<float> p;  // the score "p", set by at most one PutScores
  int64_t length = 0;      // set by its upsert, checked on read
};

// One write whose fate is decided at the next restart.
struct Op {
  enum Kind { kUpsert, kScores, kDelete } kind;
  std::vector<std::string> ids;
  float value = 0;     // kScores: the "p" every document gets
  int64_t length = 0;  // kUpsert: every document's length
  bool acked = false;
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = testing::CrashSeed("crash test");
    rng_.seed(seed_);
  }

  // Decides every write of the last cycle from what the restarted server
  // holds, checking all-or-nothing, acknowledged => present, and stream
  // order; then folds them into the model.
  void Resolve(const Client& client, int cycle) {
    std::vector<std::string> ids;
    for (const Op& op : ops_)
      ids.insert(ids.end(), op.ids.begin(), op.ids.end());
    std::map<std::string, v1::Document> got =
        ReadDocuments(client, kCollection, ids);
    // Documents a delete was sent for: whether their upsert landed is
    // decided by its acknowledgement (only acknowledged documents are
    // deleted), not by their presence.
    std::set<std::string> delete_targets;
    for (const Op& op : ops_) {
      if (op.kind == Op::kDelete) {
        delete_targets.insert(op.ids.begin(), op.ids.end());
      }
    }
    bool upsert_gap = false;  // an earlier upsert batch did not land
    for (const Op& op : ops_) {
      size_t applied = 0;
      for (const std::string& id : op.ids) {
        auto it = got.find(id);
        switch (op.kind) {
          case Op::kUpsert:
            if (delete_targets.contains(id)) {
              ++applied;  // acknowledged, so landed; the delete is checked
            } else if (it != got.end()) {
              ++applied;
              EXPECT_EQ(it->second.length(), op.length) << id;
            }
            break;
          case Op::kScores:
            ASSERT_NE(it, got.end()) << "a rated document vanished: " << id;
            if (it->second.scores().count("p") > 0) {
              EXPECT_EQ(it->second.scores().at("p"), op.value) << id;
              ++applied;
            }
            break;
          case Op::kDelete:
            if (it == got.end()) ++applied;
            break;
        }
      }
      const char* kind = op.kind == Op::kUpsert   ? "upsert"
                         : op.kind == Op::kScores ? "put-scores"
                                                  : "delete";
      ASSERT_TRUE(applied == 0 || applied == op.ids.size())
          << "cycle " << cycle << ": a " << kind << " batch is half-applied ("
          << applied << " of " << op.ids.size() << "), first id "
          << op.ids.front();
      const bool landed = applied == op.ids.size();
      if (op.acked) {
        ASSERT_TRUE(landed) << "cycle " << cycle << ": an acknowledged " << kind
                            << " batch is missing, first id " << op.ids.front();
      }
      if (op.kind == Op::kUpsert) {
        if (landed) {
          ASSERT_FALSE(upsert_gap)
              << "cycle " << cycle << ": upsert batches landed out of order";
        } else {
          upsert_gap = true;
        }
      }
      if (!landed) continue;
      ++landed_;
      if (!op.acked) ++landed_unacked_;
      for (const std::string& id : op.ids) {
        switch (op.kind) {
          case Op::kUpsert:
            model_[id] = DocState{true, std::nullopt, op.length};
            break;
          case Op::kScores:
            model_[id].p = op.value;
            break;
          case Op::kDelete:
            model_[id].live = false;
            break;
        }
      }
    }
    ops_.clear();
  }

  // Checks the whole model through counts, and a sample of it by id.
  void CheckModel(const Client& client) {
    int64_t live = 0, rated = 0;
    std::vector<std::string> sample;
    std::uniform_int_distribution<int> pick(0, 9);
    for (const auto& [id, d] : model_) {
      live += d.live;
      rated += d.live && d.p.has_value();
      if (pick(rng_) == 0) sample.push_back(id);
    }
    auto count = [&](const std::string& filter) {
      v1::CountRequest req;
      req.set_collection(kCollection);
      req.set_filter(filter);
      absl::StatusOr<v1::CountResponse> r = client.Count(req);
      EXPECT_TRUE(r.ok()) << r.status();
      return r.ok() ? r->count() : -1;
    };
    EXPECT_EQ(count(""), live);
    // (Before any score "p" lands, the name is unknown to filters.)
    if (rated > 0) {
      EXPECT_EQ(count("not is_null(p)"), rated);
    }
    std::map<std::string, v1::Document> got =
        ReadDocuments(client, kCollection, sample);
    for (const std::string& id : sample) {
      const DocState& d = model_.at(id);
      auto it = got.find(id);
      ASSERT_EQ(it != got.end(), d.live) << id;
      if (!d.live) continue;
      EXPECT_EQ(it->second.length(), d.length) << id;
      EXPECT_EQ(it->second.scores().count("p") > 0, d.p.has_value()) << id;
      if (d.p) {
        EXPECT_EQ(it->second.scores().at("p"), *d.p) << id;
      }
    }
  }

  // Writes until the server dies: upserts, score puts and deletes, each on
  // its own thread. Records every write in ops_.
  void WriteUntilKilled(const Client& client, WinnowdProcess& server, int cycle,
                        int kill_after_ms) {
    std::mutex mu;
    std::vector<std::string> pool;  // acknowledged, untouched documents
    std::atomic<bool> dead{false};
    WriterOptions wopts;
    wopts.max_reconnect_attempts = 0;  // the server is gone; stop
    wopts.collection = kCollection;

    auto add_op = [&](Op op) {
      std::lock_guard lock(mu);
      ops_.push_back(std::move(op));
      return ops_.size() - 1;
    };
    auto take = [&](size_t n) {
      std::lock_guard lock(mu);
      std::vector<std::string> out;
      if (pool.size() < n) return out;
      // From a random spot, so deletes and scores spread over batches.
      size_t at = rng_() % (pool.size() - n + 1);
      out.assign(pool.begin() + at, pool.begin() + at + n);
      pool.erase(pool.begin() + at, pool.begin() + at + n);
      return out;
    };

    std::thread upserter([&] {
      DocumentWriter w = client.UpsertDocuments(kCollection, wopts);
      std::vector<size_t> op_of_seq = {0};  // sequence -> index in ops_
      w.set_on_ack([&](const v1::UpsertDocumentsResponse& r) {
        std::lock_guard lock(mu);
        Op& op = ops_[op_of_seq.at(r.sequence())];
        op.acked = true;
        pool.insert(pool.end(), op.ids.begin(), op.ids.end());
      });
      for (int b = 0; !dead.load(); ++b) {
        Op op{Op::kUpsert, {}, 0, 1000 * cycle + b};
        v1::UpsertDocumentsRequest req;
        v1::DocumentColumns* cols = req.mutable_columns();
        for (int i = 0; i < kUpsertDocs; ++i) {
          std::string id = "c" + std::to_string(cycle) + "-u" +
                           std::to_string(b) + "-" + std::to_string(i);
          cols->add_ids(id);
          cols->add_domains("web");
          cols->add_lengths(op.length);
          cols->add_payloads("payload " + id);
          op.ids.push_back(std::move(id));
        }
        op_of_seq.push_back(add_op(std::move(op)));
        if (!w.Write(std::move(req)).ok()) return;
      }
    });
    std::thread scorer([&] {
      ScoreWriter w = client.PutScores(kCollection, wopts);
      std::vector<size_t> op_of_seq = {0};
      w.set_on_ack([&](const v1::PutScoresResponse& r) {
        std::lock_guard lock(mu);
        ops_[op_of_seq.at(r.sequence())].acked = true;
      });
      for (int b = 0; !dead.load(); ++b) {
        std::vector<std::string> ids = take(kScoreDocs);
        if (ids.empty()) {
          // Nothing to score yet; keep the stream's acks flowing.
          if (!w.Flush().ok()) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        Op op{Op::kScores, ids, static_cast<float>(cycle * 10000 + b), 0};
        v1::PutScoresRequest req;
        v1::ScoreColumn* p = req.add_scores();
        p->set_name("p");
        for (const std::string& id : ids) {
          req.add_ids(id);
          p->add_values(op.value);
        }
        op_of_seq.push_back(add_op(std::move(op)));
        if (!w.Write(std::move(req)).ok()) return;
      }
    });
    std::thread deleter([&] {
      while (!dead.load()) {
        std::vector<std::string> ids = take(kDeleteDocs);
        if (ids.empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        v1::DeleteDocumentsRequest req;
        req.set_collection(kCollection);
        for (const std::string& id : ids) req.add_ids(id);
        size_t index = add_op(Op{Op::kDelete, ids, 0, 0});
        absl::StatusOr<v1::DeleteDocumentsResponse> r =
            client.DeleteDocuments(req);
        if (!r.ok()) return;
        std::lock_guard lock(mu);
        ops_[index].acked = true;
      }
    });

    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    server.Signal(SIGKILL);
    EXPECT_EQ(server.Wait(), 128 + SIGKILL);
    dead = true;
    upserter.join();
    scorer.join();
    deleter.join();
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::map<std::string, DocState> model_;
  std::vector<Op> ops_;
  int64_t landed_ = 0;
  int64_t landed_unacked_ = 0;
};

TEST_F(CrashTest, SigkillDuringMixedWritesLosesNothingAcknowledged) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  int64_t acked_total = 0, sent_total = 0;
  for (int cycle = 0; cycle <= kCycles; ++cycle) {
    std::unique_ptr<WinnowdProcess> server = WinnowdProcess::Start(data);
    ASSERT_NE(server, nullptr)
        << "cycle " << cycle << ": winnowd did not restart";
    ClientOptions copts;
    copts.default_timeout = absl::Seconds(10);
    absl::StatusOr<Client> client = Client::Connect(server->target(), copts);
    ASSERT_TRUE(client.ok());
    if (cycle == 0) {
      v1::CreateCollectionRequest req;
      req.mutable_collection()->set_name(kCollection);
      ASSERT_TRUE(client->CreateCollection(req).ok());
    } else {
      Resolve(*client, cycle);
      CheckModel(*client);
      if (HasFatalFailure()) return;
    }
    if (cycle == kCycles) {
      // The last restart only checks; then a clean shutdown.
      server->Signal(SIGTERM);
      EXPECT_EQ(server->Wait(), 0) << server->Log();
      break;
    }
    std::uniform_int_distribution<int> when(30, 700);
    WriteUntilKilled(*client, *server, cycle, when(rng_));
    for (const Op& op : ops_) {
      ++sent_total;
      acked_total += op.acked;
    }
  }
  std::printf(
      "crash test: %d kills, %lld writes sent, %lld acknowledged, %lld "
      "unacknowledged that landed whole, %zu documents in the model\n",
      kCycles, static_cast<long long>(sent_total),
      static_cast<long long>(acked_total),
      static_cast<long long>(landed_unacked_), model_.size());
  // The test means something only if kills hit writes in flight.
  EXPECT_GT(acked_total, kCycles * 5);
  EXPECT_GT(sent_total, acked_total);
}

}  // namespace
}  // namespace winnow
