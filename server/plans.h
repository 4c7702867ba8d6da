// Sampling plans (design §4 "Plan lifecycle", "One generator per plan").
//
// A Plan is what a SampleRequest's plan fields ask for, frozen: the
// candidates that passed the filter and the strategy's selection, in the
// strategy's canonical order, with their lengths (and weights, domains) as
// they were at the freeze. It is persisted durably, in one atomic write,
// before its first batch, and it owns the one PlanSampler (selection/) that
// produces its global batches for every rank. Stateful epochs (mixture,
// token budget) persist their epoch index when first opened, so a resume
// after a restart regenerates at most K batches.
//
// PlanRegistry maps plan keys (the plan fields, run_id included, without
// rank, world size or cursor) to plans, creates each plan once even when
// identical first requests race, loads persisted plans lazily after a
// restart, deletes them (DeletePlan, or idle for the TTL), and holds the
// cursor codec whose key lives in the database.
//
// Thread safety: PlanRegistry and Plan are thread-safe. A Plan serializes
// its generator under its own lock; the registry's lock is never held while
// a plan is frozen or loaded.
#ifndef WINNOW_SERVER_PLANS_H_
#define WINNOW_SERVER_PLANS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/plan_sampler.h"
#include "server/cursor.h"
#include "storage/store.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

struct PlanOptions {
  // A plan unused for this long is deleted (design §4: 30 days).
  int64_t ttl_seconds = int64_t{30} * 24 * 3600;
  // K: global batches between persisted sampler checkpoints.
  uint64_t checkpoint_every = 64;
  // Memory all loaded plans may hold; a new plan past it is
  // RESOURCE_EXHAUSTED. 0 = no limit.
  int64_t max_plan_memory_bytes = 0;
  // Live plans per token (owner); 0 = no limit. Plans created without a
  // token have no owner and no quota.
  int64_t max_plans_per_token = 0;
};

class Plan {
 public:
  const std::string& id() const { return id_; }
  const std::string& key() const { return key_; }
  const std::string& owner() const { return owner_; }
  const std::string& collection() const { return description_.collection(); }
  uint32_t collection_id() const { return collection_id_; }
  uint64_t freeze_seq() const { return freeze_seq_; }
  uint32_t sampler_version() const { return description_.sampler_version(); }
  // Epochs to serve; 0 = unbounded (repetition_budget resolves its own).
  uint64_t num_epochs() const { return num_epochs_; }
  bool drop_last() const { return description_.drop_last(); }
  bool token_budget() const { return description_.has_token_budget(); }
  // The constant description; Describe() adds the live fields.
  const winnow::v1::Plan& description() const { return description_; }
  const std::optional<winnow::v1::RepetitionBudgetPrediction>& prediction()
      const {
    return prediction_;
  }
  winnow::v1::Plan Describe() const;

  // Loads the frozen state (after a restart) if needed, then opens epoch
  // e, persisting its index the first time.
  absl::StatusOr<EpochInfo> OpenEpoch(uint64_t e);
  // Global batch j of epoch e, as candidate indices; see frozen(). Reopens
  // the epoch if the sampler closed it since this caller opened it (ranks
  // of one plan may be epochs apart; the sampler keeps two open).
  absl::Status GetBatch(uint64_t e, uint64_t j, Batch* out);
  // The frozen arrays; valid once OpenEpoch has succeeded. Immutable.
  const FrozenCandidates& frozen() const { return *frozen_; }

  bool deleted() const { return deleted_.load(); }
  // Counts open streams; when the last one closes, the plan drops its open
  // epochs' buffers (the keys of a 1M-candidate epoch are 12 MB).
  void AddStream(int delta);
  void Touch();
  int64_t MemoryBytes() const;
  std::chrono::system_clock::time_point last_use() const;

 private:
  friend class PlanRegistry;
  Plan() = default;
  absl::Status EnsureLoaded();  // requires mu_
  absl::StatusOr<EpochInfo> OpenEpochLocked(uint64_t e);  // requires mu_

  storage::Store* store_ = nullptr;
  std::string id_;
  std::string key_;
  std::string owner_;
  uint32_t collection_id_ = 0;
  uint64_t freeze_seq_ = 0;
  uint64_t num_epochs_ = 0;
  uint64_t checkpoint_every_ = 64;
  winnow::v1::Plan description_;
  std::optional<winnow::v1::RepetitionBudgetPrediction> prediction_;

  mutable std::mutex mu_;
  std::shared_ptr<const FrozenCandidates> frozen_;  // GUARDED_BY(mu_) once
  std::unique_ptr<PlanSampler> sampler_;            // GUARDED_BY(mu_)
  std::atomic<int64_t> memory_bytes_{0};
  std::atomic<int64_t> last_use_ns_{0};  // system clock
  std::atomic<int64_t> persisted_use_ns_{0};
  std::atomic<int> streams_{0};
  std::atomic<bool> deleted_{false};
};

class PlanRegistry {
 public:
  PlanRegistry(storage::Store* store, PlanOptions options);
  ~PlanRegistry();
  PlanRegistry(const PlanRegistry&) = delete;
  PlanRegistry& operator=(const PlanRegistry&) = delete;

  // Reads the cursor key and the persisted plans' descriptions, and starts
  // the expiry thread.
  absl::Status Init();

  const CursorCodec& cursors() const { return *cursors_; }

  // The plan `request`'s plan fields name, created (frozen and persisted)
  // if there is none. `owner` is the token's name ("" without tokens).
  absl::StatusOr<std::shared_ptr<Plan>> FindOrCreate(
      const winnow::v1::SampleRequest& request, const std::string& owner);
  // NOT_FOUND if there is no plan `plan_id`.
  absl::StatusOr<std::shared_ptr<Plan>> Get(const std::string& plan_id);
  // Deletes a plan: its streams end FAILED_PRECONDITION, its cursors are
  // refused. Returns the memory released; NOT_FOUND if there is none.
  absl::StatusOr<int64_t> Delete(const std::string& plan_id);
  // Every live plan, newest first.
  std::vector<std::shared_ptr<Plan>> List() const;
  int64_t TotalMemoryBytes() const;
  // Called with (live plans, their memory) after every create, delete and
  // expiry (the metrics' winnow_plans and winnow_plan_memory_bytes). Set
  // before the server starts.
  void set_on_change(std::function<void(int64_t, int64_t)> fn) {
    on_change_ = std::move(fn);
  }
  void NotifyChange() const;

  // Deletes the plans unused for the TTL; returns how many.
  int ExpireIdle(std::chrono::system_clock::time_point now);

  // The key of a request's plan fields: the request less rank, world size,
  // cursor, plan_id and the response options, with drop_last resolved.
  static std::string PlanKey(const winnow::v1::SampleRequest& request);
  // True if any plan field of `request` is set.
  static bool HasPlanFields(const winnow::v1::SampleRequest& request);

 private:
  absl::StatusOr<std::shared_ptr<Plan>> Create(
      const winnow::v1::SampleRequest& request, const std::string& key,
      const std::string& owner);

  storage::Store* const store_;
  const PlanOptions options_;
  std::function<void(int64_t, int64_t)> on_change_;
  std::unique_ptr<CursorCodec> cursors_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Plan>> by_id_;  // GUARDED_BY(mu_)
  std::map<std::string, std::string> by_key_;           // GUARDED_BY(mu_)
  std::map<std::string,
           std::shared_future<absl::StatusOr<std::shared_ptr<Plan>>>>
      creating_;  // GUARDED_BY(mu_)

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // GUARDED_BY(stop_mu_)
  std::thread expiry_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_PLANS_H_
