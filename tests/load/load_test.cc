// Load and shutdown tests against a real winnowd (issue 6, "Reliability
// tests"), each bounded in time:
//  - load: 32 concurrent Sample streams plus 4 writers (2 upserting existing
//    documents with a bounded number of inserts, 2 putting scores) for
//    WINNOW_LOAD_SECONDS (default 30 s, the first third a warm-up). No call
//    may fail; the p50/p99 latency of Sample batches and of write
//    acknowledgements is reported, and winnowd's RSS (VmRSS of
//    /proc/PID/status), less the RocksDB memtables filling up, may grow by
//    less than 10% after the warm-up.
//  - shutdown: SIGTERM under the same kind of load drains within the grace
//    period and exits 0; every acknowledged insert is there after a
//    restart.
// Figures are printed as "LOAD ..." lines (ctest -V, or the test log).
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using Clock = std::chrono::steady_clock;
using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kDocuments = 50000;
constexpr int kSampleStreams = 32;
constexpr int kUpsertWriters = 2;
constexpr int kScoreWriters = 2;
constexpr int kBatchDocs = 256;
// New documents each upsert writer may insert in a run (bounded growth).
constexpr int kMaxInsertsPerWriter = 2000;
const char* const kDomains[] = {"web", "wiki", "code", "books"};

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

int EnvInt(const char* name, int fallback) {
  const char* v = getenv(name);
  return v != nullptr && *v != '\0' ? atoi(v) : fallback;
}

// VmRSS of `pid` in bytes; 0 if unreadable.
int64_t RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::atoll(line.c_str() + 6) * 1024;  // "VmRSS:  123 kB"
    }
  }
  return 0;
}

// Latencies of one kind, in seconds, from many threads.
class Latencies {
 public:
  void Add(double s) {
    std::lock_guard lock(mu_);
    values_.push_back(s);
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return values_.size();
  }
  double Quantile(double q) {
    std::lock_guard lock(mu_);
    if (values_.empty()) return NAN;
    std::vector<double> v = values_;
    size_t k = std::min(v.size() - 1,
                        static_cast<size_t>(std::ceil(q * v.size())) - 1);
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[k];
  }

 private:
  std::mutex mu_;
  std::vector<double> values_;
};

// Errors seen by any worker; the first few are kept for the report.
class Errors {
 public:
  void Add(const std::string& what) {
    std::lock_guard lock(mu_);
    if (++count_ <= 5) first_.push_back(what);
  }
  int count() {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string Describe() {
    std::lock_guard lock(mu_);
    std::string out;
    for (const std::string& e : first_) out += "\n  " + e;
    return out;
  }

 private:
  std::mutex mu_;
  int count_ = 0;
  std::vector<std::string> first_;
};

std::string DocId(int i) {
  char buf[32];
  snprintf(buf, sizeof(buf), "doc-%07d", i);
  return buf;
}

// Documents [first, first + n) with scores from `rng`.
v1::UpsertDocumentsRequest DocumentBatch(int first, int n, std::mt19937& rng) {
  v1::UpsertDocumentsRequest req;
  v1::DocumentColumns* cols = req.mutable_columns();
  v1::ScoreColumn* quality = cols->add_scores();
  quality->set_name("quality");
  v1::ScoreColumn* edu = cols->add_scores();
  edu->set_name("edu");
  std::uniform_real_distribution<float> u01(0, 1);
  for (int i = first; i < first + n; ++i) {
    cols->add_ids(DocId(i));
    cols->add_domains(kDomains[i % 4]);
    cols->add_lengths(100 + (i * 7919) % 4000);
    quality->add_values(u01(rng));
    edu->add_values(5 * u01(rng));
  }
  return req;
}

absl::Status LoadCorpus(const Client& client, int n) {
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("load");
  if (absl::Status s = client.CreateCollection(create).status(); !s.ok()) {
    return s;
  }
  std::mt19937 rng(1);
  DocumentWriter writer = client.UpsertDocuments("load");
  for (int first = 0; first < n; first += 5000) {
    if (absl::Status s =
            writer.Write(DocumentBatch(first, std::min(5000, n - first), rng));
        !s.ok()) {
      return s;
    }
  }
  return writer.Close();
}

v1::SampleRequest SampleRequestFor(int stream, int num_epochs) {
  v1::SampleRequest req;
  req.set_collection("load");
  req.set_seed(static_cast<uint64_t>(stream));
  req.set_batch_size(kBatchDocs);
  req.set_num_epochs(num_epochs);
  req.set_world_size(1);
  // Half uniform, half weighted; a quarter filtered.
  if (stream % 2 == 1) {
    v1::WeightedStrategy* w = req.mutable_strategy()->mutable_weighted();
    w->set_score("quality");
    w->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
    w->set_alpha(2.0);
  }
  if (stream % 4 >= 2) req.set_filter("length < 3000 and edu > 1");
  return req;
}

// Shared by the load and shutdown tests: the workers and what they saw.
struct Load {
  std::atomic<bool> stop{false};
  Latencies batch_latency;
  Latencies write_latency;
  Errors errors;
  std::atomic<int64_t> batches{0};
  std::atomic<int64_t> documents_served{0};
  std::atomic<int64_t> writes_acked{0};
  std::atomic<int64_t> inserts_acked{0};
  // Latencies are recorded only after the warm-up.
  std::atomic<bool> measuring{false};
  // With `draining`, UNAVAILABLE ends a worker without counting as an error
  // (the server is shutting down).
  std::atomic<bool> draining{false};

  bool Acceptable(const absl::Status& s) {
    return s.ok() || (draining.load() && absl::IsUnavailable(s));
  }

  // Opens Sample streams one after another until `stop`; `num_epochs` 0
  // streams forever (ended by cancelling).
  void SampleWorker(const Client& client, int stream, int num_epochs) {
    int round = 0;
    while (!stop.load()) {
      SampleReader reader =
          client.Sample(SampleRequestFor(stream + 1000 * round++, num_epochs));
      v1::SampleResponse response;
      Clock::time_point last = Clock::now();
      bool cancelled = false;
      while (reader.Next(&response)) {
        Clock::time_point now = Clock::now();
        if (measuring.load()) batch_latency.Add(Seconds(now - last));
        last = now;
        batches.fetch_add(1);
        documents_served.fetch_add(response.batch().ids_size());
        if (stop.load() && !draining.load()) {
          reader.Cancel();
          cancelled = true;
          break;
        }
      }
      absl::Status s = reader.Finish();
      if (cancelled && absl::IsCancelled(s)) return;
      if (!Acceptable(s)) {
        errors.Add("Sample stream " + std::to_string(stream) + ": " +
                   s.ToString());
      }
      if (!s.ok()) return;
    }
  }

  // Replaces random existing documents, and inserts up to `max_inserts` new
  // ones (ids from `insert_base`), one acknowledged batch at a time.
  void UpsertWorker(const Client& client, int writer_index, int insert_base,
                    int max_inserts, WriterOptions options) {
    std::mt19937 rng(100 + writer_index);
    DocumentWriter writer = client.UpsertDocuments("load", options);
    int inserted = 0;
    while (!stop.load()) {
      v1::UpsertDocumentsRequest batch;
      int inserts = 0;
      if (inserted < max_inserts && rng() % 4 == 0) {
        inserts = std::min(32, max_inserts - inserted);
        batch = DocumentBatch(insert_base + inserted, inserts, rng);
      } else {
        batch =
            DocumentBatch(static_cast<int>(rng() % (kDocuments - kBatchDocs)),
                          kBatchDocs, rng);
      }
      Clock::time_point start = Clock::now();
      absl::Status s = writer.Write(std::move(batch));
      if (s.ok()) s = writer.Flush();
      if (!s.ok()) {
        if (!Acceptable(s)) {
          errors.Add("upsert writer " + std::to_string(writer_index) + ": " +
                     s.ToString());
        }
        return;
      }
      if (measuring.load()) write_latency.Add(Seconds(Clock::now() - start));
      writes_acked.fetch_add(1);
      inserted += inserts;
      inserts_acked.fetch_add(inserts);
    }
    absl::Status s = writer.Close();
    if (!Acceptable(s)) errors.Add("upsert writer close: " + s.ToString());
    if (writer.stats().reconnects != 0) {
      errors.Add("upsert writer reconnected " +
                 std::to_string(writer.stats().reconnects) + " times");
    }
  }

  // Puts new quality scores on random existing documents.
  void ScoreWorker(const Client& client, int writer_index,
                   WriterOptions options) {
    std::mt19937 rng(200 + writer_index);
    std::uniform_real_distribution<float> u01(0, 1);
    ScoreWriter writer = client.PutScores("load", options);
    while (!stop.load()) {
      v1::PutScoresRequest batch;
      v1::ScoreColumn* q = batch.add_scores();
      q->set_name("quality");
      int first = static_cast<int>(rng() % (kDocuments - kBatchDocs));
      for (int i = first; i < first + kBatchDocs; ++i) {
        batch.add_ids(DocId(i));
        q->add_values(u01(rng));
      }
      Clock::time_point start = Clock::now();
      absl::Status s = writer.Write(std::move(batch));
      if (s.ok()) s = writer.Flush();
      if (!s.ok()) {
        if (!Acceptable(s)) {
          errors.Add("score writer " + std::to_string(writer_index) + ": " +
                     s.ToString());
        }
        return;
      }
      if (measuring.load()) write_latency.Add(Seconds(Clock::now() - start));
      writes_acked.fetch_add(1);
    }
    absl::Status s = writer.Close();
    if (!Acceptable(s)) errors.Add("score writer close: " + s.ToString());
    if (writer.stats().reconnects != 0) {
      errors.Add("score writer reconnected " +
                 std::to_string(writer.stats().reconnects) + " times");
    }
  }

  // Starts every worker on its own thread.
  std::vector<std::thread> Start(const Client& client, int sample_epochs,
                                 WriterOptions options) {
    std::vector<std::thread> threads;
    for (int i = 0; i < kSampleStreams; ++i) {
      threads.emplace_back([this, &client, i, sample_epochs] {
        SampleWorker(client, i, sample_epochs);
      });
    }
    for (int i = 0; i < kUpsertWriters; ++i) {
      threads.emplace_back([this, &client, i, options] {
        UpsertWorker(client, i, kDocuments + i * kMaxInsertsPerWriter,
                     kMaxInsertsPerWriter, options);
      });
    }
    for (int i = 0; i < kScoreWriters; ++i) {
      threads.emplace_back(
          [this, &client, i, options] { ScoreWorker(client, i, options); });
    }
    return threads;
  }
};

// A gauge's value from winnowd's /metrics page; -1 if absent.
double MetricValue(int metrics_port, const std::string& name) {
  std::optional<std::string> page = testing::HttpGet(metrics_port, "/metrics");
  if (!page) return -1;
  size_t at = page->find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::atof(page->c_str() + at + name.size() + 2);
}

int64_t CountAll(const Client& client) {
  v1::CountRequest req;
  req.set_collection("load");
  absl::StatusOr<v1::CountResponse> r = client.Count(req);
  return r.ok() ? r->count() : -1;
}

TEST(LoadTest, SampleStreamsAndWritersRunWithoutErrorsAndStableMemory) {
  const int seconds = EnvInt("WINNOW_LOAD_SECONDS", 30);
  const int warmup = std::max(2, seconds / 3);
  TempDir dir;
  auto server = WinnowdProcess::Start(dir.path() + "/data", 0,
                                      {"--shutdown-grace-seconds", "10"});
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->metrics_port(), 0);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(LoadCorpus(*client, kDocuments).ok());

  Load load;
  WriterOptions options;
  options.max_in_flight = 1;
  options.max_reconnect_attempts = 0;  // a broken stream is an error here
  // Long-lived streams, as a training run holds them (num_epochs 0: until
  // cancelled at the end).
  std::vector<std::thread> threads = load.Start(*client, 0, options);

  // RSS, and the RocksDB memtables inside it, every 250 ms after the
  // warm-up. The memtables are write buffers that fill up to
  // StoreOptions::write_buffer_bytes (64 MiB per column family) and are then
  // flushed: at this write rate a 30 s run sees them fill, never flush, so
  // their growth is set apart (and reported) rather than counted as
  // instability. (winnow_rocksdb_memtable_bytes is refreshed every 5 s, so
  // the split is accurate to a few hundred KiB.)
  auto memtables = [&] {
    return static_cast<int64_t>(std::max(
        0.0,
        MetricValue(server->metrics_port(), "winnow_rocksdb_memtable_bytes")));
  };
  const Clock::time_point start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(warmup));
  const int64_t rss_warm = RssBytes(server->pid());
  const int64_t mem_warm = memtables();
  load.measuring.store(true);
  const int64_t batches_warm = load.batches.load();
  const int64_t writes_warm = load.writes_acked.load();
  const Clock::time_point measure_start = Clock::now();
  int64_t rss_max = rss_warm;
  int64_t other_max = rss_warm - mem_warm;  // RSS besides the memtables
  std::string trace;                        // RSS/memtables every 2.5 s
  for (int tick = 1; Clock::now() - start < std::chrono::seconds(seconds);
       ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    const int64_t rss = RssBytes(server->pid());
    const int64_t mem = memtables();
    rss_max = std::max(rss_max, rss);
    other_max = std::max(other_max, rss - mem);
    if (tick % 10 == 0) {
      char buf[64];
      snprintf(buf, sizeof(buf), " %.0fs:%.1f/%.1f",
               Seconds(Clock::now() - start), rss / 1048576.0, mem / 1048576.0);
      trace += buf;
    }
  }
  const double measured = Seconds(Clock::now() - measure_start);
  const int64_t batches = load.batches.load() - batches_warm;
  const int64_t writes = load.writes_acked.load() - writes_warm;
  load.stop.store(true);
  for (std::thread& t : threads) t.join();

  const double raw_growth =
      static_cast<double>(rss_max - rss_warm) / std::max<int64_t>(rss_warm, 1);
  const double growth = static_cast<double>(other_max - (rss_warm - mem_warm)) /
                        std::max<int64_t>(rss_warm - mem_warm, 1);
  printf(
      "LOAD streams=%d writers=%d seconds=%d warmup=%d measured=%.1f\n"
      "LOAD sample batches=%lld (%.0f/s, %.0f docs/s) batch latency "
      "p50=%.2fms p99=%.2fms max=%.2fms\n"
      "LOAD writes acked=%lld (%.0f/s; inserts %lld) ack latency p50=%.2fms "
      "p99=%.2fms max=%.2fms\n"
      "LOAD rss warm=%.1fMiB max=%.1fMiB (growth %.2f%%); memtables "
      "warm=%.1fMiB; rss besides memtables growth=%.2f%%\n"
      "LOAD rss/memtables MiB over time:%s\n",
      kSampleStreams, kUpsertWriters + kScoreWriters, seconds, warmup, measured,
      static_cast<long long>(batches), batches / measured,
      batches * kBatchDocs / measured, 1e3 * load.batch_latency.Quantile(0.5),
      1e3 * load.batch_latency.Quantile(0.99),
      1e3 * load.batch_latency.Quantile(1.0), static_cast<long long>(writes),
      writes / measured, static_cast<long long>(load.inserts_acked.load()),
      1e3 * load.write_latency.Quantile(0.5),
      1e3 * load.write_latency.Quantile(0.99),
      1e3 * load.write_latency.Quantile(1.0), rss_warm / 1048576.0,
      rss_max / 1048576.0, 100 * raw_growth, mem_warm / 1048576.0, 100 * growth,
      trace.c_str());
  fflush(stdout);
  RecordProperty("sample_batch_p99_ms",
                 std::to_string(1e3 * load.batch_latency.Quantile(0.99)));
  RecordProperty("write_ack_p99_ms",
                 std::to_string(1e3 * load.write_latency.Quantile(0.99)));
  RecordProperty("rss_growth_percent", std::to_string(100 * raw_growth));
  RecordProperty("rss_besides_memtables_growth_percent",
                 std::to_string(100 * growth));

  EXPECT_EQ(load.errors.count(), 0) << load.errors.Describe();
  EXPECT_GT(batches, 0);
  EXPECT_GT(writes, 0);
  EXPECT_GT(load.batch_latency.size(), 0u);
  EXPECT_GT(load.write_latency.size(), 0u);
  EXPECT_GT(mem_warm, 0) << "winnow_rocksdb_memtable_bytes not read";
  EXPECT_LT(growth, 0.10) << "RSS besides the memtables grew from "
                          << rss_warm - mem_warm << " to " << other_max
                          << " bytes after the warm-up";
  // Every acknowledged insert is there.
  EXPECT_EQ(CountAll(*client), kDocuments + load.inserts_acked.load());

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(30), 0) << server->Log();
}

TEST(ShutdownTest, SigtermUnderLoadDrainsWithinTheGracePeriodAndExitsZero) {
  constexpr int kGraceSeconds = 4;
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto server = WinnowdProcess::Start(
      data, 0, {"--shutdown-grace-seconds", std::to_string(kGraceSeconds)});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(LoadCorpus(*client, kDocuments).ok());

  Load load;
  load.draining.store(true);  // UNAVAILABLE is how the drain ends streams
  WriterOptions options;
  options.max_in_flight = 1;
  options.max_reconnect_attempts = 0;
  // Unbounded Sample streams: only the drain deadline ends them.
  std::vector<std::thread> threads = load.Start(*client, 0, options);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const int64_t batches_before = load.batches.load();
  const int64_t writes_before = load.writes_acked.load();
  ASSERT_GT(batches_before, 0);
  ASSERT_GT(writes_before, 0);

  const Clock::time_point sigterm = Clock::now();
  server->Signal(SIGTERM);
  const int code = server->Wait(kGraceSeconds + 20);
  const double drained = Seconds(Clock::now() - sigterm);
  load.stop.store(true);
  for (std::thread& t : threads) t.join();
  printf(
      "LOAD shutdown: exit=%d after %.2fs (grace %ds); %lld batches and "
      "%lld writes before SIGTERM, %lld inserts acknowledged\n",
      code, drained, kGraceSeconds, static_cast<long long>(batches_before),
      static_cast<long long>(writes_before),
      static_cast<long long>(load.inserts_acked.load()));
  fflush(stdout);
  EXPECT_EQ(code, 0) << server->Log();
  // The drain ends the streams shortly before the deadline; closing the
  // store follows. Allow 3 s for the close on a loaded machine.
  EXPECT_LT(drained, kGraceSeconds + 3.0) << server->Log();
  EXPECT_EQ(load.errors.count(), 0) << load.errors.Describe();
  const std::string log = server->Log();
  EXPECT_NE(log.find("shutdown: done; store closed"), std::string::npos) << log;

  // Every acknowledged insert survived.
  auto again = WinnowdProcess::Start(data);
  ASSERT_NE(again, nullptr);
  absl::StatusOr<Client> client2 = Client::Connect(again->target());
  ASSERT_TRUE(client2.ok());
  EXPECT_GE(CountAll(*client2), kDocuments + load.inserts_acked.load());
  again->Signal(SIGTERM);
  EXPECT_EQ(again->Wait(30), 0) << again->Log();
}

}  // namespace
}  // namespace winnow
