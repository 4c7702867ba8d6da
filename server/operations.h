// OperationManager: the framework every long job runs on (docs/operations.md,
// "Operations"). A job (a backup, a scorer) is a function of a JobContext
// (selection/job.h); the manager queues it, runs it on a small pool of
// low-priority threads, tracks its progress in a winnow.v1.Operation, and
// persists that record in the store (Store::PutOperationRecord) on every
// state change and at most about once a second on progress.
//
//   OperationManager ops(store, options, metrics);
//   ops.Init();                        // before serving
//   JobSpec spec{.kind = OPERATION_KIND_BACKUP, .run = ...};
//   absl::StatusOr<Operation> op = ops.Start(std::move(spec));
//
// Rules:
//  - at most `threads` + `max_queued` jobs are pending or running; one more
//    is RESOURCE_EXHAUSTED naming max_queued_operations;
//  - the job threads run at nice `nice` (setpriority on the thread itself);
//    threads a job starts, such as OpenBLAS's, inherit it;
//  - a job declares the score columns (collection, score name) it writes; a
//    second job writing one of them while the first is pending or running
//    is refused with FAILED_PRECONDITION naming the column;
//  - a request key (the caller's request_id, with the kind and collection)
//    seen in the last 24 hours returns the operation it started, also after
//    a restart (the key is persisted with the record);
//  - Init() turns the records left PENDING or RUNNING by a previous process
//    into FAILED with code UNAVAILABLE ("the server restarted ..."), and
//    prunes finished records older than the retention, as does each pool
//    thread once an hour;
//  - Cancel() sets cancel_requested and the job's Cancelled(); a job that
//    then returns an error ends CANCELLED (one that returns OK, having
//    finished before it noticed, ends SUCCEEDED); a pending job ends
//    CANCELLED at once. DeleteCollection calls
//    CancelCollection(). At Shutdown() running jobs are told to stop, and
//    they and the pending ones end FAILED with UNAVAILABLE ("the server shut
//    down ..."); a job that was killed with the process is marked so at the
//    next Init().
//
// Operation ids are "op-" + 16 hex digits of the creation time in
// microseconds + "-" + 8 random hex digits, so that ids sort by age.
//
// Thread safety: all methods are thread-safe. Lock order: an entry's
// persist_mu, then mu_.
#ifndef WINNOW_SERVER_OPERATIONS_H_
#define WINNOW_SERVER_OPERATIONS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "selection/job.h"
#include "server/metrics.h"
#include "storage/store.h"
#include "winnow/v1/operation.pb.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

struct OperationOptions {
  int threads = 1;
  int64_t max_queued = 16;
  int nice = 10;
  absl::Duration retention = absl::Hours(24 * 7);
  // Least time between two writes of a running job's progress.
  absl::Duration persist_interval = absl::Seconds(1);
  // How long a request key returns the operation it started.
  absl::Duration request_lifetime = absl::Hours(24);
  // How often the pool prunes finished records.
  absl::Duration prune_interval = absl::Hours(1);
};

// What a job does. `result` is the operation's record: a job sets its
// result (backup, compute_scores_result) there on success; the manager
// sets everything else.
using JobFn =
    std::function<absl::Status(JobContext& context, winnow::v1::Operation*)>;

struct JobSpec {
  winnow::v1::OperationKind kind = winnow::v1::OPERATION_KIND_UNSPECIFIED;
  // Empty for server-wide jobs (backups).
  std::string collection;
  // The caller's request_id; empty for none.
  std::string request_id;
  // The score columns the job writes: (collection, score name).
  std::vector<std::pair<std::string, std::string>> columns;
  // Copied into Operation.scorer for COMPUTE_SCORES jobs.
  winnow::v1::Scorer scorer;
  JobFn run;
};

class OperationManager {
 public:
  // `metrics` may be null.
  OperationManager(storage::Store* store, OperationOptions options,
                   Metrics* metrics);
  // Shutdown() if not done.
  ~OperationManager();

  OperationManager(const OperationManager&) = delete;
  OperationManager& operator=(const OperationManager&) = delete;

  // Loads the stored records (marking interrupted ones FAILED), prunes, and
  // starts the pool. Errors: the store's.
  absl::Status Init() ABSL_LOCKS_EXCLUDED(mu_);

  // Queues the job and returns its operation (PENDING), or the operation a
  // repeated request_id started. RESOURCE_EXHAUSTED past the queue limit,
  // FAILED_PRECONDITION for a column another job writes, UNAVAILABLE after
  // Shutdown().
  absl::StatusOr<winnow::v1::Operation> Start(JobSpec spec)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The operation as of now; NOT_FOUND if unknown (or pruned).
  absl::StatusOr<winnow::v1::Operation> Get(const std::string& id) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every known operation, newest first (by id).
  std::vector<winnow::v1::Operation> List() const ABSL_LOCKS_EXCLUDED(mu_);

  // Asks the job to stop; returns the operation just after. NOT_FOUND if
  // unknown; a finished operation is returned unchanged.
  absl::StatusOr<winnow::v1::Operation> Cancel(const std::string& id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels every unfinished operation on `collection`.
  void CancelCollection(const std::string& collection) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until the operation is done or `timeout` passes, then returns it
  // as of then. NOT_FOUND if unknown.
  absl::StatusOr<winnow::v1::Operation> WaitDone(const std::string& id,
                                                 absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Deletes finished records older than the retention; returns how many.
  int PruneNow() ABSL_LOCKS_EXCLUDED(mu_);

  // Operations pending or running now.
  int64_t Unfinished() const ABSL_LOCKS_EXCLUDED(mu_);

  // Stops the pool: running jobs are told to stop, and end FAILED
  // (UNAVAILABLE) unless they succeed first; pending ones end FAILED at
  // once; joins the threads. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry;
  class Context;

  void RunPool() ABSL_LOCKS_EXCLUDED(mu_);
  void RunJob(const std::shared_ptr<Entry>& entry) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the entry: SUCCEEDED with `result`'s outcome when `status` is OK,
  // otherwise FAILED or CANCELLED (after a cancel request).
  void Finish(Entry& entry, const absl::Status& status,
              const winnow::v1::Operation& result) ABSL_LOCKS_EXCLUDED(mu_);
  void RequestCancel(const std::shared_ptr<Entry>& entry,
                     const std::string& reason) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t UnfinishedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the entry's record as of now (unless `only_if_due` and the last
  // write was under persist_interval ago).
  void Persist(Entry& entry, bool only_if_due) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckColumnsFree(const JobSpec& spec) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewId(absl::Time now) const;
  void Touch(Entry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  storage::Store* const store_;
  const OperationOptions options_;
  Metrics* const metrics_;

  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a job was queued, progressed or ended
  std::map<std::string, std::shared_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Entry>> queue_ ABSL_GUARDED_BY(mu_);
  // Request key -> operation id.
  std::map<std::string, std::string> by_request_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<std::string, std::string>> columns_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// ComputeScores' scorers by Scorer kind (docs/operations.md, "Operations"):
// a factory turns a validated request into the job that runs it (the
// columns it writes and its function); ComputeScores fills in the kind,
// collection, request_id and scorer. A kind with no factory answers
// UNIMPLEMENTED. Register before serving; Find is then thread-safe.
using ScorerFactory = std::function<absl::StatusOr<JobSpec>(
    const winnow::v1::ComputeScoresRequest& request)>;

class ScorerRegistry {
 public:
  void Register(winnow::v1::Scorer::KindCase kind, ScorerFactory factory) {
    factories_[kind] = std::move(factory);
  }
  // Null if none is registered.
  const ScorerFactory* Find(winnow::v1::Scorer::KindCase kind) const {
    auto it = factories_.find(kind);
    return it == factories_.end() ? nullptr : &it->second;
  }

 private:
  std::map<winnow::v1::Scorer::KindCase, ScorerFactory> factories_;
};

// Timestamp conversions, to the microsecond.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

// The request_id check shared by the RPCs that start jobs:
// INVALID_ARGUMENT naming request_id past 128 bytes.
absl::Status ValidateRequestId(const std::string& request_id);

// Kind and state names, as metrics and logs use them ("backup",
// "scorer"; "succeeded", "failed", "cancelled").
std::string_view OperationKindName(winnow::v1::OperationKind kind);
std::string_view OperationStateName(winnow::v1::OperationState state);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_OPERATIONS_H_
