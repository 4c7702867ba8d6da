#include "server/metrics.h"

#include <dirent.h>
#include <netdb.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cmath>
#include <exception>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "storage/store.h"

namespace winnow::server {
namespace {

using prometheus::Labels;

// ---- Buckets ----

// RPC latency: 100 µs to 5 min (streams last long).
const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,     1,      2.5,   5,      10,    30,   60,    300};
  return *b;
}

const prometheus::Histogram::BucketBoundaries& PaddingBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1};
  return *b;
}

// Long operations: 100 ms to 6 h.
const prometheus::Histogram::BucketBoundaries& OperationBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600};
  return *b;
}

// ---- /proc readers (process metrics) ----

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct ProcessFigures {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double threads = 0;
  double open_fds = 0;
  double max_fds = 0;
};

// The boot time, from /proc/stat's "btime" line, in seconds since the epoch.
double BootTimeSeconds() {
  static const double boot = [] {
    std::optional<std::string> stat = ReadFile("/proc/stat");
    if (!stat) return 0.0;
    for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
      if (absl::ConsumePrefix(&line, "btime ")) {
        double v = 0;
        if (absl::SimpleAtod(line, &v)) return v;
      }
    }
    return 0.0;
  }();
  return boot;
}

ProcessFigures ReadProcessFigures() {
  ProcessFigures f;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  if (std::optional<std::string> stat = ReadFile("/proc/self/stat")) {
    // The command name is in parentheses and may hold spaces: the fields
    // are counted from the last ')'.
    size_t close = stat->rfind(')');
    if (close != std::string::npos) {
      std::vector<absl::string_view> fields = absl::StrSplit(
          absl::string_view(*stat).substr(close + 2), ' ', absl::SkipEmpty());
      // fields[0] is field 3 (state) of proc(5).
      auto field = [&](size_t n) {
        double v = 0;
        if (n - 3 < fields.size()) (void)absl::SimpleAtod(fields[n - 3], &v);
        return v;
      };
      f.cpu_seconds = (field(14) + field(15)) / ticks;  // utime + stime
      f.threads = field(20);
      f.start_time_seconds = BootTimeSeconds() + field(22) / ticks;
      f.virtual_bytes = field(23);
      f.resident_bytes = field(24) * page;
    }
  }
  if (DIR* dir = opendir("/proc/self/fd")) {
    int n = 0;
    while (dirent* e = readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(dir);
    f.open_fds = n - 1;  // the directory being read
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    f.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return f;
}

// Connects to host:port and hangs up at once; false if it cannot. A
// wildcard host means this machine.
bool Knock(std::string host, int port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) !=
      0) {
    return false;
  }
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    close(fd);
  }
  freeaddrinfo(found);
  return ok;
}

std::pair<std::string, std::string> SplitMethod(std::string_view full) {
  size_t slash = full.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(full)};
  return {std::string(full.substr(0, slash)),
          std::string(full.substr(slash + 1))};
}

}  // namespace

std::string_view RpcTypeName(RpcType type) {
  switch (type) {
    case RpcType::kUnary:
      return "unary";
    case RpcType::kClientStream:
      return "client_stream";
    case RpcType::kServerStream:
      return "server_stream";
    case RpcType::kBidiStream:
      return "bidi_stream";
  }
  return "unary";
}

std::string_view GrpcCodeLabel(grpc::StatusCode code) {
  static constexpr std::string_view kNames[] = {"OK",
                                                "Canceled",
                                                "Unknown",
                                                "InvalidArgument",
                                                "DeadlineExceeded",
                                                "NotFound",
                                                "AlreadyExists",
                                                "PermissionDenied",
                                                "ResourceExhausted",
                                                "FailedPrecondition",
                                                "Aborted",
                                                "OutOfRange",
                                                "Unimplemented",
                                                "Internal",
                                                "Unavailable",
                                                "DataLoss",
                                                "Unauthenticated"};
  int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : "Unknown";
}

// ---- Every metric, declared here (docs/operations.md, "Metrics") ----

// The metric families, declared in three groups, each with the reason for
// its labels and buckets beside it.
namespace metrics_internal {

struct RpcFamilies {
  explicit RpcFamilies(prometheus::Registry& r);

  // gRPC RED metrics: labels grpc_service, grpc_method, grpc_type (and
  // grpc_code for handled), the names of the de-facto gRPC exporters.
  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Histogram>& handling_seconds;
  prometheus::Family<prometheus::Counter>& msg_received;
  prometheus::Family<prometheus::Counter>& msg_sent;
};

struct DataFamilies {
  explicit DataFamilies(prometheus::Registry& r);

  // Data plane.
  prometheus::Family<prometheus::Gauge>& documents;
  prometheus::Family<prometheus::Counter>& samples_served;
  prometheus::Family<prometheus::Gauge>& mixture_target_share;
  prometheus::Family<prometheus::Gauge>& mixture_drift;
  prometheus::Histogram& padding_ratio;
  prometheus::Gauge& plans;
  prometheus::Gauge& plan_memory_bytes;
  prometheus::Family<prometheus::Counter>& feedback_reports;
  prometheus::Histogram& feedback_report_seconds;
  prometheus::Family<prometheus::Gauge>& operations_running;
  prometheus::Family<prometheus::Histogram>& operation_seconds;
};

struct StorageFamilies {
  explicit StorageFamilies(prometheus::Registry& r);

  // Storage: RocksDB properties (gauges) and statistics (counters since the
  // store opened), from Store::GetStats().
  prometheus::Gauge& live_sst_bytes;
  prometheus::Gauge& estimated_keys;
  prometheus::Gauge& pending_compaction_bytes;
  prometheus::Gauge& memtable_bytes;
  prometheus::Gauge& immutable_memtables;
  prometheus::Gauge& running_compactions;
  prometheus::Gauge& running_flushes;
  prometheus::Gauge& write_stopped;
  prometheus::Gauge& delayed_write_rate;
  prometheus::Gauge& block_cache_usage_bytes;
  prometheus::Gauge& block_cache_capacity_bytes;
  prometheus::Gauge& embedding_memory_bytes;
  prometheus::Gauge& embedding_matrices;
  prometheus::Counter& block_cache_hits;
  prometheus::Counter& block_cache_misses;
  prometheus::Counter& write_stall_seconds;
  prometheus::Counter& written_bytes;
  prometheus::Counter& read_bytes;
  prometheus::Counter& compaction_read_bytes;
  prometheus::Counter& compaction_written_bytes;
  prometheus::Counter& flush_written_bytes;
  prometheus::Counter& wal_syncs;
  prometheus::Counter& background_errors;
  prometheus::Gauge& last_refresh_time;
};

}  // namespace metrics_internal

struct Metrics::Families : metrics_internal::RpcFamilies,
                           metrics_internal::DataFamilies,
                           metrics_internal::StorageFamilies {
  explicit Families(prometheus::Registry& r)
      : RpcFamilies(r), DataFamilies(r), StorageFamilies(r) {}
};

namespace {

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& r,
                                                       const char* name,
                                                       const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& r,
                                                   const char* name,
                                                   const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}
prometheus::Family<prometheus::Histogram>& HistogramFamily(
    prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(r);
}
prometheus::Gauge& OneGauge(prometheus::Registry& r, const char* name,
                            const char* help) {
  return GaugeFamily(r, name, help).Add({});
}
prometheus::Counter& OneCounter(prometheus::Registry& r, const char* name,
                                const char* help) {
  return CounterFamily(r, name, help).Add({});
}

}  // namespace

namespace metrics_internal {

RpcFamilies::RpcFamilies(prometheus::Registry& r)
    : started(CounterFamily(r, "grpc_server_started_total",
                            "RPCs started on the server.")),
      handled(CounterFamily(
          r, "grpc_server_handled_total",
          "RPCs completed on the server, regardless of success or failure.")),
      handling_seconds(HistogramFamily(
          r, "grpc_server_handling_seconds",
          "Time from the start of an RPC to its status, in seconds (for "
          "streams, the stream's life).")),
      msg_received(CounterFamily(r, "grpc_server_msg_received_total",
                                 "Request messages received on the server.")),
      msg_sent(CounterFamily(r, "grpc_server_msg_sent_total",
                             "Response messages sent by the server.")) {}

DataFamilies::DataFamilies(prometheus::Registry& r)
    : documents(
          GaugeFamily(r, "winnow_documents", "Live documents per collection.")),
      samples_served(CounterFamily(
          r, "winnow_samples_served_total",
          "Documents served in Sample batches, per collection and domain.")),
      mixture_target_share(GaugeFamily(
          r, "winnow_mixture_target_share",
          "Target share of each domain in the collection's mixture plan.")),
      mixture_drift(GaugeFamily(
          r, "winnow_served_mixture_drift",
          "L1 distance between the served and the target domain shares of "
          "a mixture plan's current epoch.")),
      padding_ratio(
          HistogramFamily(r, "winnow_sample_batch_padding_ratio",
                          "Share of padding slots in each Sample batch.")
              .Add({}, PaddingBuckets())),
      plans(OneGauge(r, "winnow_plans", "Live sampling plans.")),
      plan_memory_bytes(OneGauge(r, "winnow_plan_memory_bytes",
                                 "Memory held by live sampling plans.")),
      feedback_reports(CounterFamily(
          r, "winnow_feedback_reports_total",
          "Per-sample training reports applied by ReportTraining, per "
          "collection.")),
      feedback_report_seconds(
          HistogramFamily(r, "winnow_feedback_report_seconds",
                          "Time to apply one ReportTraining message durably, "
                          "from its arrival to its acknowledgement being "
                          "ready.")
              .Add({}, HandlingBuckets())),
      operations_running(
          GaugeFamily(r, "winnow_operations_running",
                      "Long operations (scorers, backups) running now.")),
      operation_seconds(
          HistogramFamily(r, "winnow_operation_seconds",
                          "Run time of finished long operations, by type and "
                          "final state.")) {}

StorageFamilies::StorageFamilies(prometheus::Registry& r)
    : live_sst_bytes(OneGauge(r, "winnow_rocksdb_live_sst_bytes",
                              "Size of the live SST files.")),
      estimated_keys(OneGauge(r, "winnow_rocksdb_estimated_keys",
                              "Estimated number of keys in RocksDB.")),
      pending_compaction_bytes(
          OneGauge(r, "winnow_rocksdb_pending_compaction_bytes",
                   "Estimated bytes compaction must rewrite to bring every "
                   "level under its target size.")),
      memtable_bytes(OneGauge(r, "winnow_rocksdb_memtable_bytes",
                              "Size of all memtables, active and immutable.")),
      immutable_memtables(
          OneGauge(r, "winnow_rocksdb_immutable_memtables",
                   "Immutable memtables waiting to be flushed.")),
      running_compactions(OneGauge(r, "winnow_rocksdb_running_compactions",
                                   "Compactions running now.")),
      running_flushes(OneGauge(r, "winnow_rocksdb_running_flushes",
                               "Memtable flushes running now.")),
      write_stopped(OneGauge(r, "winnow_rocksdb_write_stopped",
                             "1 while RocksDB stops writes until compaction "
                             "or flushes catch up, else 0.")),
      delayed_write_rate(OneGauge(
          r, "winnow_rocksdb_delayed_write_rate_bytes",
          "Rate writes are slowed to while RocksDB delays them, in bytes per "
          "second; 0 when they are not delayed.")),
      block_cache_usage_bytes(OneGauge(r,
                                       "winnow_rocksdb_block_cache_usage_bytes",
                                       "Memory used by the block cache.")),
      block_cache_capacity_bytes(
          OneGauge(r, "winnow_rocksdb_block_cache_capacity_bytes",
                   "Capacity of the block cache.")),
      embedding_memory_bytes(OneGauge(
          r, "winnow_embedding_memory_bytes",
          "Memory held by the collections' embedding matrices (bounded by "
          "max_embedding_memory_bytes).")),
      embedding_matrices(OneGauge(r, "winnow_embedding_matrices",
                                  "Collections whose embedding matrix is in "
                                  "memory.")),
      block_cache_hits(OneCounter(r, "winnow_rocksdb_block_cache_hits_total",
                                  "Block cache hits.")),
      block_cache_misses(OneCounter(
          r, "winnow_rocksdb_block_cache_misses_total", "Block cache misses.")),
      write_stall_seconds(OneCounter(
          r, "winnow_rocksdb_write_stall_seconds_total",
          "Time writes were stalled or delayed by RocksDB, in seconds.")),
      written_bytes(OneCounter(r, "winnow_rocksdb_written_bytes_total",
                               "Bytes written to RocksDB by writes.")),
      read_bytes(OneCounter(r, "winnow_rocksdb_read_bytes_total",
                            "Bytes read from RocksDB by point reads.")),
      compaction_read_bytes(
          OneCounter(r, "winnow_rocksdb_compaction_read_bytes_total",
                     "Bytes read by compactions.")),
      compaction_written_bytes(
          OneCounter(r, "winnow_rocksdb_compaction_written_bytes_total",
                     "Bytes written by compactions.")),
      flush_written_bytes(OneCounter(r,
                                     "winnow_rocksdb_flush_written_bytes_total",
                                     "Bytes written by memtable flushes.")),
      wal_syncs(OneCounter(r, "winnow_rocksdb_wal_syncs_total", "WAL fsyncs.")),
      background_errors(OneCounter(
          r, "winnow_rocksdb_background_errors_total",
          "RocksDB background errors (a failed flush or compaction, such as "
          "on a full disk).")),
      last_refresh_time(
          OneGauge(r, "winnow_rocksdb_last_refresh_timestamp_seconds",
                   "When the storage metrics were last refreshed, in "
                   "seconds since the Unix epoch.")) {}

}  // namespace metrics_internal

// Process metrics, read from /proc/self at each scrape: the standard
// process_* names of the Prometheus client libraries.
class Metrics::ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    ProcessFigures f = ReadProcessFigures();
    std::vector<prometheus::MetricFamily> out;
    auto add = [&](const char* name, const char* help,
                   prometheus::MetricType type, double value) {
      prometheus::MetricFamily family;
      family.name = name;
      family.help = help;
      family.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) {
        m.counter.value = value;
      } else {
        m.gauge.value = value;
      }
      family.metric.push_back(std::move(m));
      out.push_back(std::move(family));
    };
    using prometheus::MetricType;
    add("process_cpu_seconds_total", "Total user and system CPU time spent.",
        MetricType::Counter, f.cpu_seconds);
    add("process_resident_memory_bytes", "Resident memory size.",
        MetricType::Gauge, f.resident_bytes);
    add("process_virtual_memory_bytes", "Virtual memory size.",
        MetricType::Gauge, f.virtual_bytes);
    add("process_open_fds", "Open file descriptors.", MetricType::Gauge,
        f.open_fds);
    add("process_max_fds", "Limit of open file descriptors.", MetricType::Gauge,
        f.max_fds);
    add("process_start_time_seconds",
        "Start time of the process since the Unix epoch.", MetricType::Gauge,
        f.start_time_seconds);
    add("process_threads", "Threads of the process.", MetricType::Gauge,
        f.threads);
    return out;
  }
};

// Refreshes the storage metrics on a steady_timer of its own io_context and
// thread.
class Metrics::StorageRefresher {
 public:
  StorageRefresher(Metrics& metrics, const storage::Store& store,
                   std::chrono::milliseconds interval)
      : metrics_(metrics), store_(store), interval_(interval), timer_(io_) {
    Arm(std::chrono::milliseconds(0));
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops the timer and waits for a refresh in progress.
  ~StorageRefresher() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Arm(std::chrono::milliseconds after) {
    timer_.expires_after(after);
    timer_.async_wait([this](const boost::system::error_code& error) {
      if (error) return;
      metrics_.RefreshStorage(store_);
      Arm(interval_);
    });
  }

  Metrics& metrics_;
  const storage::Store& store_;
  const std::chrono::milliseconds interval_;
  boost::asio::io_context io_;
  boost::asio::steady_timer timer_;
  std::thread thread_;
};

// ---- Metrics ----

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>()),
      families_(std::make_unique<Families>(*registry_)) {}

Metrics::~Metrics() {
  StopStorageRefresh();
  if (exposer_ != nullptr) {
    // The HTTP server's accept loop sees the stop request only when its
    // poll returns, which it does every 2 s or on a new connection: knock
    // until it has stopped, so that shutting down takes milliseconds.
    const size_t colon = address_.rfind(':');
    const std::string host = address_.substr(0, colon);
    const int port = std::atoi(address_.c_str() + colon + 1);
    std::atomic<bool> stopped{false};
    std::thread knocker([&] {
      while (!stopped.load() && Knock(host, port)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    });
    exposer_.reset();
    stopped.store(true);
    knocker.join();
  }
}

absl::Status Metrics::Listen(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics_listen: cannot bind '",
                                               address, "': ", e.what()));
  }
  std::vector<int> ports = exposer_->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    exposer_.reset();
    return absl::UnavailableError(
        absl::StrCat("metrics_listen: cannot bind '", address, "'"));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(process_);
  address_ = absl::StrCat(address.substr(0, address.rfind(':')), ":", ports[0]);
  return absl::OkStatus();
}

void Metrics::StartStorageRefresh(const storage::Store* store,
                                  std::chrono::milliseconds interval) {
  StopStorageRefresh();
  refresher_ = std::make_unique<StorageRefresher>(*this, *store, interval);
}

void Metrics::StopStorageRefresh() { refresher_.reset(); }

void Metrics::RefreshStorage(const storage::Store& store) {
  Families& f = *families_;
  storage::StoreStats st = store.GetStats();
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  f.live_sst_bytes.Set(d(st.live_sst_bytes));
  f.estimated_keys.Set(d(st.estimated_num_keys));
  f.pending_compaction_bytes.Set(d(st.pending_compaction_bytes));
  f.memtable_bytes.Set(d(st.memtable_bytes));
  f.immutable_memtables.Set(d(st.immutable_memtables));
  f.running_compactions.Set(d(st.running_compactions));
  f.running_flushes.Set(d(st.running_flushes));
  f.write_stopped.Set(st.write_stopped != 0 ? 1 : 0);
  f.delayed_write_rate.Set(d(st.delayed_write_rate));
  f.block_cache_usage_bytes.Set(d(st.block_cache_usage_bytes));
  f.block_cache_capacity_bytes.Set(d(st.block_cache_capacity_bytes));
  f.embedding_memory_bytes.Set(d(st.embedding_memory_bytes));
  f.embedding_matrices.Set(d(st.embedding_matrices));
  // Counters follow the store's cumulative figures (never backwards).
  auto follow = [](prometheus::Counter& c, double total) {
    double delta = total - c.Value();
    if (delta > 0) c.Increment(delta);
  };
  follow(f.block_cache_hits, d(st.block_cache_hits));
  follow(f.block_cache_misses, d(st.block_cache_misses));
  follow(f.write_stall_seconds, d(st.write_stall_micros) / 1e6);
  follow(f.written_bytes, d(st.bytes_written));
  follow(f.read_bytes, d(st.bytes_read));
  follow(f.compaction_read_bytes, d(st.compaction_read_bytes));
  follow(f.compaction_written_bytes, d(st.compaction_write_bytes));
  follow(f.flush_written_bytes, d(st.flush_write_bytes));
  follow(f.wal_syncs, d(st.wal_syncs));
  follow(f.background_errors, d(st.background_errors));

  // winnow_documents: one series per existing collection.
  std::vector<storage::CollectionInfo> collections = store.ListCollections();
  absl::flat_hash_set<std::string> now;
  absl::MutexLock lock(&series_mu_);
  for (const storage::CollectionInfo& c : collections) {
    f.documents.Add({{"collection", c.name}}).Set(d(c.num_documents));
    now.insert(c.name);
  }
  for (const std::string& name : documents_names_) {
    if (!now.contains(name)) {
      f.documents.Remove(&f.documents.Add({{"collection", name}}));
    }
  }
  documents_names_ = std::move(now);
  f.last_refresh_time.Set(
      std::chrono::duration<double>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

Metrics::Rpc* Metrics::ForMethod(std::string_view full_method, RpcType type) {
  absl::MutexLock lock(&rpc_mu_);
  std::unique_ptr<Rpc>& slot = rpcs_[std::string(full_method)];
  if (slot == nullptr) {
    slot = std::make_unique<Rpc>();
    Rpc& r = *slot;
    r.metrics_ = this;
    std::tie(r.service_, r.method_) = SplitMethod(full_method);
    r.type_ = type;
    Labels labels = {{"grpc_service", r.service_},
                     {"grpc_method", r.method_},
                     {"grpc_type", std::string(RpcTypeName(type))}};
    Families& f = *families_;
    r.started_ = &f.started.Add(labels);
    r.received_ = &f.msg_received.Add(labels);
    r.sent_ = &f.msg_sent.Add(labels);
    r.handling_ = &f.handling_seconds.Add(labels, HandlingBuckets());
  }
  return slot.get();
}

void Metrics::Rpc::Started() { started_->Increment(); }
void Metrics::Rpc::MessageReceived() { received_->Increment(); }
void Metrics::Rpc::MessageSent() { sent_->Increment(); }

void Metrics::Rpc::Handled(grpc::StatusCode code, double seconds) {
  int c = static_cast<int>(code);
  if (c < 0 || c > 16) c = static_cast<int>(grpc::StatusCode::UNKNOWN);
  prometheus::Counter* counter = handled_[c].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the existing series for equal labels, so a race
    // here stores the same pointer twice.
    counter = &metrics_->families_->handled.Add(
        {{"grpc_service", service_},
         {"grpc_method", method_},
         {"grpc_type", std::string(RpcTypeName(type_))},
         {"grpc_code",
          std::string(GrpcCodeLabel(static_cast<grpc::StatusCode>(c)))}});
    handled_[c].store(counter, std::memory_order_release);
  }
  counter->Increment();
  handling_->Observe(seconds);
}

void Metrics::RecordSampleBatch(std::string_view collection,
                                std::span<const DomainCount> served,
                                double padding_ratio) {
  Families& f = *families_;
  for (const DomainCount& dc : served) {
    if (dc.count == 0) continue;
    f.samples_served
        .Add({{"collection", std::string(collection)},
              {"domain", std::string(dc.domain)}})
        .Increment(static_cast<double>(dc.count));
  }
  f.padding_ratio.Observe(std::clamp(padding_ratio, 0.0, 1.0));
}

void Metrics::SetMixtureTarget(
    std::string_view collection,
    std::span<const std::pair<std::string_view, double>> shares) {
  Families& f = *families_;
  absl::MutexLock lock(&series_mu_);
  std::set<std::string>& known = target_domains_[std::string(collection)];
  std::set<std::string> now;
  for (const auto& [domain, share] : shares) {
    f.mixture_target_share
        .Add({{"collection", std::string(collection)},
              {"domain", std::string(domain)}})
        .Set(share);
    now.insert(std::string(domain));
  }
  for (const std::string& domain : known) {
    if (!now.contains(domain)) {
      f.mixture_target_share.Remove(&f.mixture_target_share.Add(
          {{"collection", std::string(collection)}, {"domain", domain}}));
    }
  }
  known = std::move(now);
}

void Metrics::SetServedMixtureDrift(std::string_view collection,
                                    std::string_view plan, double drift) {
  absl::MutexLock lock(&series_mu_);
  drift_plans_[std::string(collection)].insert(std::string(plan));
  families_->mixture_drift
      .Add({{"collection", std::string(collection)},
            {"plan", std::string(plan)}})
      .Set(drift);
}

void Metrics::ForgetPlan(std::string_view collection, std::string_view plan) {
  Families& f = *families_;
  absl::MutexLock lock(&series_mu_);
  auto it = drift_plans_.find(std::string(collection));
  if (it == drift_plans_.end() || it->second.erase(std::string(plan)) == 0) {
    return;
  }
  f.mixture_drift.Remove(&f.mixture_drift.Add(
      {{"collection", std::string(collection)}, {"plan", std::string(plan)}}));
}

void Metrics::ForgetCollection(std::string_view collection) {
  Families& f = *families_;
  const std::string name(collection);
  absl::MutexLock lock(&series_mu_);
  auto it = target_domains_.find(name);
  if (it != target_domains_.end()) {
    for (const std::string& domain : it->second) {
      f.mixture_target_share.Remove(&f.mixture_target_share.Add(
          {{"collection", name}, {"domain", domain}}));
    }
    target_domains_.erase(it);
  }
  auto plans = drift_plans_.find(name);
  if (plans != drift_plans_.end()) {
    for (const std::string& plan : plans->second) {
      f.mixture_drift.Remove(
          &f.mixture_drift.Add({{"collection", name}, {"plan", plan}}));
    }
    drift_plans_.erase(plans);
  }
  // winnow_samples_served_total and winnow_feedback_reports_total are
  // counters: they keep their last value, as Prometheus expects (a counter
  // that disappears and returns would read as a reset).
}

void Metrics::SetPlans(int64_t count, int64_t memory_bytes) {
  families_->plans.Set(static_cast<double>(count));
  families_->plan_memory_bytes.Set(static_cast<double>(memory_bytes));
}

void Metrics::RecordFeedbackReports(std::string_view collection,
                                    uint64_t reports, double seconds) {
  families_->feedback_reports.Add({{"collection", std::string(collection)}})
      .Increment(static_cast<double>(reports));
  families_->feedback_report_seconds.Observe(seconds);
}

void Metrics::OperationStarted(std::string_view type) {
  families_->operations_running.Add({{"type", std::string(type)}}).Increment();
}

void Metrics::OperationEnded(std::string_view type, std::string_view state,
                             double seconds) {
  families_->operations_running.Add({{"type", std::string(type)}}).Decrement();
  families_->operation_seconds
      .Add({{"type", std::string(type)}, {"state", std::string(state)}},
           OperationBuckets())
      .Observe(seconds);
}

std::string Metrics::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  std::vector<prometheus::MetricFamily> process = process_->Collect();
  families.insert(families.end(), std::make_move_iterator(process.begin()),
                  std::make_move_iterator(process.end()));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace winnow::server
