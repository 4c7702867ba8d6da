#include "server/plans.h"

#include <malloc.h>

#include <algorithm>
#include <array>
#include <random>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "selection/hash.h"
#include "server/plan_convert.h"
#include "server/query.h"
#include "server/status_util.h"
#include "spdlog/spdlog.h"

namespace winnow::server {

// A frozen plan, ready to publish: everything but the registry's maps.
struct Frozen {
  FrozenPlan plan;
  // EncodeFrozenRecord(plan.record); empty for a short plan until its run
  // is selected (SelectFrozenRun), after the snapshot is released.
  std::string frozen_entry;
  std::shared_ptr<const FrozenCandidates> candidates;
  // A short plan: what its run is selected from (until it is selected).
  std::optional<ShortPlanInputs> short_inputs;
  storage::ColumnsSnapshot::PinnedIdHashes id_hashes;
  uint64_t candidate_count = 0;
  uint32_t collection_id = 0;
  uint64_t freeze_seq = 0;
};

namespace {

using google::protobuf::util::TimeUtil;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewPlanId() {
  std::random_device random;
  std::array<uint32_t, 3> bits = {random(), random(), random()};
  std::string id;
  absl::WebSafeBase64Escape(
      std::string(reinterpret_cast<const char*>(bits.data()), 12), &id);
  return "p" + id;
}

// A long plan of at least this many candidates returns its freeze's freed
// memory to the OS (malloc_trim, in PlanRegistry::Create).
constexpr uint64_t kTrimAfterCandidates = uint64_t{1} << 20;

// Doc ids for the sampler's tie breaks (a 2^-53 event while serving): a
// short snapshot per lookup, two slots because a comparison holds two ids.
// `ordinal_of` maps a candidate index to its ordinal.
DocIdFn ServingDocIds(storage::Store* store, std::string collection,
                      std::function<uint32_t(uint32_t)> ordinal_of) {
  struct State {
    storage::Store* store;
    std::string collection;
    std::function<uint32_t(uint32_t)> ordinal_of;
    std::array<std::string, 2> slots;
    size_t next = 0;
  };
  auto state = std::make_shared<State>(
      State{store, std::move(collection), std::move(ordinal_of), {}, 0});
  return [state](uint32_t index) -> std::string_view {
    std::string& slot = state->slots[state->next++ % 2];
    slot.clear();
    const uint32_t ordinal = state->ordinal_of(index);
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        state->store->ReadColumns(state->collection);
    if (snapshot.ok() && ordinal < snapshot->num_rows()) {
      slot.assign(snapshot->id(ordinal));
    }
    return slot;
  };
}

DocIdFn ServingDocIds(storage::Store* store, std::string collection,
                      std::shared_ptr<const FrozenCandidates> frozen) {
  return ServingDocIds(store, std::move(collection),
                       [frozen = std::move(frozen)](uint32_t index) {
                         return frozen->ordinals[index];
                       });
}

// The request that created a plan, from its key; with defaults.
PlanSpec RequestedSpec(const std::string& key, const PlanSpec& fallback) {
  winnow::v1::SampleRequest request;
  if (request.ParseFromString(key)) {
    absl::StatusOr<PlanSpec> spec = SpecFromRequest(request);
    if (spec.ok()) return WithDefaults(*std::move(spec));
  }
  return WithDefaults(fallback);
}

absl::Status RunMismatch(const Plan& plan, const PlanSpec& requested) {
  const std::vector<std::string> fields =
      DiffPlanSpecs(plan.requested(), requested);
  if (fields.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "run_id '", plan.run_id(), "' of collection '", plan.collection(),
      "' already has plan '", plan.id(),
      "', made with other plan fields: ", absl::StrJoin(fields, ", "),
      "; send the run's fields, or name a new run_id for a new plan"));
}

// Reads the collection's columns, evaluates the filter and freezes `spec`;
// a short plan only copies what its run needs (GatherShortPlan).
absl::StatusOr<Frozen> FreezeFromStore(storage::Store& store,
                                       const PlanSpec& spec) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      store.ReadColumns(spec.collection);
  if (!snapshot.ok()) return snapshot.status();
  const ColumnSet& columns = snapshot->columns();
  absl::StatusOr<Filter> filter = CompileFilter(spec.filter, columns);
  if (!filter.ok()) return filter.status();
  Bitmap matches;
  filter->EvaluateInto(columns, &matches);
  std::vector<uint32_t> candidates = matches.ToOrdinals();
  Frozen out;
  out.candidate_count = candidates.size();
  out.collection_id = snapshot->collection_id();
  out.freeze_seq = snapshot->write_seq();
  if (PlanSpec full = WithDefaults(spec);
      IsShortPlan(full, candidates.size())) {
    absl::StatusOr<ShortPlanInputs> in =
        GatherShortPlan(full, columns, std::move(candidates));
    if (!in.ok()) return in.status();
    out.short_inputs = *std::move(in);
    out.id_hashes = snapshot->PinIdHashes();
    out.plan.spec = std::move(full);
    return out;
  }
  PlanInputs inputs;
  inputs.columns = &columns;
  inputs.candidates = candidates;
  inputs.id_hashes = snapshot->id_hashes();
  inputs.doc_id = [&](uint32_t ordinal) { return snapshot->id(ordinal); };
  absl::StatusOr<FrozenPlan> plan = FreezePlan(spec, inputs);
  if (!plan.ok()) return plan.status();
  out.frozen_entry = EncodeFrozenRecord(plan->record);
  storage::ColumnsSnapshot::PinnedIdHashes pinned = snapshot->PinIdHashes();
  absl::StatusOr<std::shared_ptr<const FrozenCandidates>> assembled =
      AssembleCandidates(std::move(plan->record), std::move(plan->weights),
                         static_cast<uint32_t>(plan->domains.size()),
                         pinned.values, std::move(pinned.owner));
  if (!assembled.ok()) return assembled.status();
  out.candidates = *std::move(assembled);
  out.plan = *std::move(plan);
  return out;
}

// A short plan's run, selected without the collection's snapshot.
absl::Status SelectFrozenRun(storage::Store* store, Frozen* frozen) {
  const ShortPlanInputs& in = *frozen->short_inputs;
  // Used during the call only (exact key ties), while `in` is alive.
  const std::vector<uint32_t>* candidates = &in.candidates;
  absl::StatusOr<FrozenRun> run = SelectShortRun(
      frozen->plan.spec, in, frozen->id_hashes.values,
      ServingDocIds(store, frozen->plan.spec.collection,
                    [candidates](uint32_t i) { return (*candidates)[i]; }));
  if (!run.ok()) return run.status();
  frozen->frozen_entry = EncodeFrozenRecord(run->record);
  frozen->candidates = std::move(run->candidates);
  frozen->short_inputs.reset();
  frozen->id_hashes = {};
  return absl::OkStatus();
}

winnow::v1::RepetitionBudgetPrediction PredictionToProto(
    const PoolPrediction& pred) {
  winnow::v1::RepetitionBudgetPrediction out;
  out.set_chosen_pool_count(pred.chosen);
  for (const PoolChoice& c : pred.choices) {
    winnow::v1::PoolChoicePrediction* pc = out.add_choices();
    pc->set_pool_count(c.pool_count);
    pc->set_pool_size(c.pool_size);
    pc->set_repetition_limit(c.repetitions);
    pc->set_predicted_error(c.predicted_error);
    for (const CurvePoint& pt : c.curve) {
      winnow::v1::RepetitionCurvePoint* cp = pc->add_curve();
      cp->set_epoch(pt.epoch);
      cp->set_sample_count(pt.samples);
      cp->set_predicted_error(pt.error);
    }
  }
  return out;
}

}  // namespace

// ---- Plan ----

winnow::v1::Plan Plan::Describe() const {
  winnow::v1::Plan d = description_;
  d.set_memory_bytes(MemoryBytes());
  d.set_stream_count(streams_.load());
  d.set_strategy_summary(SummarizeStrategy(spec_.strategy));
  NormalizeDomainWeights(d.mutable_domain_weights());
  const int64_t used = last_use_ns_.load();
  *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(used);
  return d;
}

void Plan::Touch() { last_use_ns_.store(NowNanos()); }

void Plan::AddStream(int delta) {
  if (streams_.fetch_add(delta) + delta != 0) return;
  absl::MutexLock lock(&mu_);
  if (sampler_ != nullptr && streams_.load() == 0) {
    sampler_->CloseEpochs();
    memory_bytes_.store(static_cast<int64_t>(sampler_->MemoryBytes()));
  }
}

std::chrono::system_clock::time_point Plan::last_use() const {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(last_use_ns_.load())));
}

int64_t Plan::MemoryBytes() const { return memory_bytes_.load(); }

void Plan::Install(std::shared_ptr<const FrozenCandidates> frozen,
                   std::unique_ptr<PlanSampler> sampler) {
  frozen_ = std::move(frozen);
  frozen_view_.store(frozen_.get());
  sampler_ = std::move(sampler);
  memory_bytes_.store(static_cast<int64_t>(sampler_->MemoryBytes()));
}

absl::Status Plan::EnsureLoaded() {
  if (sampler_ != nullptr) return absl::OkStatus();
  if (description_.sampler_version() != kSamplerVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan '", id_, "' was sampled by sampler version ",
        description_.sampler_version(), ", which this server (version ",
        kSamplerVersion, ") cannot reproduce; start a new run"));
  }
  if (deleted_.load()) {
    return absl::FailedPreconditionError(
        absl::StrCat("plan '", id_, "' was deleted"));
  }
  absl::StatusOr<std::string> raw = store_->GetPlanEntry(id_, "frozen");
  if (!raw.ok()) return raw.status();
  FrozenRecord record;
  if (!DecodeFrozenRecord(*raw, &record)) {
    return absl::DataLossError(
        absl::StrCat("plan '", id_, "': its frozen candidates are corrupt"));
  }
  // A short plan's run is served in its order: it needs no weights.
  absl::StatusOr<std::vector<double>> weights =
      record.run ? std::vector<double>() : PlanWeights(spec_, record.scores);
  if (!weights.ok()) return weights.status();
  absl::StatusOr<std::shared_ptr<const FrozenCandidates>> frozen;
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        store_->ReadColumns(collection());
    if (!snapshot.ok() || snapshot->collection_id() != collection_id_) {
      return absl::FailedPreconditionError(
          absl::StrCat("plan '", id_, "': its collection '", collection(),
                       "' was deleted; start a new run"));
    }
    storage::ColumnsSnapshot::PinnedIdHashes pinned = snapshot->PinIdHashes();
    frozen = AssembleCandidates(std::move(record), *std::move(weights),
                                static_cast<uint32_t>(domains_.size()),
                                pinned.values, std::move(pinned.owner));
  }
  if (!frozen.ok()) return Annotate(frozen.status(), "plan '" + id_ + "'");
  absl::StatusOr<std::unique_ptr<PlanSampler>> sampler =
      MakePlanSampler(spec_, domains_, *frozen, checkpoint_every_,
                      ServingDocIds(store_, collection(), *frozen));
  if (!sampler.ok()) return sampler.status();
  Install(*std::move(frozen), *std::move(sampler));
  return absl::OkStatus();
}

absl::StatusOr<EpochInfo> Plan::OpenEpoch(uint64_t e) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnsureLoaded(); !s.ok()) return s;
  return OpenEpochLocked(e);
}

absl::StatusOr<EpochInfo> Plan::OpenEpochLocked(uint64_t e) {
  const std::string entry = absl::StrCat("epoch/", e);
  std::string saved;
  const bool stateful = token_budget() || mixture();
  if (stateful) {
    absl::StatusOr<std::string> got = store_->GetPlanEntry(id_, entry);
    if (got.ok()) {
      saved = *std::move(got);
    } else if (!absl::IsNotFound(got.status())) {
      return got.status();
    }
  }
  std::string to_save;
  absl::StatusOr<EpochInfo> info = sampler_->OpenEpoch(e, saved, &to_save);
  if (!info.ok()) return info.status();
  if (!to_save.empty()) {
    // The sampler's checkpoints for this epoch, durable before any batch
    // of it is served.
    if (absl::Status s = store_->PutPlanEntries(id_, {{entry, to_save}});
        !s.ok()) {
      return s;
    }
  }
  memory_bytes_.store(static_cast<int64_t>(sampler_->MemoryBytes()));
  return info;
}

absl::Status Plan::GetBatch(uint64_t e, uint64_t j, Batch* out) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = EnsureLoaded(); !s.ok()) return s;
  if (!sampler_->IsOpen(e)) {
    // Other ranks opened two later (or earlier) epochs since this caller
    // opened e. Reopening reloads a stateful epoch's persisted index.
    absl::StatusOr<EpochInfo> info = OpenEpochLocked(e);
    if (!info.ok()) return info.status();
  }
  return sampler_->GetBatch(e, j, out);
}

std::optional<double> Plan::RecordServed(uint64_t e, const Batch& batch) {
  if (!mixture()) return std::nullopt;
  absl::MutexLock lock(&served_mu_);
  if (!served_.has_value()) {
    SamplerConfig config = SamplerConfigFor(spec_, domains_, 0);
    served_.emplace(std::move(config.mixture), config.samples_per_epoch);
  }
  served_->Add(e, batch.items, frozen().domains);
  return served_->Drift();
}

// ---- PlanRegistry ----

PlanRegistry::PlanRegistry(storage::Store* store, PlanOptions options)
    : store_(store), options_(options) {}

PlanRegistry::~PlanRegistry() {
  {
    absl::MutexLock lock(&stop_mu_);
    stop_ = true;
    stop_cv_.SignalAll();
  }
  if (expiry_.joinable()) expiry_.join();
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::LoadPersisted(
    const std::string& id, const std::string& meta,
    const std::string& internal) {
  auto plan = std::shared_ptr<Plan>(new Plan());
  PlanInternal in;
  if (!DecodePlanInternal(internal, &in) ||
      !plan->description_.ParseFromString(meta)) {
    return absl::DataLossError("corrupt entries");
  }
  absl::StatusOr<PlanSpec> spec =
      SpecFromDescription(plan->description_, &plan->domains_);
  if (!spec.ok()) return spec.status();
  plan->spec_ = *std::move(spec);
  plan->requested_ = RequestedSpec(in.key, plan->spec_);
  plan->store_ = store_;
  plan->id_ = id;
  plan->key_ = in.key;
  plan->owner_ = in.owner;
  plan->collection_id_ = in.collection_id;
  plan->freeze_seq_ = in.freeze_seq;
  plan->checkpoint_every_ = in.checkpoint_every;
  plan->num_epochs_ = in.num_epochs;
  if (absl::StatusOr<std::string> p = store_->GetPlanEntry(id, "prediction");
      p.ok()) {
    winnow::v1::RepetitionBudgetPrediction prediction;
    if (prediction.ParseFromString(*p)) plan->prediction_ = prediction;
  }
  const int64_t used =
      TimeUtil::TimestampToNanoseconds(plan->description_.last_use_time());
  plan->last_use_ns_.store(used);
  plan->persisted_use_ns_.store(used);
  return plan;
}

absl::Status PlanRegistry::Init() {
  absl::StatusOr<std::string> key = store_->GetOrCreateSecret("cursor");
  if (!key.ok()) return key.status();
  cursors_ = std::make_unique<CursorCodec>(*std::move(key));
  std::map<std::string, std::string> internals;
  for (auto& [id, value] : store_->ListPlanEntries("internal")) {
    internals[id] = std::move(value);
  }
  std::vector<std::shared_ptr<Plan>> loaded;
  for (auto& [id, meta] : store_->ListPlanEntries("meta")) {
    auto it = internals.find(id);
    absl::StatusOr<std::shared_ptr<Plan>> plan =
        it == internals.end() ? absl::DataLossError("no internal entry")
                              : LoadPersisted(id, meta, it->second);
    if (!plan.ok()) {
      spdlog::error("plan {} is corrupt ({}); ignoring it", id,
                    plan.status().ToString());
      continue;
    }
    loaded.push_back(*std::move(plan));
  }
  // Oldest first, so that where plans of one release share a (collection,
  // run_id), the newest owns it; the others stay reachable by id.
  std::sort(loaded.begin(), loaded.end(), [](const auto& a, const auto& b) {
    const int64_t ta =
        TimeUtil::TimestampToNanoseconds(a->description_.create_time());
    const int64_t tb =
        TimeUtil::TimestampToNanoseconds(b->description_.create_time());
    return ta != tb ? ta < tb : a->id() < b->id();
  });
  {
    absl::MutexLock lock(&mu_);
    for (const std::shared_ptr<Plan>& plan : loaded) Publish(plan);
  }
  if (!loaded.empty()) {
    spdlog::info("{} sampling plans on record", loaded.size());
  }
  StartExpiry();
  return absl::OkStatus();
}

void PlanRegistry::StartExpiry() {
  // Look for idle plans at least twice per TTL, at most once a minute.
  const auto interval = std::clamp<std::chrono::milliseconds>(
      std::chrono::milliseconds(options_.ttl_seconds * 500),
      std::chrono::milliseconds(200), std::chrono::milliseconds(60000));
  expiry_ = std::thread([this, interval] {
    const absl::Duration wait = absl::FromChrono(interval);
    for (;;) {
      {
        absl::MutexLock lock(&stop_mu_);
        const absl::Time deadline = absl::Now() + wait;
        while (!stop_ && !stop_cv_.WaitWithDeadline(&stop_mu_, deadline)) {
        }
        if (stop_) return;
      }
      ExpireIdle(std::chrono::system_clock::now());
    }
  });
}

bool PlanRegistry::HasPlanFields(const winnow::v1::SampleRequest& r) {
  return !r.filter().empty() || r.has_strategy() || r.seed() != 0 ||
         !r.run_id().empty() || r.num_epochs() != 0 ||
         r.samples_per_epoch() != 0 ||
         r.batching_case() != winnow::v1::SampleRequest::BATCHING_NOT_SET ||
         r.has_drop_last();
}

std::string PlanRegistry::PlanKey(const winnow::v1::SampleRequest& request) {
  winnow::v1::SampleRequest k;
  k.set_collection(request.collection());
  k.set_filter(request.filter());
  *k.mutable_strategy() = request.strategy();
  k.set_seed(request.seed());
  k.set_run_id(request.run_id());
  k.set_num_epochs(request.num_epochs());
  k.set_samples_per_epoch(request.samples_per_epoch());
  if (request.has_token_budget()) {
    *k.mutable_token_budget() = request.token_budget();
  } else {
    k.set_batch_size(request.batch_size());
  }
  k.set_drop_last(!request.has_drop_last() || request.drop_last());
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  k.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

std::string PlanRegistry::LookupKey(const PlanSpec& spec,
                                    const std::string& key) {
  if (spec.run_id.empty()) return absl::StrCat("fields:", key);
  return absl::StrCat("run:", spec.collection.size(), ":", spec.collection,
                      spec.run_id);
}

absl::Status PlanRegistry::CheckResumedFields(
    const winnow::v1::SampleRequest& request, const Plan& plan) {
  if (!HasPlanFields(request)) return absl::OkStatus();
  absl::StatusOr<PlanSpec> spec = SpecFromRequest(request);
  if (!spec.ok()) return spec.status();
  if (spec->collection.empty()) spec->collection = plan.collection();
  const std::vector<std::string> fields =
      DiffPlanSpecs(plan.requested(), *spec);
  if (fields.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("the plan fields (filter, strategy, seed, run_id, epochs, "
                   "batching, drop_last) differ from those of plan '",
                   plan.id(), "' in ", absl::StrJoin(fields, ", "),
                   "; leave them empty or send the same values"));
}

void PlanRegistry::Publish(const std::shared_ptr<Plan>& plan) {
  by_lookup_[LookupKey(plan->spec(), plan->key())] = plan->id();
  by_id_[plan->id()] = plan;
}

absl::Status PlanRegistry::CheckQuotas(const std::string& owner) const {
  if (options_.max_plans_per_token > 0 && !owner.empty()) {
    int64_t owned = 0;
    for (const auto& [id, plan] : by_id_) owned += plan->owner() == owner;
    if (owned >= options_.max_plans_per_token) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the token already has ", owned, " live plans (the limit is ",
          options_.max_plans_per_token,
          "); delete plans with DeletePlan or reuse a run_id"));
    }
  }
  if (options_.max_plan_memory_bytes > 0) {
    int64_t total = 0;
    for (const auto& [id, plan] : by_id_) total += plan->MemoryBytes();
    if (total >= options_.max_plan_memory_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "plans hold ", total, " bytes, at the ",
          FormatBytes(options_.max_plan_memory_bytes),
          " plan memory limit (max_plan_memory_bytes); delete plans that "
          "are no longer used"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::FindOrCreate(
    const winnow::v1::SampleRequest& request, const std::string& owner) {
  // Every check that needs no column comes first.
  absl::StatusOr<PlanSpec> spec = SpecFromRequest(request);
  if (!spec.ok()) return spec.status();
  if (absl::Status s = ValidatePlanSpec(*spec); !s.ok()) return s;
  const PlanSpec requested = WithDefaults(*spec);
  const std::string key = PlanKey(request);
  const std::string lookup = LookupKey(*spec, key);
  std::promise<absl::StatusOr<std::shared_ptr<Plan>>> promise;
  {
    absl::ReleasableMutexLock lock(&mu_);
    auto found = by_lookup_.find(lookup);
    if (found != by_lookup_.end()) {
      std::shared_ptr<Plan> plan = by_id_.at(found->second);
      lock.Release();
      if (absl::Status s = RunMismatch(*plan, requested); !s.ok()) return s;
      plan->Touch();
      return plan;
    }
    auto pending = creating_.find(lookup);
    if (pending != creating_.end()) {
      // A first request for this plan is freezing it: share it.
      auto future = pending->second;
      lock.Release();
      absl::StatusOr<std::shared_ptr<Plan>> plan = future.get();
      if (!plan.ok()) return plan;
      if (absl::Status s = RunMismatch(**plan, requested); !s.ok()) return s;
      return plan;
    }
    if (absl::Status s = CheckQuotas(owner); !s.ok()) return s;
    creating_.emplace(lookup, promise.get_future().share());
  }
  absl::StatusOr<std::shared_ptr<Plan>> created = Create(*spec, key, owner);
  {
    absl::MutexLock lock(&mu_);
    if (created.ok()) Publish(*created);
    creating_.erase(lookup);
  }
  promise.set_value(created);
  if (created.ok()) NotifyChange();
  return created;
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::Create(
    const PlanSpec& spec, const std::string& key, const std::string& owner) {
  absl::StatusOr<Frozen> frozen = FreezeFromStore(*store_, spec);
  if (!frozen.ok()) return frozen.status();
  if (frozen->short_inputs) {
    // A short plan: its key pass runs without the collection's snapshot.
    if (absl::Status s = SelectFrozenRun(store_, &*frozen); !s.ok()) return s;
  }
  absl::StatusOr<std::shared_ptr<Plan>> plan =
      NewPlan(spec, key, owner, &*frozen);
  if (!plan.ok()) return plan.status();
  if (absl::Status s = OpenAndPersist(**plan, &*frozen); !s.ok()) return s;
  if (!frozen->candidates->run &&
      frozen->candidate_count >= kTrimAfterCandidates) {
    // winnowd keeps freed memory mapped (main.cc) so that queries reuse
    // their scratch; a long plan's freeze frees about 10 bytes a candidate
    // of it (the filter's ordinals, the canonical order, the encoded
    // record) that nothing reuses soon. Hand it back.
    malloc_trim(0);
  }
  spdlog::info("plan {} created: collection={} run_id='{}' candidates={}",
               (*plan)->id_, spec.collection, spec.run_id,
               frozen->candidate_count);
  return plan;
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::NewPlan(
    const PlanSpec& spec, const std::string& key, const std::string& owner,
    Frozen* frozen) {
  auto plan = std::shared_ptr<Plan>(new Plan());
  plan->store_ = store_;
  plan->id_ = NewPlanId();
  plan->key_ = key;
  plan->owner_ = owner;
  plan->checkpoint_every_ = options_.checkpoint_every;
  plan->collection_id_ = frozen->collection_id;
  plan->freeze_seq_ = frozen->freeze_seq;
  plan->spec_ = std::move(frozen->plan.spec);
  plan->requested_ = WithDefaults(spec);
  plan->domains_ = std::move(frozen->plan.domains);
  if (frozen->plan.prediction) {
    plan->prediction_ = PredictionToProto(*frozen->plan.prediction);
  }
  // The generator, built over the frozen set exactly as a restart would.
  absl::MutexLock lock(&plan->mu_);
  absl::StatusOr<std::unique_ptr<PlanSampler>> sampler = MakePlanSampler(
      plan->spec_, plan->domains_, frozen->candidates,
      options_.checkpoint_every,
      ServingDocIds(store_, spec.collection, frozen->candidates));
  if (!sampler.ok()) return sampler.status();
  plan->Install(frozen->candidates, *std::move(sampler));
  plan->num_epochs_ = plan->sampler_->strategy_epochs() != 0
                          ? plan->sampler_->strategy_epochs()
                          : static_cast<uint64_t>(spec.num_epochs);
  if (spec.strategy.kind == StrategyKind::kRepetitionBudget) {
    plan->spec_.num_epochs = static_cast<int64_t>(plan->num_epochs_);
  }
  return plan;
}

absl::Status PlanRegistry::OpenAndPersist(Plan& plan, Frozen* frozen) {
  std::optional<EpochInfo> known;
  {
    absl::ReleasableMutexLock lock(&plan.mu_);
    if (plan.sampler_->config().kind == SequenceKind::kKeyed) {
      known = plan.sampler_->StatelessEpochInfo(0);
    }
    if (!known) {
      // A stateful epoch's index is part of the record; the kinds but the
      // keyed order open in microseconds.
      std::string first_index;
      absl::StatusOr<EpochInfo> first =
          plan.sampler_->OpenEpoch(0, "", &first_index);
      if (!first.ok()) return first.status();
      lock.Release();
      return Persist(plan, *first, std::move(first_index), frozen);
    }
  }
  // A keyed epoch: the record does not depend on its keys (a pass over
  // every candidate), so this thread writes it durably while another
  // computes them.
  absl::StatusOr<EpochInfo> opened;
  std::thread keys([&plan, &opened] {
    absl::MutexLock lock(&plan.mu_);
    opened = plan.sampler_->OpenEpoch(0, "", nullptr);
  });
  absl::Status written = Persist(plan, *known, "", frozen);
  keys.join();
  if (!written.ok()) return written;
  if (opened.ok() && opened->positions == known->positions &&
      opened->batches == known->batches) {
    return absl::OkStatus();
  }
  // Not reached unless StatelessEpochInfo disagrees with OpenEpoch.
  if (absl::Status s = store_->DeletePlan(plan.id_); !s.ok()) {
    spdlog::error("plan {}: cannot delete a failed plan: {}", plan.id_,
                  s.ToString());
  }
  return opened.ok() ? absl::InternalError(absl::StrCat(
                           "plan '", plan.id_,
                           "': epoch 0 has other positions than planned"))
                     : opened.status();
}

absl::Status PlanRegistry::Persist(Plan& plan, const EpochInfo& first,
                                   std::string first_index, Frozen* frozen) {
  winnow::v1::Plan& d = plan.description_;
  d.set_plan_id(plan.id_);
  DescribeSpec(plan.spec_, plan.domains_, &d);
  d.set_sampler_version(kSamplerVersion);
  d.set_candidate_count(static_cast<int64_t>(frozen->candidate_count));
  d.set_epoch_sample_count(static_cast<int64_t>(first.positions));
  const int64_t now = NowNanos();
  *d.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(now);
  *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(now);
  *d.mutable_expire_time() = TimeUtil::NanosecondsToTimestamp(
      now + options_.ttl_seconds * int64_t{1000000000});
  plan.last_use_ns_.store(now);
  plan.persisted_use_ns_.store(now);

  // Durable before the first batch: one atomic write of every entry.
  PlanInternal in{plan.collection_id_, plan.freeze_seq_, plan.checkpoint_every_,
                  plan.num_epochs_,    plan.key_,        plan.owner_};
  std::vector<std::pair<std::string, std::string>> entries = {
      {"meta", d.SerializeAsString()},
      {"internal", EncodePlanInternal(in)},
      {"frozen", std::move(frozen->frozen_entry)},
  };
  if (plan.prediction_) {
    entries.push_back({"prediction", plan.prediction_->SerializeAsString()});
  }
  if (!first_index.empty()) {
    entries.push_back({"epoch/0", std::move(first_index)});
  }
  return store_->PutPlanEntries(plan.id_, entries);
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::Get(
    const std::string& plan_id) {
  absl::MutexLock lock(&mu_);
  auto it = by_id_.find(plan_id);
  if (it == by_id_.end()) {
    return absl::NotFoundError(absl::StrCat("plan '", plan_id, "' not found"));
  }
  it->second->Touch();
  return it->second;
}

absl::StatusOr<int64_t> PlanRegistry::Delete(const std::string& plan_id) {
  std::shared_ptr<Plan> plan;
  {
    absl::MutexLock lock(&mu_);
    auto it = by_id_.find(plan_id);
    if (it == by_id_.end()) {
      return absl::NotFoundError(
          absl::StrCat("plan '", plan_id, "' not found"));
    }
    plan = it->second;
    plan->deleted_.store(true);
    auto owner = by_lookup_.find(LookupKey(plan->spec(), plan->key()));
    if (owner != by_lookup_.end() && owner->second == plan_id) {
      by_lookup_.erase(owner);
    }
    by_id_.erase(it);
  }
  if (absl::Status s = store_->DeletePlan(plan_id); !s.ok()) return s;
  if (on_delete_) on_delete_(plan->collection(), plan_id);
  NotifyChange();
  return plan->MemoryBytes();
}

std::vector<std::shared_ptr<Plan>> PlanRegistry::List() const {
  std::vector<std::shared_ptr<Plan>> out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, plan] : by_id_) out.push_back(plan);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const int64_t ta =
        TimeUtil::TimestampToNanoseconds(a->description_.create_time());
    const int64_t tb =
        TimeUtil::TimestampToNanoseconds(b->description_.create_time());
    if (ta != tb) return ta > tb;
    return a->id() < b->id();
  });
  return out;
}

int64_t PlanRegistry::CountForCollection(const std::string& collection) const {
  absl::MutexLock lock(&mu_);
  int64_t count = 0;
  for (const auto& [id, plan] : by_id_)
    count += plan->collection() == collection;
  return count;
}

void PlanRegistry::NotifyChange() const {
  if (!on_change_) return;
  int64_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    count = static_cast<int64_t>(by_id_.size());
  }
  on_change_(count, TotalMemoryBytes());
}

int64_t PlanRegistry::TotalMemoryBytes() const {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [id, plan] : by_id_) total += plan->MemoryBytes();
  return total;
}

int PlanRegistry::ExpireIdle(std::chrono::system_clock::time_point now) {
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             now.time_since_epoch())
                             .count();
  const int64_t ttl_ns = options_.ttl_seconds * int64_t{1000000000};
  std::vector<std::string> idle;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, plan] : by_id_) {
      if (plan->streams_.load() == 0 &&
          now_ns - plan->last_use_ns_.load() > ttl_ns) {
        idle.push_back(id);
      }
    }
  }
  int expired = 0;
  for (const std::string& id : idle) {
    if (Delete(id).ok()) {
      ++expired;
      spdlog::info("plan {} expired after {} s unused", id,
                   options_.ttl_seconds);
    }
  }
  PersistRecentUse();
  return expired;
}

// Records recent use durably now and then, so the TTL survives restarts.
void PlanRegistry::PersistRecentUse() {
  for (const std::shared_ptr<Plan>& plan : List()) {
    const int64_t used = plan->last_use_ns_.load();
    if (used - plan->persisted_use_ns_.load() > int64_t{3600} * 1000000000) {
      winnow::v1::Plan d = plan->description_;
      *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(used);
      if (store_->PutPlanEntries(plan->id(), {{"meta", d.SerializeAsString()}})
              .ok()) {
        plan->persisted_use_ns_.store(used);
      }
    }
  }
}

}  // namespace winnow::server
