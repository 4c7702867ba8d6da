// Whole-process power loss (docs/operations.md, "Durability"): winnowd runs
// with its data directory (and its backups beside it) on a FUSE mount that
// can lose power (powerloss_fs.cc). Writers stream UpsertDocuments and
// PutScores batches and record every acknowledgement; a Sample cursor and a
// backup are taken along the way. Then, in cycles, the power goes off (the
// layer drops everything not durable), winnowd gets SIGKILL, and a new
// winnowd starts on the same directory. After each restart:
//  - every acknowledged batch is there, and every other one is wholly there
//    or wholly absent (lost 0, partial 0);
//  - a cursor issued before the cut resumes exactly after its batch;
//  - a backup acknowledged before the cut is listed and still restores,
//    with every batch acknowledged before it was taken.
// With --sync-writes=false, an acknowledged batch may be lost, but only
// as a suffix of each stream (everything after some point of it), and
// never a partial batch.
//
// Exits 77 (ctest: skipped) with "SKIPPED: ..." where FUSE cannot be used.
// The seed is printed; WINNOW_POWERLOSS_SEED replays it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

#ifndef POWERLOSS_FS_PATH
#error "POWERLOSS_FS_PATH must name the powerloss_fs binary"
#endif

namespace winnow {
namespace {

using testing::ReadDocuments;
using testing::TempDir;
using testing::WinnowdProcess;

constexpr char kCollection[] = "pl";
constexpr int kUpsertDocs = 20;
constexpr int kScoreDocs = 10;

// The FUSE daemon, driven through its stdin and stdout.
class PowerLossFs {
 public:
  // Mounts `backing` at `mountpoint`. nullptr on failure; `*unavailable`
  // then says why if FUSE cannot be used here at all.
  static std::unique_ptr<PowerLossFs> Start(const std::string& backing,
                                            const std::string& mountpoint,
                                            std::string* unavailable) {
    int to_child[2], from_child[2];
    if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return nullptr;
    pid_t pid = ::fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::close(to_child[1]);
      ::close(from_child[0]);
      execl(POWERLOSS_FS_PATH, POWERLOSS_FS_PATH, backing.c_str(),
            mountpoint.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    std::unique_ptr<PowerLossFs> fs(new PowerLossFs());
    fs->pid_ = pid;
    fs->in_ = ::fdopen(to_child[1], "w");
    fs->out_ = ::fdopen(from_child[0], "r");
    std::string line = fs->ReadLine();
    if (line == "mounted") return fs;
    int status = 0;
    ::waitpid(pid, &status, 0);
    fs->pid_ = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
      *unavailable = line;
    } else {
      std::fprintf(stderr, "powerloss_fs did not mount: '%s'\n", line.c_str());
    }
    return nullptr;
  }

  ~PowerLossFs() {
    if (pid_ > 0) {
      Command("quit");
      int status;
      for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
      }
    }
    if (in_ != nullptr) std::fclose(in_);
    if (out_ != nullptr) std::fclose(out_);
  }

  // Sends one command; returns its answer line.
  std::string Command(const std::string& cmd) {
    std::fprintf(in_, "%s\n", cmd.c_str());
    std::fflush(in_);
    if (cmd == "quit") return "";
    return ReadLine();
  }

 private:
  PowerLossFs() = default;
  std::string ReadLine() {
    char buf[4096];
    if (std::fgets(buf, sizeof buf, out_) == nullptr) return "(eof)";
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s;
  }

  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

// One batch sent on a stream.
struct Op {
  enum Kind { kUpsert, kScores } kind;
  std::vector<std::string> ids;
  float value = 0;
  bool acked = false;
};

struct Served {
  int64_t epoch;
  int64_t index;
  std::vector<std::string> ids;
  std::string cursor;
};

std::vector<Served> ReadSample(const Client& client,
                               const v1::SampleRequest& req,
                               absl::Status* status) {
  SampleReader reader = client.Sample(req);
  std::vector<Served> out;
  v1::SampleResponse resp;
  while (reader.Next(&resp)) {
    out.push_back({resp.batch().epoch(),
                   resp.batch().global_batch_index(),
                   {resp.batch().ids().begin(), resp.batch().ids().end()},
                   resp.cursor()});
  }
  *status = reader.Finish();
  return out;
}

class PowerLossProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* env = std::getenv("WINNOW_POWERLOSS_SEED");
    seed_ = env != nullptr ? std::strtoull(env, nullptr, 10)
                           : static_cast<uint64_t>(std::random_device()());
    std::printf("power loss process test seed: %llu\n",
                static_cast<unsigned long long>(seed_));
    rng_.seed(seed_);
    backing_ = dir_.path() + "/backing";
    mount_ = dir_.path() + "/mnt";
    std::filesystem::create_directories(backing_);
    std::filesystem::create_directories(mount_);
    std::string unavailable;
    fs_ = PowerLossFs::Start(backing_, mount_, &unavailable);
    ASSERT_NE(fs_, nullptr) << unavailable;
    data_ = mount_ + "/data";
  }

  // Decides every batch of the last cycle from what the restarted server
  // holds. With sync_writes, every acknowledged batch must be there; without,
  // what is lost must be a suffix of each stream. Never a partial batch.
  void Resolve(const Client& client, int cycle, bool sync_writes) {
    std::vector<std::string> ids;
    for (const Op& op : ops_)
      ids.insert(ids.end(), op.ids.begin(), op.ids.end());
    std::map<std::string, v1::Document> got =
        ReadDocuments(client, kCollection, ids);
    bool gap[2] = {false, false};  // a batch of that stream did not land
    for (const Op& op : ops_) {
      size_t applied = 0;
      for (const std::string& id : op.ids) {
        auto it = got.find(id);
        if (op.kind == Op::kUpsert) {
          if (it != got.end()) ++applied;
        } else {
          if (it == got.end()) continue;  // its upsert was lost (no sync)
          auto p = it->second.scores().find("p");
          if (p != it->second.scores().end() && p->second == op.value) {
            ++applied;
          }
        }
      }
      const char* kind = op.kind == Op::kUpsert ? "upsert" : "put-scores";
      ASSERT_TRUE(applied == 0 || applied == op.ids.size())
          << "cycle " << cycle << ": a " << kind << " batch is partial ("
          << applied << " of " << op.ids.size() << "), first id "
          << op.ids.front();
      const bool landed = applied == op.ids.size();
      ++sent_;
      acked_ += op.acked;
      if (landed && !op.acked) ++landed_unacked_;
      if (op.acked && !landed) ++lost_;
      if (sync_writes) {
        ASSERT_TRUE(landed || !op.acked)
            << "cycle " << cycle << ": an acknowledged " << kind
            << " batch was lost, first id " << op.ids.front();
      }
      // Batches of one stream land in order: nothing after a gap.
      bool& g = gap[op.kind];
      ASSERT_FALSE(landed && g)
          << "cycle " << cycle << ": " << kind << " batches landed out of "
          << "order: a later one is there, an earlier one is not";
      if (!landed) g = true;
      if (!landed) continue;
      for (const std::string& id : op.ids) {
        if (op.kind == Op::kUpsert) {
          model_[id] = std::nullopt;
        } else if (model_.contains(id)) {
          model_[id] = op.value;
        }
      }
    }
    ops_.clear();
  }

  void CheckModel(const Client& client) {
    v1::CountRequest req;
    req.set_collection(kCollection);
    absl::StatusOr<v1::CountResponse> r = client.Count(req);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->count(), static_cast<int64_t>(model_.size()));
    std::vector<std::string> ids;
    for (const auto& [id, p] : model_) ids.push_back(id);
    std::map<std::string, v1::Document> got =
        ReadDocuments(client, kCollection, ids);
    for (const auto& [id, p] : model_) {
      auto it = got.find(id);
      ASSERT_NE(it, got.end()) << id << " vanished";
      auto s = it->second.scores().find("p");
      if (p.has_value()) {
        ASSERT_NE(s, it->second.scores().end()) << id;
        EXPECT_EQ(s->second, *p) << id;
      }
    }
  }

  // Streams upserts and score puts until the power goes off at a random
  // moment; then SIGKILLs winnowd and power-cycles the disk. Takes a backup
  // and a Sample cursor along the way when asked.
  void WriteUntilPowerCut(const Client& client, WinnowdProcess& server,
                          int cycle, bool backup) {
    std::mutex mu;
    std::vector<std::string> pool;  // acknowledged upserted ids
    std::atomic<bool> dead{false};
    WriterOptions wopts;
    wopts.max_reconnect_attempts = 0;
    wopts.collection = kCollection;
    auto add_op = [&](Op op) {
      std::lock_guard lock(mu);
      ops_.push_back(std::move(op));
      return ops_.size() - 1;
    };
    std::thread upserter([&] {
      DocumentWriter w = client.UpsertDocuments(kCollection, wopts);
      std::vector<size_t> op_of_seq = {0};
      w.set_on_ack([&](const v1::UpsertDocumentsResponse& r) {
        std::lock_guard lock(mu);
        Op& op = ops_[op_of_seq.at(r.sequence())];
        op.acked = true;
        pool.insert(pool.end(), op.ids.begin(), op.ids.end());
      });
      for (int b = 0; !dead.load(); ++b) {
        Op op{Op::kUpsert, {}, 0};
        v1::UpsertDocumentsRequest req;
        v1::DocumentColumns* cols = req.mutable_columns();
        for (int i = 0; i < kUpsertDocs; ++i) {
          std::string id = "c" + std::to_string(cycle) + "-u" +
                           std::to_string(b) + "-" + std::to_string(i);
          cols->add_ids(id);
          cols->add_domains(i % 2 ? "web" : "code");
          cols->add_lengths(100 + i);
          cols->add_payloads("payload of " + id);
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
      std::mt19937_64 rng(seed_ + cycle);
      for (int b = 0; !dead.load(); ++b) {
        std::vector<std::string> ids;
        {
          std::lock_guard lock(mu);
          if (pool.size() >= kScoreDocs) {
            size_t at = rng() % (pool.size() - kScoreDocs + 1);
            ids.assign(pool.begin() + at, pool.begin() + at + kScoreDocs);
            pool.erase(pool.begin() + at, pool.begin() + at + kScoreDocs);
          }
        }
        if (ids.empty()) {
          if (!w.Flush().ok()) return;
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        Op op{Op::kScores, ids, static_cast<float>(cycle * 100000 + b)};
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

    std::uniform_int_distribution<int> when(100, 600);
    std::this_thread::sleep_for(std::chrono::milliseconds(when(rng_)));
    if (backup) {
      // Every batch acknowledged before the call must be in the backup.
      std::set<std::string> before;
      {
        std::lock_guard lock(mu);
        for (const Op& op : ops_) {
          if (op.kind == Op::kUpsert && op.acked) {
            before.insert(op.ids.begin(), op.ids.end());
          }
        }
      }
      absl::StatusOr<v1::BackupResponse> b = client.Backup({});
      if (b.ok() && b->operation().has_backup()) {
        // A backup flushes the memtables: everything acknowledged before
        // it is durable in the live database too, with or without
        // sync_writes.
        synced_docs_ = before;
        backup_path_ = b->operation().backup().path();
        backup_id_ = b->operation().backup().backup_id();
        backup_docs_ = before;
        for (const auto& [id, p] : model_) backup_docs_.insert(id);
      } else {
        ADD_FAILURE() << "backup failed with the power on: "
                      << (b.ok() ? b->operation().ShortDebugString()
                                 : b.status().ToString());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(when(rng_) / 4));
    }
    EXPECT_EQ(fs_->Command("cut"), "ok");
    server.Signal(SIGKILL);
    server.Wait();
    dead = true;
    upserter.join();
    scorer.join();
    const std::string cycled = fs_->Command("cycle");
    ASSERT_TRUE(cycled.starts_with("ok")) << cycled;
    last_cycle_ = cycled;
  }

  // The backup taken before the last cut is listed and restores, with
  // every batch acknowledged before it.
  void CheckBackup(const Client& client) {
    if (backup_path_.empty()) return;
    absl::StatusOr<v1::ListBackupsResponse> list = client.ListBackups({});
    ASSERT_TRUE(list.ok()) << list.status();
    bool listed = false;
    for (const v1::Backup& b : list->backups()) {
      listed |= b.backup_id() == backup_id_;
    }
    EXPECT_TRUE(listed) << "backup " << backup_id_ << " is gone after the cut";
    const std::string restored_dir =
        dir_.path() + "/restored-" + std::to_string(restores_++);
    auto restored = WinnowdProcess::Start(restored_dir, 0,
                                          {"--restore-from", backup_path_});
    ASSERT_NE(restored, nullptr) << "the backup does not restore";
    absl::StatusOr<Client> rclient = Client::Connect(restored->target());
    ASSERT_TRUE(rclient.ok());
    std::vector<std::string> ids(backup_docs_.begin(), backup_docs_.end());
    std::map<std::string, v1::Document> got =
        ReadDocuments(*rclient, kCollection, ids);
    for (const std::string& id : ids) {
      ASSERT_TRUE(got.contains(id))
          << id << ", acknowledged before the backup, is not in it";
    }
    restored->Signal(SIGTERM);
    EXPECT_EQ(restored->Wait(), 0) << restored->Log();
    backup_path_.clear();
  }

  // A cursor issued before the cut: the reference run's batches, and the
  // cursor after its third.
  void TakeCursor(const Client& client, int cycle) {
    v1::SampleRequest req;
    req.set_collection(kCollection);
    req.set_seed(seed_);
    req.set_run_id("run-" + std::to_string(cycle));
    req.set_num_epochs(1);
    req.set_batch_size(16);
    req.set_rank(0);
    req.set_world_size(1);
    absl::Status status;
    std::vector<Served> all = ReadSample(client, req, &status);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_GT(all.size(), 4u);
    reference_.clear();
    for (const Served& s : all) reference_[{s.epoch, s.index}] = s.ids;
    req.set_max_batches(3);
    std::vector<Served> three = ReadSample(client, req, &status);
    ASSERT_TRUE(status.ok()) << status;
    ASSERT_EQ(three.size(), 3u);
    cursor_ = three[2].cursor;
    before_cursor_ = {{three[0].epoch, three[0].index},
                      {three[1].epoch, three[1].index},
                      {three[2].epoch, three[2].index}};
  }

  // ... resumes exactly after its batch after the cut.
  void CheckCursor(const Client& client) {
    if (cursor_.empty()) return;
    v1::SampleRequest resume;
    resume.set_cursor(cursor_);
    resume.set_rank(0);
    resume.set_world_size(1);
    absl::Status status;
    std::vector<Served> got = ReadSample(client, resume, &status);
    ASSERT_TRUE(status.ok())
        << "resuming a cursor from before the cut: " << status;
    std::set<std::pair<int64_t, int64_t>> seen;
    for (const Served& s : got) {
      ASSERT_TRUE(seen.insert({s.epoch, s.index}).second);
      EXPECT_FALSE(before_cursor_.contains({s.epoch, s.index}));
      EXPECT_EQ(s.ids, (reference_[{s.epoch, s.index}]))
          << "epoch " << s.epoch << " batch " << s.index;
    }
    // Everything after the cursor but at most a dropped last batch.
    EXPECT_GE(seen.size() + 1, reference_.size() - before_cursor_.size());
    ++cursors_resumed_;
    cursor_.clear();
  }

  void Run(int cycles, bool sync_writes) {
    std::vector<std::string> args;
    if (!sync_writes) args = {"--sync-writes=false"};
    for (int cycle = 0; cycle <= cycles; ++cycle) {
      SCOPED_TRACE("cycle " + std::to_string(cycle));
      std::unique_ptr<WinnowdProcess> server =
          WinnowdProcess::Start(data_, 0, args);
      ASSERT_NE(server, nullptr)
          << "winnowd did not restart after the power cut: " << last_cycle_;
      ClientOptions copts;
      copts.default_timeout = absl::Seconds(20);
      absl::StatusOr<Client> client = Client::Connect(server->target(), copts);
      ASSERT_TRUE(client.ok());
      if (cycle == 0) {
        v1::CreateCollectionRequest req;
        req.mutable_collection()->set_name(kCollection);
        ASSERT_TRUE(client->CreateCollection(req).ok());
        if (!sync_writes) {
          // Without WAL syncs the collection is durable only once flushed.
          absl::StatusOr<v1::BackupResponse> b = client->Backup({});
          ASSERT_TRUE(b.ok()) << b.status();
        }
      } else {
        Resolve(*client, cycle, sync_writes);
        if (HasFatalFailure()) return;
        CheckModel(*client);
        for (const std::string& id : synced_docs_) {
          ASSERT_TRUE(model_.contains(id))
              << id << ", acknowledged before a backup (a flush), was lost";
        }
        synced_docs_.clear();
        if (sync_writes) {
          CheckCursor(*client);
          CheckBackup(*client);
        }
        if (HasFatalFailure()) return;
      }
      if (cycle == cycles) {
        server->Signal(SIGTERM);
        EXPECT_EQ(server->Wait(), 0) << server->Log();
        break;
      }
      if (sync_writes && !model_.empty() && cycle % 2 == 1) {
        TakeCursor(*client, cycle);
        if (HasFatalFailure()) return;
      }
      WriteUntilPowerCut(*client, *server, cycle,
                         /*backup=*/!sync_writes || cycle % 2 == 0);
      if (HasFatalFailure()) return;
    }
    std::printf(
        "power loss (whole process, sync_writes=%s): %d power cuts, %lld "
        "batches sent, %lld acknowledged, lost %lld, partial 0, %lld "
        "unacknowledged landed whole; %d cursors resumed, %d backups "
        "restored; last cycle: %s\n",
        sync_writes ? "true" : "false", cycles, static_cast<long long>(sent_),
        static_cast<long long>(acked_), static_cast<long long>(lost_),
        static_cast<long long>(landed_unacked_), cursors_resumed_, restores_,
        last_cycle_.c_str());
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  TempDir dir_;
  std::string backing_, mount_, data_;
  std::unique_ptr<PowerLossFs> fs_;
  std::vector<Op> ops_;
  std::map<std::string, std::optional<float>> model_;  // id -> score p
  int64_t sent_ = 0, acked_ = 0, lost_ = 0, landed_unacked_ = 0;
  std::string last_cycle_;
  std::string backup_path_, backup_id_;
  std::set<std::string> backup_docs_;
  std::set<std::string> synced_docs_;
  int restores_ = 0;
  std::map<std::pair<int64_t, int64_t>, std::vector<std::string>> reference_;
  std::set<std::pair<int64_t, int64_t>> before_cursor_;
  std::string cursor_;
  int cursors_resumed_ = 0;
};

int Cycles() {
  const char* v = std::getenv("WINNOW_POWERLOSS_PROCESS_CYCLES");
  return v != nullptr && *v != '\0' ? std::atoi(v) : 10;
}

TEST_F(PowerLossProcessTest, AcknowledgedWritesSurvivePowerCuts) {
  Run(Cycles(), /*sync_writes=*/true);
  EXPECT_EQ(lost_, 0);
  EXPECT_GT(acked_, Cycles() * 5);
}

TEST_F(PowerLossProcessTest, WithoutSyncWritesOnlyASuffixIsLost) {
  Run(Cycles() / 2, /*sync_writes=*/false);
  EXPECT_GT(acked_, 0);
}

}  // namespace
}  // namespace winnow

int main(int argc, char** argv) {
  // Skip (exit 77) only where FUSE itself cannot be used: probe a mount.
  {
    winnow::testing::TempDir probe;
    const std::string backing = probe.path() + "/b", mnt = probe.path() + "/m";
    std::filesystem::create_directories(backing);
    std::filesystem::create_directories(mnt);
    std::string unavailable;
    auto fs = winnow::PowerLossFs::Start(backing, mnt, &unavailable);
    if (fs == nullptr) {
      if (!unavailable.empty()) {
        std::printf("SKIPPED: FUSE is not available here (%s)\n",
                    unavailable.c_str());
        return 77;
      }
      std::printf("powerloss_fs failed to start\n");
      return 1;
    }
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
