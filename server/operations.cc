#include "server/operations.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace winnow::server {

using winnow::v1::Operation;
using winnow::v1::OperationKind;
using winnow::v1::OperationState;

namespace {

constexpr char kRestartMessage[] =
    "the server restarted while the operation was pending or running; "
    "start it again";
constexpr char kShutdownMessage[] =
    "the server shut down before the operation ended; start it again";

// Record: fixed32 length of the request key, the key, the Operation.
std::string EncodeRecord(const std::string& request_key, const Operation& op) {
  std::string out(4, '\0');
  const uint32_t n = static_cast<uint32_t>(request_key.size());
  std::memcpy(out.data(), &n, 4);
  out += request_key;
  op.AppendToString(&out);
  return out;
}

bool DecodeRecord(const std::string& record, std::string* request_key,
                  Operation* op) {
  if (record.size() < 4) return false;
  uint32_t n = 0;
  std::memcpy(&n, record.data(), 4);
  if (record.size() - 4 < n) return false;
  request_key->assign(record, 4, n);
  return op->ParseFromArray(record.data() + 4 + n,
                            static_cast<int>(record.size() - 4 - n));
}

std::string RequestKey(const JobSpec& spec) {
  if (spec.request_id.empty()) return "";
  return absl::StrCat(static_cast<int>(spec.kind), "/", spec.collection, "/",
                      spec.request_id);
}

void SetError(const absl::Status& status, Operation* op) {
  op->mutable_error()->set_code(static_cast<int32_t>(status.code()));
  op->mutable_error()->set_message(std::string(status.message()));
}

// Marks `op` terminal in `state` at `now`.
void EndOp(OperationState state, absl::Time now, Operation* op) {
  op->set_state(state);
  op->set_done(true);
  op->set_cancel_requested(false);
  op->clear_eta();
  SetTimestamp(now, op->mutable_end_time());
  SetTimestamp(now, op->mutable_update_time());
}

void LowerPriority(int nice) {
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0) {
    spdlog::warn("operations: cannot set the job thread's nice to {}: {}", nice,
                 std::strerror(errno));
  }
}

}  // namespace

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t micros = absl::ToUnixMicros(t);
  ts->set_seconds(micros / 1000000);
  ts->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id: at most 128 bytes, got ", request_id.size()));
  }
  return absl::OkStatus();
}

std::string_view OperationKindName(OperationKind kind) {
  switch (kind) {
    case winnow::v1::OPERATION_KIND_COMPUTE_SCORES:
      return "scorer";
    case winnow::v1::OPERATION_KIND_BACKUP:
      return "backup";
    default:
      return "unspecified";
  }
}

std::string_view OperationStateName(OperationState state) {
  switch (state) {
    case winnow::v1::OPERATION_STATE_PENDING:
      return "pending";
    case winnow::v1::OPERATION_STATE_RUNNING:
      return "running";
    case winnow::v1::OPERATION_STATE_SUCCEEDED:
      return "succeeded";
    case winnow::v1::OPERATION_STATE_FAILED:
      return "failed";
    case winnow::v1::OPERATION_STATE_CANCELLED:
      return "cancelled";
    default:
      return "unspecified";
  }
}

// One operation. `op`, `cancel_reason` and `shutdown` are guarded by the
// manager's mu_; `last_persist` by persist_mu.
struct OperationManager::Entry {
  absl::Mutex persist_mu;
  absl::Time last_persist = absl::InfinitePast();
  Operation op;
  std::string request_key;
  std::vector<std::pair<std::string, std::string>> columns;
  JobFn run;
  std::atomic<bool> cancel{false};
  std::string cancel_reason;
  bool shutdown = false;
};

// The JobContext a job reports to.
class OperationManager::Context final : public JobContext {
 public:
  Context(OperationManager* manager, std::shared_ptr<Entry> entry)
      : manager_(manager), entry_(std::move(entry)) {}

  void SetPhase(std::string phase) override {
    Update([&](Operation& op) { op.set_phase(std::move(phase)); });
  }
  void SetTotal(int64_t items_total, std::string unit) override {
    Update([&](Operation& op) {
      op.set_items_total(std::max<int64_t>(0, items_total));
      op.set_item_unit(std::move(unit));
      Rederive(op);
    });
  }
  void SetDone(int64_t items_done) override {
    Update([&](Operation& op) {
      if (items_done <= op.items_done()) return;
      op.set_items_done(items_done);
      Rederive(op);
    });
  }
  bool Cancelled() const override { return entry_->cancel.load(); }

 private:
  template <typename F>
  void Update(F f) {
    {
      absl::MutexLock lock(&manager_->mu_);
      f(entry_->op);
      manager_->Touch(*entry_);
    }
    manager_->Persist(*entry_, /*only_if_due=*/true);
  }

  // The fraction and the ETA, from the rate so far.
  static void Rederive(Operation& op) {
    const int64_t total = op.items_total();
    const int64_t done = op.items_done();
    if (total <= 0) return;
    const double fraction =
        std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    op.set_progress_fraction(std::max(op.progress_fraction(), fraction));
    if (done <= 0 || !op.has_start_time()) return;
    const absl::Duration elapsed = absl::Now() - FromTimestamp(op.start_time());
    const absl::Duration eta =
        done >= total ? absl::ZeroDuration()
                      : elapsed * (static_cast<double>(total - done) /
                                   static_cast<double>(done));
    const int64_t nanos = absl::ToInt64Nanoseconds(eta);
    op.mutable_eta()->set_seconds(nanos / 1000000000);
    op.mutable_eta()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  }

  OperationManager* const manager_;
  const std::shared_ptr<Entry> entry_;
};

OperationManager::OperationManager(storage::Store* store,
                                   OperationOptions options, Metrics* metrics)
    : store_(store), options_(std::move(options)), metrics_(metrics) {}

OperationManager::~OperationManager() { Shutdown(); }

absl::Status OperationManager::Init() {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListOperationRecords();
  if (!records.ok()) return records.status();
  const absl::Time now = absl::Now();
  std::vector<std::shared_ptr<Entry>> interrupted;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, record] : *records) {
      auto entry = std::make_shared<Entry>();
      if (!DecodeRecord(record, &entry->request_key, &entry->op)) {
        spdlog::warn("operations: skipping the unreadable record of '{}'", id);
        continue;
      }
      if (!entry->op.done()) {
        SetError(absl::UnavailableError(kRestartMessage), &entry->op);
        EndOp(winnow::v1::OPERATION_STATE_FAILED, now, &entry->op);
        interrupted.push_back(entry);
      }
      if (!entry->request_key.empty()) by_request_[entry->request_key] = id;
      entries_[id] = std::move(entry);
    }
  }
  for (const auto& entry : interrupted) {
    spdlog::warn("operations: {} ({}) was interrupted by a restart; FAILED",
                 entry->op.operation_id(), OperationKindName(entry->op.kind()));
    Persist(*entry, /*only_if_due=*/false);
  }
  PruneNow();
  for (int i = 0; i < options_.threads; ++i) {
    threads_.emplace_back([this] { RunPool(); });
  }
  return absl::OkStatus();
}

std::string OperationManager::NewId(absl::Time now) const {
  static thread_local std::mt19937 random(std::random_device{}());
  return absl::StrFormat("op-%016x-%08x",
                         static_cast<uint64_t>(absl::ToUnixMicros(now)),
                         static_cast<uint32_t>(random()));
}

absl::Status OperationManager::CheckColumnsFree(const JobSpec& spec) const {
  for (const auto& column : spec.columns) {
    if (!columns_.contains(column)) continue;
    std::string holder;
    for (const auto& [id, entry] : entries_) {
      if (!entry->op.done() &&
          std::find(entry->columns.begin(), entry->columns.end(), column) !=
              entry->columns.end()) {
        holder = id;
      }
    }
    return absl::FailedPreconditionError(
        absl::StrCat("score column '", column.second, "' of collection '",
                     column.first, "' is being written by operation ", holder,
                     "; wait for it or cancel it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Operation> OperationManager::Start(JobSpec spec) {
  const absl::Time now = absl::Now();
  std::shared_ptr<Entry> entry;
  Operation created;  // as created: PENDING
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("server is shutting down");
    const std::string key = RequestKey(spec);
    if (auto it = by_request_.find(key);
        !key.empty() && it != by_request_.end()) {
      auto found = entries_.find(it->second);
      if (found != entries_.end() &&
          now - FromTimestamp(found->second->op.create_time()) <
              options_.request_lifetime) {
        return found->second->op;
      }
    }
    if (absl::Status s = CheckColumnsFree(spec); !s.ok()) return s;
    if (UnfinishedLocked() >= options_.threads + options_.max_queued) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many operations: ", options_.threads,
          " running and the server's limit max_queued_operations (",
          options_.max_queued, ") waiting; retry when one ends"));
    }
    entry = std::make_shared<Entry>();
    Operation& op = entry->op;
    std::string id = NewId(now);
    while (entries_.contains(id)) id = NewId(now);
    op.set_operation_id(id);
    op.set_kind(spec.kind);
    op.set_state(winnow::v1::OPERATION_STATE_PENDING);
    op.set_collection(spec.collection);
    op.set_phase("waiting for a thread");
    SetTimestamp(now, op.mutable_create_time());
    SetTimestamp(now, op.mutable_update_time());
    if (spec.kind == winnow::v1::OPERATION_KIND_COMPUTE_SCORES) {
      *op.mutable_scorer() = spec.scorer;
    }
    entry->request_key = key;
    entry->columns = std::move(spec.columns);
    entry->run = std::move(spec.run);
    for (const auto& column : entry->columns) columns_.insert(column);
    if (!key.empty()) by_request_[key] = id;
    entries_[id] = entry;
    queue_.push_back(entry);
    created = op;
    changed_.SignalAll();
  }
  Persist(*entry, /*only_if_due=*/false);
  return created;
}

int64_t OperationManager::UnfinishedLocked() const {
  int64_t n = 0;
  for (const auto& [id, entry] : entries_) n += entry->op.done() ? 0 : 1;
  return n;
}

int64_t OperationManager::Unfinished() const {
  absl::MutexLock lock(&mu_);
  return UnfinishedLocked();
}

absl::StatusOr<Operation> OperationManager::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("operation_id: no operation '", id, "'"));
  }
  return it->second->op;
}

std::vector<Operation> OperationManager::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<Operation> out;
  out.reserve(entries_.size());
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    out.push_back(it->second->op);
  }
  return out;
}

absl::StatusOr<Operation> OperationManager::Cancel(const std::string& id) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) {
      return absl::NotFoundError(
          absl::StrCat("operation_id: no operation '", id, "'"));
    }
    entry = it->second;
  }
  RequestCancel(entry, "cancelled through CancelOperation");
  absl::MutexLock lock(&mu_);
  return entry->op;
}

void OperationManager::CancelCollection(const std::string& collection) {
  std::vector<std::shared_ptr<Entry>> found;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, entry] : entries_) {
      if (entry->op.collection() == collection && !entry->op.done()) {
        found.push_back(entry);
      }
    }
  }
  for (const auto& entry : found) {
    RequestCancel(entry,
                  absl::StrCat("collection '", collection, "' was deleted"));
  }
}

void OperationManager::RequestCancel(const std::shared_ptr<Entry>& entry,
                                     const std::string& reason) {
  bool was_pending = false;
  {
    absl::MutexLock lock(&mu_);
    if (entry->op.done() || entry->cancel.load()) return;
    entry->cancel_reason = reason;
    entry->cancel.store(true);
    auto it = std::find(queue_.begin(), queue_.end(), entry);
    if (it != queue_.end()) {
      queue_.erase(it);
      was_pending = true;
    } else {
      entry->op.set_cancel_requested(true);
      Touch(*entry);
    }
  }
  if (was_pending) {
    Finish(*entry, absl::CancelledError(reason), Operation());
  } else {
    Persist(*entry, /*only_if_due=*/false);
  }
}

absl::StatusOr<Operation> OperationManager::WaitDone(const std::string& id,
                                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return absl::NotFoundError(
        absl::StrCat("operation_id: no operation '", id, "'"));
  }
  const std::shared_ptr<Entry> entry = it->second;
  while (!entry->op.done()) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return entry->op;
}

int OperationManager::PruneNow() {
  const absl::Time cutoff = absl::Now() - options_.retention;
  std::vector<std::string> pruned;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      const Operation& op = it->second->op;
      if (op.done() && FromTimestamp(op.end_time()) < cutoff) {
        if (!it->second->request_key.empty()) {
          by_request_.erase(it->second->request_key);
        }
        pruned.push_back(it->first);
        it = entries_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const std::string& id : pruned) {
    if (absl::Status s = store_->DeleteOperationRecord(id); !s.ok()) {
      spdlog::warn("operations: pruning {}: {}", id, s.ToString());
    }
  }
  if (!pruned.empty()) {
    spdlog::info("operations: pruned {} records older than {}", pruned.size(),
                 absl::FormatDuration(options_.retention));
  }
  return static_cast<int>(pruned.size());
}

void OperationManager::Shutdown() {
  std::vector<std::shared_ptr<Entry>> pending;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (const auto& [id, entry] : entries_) {
      if (!entry->op.done()) {
        entry->shutdown = true;
        entry->cancel.store(true);
      }
    }
    pending.swap(queue_);
    changed_.SignalAll();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  // Never to run: ended now, so that whoever waits for them wakes.
  for (const auto& entry : pending) {
    Finish(*entry, absl::UnavailableError(kShutdownMessage), Operation());
  }
}

void OperationManager::RunPool() {
  LowerPriority(options_.nice);
  absl::Time next_prune = absl::Now() + options_.prune_interval;
  while (true) {
    std::shared_ptr<Entry> entry;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queue_.empty() && absl::Now() < next_prune) {
        changed_.WaitWithDeadline(&mu_, next_prune);
      }
      if (stopping_) return;
      if (!queue_.empty()) {
        entry = queue_.front();
        queue_.erase(queue_.begin());
        const absl::Time now = absl::Now();
        entry->op.set_state(winnow::v1::OPERATION_STATE_RUNNING);
        entry->op.set_phase("running");
        SetTimestamp(now, entry->op.mutable_start_time());
        Touch(*entry);
      }
    }
    if (entry == nullptr) {
      PruneNow();
      next_prune = absl::Now() + options_.prune_interval;
      continue;
    }
    RunJob(entry);
  }
}

void OperationManager::RunJob(const std::shared_ptr<Entry>& entry) {
  Persist(*entry, /*only_if_due=*/false);
  if (metrics_ != nullptr) {
    metrics_->OperationStarted(OperationKindName(entry->op.kind()));
  }
  Context context(this, entry);
  Operation result;
  absl::Status status = entry->run(context, &result);
  Finish(*entry, status, result);
}

void OperationManager::Finish(Entry& entry, const absl::Status& status,
                              const Operation& result) {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    Operation& op = entry.op;
    OperationState state = winnow::v1::OPERATION_STATE_SUCCEEDED;
    if (status.ok()) {
      if (result.has_backup()) *op.mutable_backup() = result.backup();
      if (result.has_compute_scores_result()) {
        *op.mutable_compute_scores_result() = result.compute_scores_result();
      }
      op.set_progress_fraction(1.0);
      if (op.items_total() > 0) op.set_items_done(op.items_total());
      op.set_phase("done");
    } else if (entry.shutdown) {
      state = winnow::v1::OPERATION_STATE_FAILED;
      SetError(absl::UnavailableError(kShutdownMessage), &op);
    } else if (entry.cancel.load()) {
      state = winnow::v1::OPERATION_STATE_CANCELLED;
      SetError(absl::CancelledError(entry.cancel_reason), &op);
      op.set_phase("cancelled");
    } else {
      state = winnow::v1::OPERATION_STATE_FAILED;
      SetError(status, &op);
      op.set_phase("failed");
    }
    EndOp(state, now, &op);
    for (const auto& column : entry.columns) columns_.erase(column);
    // Before anyone waiting for the end wakes, so that they see it counted.
    if (metrics_ != nullptr && op.has_start_time()) {
      metrics_->OperationEnded(
          OperationKindName(op.kind()), OperationStateName(state),
          absl::ToDoubleSeconds(now - FromTimestamp(op.start_time())));
    }
    changed_.SignalAll();
  }
  Persist(entry, /*only_if_due=*/false);
}

void OperationManager::Touch(Entry& entry) {
  SetTimestamp(absl::Now(), entry.op.mutable_update_time());
  changed_.SignalAll();
}

void OperationManager::Persist(Entry& entry, bool only_if_due) {
  absl::MutexLock persist_lock(&entry.persist_mu);
  const absl::Time now = absl::Now();
  if (only_if_due && now - entry.last_persist < options_.persist_interval) {
    return;
  }
  std::string record;
  std::string id;
  {
    absl::MutexLock lock(&mu_);
    record = EncodeRecord(entry.request_key, entry.op);
    id = entry.op.operation_id();
  }
  entry.last_persist = now;
  if (absl::Status s = store_->PutOperationRecord(id, record); !s.ok()) {
    spdlog::error("operations: writing the record of {}: {}", id, s.ToString());
  }
}

}  // namespace winnow::server
