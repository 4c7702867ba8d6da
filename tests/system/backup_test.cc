// Backups, whole system (docs/operations.md): AdminService.Backup taken while a
// writer runs, `winnowd --restore-from`, ListBackups and retention.
//
// The restored server must answer exactly as the original did at the
// backup point. Probes (below) are the questions both servers are asked;
// to cover a new feature, add a probe. Cursor resume across a restore
// belongs here too: issue a cursor on the original before the backup, then
// add a probe that resumes it on both servers and compares the batches.
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::CountOf;
using testing::Create;
using testing::FilterIds;
using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kLiveBatch = 200;

v1::UpsertDocumentsRequest FixedBatch(size_t begin, size_t end,
                                      std::mt19937_64& rng) {
  static const char* kDomains[] = {"web", "wiki", "code", "books"};
  static const char* kLangs[] = {"en", "de", "fr", ""};
  std::uniform_real_distribution<float> u01(0, 1);
  v1::UpsertDocumentsRequest req;
  v1::DocumentColumns* cols = req.mutable_columns();
  v1::ScoreColumn* q = cols->add_scores();
  q->set_name("quality");
  v1::AttributeColumn* lang = cols->add_attributes();
  lang->set_key("lang");
  for (size_t i = begin; i < end; ++i) {
    cols->add_ids("f-" + std::to_string(i));
    cols->add_domains(kDomains[rng() % 4]);
    cols->add_lengths(static_cast<int64_t>(1 + rng() % 4000));
    if (rng() % 5 == 0) {
      q->add_null_indexes(static_cast<uint32_t>(i - begin));
      q->add_values(0);
    } else {
      q->add_values(u01(rng));
    }
    lang->add_values(kLangs[rng() % 4]);
    cols->add_payloads("payload of f-" + std::to_string(i));
  }
  return req;
}

v1::UpsertDocumentsRequest LiveBatch(int k) {
  v1::UpsertDocumentsRequest req;
  v1::DocumentColumns* cols = req.mutable_columns();
  v1::ScoreColumn* batch = cols->add_scores();
  batch->set_name("batch");
  v1::ScoreColumn* q = cols->add_scores();
  q->set_name("quality");
  for (int i = 0; i < kLiveBatch; ++i) {
    cols->add_ids("w-" + std::to_string(k) + "-" + std::to_string(i));
    cols->add_domains(i % 2 ? "web" : "code");
    cols->add_lengths(100 + i);
    batch->add_values(static_cast<float>(k));
    q->add_values(static_cast<float>((k * 7 + i) % 100) / 100.0f);
  }
  return req;
}

// A question both servers answer; the answer as a comparable string.
struct Probe {
  std::string name;
  std::function<std::string(const Client&)> ask;
};

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const std::string& s : v) out += s + ",";
  return out;
}

// The probes over the collection "fixed", which no one writes during the
// backup: every answer must be identical.
std::vector<Probe> FixedProbes() {
  std::vector<Probe> probes;
  probes.push_back({"GetCollection(fixed)", [](const Client& c) {
                      v1::GetCollectionRequest req;
                      req.set_name("fixed");
                      absl::StatusOr<v1::GetCollectionResponse> r =
                          c.GetCollection(req);
                      if (!r.ok()) return r.status().ToString();
                      v1::Collection col = r->collection();
                      // Sizes on disk and in memory differ between two
                      // processes (memtables, column capacity).
                      col.mutable_stats()->clear_disk_bytes();
                      col.mutable_stats()->clear_memory_bytes();
                      col.mutable_stats()->clear_update_time();
                      return col.ShortDebugString();
                    }});
  probes.push_back(
      {"GetDocuments(fixed)", [](const Client& c) {
         v1::GetDocumentsRequest req;
         req.set_collection("fixed");
         for (int i = 0; i < 5000; i += 37) {
           req.add_ids("f-" + std::to_string(i));
         }
         req.set_allow_missing(true);
         absl::StatusOr<v1::GetDocumentsResponse> r = c.GetDocuments(req);
         if (!r.ok()) return r.status().ToString();
         std::string out;
         for (const v1::Document& d : r->documents()) {
           // Maps print in a stable (sorted) order here.
           std::string text;
           google::protobuf::TextFormat::Printer printer;
           printer.SetSingleLineMode(true);
           printer.PrintToString(d, &text);
           out += text + "\n";
         }
         return out + "missing=" +
                Join({r->missing_ids().begin(), r->missing_ids().end()});
       }});
  for (const std::string filter :
       {"", "quality > 0.5", "is_null(quality)", "rated >= 0.25",
        "domain in (\"web\", \"code\") and length < 2000",
        "attr.lang == \"de\" or quality > pct(quality, 90)"}) {
    probes.push_back(
        {"Count(fixed, " + filter + ")", [filter](const Client& c) {
           return std::to_string(CountOf(c, "fixed", filter));
         }});
    probes.push_back(
        {"Filter(fixed, " + filter + ")", [filter](const Client& c) {
           return Join(FilterIds(c, "fixed", filter));
         }});
  }
  probes.push_back(
      {"Sample(fixed, weighted)", [](const Client& c) {
         v1::SampleRequest req;
         req.set_collection("fixed");
         req.set_seed(11);
         req.set_batch_size(128);
         req.set_num_epochs(1);
         req.set_filter("length < 3000");
         req.set_world_size(1);
         req.mutable_strategy()->mutable_weighted()->set_score("quality");
         SampleReader reader = c.Sample(req);
         std::vector<std::string> ids;
         v1::SampleResponse resp;
         while (reader.Next(&resp)) {
           for (const std::string& id : resp.batch().ids()) {
             ids.push_back(id);
           }
         }
         absl::Status s = reader.Finish();
         return s.ok() && !ids.empty() ? Join(ids) : "error: " + s.ToString();
       }});
  return probes;
}

TEST(BackupTest, RestoredServerAnswersLikeTheOriginalAtTheBackupPoint) {
  TempDir dir;
  const std::string backups = dir.path() + "/backups";
  auto original =
      WinnowdProcess::Start(dir.path() + "/data", 0, {"--backup-dir", backups});
  ASSERT_NE(original, nullptr);
  absl::StatusOr<Client> client = Client::Connect(original->target());
  ASSERT_TRUE(client.ok());

  // "fixed": 5,000 documents, a score put on some, a few deleted.
  ASSERT_TRUE(Create(*client, "fixed").ok());
  {
    std::mt19937_64 rng(3);
    DocumentWriter w = client->UpsertDocuments("fixed");
    for (size_t b = 0; b < 5000; b += 1000) {
      ASSERT_TRUE(w.Write(FixedBatch(b, b + 1000, rng)).ok());
    }
    ASSERT_TRUE(w.Close().ok());
    ScoreWriter s = client->PutScores("fixed");
    v1::PutScoresRequest put;
    v1::ScoreColumn* rated = put.add_scores();
    rated->set_name("rated");
    for (int i = 0; i < 5000; i += 3) {
      put.add_ids("f-" + std::to_string(i));
      rated->add_values(static_cast<float>(i % 10) / 10.0f);
    }
    ASSERT_TRUE(s.Write(put).ok());
    ASSERT_TRUE(s.Close().ok());
    v1::DeleteDocumentsRequest del;
    del.set_collection("fixed");
    for (int i = 0; i < 5000; i += 11) del.add_ids("f-" + std::to_string(i));
    ASSERT_TRUE(client->DeleteDocuments(del).ok());
  }

  // "live": a writer adds batches of 200 documents, batch k scored
  // batch = k, for as long as the test runs.
  // A training run's cursor, issued before the backup: a restored server
  // must resume it exactly as the original does (the plan and the cursor
  // key live in the database).
  std::string cursor;
  {
    v1::SampleRequest req;
    req.set_collection("fixed");
    req.set_seed(5);
    req.set_run_id("before-backup");
    req.set_batch_size(64);
    req.set_num_epochs(2);
    req.set_world_size(2);
    req.set_max_batches(3);
    SampleReader reader = client->Sample(req);
    v1::SampleResponse resp;
    while (reader.Next(&resp)) cursor = resp.cursor();
    ASSERT_TRUE(reader.Finish().ok());
    ASSERT_FALSE(cursor.empty());
  }
  ASSERT_TRUE(Create(*client, "live").ok());
  std::atomic<int> acked{0};
  std::atomic<int> written{0};
  std::atomic<bool> stop{false};
  absl::Status writer_status;
  std::thread writer([&] {
    DocumentWriter w = client->UpsertDocuments("live");
    w.set_on_ack([&](const v1::UpsertDocumentsResponse&) { acked++; });
    for (int k = 0; !stop.load(); ++k) {
      writer_status = w.Write(LiveBatch(k));
      if (!writer_status.ok()) return;
      written = k + 1;
    }
    writer_status = w.Close();
  });
  while (acked.load() < 5)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));

  const int acked_before = acked.load();
  v1::BackupRequest backup_req;
  absl::StatusOr<v1::BackupResponse> backup = client->Backup(backup_req);
  // + 1: the writer counts a batch just after sending it.
  const int written_after = written.load() + 1;
  ASSERT_TRUE(backup.ok()) << backup.status();
  // The writer goes on a little, so the original moves past the backup.
  const int target = acked.load() + 5;
  while (acked.load() < target)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  ASSERT_TRUE(writer_status.ok()) << writer_status;

  const v1::Operation& op = backup->operation();
  ASSERT_TRUE(op.done()) << op.ShortDebugString();
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED) << op.ShortDebugString();
  EXPECT_EQ(op.kind(), v1::OPERATION_KIND_BACKUP);
  ASSERT_TRUE(op.has_backup());
  EXPECT_EQ(op.backup().collection_count(), 2);
  EXPECT_GT(op.backup().size_bytes(), 0);
  EXPECT_EQ(op.backup().server_version(), "0.1.0");
  EXPECT_TRUE(op.backup().path().starts_with(
      std::filesystem::absolute(backups).lexically_normal().string()))
      << op.backup().path();

  absl::StatusOr<v1::ListBackupsResponse> list =
      client->ListBackups(v1::ListBackupsRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->backups_size(), 1);
  EXPECT_TRUE(MessageDifferencer::Equals(list->backups(0), op.backup()))
      << list->backups(0).ShortDebugString() << " vs "
      << op.backup().ShortDebugString();

  // The original's answers on "fixed", taken after the backup: nothing
  // wrote there since.
  std::vector<Probe> probes = FixedProbes();
  for (int rank = 0; rank < 3; ++rank) {
    probes.push_back(
        {"Sample(cursor before backup, rank " + std::to_string(rank) + " of 3)",
         [cursor, rank](const Client& c) {
           v1::SampleRequest req;
           req.set_cursor(cursor);
           req.set_rank(rank);
           req.set_world_size(3);
           SampleReader reader = c.Sample(req);
           std::vector<std::string> ids;
           v1::SampleResponse resp;
           while (reader.Next(&resp)) {
             ids.push_back(absl::StrCat(resp.batch().epoch(), "/",
                                        resp.batch().global_batch_index()));
             for (const std::string& id : resp.batch().ids()) {
               ids.push_back(id);
             }
           }
           absl::Status s = reader.Finish();
           return s.ok() && !ids.empty() ? Join(ids) : "error: " + s.ToString();
         }});
  }
  std::vector<std::string> want;
  for (const Probe& p : probes) {
    want.push_back(p.ask(*client));
    EXPECT_FALSE(want.back().starts_with("error:"))
        << p.name << ": " << want.back();
  }

  auto restored = WinnowdProcess::Start(dir.path() + "/restored", 0,
                                        {"--restore-from", op.backup().path()});
  ASSERT_NE(restored, nullptr);
  EXPECT_NE(restored->Log().find("restore: copied"), std::string::npos)
      << restored->Log();
  absl::StatusOr<Client> rclient = Client::Connect(restored->target());
  ASSERT_TRUE(rclient.ok());

  absl::StatusOr<v1::ListCollectionsResponse> cols =
      rclient->ListCollections(v1::ListCollectionsRequest());
  ASSERT_TRUE(cols.ok()) << cols.status();
  ASSERT_EQ(cols->collections_size(), 2);
  EXPECT_EQ(cols->collections(0).name(), "fixed");
  EXPECT_EQ(cols->collections(1).name(), "live");
  for (size_t i = 0; i < probes.size(); ++i) {
    EXPECT_EQ(probes[i].ask(*rclient), want[i]) << probes[i].name;
  }

  // "live" holds a prefix of the writer's batches, each whole: at least
  // every batch acknowledged before Backup was called, and none written
  // after it returned.
  const int64_t live = CountOf(*rclient, "live", "");
  ASSERT_EQ(live % kLiveBatch, 0) << live;
  const int k = static_cast<int>(live / kLiveBatch);
  EXPECT_GE(k, acked_before);
  EXPECT_LE(k, written_after);
  EXPECT_LT(k, acked.load()) << "the original went on past the backup";
  EXPECT_EQ(CountOf(*rclient, "live", "batch < " + std::to_string(k)), live);
  // Every question about "live" is answered as the original answers it
  // about the batches in the backup.
  const std::string in_backup = "batch < " + std::to_string(k);
  for (const std::string filter :
       {"quality > 0.5", "domain == \"web\" and length >= 250"}) {
    EXPECT_EQ(FilterIds(*rclient, "live", filter),
              FilterIds(*client, "live", in_backup + " and (" + filter + ")"))
        << filter;
  }

  // The restored server serves writes of its own.
  {
    DocumentWriter w = rclient->UpsertDocuments("live");
    ASSERT_TRUE(w.Write(LiveBatch(100000)).ok());
    ASSERT_TRUE(w.Close().ok());
    EXPECT_EQ(CountOf(*rclient, "live", ""), live + kLiveBatch);
  }

  absl::StatusOr<v1::GetServerInfoResponse> info =
      rclient->GetServerInfo(v1::GetServerInfoRequest());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->version(), "0.1.0");
  EXPECT_TRUE(info->build().starts_with("git ")) << info->build();
  EXPECT_TRUE(info->sync_writes());
  EXPECT_EQ(info->limits().max_message_bytes(), int64_t{64} << 20);
  EXPECT_EQ(info->limits().max_id_bytes(), 512);
  EXPECT_EQ(info->limits().max_payload_bytes(), int64_t{8} << 20);
  EXPECT_GT(info->start_time().seconds(), 1700000000);
  EXPECT_EQ(info->sampler_version(), 1u);
  EXPECT_EQ(info->cursor_format_version(), 1u);
  EXPECT_GT(info->limits().max_concurrent_streams(), 0);
  EXPECT_GT(info->limits().plan_memory_bytes(), 0);
  EXPECT_EQ(info->limits().embedding_memory_bytes(), int64_t{8} << 30);
  EXPECT_EQ(info->limits().plan_ttl().seconds(), 30 * 24 * 3600);

  restored->Signal(SIGTERM);
  EXPECT_EQ(restored->Wait(), 0) << restored->Log();
  original->Signal(SIGTERM);
  EXPECT_EQ(original->Wait(), 0) << original->Log();
}

TEST(BackupTest, RestoreRefusesANonEmptyDataDirAndANonBackup) {
  TempDir dir;
  const std::string backups = dir.path() + "/backups";
  std::string path;
  {
    auto server = WinnowdProcess::Start(dir.path() + "/data", 0,
                                        {"--backup-dir", backups});
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(Create(*client, "web").ok());
    absl::StatusOr<v1::BackupResponse> b = client->Backup({});
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_TRUE(b->operation().has_backup())
        << b->operation().ShortDebugString();
    path = b->operation().backup().path();
    server->Signal(SIGTERM);
    ASSERT_EQ(server->Wait(), 0);
  }
  // Non-empty: the original's own data dir. winnowd exits 1 and says why.
  std::unique_ptr<WinnowdProcess> refused =
      WinnowdProcess::Start(dir.path() + "/data", 0, {"--restore-from", path});
  EXPECT_EQ(refused, nullptr);
  std::filesystem::create_directories(dir.path() + "/other");
  std::ofstream(dir.path() + "/other/keep.txt") << "mine";
  std::string log;
  {
    // Start() returns nullptr on failure; run the binary again to read its
    // message.
    std::string cmd = std::string(WINNOWD_PATH) + " --listen 127.0.0.1:0" +
                      " --data-dir " + dir.path() + "/other --restore-from " +
                      path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (fgets(buf, sizeof buf, p) != nullptr) log += buf;
    EXPECT_EQ(WEXITSTATUS(pclose(p)), 1) << log;
  }
  EXPECT_NE(log.find("is not empty"), std::string::npos) << log;
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/other/keep.txt"));
  {
    std::string cmd = std::string(WINNOWD_PATH) + " --listen 127.0.0.1:0" +
                      " --data-dir " + dir.path() + "/fresh --restore-from " +
                      dir.path() + "/other 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    log.clear();
    while (fgets(buf, sizeof buf, p) != nullptr) log += buf;
    EXPECT_EQ(WEXITSTATUS(pclose(p)), 1) << log;
  }
  EXPECT_NE(log.find("is not a Winnow backup"), std::string::npos) << log;
}

TEST(BackupTest, RetentionKeepsTheNewestAndRequestIdsAreIdempotent) {
  TempDir dir;
  const std::string backups = dir.path() + "/backups";
  auto server = WinnowdProcess::Start(
      dir.path() + "/data", 0, {"--backup-dir", backups, "--backup-keep", "2"});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Create(*client, "c" + std::to_string(i)).ok());
    absl::StatusOr<v1::BackupResponse> b = client->Backup({});
    ASSERT_TRUE(b.ok()) << b.status();
    ASSERT_EQ(b->operation().state(), v1::OPERATION_STATE_SUCCEEDED);
    EXPECT_EQ(b->operation().backup().collection_count(), i + 1);
    ids.push_back(b->operation().backup().backup_id());
  }
  absl::StatusOr<v1::ListBackupsResponse> list =
      client->ListBackups(v1::ListBackupsRequest());
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->backups_size(), 2);
  EXPECT_EQ(list->backups(0).backup_id(), ids[2]);  // newest first
  EXPECT_EQ(list->backups(1).backup_id(), ids[1]);
  EXPECT_FALSE(std::filesystem::exists(backups + "/" + ids[0]));

  // Paging.
  v1::ListBackupsRequest page;
  page.set_page_size(1);
  list = client->ListBackups(page);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->backups_size(), 1);
  EXPECT_EQ(list->backups(0).backup_id(), ids[2]);
  page.set_page_token(list->next_page_token());
  list = client->ListBackups(page);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->backups_size(), 1);
  EXPECT_EQ(list->backups(0).backup_id(), ids[1]);
  EXPECT_EQ(list->next_page_token(), "");
  page.set_page_size(-1);
  EXPECT_EQ(client->ListBackups(page).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A retried Backup with the same request_id takes no second backup.
  v1::BackupRequest req;
  req.set_request_id("nightly-2026-11-27");
  absl::StatusOr<v1::BackupResponse> first = client->Backup(req);
  absl::StatusOr<v1::BackupResponse> again = client->Backup(req);
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_TRUE(
      MessageDifferencer::Equals(first->operation(), again->operation()));
  list = client->ListBackups(v1::ListBackupsRequest());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->backups_size(), 2);
  EXPECT_EQ(list->backups(0).backup_id(),
            first->operation().backup().backup_id());

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
}  // namespace winnow
