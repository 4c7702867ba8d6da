// Sampling plans: their lifecycle (docs/sampling.md "Plans").
//
// A Plan is a frozen plan (selection/plan_builder.h) with what the server
// keeps around it: its id, owner and persisted entries, the one PlanSampler
// that produces its global batches for every rank, its open streams and
// last use, and, for mixtures, what it served in the current epoch. It is
// persisted durably, in one atomic write, before its first batch; stateful
// epochs (mixture, token budget) persist their epoch index when first
// opened, so a resume after a restart regenerates at most K batches.
//
// PlanRegistry keeps the live plans: it finds a request's plan or creates
// it once even when first requests race, keys a plan by (collection,
// run_id) when the run is named and by all of its plan fields when not,
// loads persisted plans lazily after a restart, enforces the plan memory
// and per-token quotas, deletes plans (DeletePlan, or idle for the TTL),
// and holds the cursor codec whose key lives in the database. Building a
// plan is selection/'s: the registry converts the request into a PlanSpec,
// validates it before reading any column, and hands the columns to
// FreezePlan.
//
// Thread safety: PlanRegistry and Plan are thread-safe. A Plan serializes
// its generator under its own lock; the registry's lock is never held while
// a plan is frozen or loaded.
#ifndef WINNOW_SERVER_PLANS_H_
#define WINNOW_SERVER_PLANS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "selection/plan_builder.h"
#include "selection/served_mixture.h"
#include "server/cursor.h"
#include "storage/store.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

struct PlanOptions {
  // A plan unused for this long is deleted (30 days).
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
  // The plan fields of the request that created it (PlanRegistry::PlanKey).
  const std::string& key() const { return key_; }
  const std::string& owner() const { return owner_; }
  const std::string& collection() const { return spec_.collection; }
  const std::string& run_id() const { return spec_.run_id; }
  uint32_t collection_id() const { return collection_id_; }
  uint64_t freeze_seq() const { return freeze_seq_; }
  uint32_t sampler_version() const { return description_.sampler_version(); }
  // Epochs to serve; 0 = unbounded (repetition_budget resolves its own).
  uint64_t num_epochs() const { return num_epochs_; }
  bool drop_last() const { return spec_.drop_last; }
  bool token_budget() const { return spec_.token_budget.has_value(); }
  bool mixture() const { return spec_.strategy.kind == StrategyKind::kMixture; }
  // The frozen spec, resolved (defaults, bucket edges).
  const PlanSpec& spec() const { return spec_; }
  // The creating request's plan fields with defaults: what a request that
  // names the same run_id must match.
  const PlanSpec& requested() const { return requested_; }
  const std::optional<winnow::v1::RepetitionBudgetPrediction>& prediction()
      const {
    return prediction_;
  }
  // The description as callers see it: the persisted one with the live
  // fields and the mixture's domain weights as shares.
  winnow::v1::Plan Describe() const;

  // Loads the frozen state (after a restart) if needed, then opens epoch
  // e, persisting its index the first time.
  absl::StatusOr<EpochInfo> OpenEpoch(uint64_t e) ABSL_LOCKS_EXCLUDED(mu_);
  // Global batch j of epoch e, as candidate indices; see frozen(). Reopens
  // the epoch if the sampler closed it since this caller opened it (ranks
  // of one plan may be epochs apart; the sampler keeps two open).
  absl::Status GetBatch(uint64_t e, uint64_t j, Batch* out)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The frozen arrays; valid once OpenEpoch has succeeded. Immutable.
  const FrozenCandidates& frozen() const { return *frozen_view_.load(); }

  // Mixture plans: counts a served batch of epoch e and returns the L1
  // drift of the epoch's served domain shares from the target shares;
  // nullopt for other strategies.
  std::optional<double> RecordServed(uint64_t e, const Batch& batch)
      ABSL_LOCKS_EXCLUDED(served_mu_);

  bool deleted() const { return deleted_.load(); }
  // Counts open streams; when the last one closes, the plan drops its open
  // epochs' buffers (the keys of a 1M-candidate epoch are 12 MB).
  void AddStream(int delta) ABSL_LOCKS_EXCLUDED(mu_);
  void Touch();
  int64_t MemoryBytes() const;
  std::chrono::system_clock::time_point last_use() const;

 private:
  friend class PlanRegistry;
  Plan() = default;
  absl::Status EnsureLoaded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<EpochInfo> OpenEpochLocked(uint64_t e)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Installs the frozen candidates and their sampler.
  void Install(std::shared_ptr<const FrozenCandidates> frozen,
               std::unique_ptr<PlanSampler> sampler)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Constant after the registry publishes the plan.
  storage::Store* store_ = nullptr;
  std::string id_;
  std::string key_;
  std::string owner_;
  uint32_t collection_id_ = 0;
  uint64_t freeze_seq_ = 0;
  uint64_t num_epochs_ = 0;
  uint64_t checkpoint_every_ = 64;
  PlanSpec spec_;
  PlanSpec requested_;
  std::vector<DomainWeightSpec> domains_;  // mixtures: the sampler's weights
  winnow::v1::Plan description_;           // as persisted
  std::optional<winnow::v1::RepetitionBudgetPrediction> prediction_;

  mutable absl::Mutex mu_;
  std::shared_ptr<const FrozenCandidates> frozen_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<PlanSampler> sampler_ ABSL_GUARDED_BY(mu_);
  // *frozen_, for lock-free reads once it is set (it never changes then).
  std::atomic<const FrozenCandidates*> frozen_view_{nullptr};

  absl::Mutex served_mu_;
  std::optional<ServedMixture> served_ ABSL_GUARDED_BY(served_mu_);

  std::atomic<int64_t> memory_bytes_{0};
  std::atomic<int64_t> last_use_ns_{0};  // system clock
  std::atomic<int64_t> persisted_use_ns_{0};
  std::atomic<int> streams_{0};
  std::atomic<bool> deleted_{false};
};

struct Frozen;  // a plan frozen but not yet built (plans.cc)

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
  // With a run_id, FAILED_PRECONDITION if the run's plan was made with
  // other plan fields (the message names them and the plan).
  absl::StatusOr<std::shared_ptr<Plan>> FindOrCreate(
      const winnow::v1::SampleRequest& request, const std::string& owner)
      ABSL_LOCKS_EXCLUDED(mu_);
  // NOT_FOUND if there is no plan `plan_id`.
  absl::StatusOr<std::shared_ptr<Plan>> Get(const std::string& plan_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes a plan: its streams end FAILED_PRECONDITION, its cursors are
  // refused. Returns the memory released; NOT_FOUND if there is none.
  absl::StatusOr<int64_t> Delete(const std::string& plan_id)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Every live plan, newest first.
  std::vector<std::shared_ptr<Plan>> List() const ABSL_LOCKS_EXCLUDED(mu_);
  // Live plans of one collection.
  int64_t CountForCollection(const std::string& collection) const
      ABSL_LOCKS_EXCLUDED(mu_);
  int64_t TotalMemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_);
  // Called with (live plans, their memory) after every create, delete and
  // expiry (the metrics' winnow_plans and winnow_plan_memory_bytes). Set
  // before the server starts.
  void set_on_change(std::function<void(int64_t, int64_t)> fn) {
    on_change_ = std::move(fn);
  }
  // Called with (collection, plan id) when a plan is deleted or expires.
  // Set before the server starts.
  void set_on_delete(
      std::function<void(const std::string&, const std::string&)> fn) {
    on_delete_ = std::move(fn);
  }
  void NotifyChange() const ABSL_LOCKS_EXCLUDED(mu_);

  // Deletes the plans unused for the TTL; returns how many.
  int ExpireIdle(std::chrono::system_clock::time_point now)
      ABSL_LOCKS_EXCLUDED(mu_);

  // INVALID_ARGUMENT unless the plan fields `request` repeats (a resumed
  // stream may) are `plan`'s, compared after defaults.
  static absl::Status CheckResumedFields(
      const winnow::v1::SampleRequest& request, const Plan& plan);

  // The key of a request's plan fields: the request less rank, world size,
  // cursor, plan_id and the response options, with drop_last resolved.
  static std::string PlanKey(const winnow::v1::SampleRequest& request);
  // True if any plan field of `request` is set.
  static bool HasPlanFields(const winnow::v1::SampleRequest& request);

 private:
  // Where FindOrCreate looks a request up: (collection, run_id) for a named
  // run, else all its plan fields.
  static std::string LookupKey(const PlanSpec& spec, const std::string& key);
  absl::StatusOr<std::shared_ptr<Plan>> Create(const PlanSpec& spec,
                                               const std::string& key,
                                               const std::string& owner)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Create's phases: the plan with its sampler over the frozen candidates;
  // epoch 0 opened and the plan written durably (at the same time where
  // the record does not depend on epoch 0); the description and the
  // atomic write of every entry.
  absl::StatusOr<std::shared_ptr<Plan>> NewPlan(const PlanSpec& spec,
                                                const std::string& key,
                                                const std::string& owner,
                                                Frozen* frozen);
  absl::Status OpenAndPersist(Plan& plan, Frozen* frozen)
      ABSL_LOCKS_EXCLUDED(plan.mu_);
  absl::Status Persist(Plan& plan, const EpochInfo& first,
                       std::string first_index, Frozen* frozen);
  absl::Status CheckQuotas(const std::string& owner) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<Plan>> LoadPersisted(
      const std::string& id, const std::string& meta,
      const std::string& internal);
  void Publish(const std::shared_ptr<Plan>& plan)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistRecentUse();
  void StartExpiry();

  storage::Store* const store_;
  const PlanOptions options_;
  std::function<void(int64_t, int64_t)> on_change_;
  std::function<void(const std::string&, const std::string&)> on_delete_;
  std::unique_ptr<CursorCodec> cursors_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Plan>> by_id_ ABSL_GUARDED_BY(mu_);
  // LookupKey -> plan id.
  std::map<std::string, std::string> by_lookup_ ABSL_GUARDED_BY(mu_);
  std::map<std::string,
           std::shared_future<absl::StatusOr<std::shared_ptr<Plan>>>>
      creating_ ABSL_GUARDED_BY(mu_);

  absl::Mutex stop_mu_;
  // A CondVar, not Mutex::Await: the TSan builds see absl's locks through a
  // shim (tests/sanitizers/absl_mutex_tsan.cc) that covers CondVar waits.
  absl::CondVar stop_cv_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread expiry_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_PLANS_H_
