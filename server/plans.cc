#include "server/plans.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/time_util.h"
#include "selection/hash.h"
#include "selection/strategies.h"
#include "selection/weights.h"
#include "server/query.h"
#include "server/status_util.h"
#include "spdlog/spdlog.h"

namespace winnow::server {
namespace {

using google::protobuf::util::TimeUtil;

constexpr uint32_t kFrozenFormat = 2;
constexpr uint32_t kInternalFormat = 1;
constexpr int32_t kDefaultBuckets = 30;
constexpr uint32_t kDefaultFolds = 3;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// ---- binary encodings of the persisted entries ----

template <typename T>
void PutArray(std::string* out, const std::vector<T>& v) {
  const uint64_t n = v.size();
  out->append(reinterpret_cast<const char*>(&n), 8);
  out->append(reinterpret_cast<const char*>(v.data()), n * sizeof(T));
}

template <typename T>
bool GetArray(std::string_view* in, std::vector<T>* v) {
  uint64_t n = 0;
  if (in->size() < 8) return false;
  std::memcpy(&n, in->data(), 8);
  in->remove_prefix(8);
  if (n > in->size() / sizeof(T)) return false;
  v->resize(n);
  std::memcpy(v->data(), in->data(), n * sizeof(T));
  in->remove_prefix(n * sizeof(T));
  return true;
}

// What a plan persists besides its public description.
struct Internal {
  uint32_t collection_id = 0;
  uint64_t freeze_seq = 0;
  uint64_t checkpoint_every = 64;
  uint64_t num_epochs = 0;
  std::string key;
  std::string owner;
};

std::string EncodeInternal(const Internal& in) {
  std::string out;
  auto put = [&](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
  };
  put(&kInternalFormat, 4);
  put(&in.collection_id, 4);
  put(&in.freeze_seq, 8);
  put(&in.checkpoint_every, 8);
  put(&in.num_epochs, 8);
  PutArray(&out, std::vector<char>(in.key.begin(), in.key.end()));
  PutArray(&out, std::vector<char>(in.owner.begin(), in.owner.end()));
  return out;
}

bool DecodeInternal(std::string_view in, Internal* out) {
  uint32_t format = 0;
  auto get = [&](void* p, size_t n) {
    if (in.size() < n) return false;
    std::memcpy(p, in.data(), n);
    in.remove_prefix(n);
    return true;
  };
  std::vector<char> key, owner;
  if (!get(&format, 4) || format != kInternalFormat ||
      !get(&out->collection_id, 4) || !get(&out->freeze_seq, 8) ||
      !get(&out->checkpoint_every, 8) || !get(&out->num_epochs, 8) ||
      !GetArray(&in, &key) || !GetArray(&in, &owner) || !in.empty()) {
    return false;
  }
  out->key.assign(key.begin(), key.end());
  out->owner.assign(owner.begin(), owner.end());
  return true;
}

// The frozen arrays: ordinals, lengths, the strategy's scores (weighted
// strategies; weights are recomputed from them bit-identically), domains.
struct FrozenRecord {
  std::vector<uint32_t> ordinals;
  std::vector<uint32_t> lengths;
  std::vector<float> scores;
  std::vector<uint16_t> domains;
};

// Compact forms: ascending ordinals (most strategies) as a bitmap when
// that is smaller, and lengths as 16 bits when they all fit.
std::string EncodeFrozen(const FrozenRecord& f) {
  const size_t n = f.ordinals.size();
  std::string out;
  out.reserve(64 + n * 4 + f.lengths.size() * 4 + f.scores.size() * 4 +
              f.domains.size() * 2);
  out.append(reinterpret_cast<const char*>(&kFrozenFormat), 4);
  const bool ascending =
      std::is_sorted(f.ordinals.begin(), f.ordinals.end()) &&
      std::adjacent_find(f.ordinals.begin(), f.ordinals.end()) ==
          f.ordinals.end();
  const uint64_t bits = n == 0 ? 0 : uint64_t{f.ordinals.back()} + 1;
  if (ascending && bits / 8 < n * 4) {
    out.push_back(1);
    std::vector<uint64_t> words((bits + 63) / 64, 0);
    for (uint32_t o : f.ordinals) words[o / 64] |= uint64_t{1} << (o % 64);
    PutArray(&out, words);
  } else {
    out.push_back(0);
    PutArray(&out, f.ordinals);
  }
  const bool short_lengths = std::all_of(f.lengths.begin(), f.lengths.end(),
                                         [](uint32_t l) { return l < 65536; });
  if (short_lengths) {
    out.push_back(1);
    PutArray(&out, std::vector<uint16_t>(f.lengths.begin(), f.lengths.end()));
  } else {
    out.push_back(0);
    PutArray(&out, f.lengths);
  }
  PutArray(&out, f.scores);
  PutArray(&out, f.domains);
  return out;
}

bool DecodeFrozen(std::string_view in, FrozenRecord* f) {
  uint32_t format = 0;
  if (in.size() < 5) return false;
  std::memcpy(&format, in.data(), 4);
  in.remove_prefix(4);
  if (format != kFrozenFormat) return false;
  const char ordinal_mode = in[0];
  in.remove_prefix(1);
  if (ordinal_mode == 1) {
    std::vector<uint64_t> words;
    if (!GetArray(&in, &words)) return false;
    for (size_t w = 0; w < words.size(); ++w) {
      for (uint64_t x = words[w]; x != 0; x &= x - 1) {
        f->ordinals.push_back(
            static_cast<uint32_t>(w * 64 + std::countr_zero(x)));
      }
    }
  } else if (ordinal_mode != 0 || !GetArray(&in, &f->ordinals)) {
    return false;
  }
  if (in.empty()) return false;
  const char length_mode = in[0];
  in.remove_prefix(1);
  if (length_mode == 1) {
    std::vector<uint16_t> lengths;
    if (!GetArray(&in, &lengths)) return false;
    f->lengths.assign(lengths.begin(), lengths.end());
  } else if (length_mode != 0 || !GetArray(&in, &f->lengths)) {
    return false;
  }
  return GetArray(&in, &f->scores) && GetArray(&in, &f->domains) &&
         in.empty() && f->lengths.size() == f->ordinals.size() &&
         (f->scores.empty() || f->scores.size() == f->ordinals.size()) &&
         (f->domains.empty() || f->domains.size() == f->ordinals.size());
}

std::string NewPlanId() {
  std::random_device random;
  std::array<uint32_t, 3> bits = {random(), random(), random()};
  std::string id;
  absl::WebSafeBase64Escape(
      std::string(reinterpret_cast<const char*>(bits.data()), 12), &id);
  return "p" + id;
}

template <typename StrategyT>
absl::StatusOr<WeightSpec> WeightSpecOf(const StrategyT& s,
                                        std::string_view field) {
  WeightSpec spec;
  switch (s.weight_function()) {
    case winnow::v1::WEIGHT_FUNCTION_UNSPECIFIED:
    case winnow::v1::WEIGHT_FUNCTION_RAW:
      spec.function = WeightFunction::kRaw;
      break;
    case winnow::v1::WEIGHT_FUNCTION_POWER:
      spec.function = WeightFunction::kPower;
      break;
    case winnow::v1::WEIGHT_FUNCTION_SOFTMAX:
      spec.function = WeightFunction::kSoftmax;
      break;
    default:
      return Invalid(absl::StrCat(std::string(field),
                                  ".weight_function: unknown value ",
                                  static_cast<int>(s.weight_function())));
  }
  if (s.has_alpha()) spec.alpha = s.alpha();
  if (s.has_temperature()) spec.temperature = s.temperature();
  if (absl::Status st = ValidateWeightSpec(spec); !st.ok()) {
    return Invalid(absl::StrCat(std::string(field), ": ", st.message()));
  }
  if (s.update() != winnow::v1::WEIGHT_UPDATE_UNSPECIFIED &&
      s.update() != winnow::v1::WEIGHT_UPDATE_FROZEN) {
    return absl::UnimplementedError(absl::StrCat(
        std::string(field),
        ".update: weights re-read from the score column (EPOCH or LIVE) are "
        "not served yet; use WEIGHT_UPDATE_FROZEN"));
  }
  return spec;
}

absl::StatusOr<std::span<const float>> ScoreColumn(const ColumnSet& columns,
                                                   const std::string& name,
                                                   std::string_view field) {
  if (name.empty()) {
    return Invalid(absl::StrCat(std::string(field), " must not be empty"));
  }
  auto it = columns.scores.find(name);
  if (it == columns.scores.end()) {
    return Invalid(
        absl::StrCat(std::string(field), ": unknown score '", name, "'"));
  }
  return it->second;
}

float ScoreAt(std::span<const float> column, uint32_t ordinal) {
  return ordinal < column.size() ? column[ordinal] : NAN;
}

// Doc ids for the sampler's tie breaks (a 2^-53 event while serving): a
// short snapshot per lookup, two slots because a comparison holds two ids.
DocIdFn ServingDocIds(storage::Store* store, std::string collection,
                      std::shared_ptr<const FrozenCandidates> frozen) {
  struct State {
    storage::Store* store;
    std::string collection;
    std::shared_ptr<const FrozenCandidates> frozen;
    std::array<std::string, 2> slots;
    size_t next = 0;
  };
  auto state = std::make_shared<State>(
      State{store, std::move(collection), std::move(frozen), {}, 0});
  return [state](uint32_t index) -> std::string_view {
    std::string& slot = state->slots[state->next++ % 2];
    slot.clear();
    const uint32_t ordinal = state->frozen->ordinals[index];
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        state->store->ReadColumns(state->collection);
    if (snapshot.ok() && ordinal < snapshot->num_rows()) {
      slot.assign(snapshot->id(ordinal));
    }
    return slot;
  };
}

// Weights for a weighted plan from its frozen scores.
absl::StatusOr<std::vector<double>> WeightsFor(
    const winnow::v1::Strategy& s, const std::vector<float>& scores) {
  absl::StatusOr<WeightSpec> spec;
  if (s.has_weighted()) {
    spec = WeightSpecOf(s.weighted(), "strategy.weighted");
  } else if (s.has_weighted_with_replacement()) {
    if (s.weighted_with_replacement().score().empty())
      return std::vector<double>();
    spec = WeightSpecOf(s.weighted_with_replacement(),
                        "strategy.weighted_with_replacement");
  } else {
    return std::vector<double>();
  }
  if (!spec.ok()) return spec.status();
  absl::StatusOr<Weights> w = ComputeWeights(scores, *spec);
  if (!w.ok()) return w.status();
  return std::move(w->values);
}

// The sampler's configuration from a plan's (resolved) description.
SamplerConfig ConfigFor(const winnow::v1::Plan& d, uint64_t checkpoint_every) {
  SamplerConfig c;
  c.seed = d.seed();
  c.samples_per_epoch = static_cast<uint64_t>(d.samples_per_epoch());
  c.drop_last = d.drop_last();
  c.checkpoint_every = checkpoint_every;
  if (d.has_token_budget()) {
    const winnow::v1::TokenBudget& tb = d.token_budget();
    TokenBudgetSpec spec;
    spec.max_tokens = tb.max_tokens();
    spec.edges.assign(tb.bucket_edges().begin(), tb.bucket_edges().end());
    spec.batch_sizes.assign(tb.bucket_batch_sizes().begin(),
                            tb.bucket_batch_sizes().end());
    c.token_budget = std::move(spec);
  } else {
    c.batch_size = static_cast<uint64_t>(d.batch_size());
  }
  const winnow::v1::Strategy& s = d.strategy();
  switch (s.kind_case()) {
    case winnow::v1::Strategy::kWeightedWithReplacement:
      c.kind = SequenceKind::kAlias;
      break;
    case winnow::v1::Strategy::kTopK:
      c.kind =
          s.top_k().shuffle() ? SequenceKind::kKeyed : SequenceKind::kFixed;
      break;
    case winnow::v1::Strategy::kOrdered:
      c.kind = SequenceKind::kFixed;
      break;
    case winnow::v1::Strategy::kRepetitionBudget:
      c.kind = SequenceKind::kKeyed;
      c.total_budget =
          static_cast<uint64_t>(s.repetition_budget().sample_budget());
      break;
    case winnow::v1::Strategy::kMixture: {
      c.kind = SequenceKind::kMixture;
      for (const winnow::v1::DomainWeight& w : d.domain_weights()) {
        c.mixture.weights.push_back(w.weight());
      }
      // Schedule steps name domains; map them onto the plan's domain list.
      for (const winnow::v1::MixtureScheduleStep& step :
           s.mixture().schedule_steps()) {
        MixtureSpec::Step st;
        st.start_sample = static_cast<uint64_t>(step.start_sample());
        st.weights.assign(d.domain_weights_size(), 0.0);
        for (const winnow::v1::DomainWeight& w : step.domain_weights()) {
          for (int i = 0; i < d.domain_weights_size(); ++i) {
            if (d.domain_weights(i).domain() == w.domain()) {
              st.weights[i] = w.weight();
            }
          }
        }
        c.mixture.steps.push_back(std::move(st));
      }
      c.mixture.drop_exhausted =
          s.mixture().on_exhausted() == winnow::v1::EXHAUSTION_POLICY_DROP;
      break;
    }
    default:
      c.kind = SequenceKind::kKeyed;
  }
  return c;
}

// Checks a list of domain weights against the candidates' domains.
absl::Status CheckDomainWeights(
    const google::protobuf::RepeatedPtrField<winnow::v1::DomainWeight>& ws,
    const std::map<std::string, uint64_t>& counts,
    const std::set<std::string>& known, const std::string& field) {
  double sum = 0;
  std::set<std::string> seen;
  for (int i = 0; i < ws.size(); ++i) {
    const winnow::v1::DomainWeight& w = ws[i];
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (!known.count(w.domain())) {
      return Invalid(
          absl::StrCat(f, ".domain: unknown domain '", w.domain(), "'"));
    }
    if (!seen.insert(w.domain()).second) {
      return Invalid(
          absl::StrCat(f, ".domain: '", w.domain(), "' is listed twice"));
    }
    if (!std::isfinite(w.weight()) || w.weight() < 0) {
      return Invalid(
          absl::StrCat(f, ".weight must be finite and >= 0, got ", w.weight()));
    }
    if (w.weight() > 0 && counts.count(w.domain()) == 0) {
      return Invalid(absl::StrCat(f, ": domain '", w.domain(), "' has weight ",
                                  w.weight(),
                                  " but no candidates after the filter"));
    }
    sum += w.weight();
  }
  if (!(sum > 0)) {
    return Invalid(absl::StrCat(field, ": the weights must not all be 0"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- Plan ----

winnow::v1::Plan Plan::Describe() const {
  winnow::v1::Plan d = description_;
  d.set_memory_bytes(MemoryBytes());
  d.set_stream_count(streams_.load());
  const int64_t used = last_use_ns_.load();
  *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(used);
  return d;
}

void Plan::Touch() { last_use_ns_.store(NowNanos()); }

void Plan::AddStream(int delta) {
  if (streams_.fetch_add(delta) + delta != 0) return;
  std::lock_guard<std::mutex> lock(mu_);
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
  if (!DecodeFrozen(*raw, &record)) {
    return absl::DataLossError(
        absl::StrCat("plan '", id_, "': its frozen candidates are corrupt"));
  }
  auto frozen = std::make_shared<FrozenCandidates>();
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        store_->ReadColumns(collection());
    if (!snapshot.ok() || snapshot->collection_id() != collection_id_) {
      return absl::FailedPreconditionError(
          absl::StrCat("plan '", id_, "': its collection '", collection(),
                       "' was deleted; start a new run"));
    }
    std::span<const uint64_t> hashes = snapshot->id_hashes();
    frozen->id_hashes.reserve(record.ordinals.size());
    for (uint32_t o : record.ordinals) {
      if (o >= hashes.size()) {
        return absl::DataLossError(absl::StrCat("plan '", id_, "': ordinal ", o,
                                                " is past the collection"));
      }
      frozen->id_hashes.push_back(hashes[o]);
    }
  }
  absl::StatusOr<std::vector<double>> weights =
      WeightsFor(description_.strategy(), record.scores);
  if (!weights.ok()) return weights.status();
  frozen->weights = *std::move(weights);
  frozen->ordinals = std::move(record.ordinals);
  frozen->lengths = std::move(record.lengths);
  frozen->domains = std::move(record.domains);
  frozen->num_domains =
      static_cast<uint32_t>(description_.domain_weights_size());
  frozen_ = frozen;
  absl::StatusOr<std::unique_ptr<PlanSampler>> sampler =
      PlanSampler::Make(frozen_, ConfigFor(description_, checkpoint_every_),
                        ServingDocIds(store_, collection(), frozen_));
  if (!sampler.ok()) return sampler.status();
  sampler_ = *std::move(sampler);
  memory_bytes_.store(static_cast<int64_t>(sampler_->MemoryBytes()));
  return absl::OkStatus();
}

absl::StatusOr<EpochInfo> Plan::OpenEpoch(uint64_t e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = EnsureLoaded(); !s.ok()) return s;
  return OpenEpochLocked(e);
}

absl::StatusOr<EpochInfo> Plan::OpenEpochLocked(uint64_t e) {
  const std::string entry = absl::StrCat("epoch/", e);
  std::string saved;
  const bool stateful = token_budget() || description_.strategy().has_mixture();
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
  std::lock_guard<std::mutex> lock(mu_);
  if (absl::Status s = EnsureLoaded(); !s.ok()) return s;
  if (!sampler_->IsOpen(e)) {
    // Other ranks opened two later (or earlier) epochs since this caller
    // opened e. Reopening reloads a stateful epoch's persisted index.
    absl::StatusOr<EpochInfo> info = OpenEpochLocked(e);
    if (!info.ok()) return info.status();
  }
  return sampler_->GetBatch(e, j, out);
}

// ---- PlanRegistry ----

PlanRegistry::PlanRegistry(storage::Store* store, PlanOptions options)
    : store_(store), options_(options) {}

PlanRegistry::~PlanRegistry() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (expiry_.joinable()) expiry_.join();
}

absl::Status PlanRegistry::Init() {
  absl::StatusOr<std::string> key = store_->GetOrCreateSecret("cursor");
  if (!key.ok()) return key.status();
  cursors_ = std::make_unique<CursorCodec>(*std::move(key));
  std::map<std::string, std::string> internals;
  for (auto& [id, value] : store_->ListPlanEntries("internal")) {
    internals[id] = std::move(value);
  }
  int loaded = 0;
  for (auto& [id, value] : store_->ListPlanEntries("meta")) {
    auto plan = std::shared_ptr<Plan>(new Plan());
    Internal in;
    auto it = internals.find(id);
    if (it == internals.end() || !DecodeInternal(it->second, &in) ||
        !plan->description_.ParseFromString(value)) {
      spdlog::error("plan {} is corrupt; ignoring it", id);
      continue;
    }
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
    by_key_[plan->key_] = id;
    by_id_[id] = std::move(plan);
    ++loaded;
  }
  if (loaded > 0) spdlog::info("{} sampling plans on record", loaded);
  // Look for idle plans at least twice per TTL, at most once a minute.
  const auto interval = std::clamp<std::chrono::milliseconds>(
      std::chrono::milliseconds(options_.ttl_seconds * 500),
      std::chrono::milliseconds(200), std::chrono::milliseconds(60000));
  expiry_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, interval, [this] { return stop_; })) {
      lock.unlock();
      ExpireIdle(std::chrono::system_clock::now());
      lock.lock();
    }
  });
  return absl::OkStatus();
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

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::FindOrCreate(
    const winnow::v1::SampleRequest& request, const std::string& owner) {
  const std::string key = PlanKey(request);
  std::promise<absl::StatusOr<std::shared_ptr<Plan>>> promise;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto found = by_key_.find(key);
    if (found != by_key_.end()) {
      std::shared_ptr<Plan> plan = by_id_.at(found->second);
      plan->Touch();
      return plan;
    }
    auto pending = creating_.find(key);
    if (pending != creating_.end()) {
      // An identical first request is freezing this plan: share it.
      auto future = pending->second;
      lock.unlock();
      return future.get();
    }
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
    creating_.emplace(key, promise.get_future().share());
  }
  absl::StatusOr<std::shared_ptr<Plan>> created = Create(request, key, owner);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (created.ok()) {
      by_key_[key] = (*created)->id();
      by_id_[(*created)->id()] = *created;
    }
    creating_.erase(key);
  }
  promise.set_value(created);
  if (created.ok()) NotifyChange();
  return created;
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::Get(
    const std::string& plan_id) {
  std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_id_.find(plan_id);
    if (it == by_id_.end()) {
      return absl::NotFoundError(
          absl::StrCat("plan '", plan_id, "' not found"));
    }
    plan = it->second;
    plan->deleted_.store(true);
    by_key_.erase(plan->key());
    by_id_.erase(it);
  }
  if (absl::Status s = store_->DeletePlan(plan_id); !s.ok()) return s;
  NotifyChange();
  return plan->MemoryBytes();
}

std::vector<std::shared_ptr<Plan>> PlanRegistry::List() const {
  std::vector<std::shared_ptr<Plan>> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, plan] : by_id_) out.push_back(plan);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const int64_t ta =
        TimeUtil::TimestampToNanoseconds(a->description().create_time());
    const int64_t tb =
        TimeUtil::TimestampToNanoseconds(b->description().create_time());
    if (ta != tb) return ta > tb;
    return a->id() < b->id();
  });
  return out;
}

void PlanRegistry::NotifyChange() const {
  if (!on_change_) return;
  int64_t count = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    count = static_cast<int64_t>(by_id_.size());
  }
  on_change_(count, TotalMemoryBytes());
}

int64_t PlanRegistry::TotalMemoryBytes() const {
  std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
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
  // Record recent use durably now and then, so the TTL survives restarts.
  std::vector<std::shared_ptr<Plan>> plans = List();
  for (const auto& plan : plans) {
    const int64_t used = plan->last_use_ns_.load();
    if (used - plan->persisted_use_ns_.load() > int64_t{3600} * 1000000000) {
      winnow::v1::Plan d = plan->description();
      *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(used);
      if (store_->PutPlanEntries(plan->id(), {{"meta", d.SerializeAsString()}})
              .ok()) {
        plan->persisted_use_ns_.store(used);
      }
    }
  }
  return expired;
}

absl::StatusOr<std::shared_ptr<Plan>> PlanRegistry::Create(
    const winnow::v1::SampleRequest& request, const std::string& key,
    const std::string& owner) {
  if (options_.max_plan_memory_bytes > 0 &&
      TotalMemoryBytes() >= options_.max_plan_memory_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "plans hold ", TotalMemoryBytes(), " bytes, at the ",
        FormatBytes(options_.max_plan_memory_bytes),
        " plan memory limit (max_plan_memory_bytes); delete plans that are "
        "no longer used"));
  }
  auto plan = std::shared_ptr<Plan>(new Plan());
  plan->store_ = store_;
  plan->id_ = NewPlanId();
  plan->key_ = key;
  plan->owner_ = owner;
  plan->checkpoint_every_ = options_.checkpoint_every;
  winnow::v1::Plan& d = plan->description_;
  d.set_plan_id(plan->id_);
  d.set_collection(request.collection());
  d.set_run_id(request.run_id());
  d.set_filter(request.filter());
  *d.mutable_strategy() = request.strategy();
  if (!request.has_strategy() ||
      request.strategy().kind_case() == winnow::v1::Strategy::KIND_NOT_SET) {
    d.mutable_strategy()->mutable_uniform();
  }
  d.set_seed(request.seed());
  d.set_num_epochs(request.num_epochs());
  d.set_samples_per_epoch(request.samples_per_epoch());
  if (request.has_token_budget()) {
    *d.mutable_token_budget() = request.token_budget();
  } else {
    d.set_batch_size(request.batch_size());
  }
  d.set_drop_last(!request.has_drop_last() || request.drop_last());
  d.set_sampler_version(kSamplerVersion);
  const winnow::v1::Strategy& strategy = d.strategy();

  FrozenRecord record;
  std::vector<uint64_t> id_hashes;  // aligned with record.ordinals
  std::vector<double> weights;      // aligned with record.ordinals
  std::optional<winnow::v1::RepetitionBudgetPrediction> prediction;
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        store_->ReadColumns(request.collection());
    if (!snapshot.ok()) return snapshot.status();
    const ColumnSet& columns = snapshot->columns();
    absl::StatusOr<Filter> filter = CompileFilter(request.filter(), columns);
    if (!filter.ok()) return filter.status();
    Bitmap matches;
    filter->EvaluateInto(columns, &matches);
    std::vector<uint32_t> cands = matches.ToOrdinals();
    DocIdFn id_of_cand = [&](uint32_t i) { return snapshot->id(cands[i]); };
    auto scores_of = [&](std::span<const float> column) {
      std::vector<float> s(cands.size());
      for (size_t i = 0; i < cands.size(); ++i)
        s[i] = ScoreAt(column, cands[i]);
      return s;
    };
    // `order`: indices into cands, the plan's canonical order.
    std::vector<uint32_t> order;
    std::vector<float> kept_scores;    // aligned with cands
    std::vector<double> cand_weights;  // aligned with cands
    auto all = [&] {
      order.resize(cands.size());
      for (uint32_t i = 0; i < cands.size(); ++i) order[i] = i;
    };
    switch (strategy.kind_case()) {
      case winnow::v1::Strategy::kUniform:
        all();
        break;
      case winnow::v1::Strategy::kWeighted:
      case winnow::v1::Strategy::kWeightedWithReplacement: {
        const bool with = strategy.has_weighted_with_replacement();
        const std::string field =
            with ? "strategy.weighted_with_replacement" : "strategy.weighted";
        const std::string& score =
            with ? strategy.weighted_with_replacement().score()
                 : strategy.weighted().score();
        if (with && score.empty()) {
          order = SortByDocId(static_cast<uint32_t>(cands.size()), id_of_cand);
          break;
        }
        absl::StatusOr<std::span<const float>> column =
            ScoreColumn(columns, score, field + ".score");
        if (!column.ok()) return column.status();
        kept_scores = scores_of(*column);
        absl::StatusOr<std::vector<double>> w =
            WeightsFor(strategy, kept_scores);
        if (!w.ok()) return w.status();
        // Candidates without a positive weight are left out of the plan.
        // Weights scale by the largest, which is among those kept, so
        // w[keep] equals the weights of the kept scores bit for bit (what
        // a restart recomputes).
        std::vector<uint32_t> keep;
        keep.reserve(cands.size());
        for (uint32_t i = 0; i < cands.size(); ++i) {
          if ((*w)[i] > 0) keep.push_back(i);
        }
        if (with) {
          std::sort(keep.begin(), keep.end(), [&](uint32_t a, uint32_t b) {
            return snapshot->id(cands[a]) < snapshot->id(cands[b]);
          });
        }
        cand_weights = *std::move(w);
        order = std::move(keep);
        break;
      }
      case winnow::v1::Strategy::kTopK: {
        const winnow::v1::TopKStrategy& t = strategy.top_k();
        absl::StatusOr<std::span<const float>> column =
            ScoreColumn(columns, t.score(), "strategy.top_k.score");
        if (!column.ok()) return column.status();
        std::vector<float> s = scores_of(*column);
        std::vector<uint32_t> ranked = SortByScore(
            s, t.order() != winnow::v1::SORT_ORDER_ASCENDING, id_of_cand);
        uint64_t k = 0;
        if (t.size_case() == winnow::v1::TopKStrategy::kK) {
          if (t.k() < 1) {
            return Invalid(
                absl::StrCat("strategy.top_k.k must be >= 1, got ", t.k()));
          }
          k = static_cast<uint64_t>(t.k());
        } else if (t.size_case() == winnow::v1::TopKStrategy::kFraction) {
          if (!(t.fraction() > 0 && t.fraction() <= 1)) {
            return Invalid(
                absl::StrCat("strategy.top_k.fraction must be in (0, 1], got ",
                             t.fraction()));
          }
          k = static_cast<uint64_t>(
              std::ceil(t.fraction() * static_cast<double>(ranked.size())));
        } else {
          return Invalid("strategy.top_k: set k or fraction");
        }
        ranked.resize(std::min<uint64_t>(k, ranked.size()));
        if (t.shuffle()) std::sort(ranked.begin(), ranked.end());
        order = std::move(ranked);
        break;
      }
      case winnow::v1::Strategy::kOrdered: {
        const winnow::v1::OrderedStrategy& o = strategy.ordered();
        absl::StatusOr<std::span<const float>> column =
            ScoreColumn(columns, o.score(), "strategy.ordered.score");
        if (!column.ok()) return column.status();
        if (o.fold_count() < 0) {
          return Invalid(
              absl::StrCat("strategy.ordered.fold_count must be >= 0, got ",
                           o.fold_count()));
        }
        std::vector<float> s = scores_of(*column);
        const bool desc =
            o.direction() == winnow::v1::ORDER_DIRECTION_DESCENDING;
        order = SortByScore(s, desc, id_of_cand);
        if (o.direction() == winnow::v1::ORDER_DIRECTION_FOLDING) {
          const uint32_t folds = o.fold_count() == 0
                                     ? kDefaultFolds
                                     : static_cast<uint32_t>(o.fold_count());
          order = FoldingOrder(order, folds);
          d.mutable_strategy()->mutable_ordered()->set_fold_count(
              static_cast<int32_t>(folds));
        }
        break;
      }
      case winnow::v1::Strategy::kClusterBalanced: {
        const winnow::v1::ClusterBalancedStrategy& c =
            strategy.cluster_balanced();
        const std::string name =
            c.cluster_score().empty() ? "cluster" : c.cluster_score();
        if (c.budget() < 1) {
          return Invalid(absl::StrCat(
              "strategy.cluster_balanced.budget must be >= 1, got ",
              c.budget()));
        }
        absl::StatusOr<std::span<const float>> column = ScoreColumn(
            columns, name, "strategy.cluster_balanced.cluster_score");
        if (!column.ok()) return column.status();
        std::vector<float> s = scores_of(*column);
        for (float v : s) {
          if (!std::isnan(v) && v != std::floor(v)) {
            return Invalid(absl::StrCat(
                "strategy.cluster_balanced.cluster_score: score '", name,
                "' holds ", v, ", not an integer cluster id"));
          }
        }
        std::vector<uint64_t> hashes(cands.size());
        for (size_t i = 0; i < cands.size(); ++i) {
          hashes[i] = snapshot->id_hashes()[cands[i]];
        }
        order =
            ClusterBalancedSelect(s, hashes, static_cast<uint64_t>(c.budget()),
                                  request.seed(), id_of_cand);
        d.mutable_strategy()->mutable_cluster_balanced()->set_cluster_score(
            name);
        break;
      }
      case winnow::v1::Strategy::kRepetitionBudget: {
        const winnow::v1::RepetitionBudgetStrategy& r =
            strategy.repetition_budget();
        if (request.num_epochs() != 0) {
          return Invalid(
              "num_epochs must be 0 for repetition_budget: the strategy sets "
              "it to ceil(sample_budget / pool size)");
        }
        absl::StatusOr<std::span<const float>> column =
            ScoreColumn(columns, r.score(), "strategy.repetition_budget.score");
        if (!column.ok()) return column.status();
        std::vector<float> s = scores_of(*column);
        std::vector<uint32_t> ranked = SortByScore(
            s, r.order() != winnow::v1::SORT_ORDER_ASCENDING, id_of_cand);
        std::vector<PoolParams> pools;
        double total_fraction = 0;
        for (int i = 0; i < r.pools_size(); ++i) {
          const winnow::v1::RepetitionPool& p = r.pools(i);
          if (!(p.fraction() > 0 && p.fraction() <= 1)) {
            return Invalid(absl::StrCat("strategy.repetition_budget.pools[", i,
                                        "].fraction must be in (0, 1], got ",
                                        p.fraction()));
          }
          total_fraction += p.fraction();
          pools.push_back({p.fraction(), p.a(), p.b(), p.tau(), p.d()});
        }
        if (total_fraction > 1 + 1e-9) {
          return Invalid(
              "strategy.repetition_budget.pools: fractions sum to more than 1");
        }
        if (pools.empty()) {
          pools = DefaultPools();
          for (const PoolParams& p : pools) {
            winnow::v1::RepetitionPool* out =
                d.mutable_strategy()->mutable_repetition_budget()->add_pools();
            out->set_fraction(p.fraction);
            out->set_a(p.a);
            out->set_b(p.b);
            out->set_tau(p.tau);
            out->set_d(p.d);
          }
        }
        std::vector<int64_t> sizes;
        double cum = 0;
        int64_t prev = 0;
        for (const PoolParams& p : pools) {
          cum += p.fraction;
          const int64_t end = std::min<int64_t>(
              static_cast<int64_t>(std::llround(cum * ranked.size())),
              static_cast<int64_t>(ranked.size()));
          sizes.push_back(end - prev);
          prev = end;
        }
        absl::StatusOr<PoolPrediction> pred =
            PredictPools(sizes, pools, r.sample_budget());
        if (!pred.ok()) {
          return Annotate(pred.status(), "strategy.repetition_budget");
        }
        int64_t chosen_size = 0;
        winnow::v1::RepetitionBudgetPrediction out;
        out.set_chosen_pool_count(pred->chosen);
        for (const PoolChoice& c : pred->choices) {
          if (c.pool_count == pred->chosen) chosen_size = c.pool_size;
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
        prediction = std::move(out);
        ranked.resize(static_cast<size_t>(chosen_size));
        std::sort(ranked.begin(), ranked.end());
        order = std::move(ranked);
        break;
      }
      case winnow::v1::Strategy::kMixture: {
        const winnow::v1::MixtureStrategy& m = strategy.mixture();
        if (m.mode() == winnow::v1::MIXTURE_MODE_LIVE) {
          return absl::UnimplementedError(
              "strategy.mixture.mode: live (DoReMi) mixtures need training "
              "feedback, which is not served yet; use MIXTURE_MODE_STATIC");
        }
        if (request.samples_per_epoch() < 1) {
          return Invalid("samples_per_epoch must be >= 1 for a mixture");
        }
        all();
        // Domains of the candidates, by name.
        std::map<std::string, uint64_t> counts;
        for (uint32_t o : cands) {
          ++counts[columns.domain_names[columns.domain[o]]];
        }
        std::set<std::string> known(columns.domain_names.begin(),
                                    columns.domain_names.end());
        if (m.domain_weights_size() > 0) {
          if (absl::Status s =
                  CheckDomainWeights(m.domain_weights(), counts, known,
                                     "strategy.mixture.domain_weights");
              !s.ok()) {
            return s;
          }
        } else if (counts.empty()) {
          return Invalid("strategy.mixture: the filter matches no document");
        }
        int64_t last_start = -1;
        for (int i = 0; i < m.schedule_steps_size(); ++i) {
          const auto& step = m.schedule_steps(i);
          const std::string f =
              absl::StrCat("strategy.mixture.schedule_steps[", i, "]");
          if (step.start_sample() <= last_start) {
            return Invalid(absl::StrCat(
                f, ".start_sample must be ascending and >= 0, got ",
                step.start_sample()));
          }
          last_start = step.start_sample();
          if (absl::Status s = CheckDomainWeights(step.domain_weights(), counts,
                                                  known, f + ".domain_weights");
              !s.ok()) {
            return s;
          }
        }
        const double exponent = m.has_size_exponent() ? m.size_exponent() : 1;
        if (!std::isfinite(exponent)) {
          return Invalid("strategy.mixture.size_exponent must be finite");
        }
        // The plan's domains: those with candidates, by name, with their
        // resolved initial weights.
        std::map<std::string, uint16_t> index;
        for (const auto& [name, count] : counts) {
          double w = 0;
          if (m.domain_weights_size() > 0) {
            for (const auto& dw : m.domain_weights()) {
              if (dw.domain() == name) w = dw.weight();
            }
          } else {
            w = std::pow(static_cast<double>(count), exponent);
          }
          index[name] = static_cast<uint16_t>(d.domain_weights_size());
          winnow::v1::DomainWeight* out = d.add_domain_weights();
          out->set_domain(name);
          out->set_weight(w);
        }
        if (counts.size() > UINT16_MAX) {
          return Invalid("strategy.mixture: too many domains");
        }
        record.domains.reserve(cands.size());
        for (uint32_t o : cands) {
          record.domains.push_back(
              index.at(columns.domain_names[columns.domain[o]]));
        }
        break;
      }
      default:
        return Invalid("strategy: unknown kind");
    }
    if (strategy.has_weighted_with_replacement() &&
        request.samples_per_epoch() < 1) {
      return Invalid(
          "samples_per_epoch must be >= 1 for weighted_with_replacement");
    }
    // The frozen arrays in canonical order.
    record.ordinals.reserve(order.size());
    if (!cand_weights.empty()) weights.reserve(order.size());
    if (!kept_scores.empty()) record.scores.reserve(order.size());
    record.lengths.reserve(order.size());
    std::vector<uint16_t> domains;
    for (uint32_t i : order) {
      record.ordinals.push_back(cands[i]);
      record.lengths.push_back(columns.length[cands[i]]);
      if (!kept_scores.empty()) record.scores.push_back(kept_scores[i]);
      if (!cand_weights.empty()) weights.push_back(cand_weights[i]);
      if (!record.domains.empty()) domains.push_back(record.domains[i]);
    }
    if (!record.domains.empty()) record.domains = std::move(domains);
    id_hashes.reserve(record.ordinals.size());
    for (uint32_t o : record.ordinals) {
      id_hashes.push_back(snapshot->id_hashes()[o]);
    }
    plan->collection_id_ = snapshot->collection_id();
    plan->freeze_seq_ = snapshot->write_seq();

    // Resolve the token budget's buckets over the frozen lengths.
    if (d.has_token_budget()) {
      winnow::v1::TokenBudget* tb = d.mutable_token_budget();
      if (tb->max_tokens() < 0) {
        return Invalid(absl::StrCat(
            "token_budget.max_tokens must be >= 0, got ", tb->max_tokens()));
      }
      if (tb->bucket_count() < 0 || tb->bucket_count() > 1000) {
        return Invalid(
            absl::StrCat("token_budget.bucket_count must be in [0, 1000], got ",
                         tb->bucket_count()));
      }
      if (tb->bucket_edges_size() > 0) {
        for (int i = 0; i < tb->bucket_edges_size(); ++i) {
          if (tb->bucket_edges(i) < 1 || tb->bucket_edges(i) > UINT32_MAX ||
              (i > 0 && tb->bucket_edges(i) <= tb->bucket_edges(i - 1))) {
            return Invalid(
                absl::StrCat("token_budget.bucket_edges[", i,
                             "] must be >= 1 and strictly ascending, got ",
                             tb->bucket_edges(i)));
          }
        }
      } else {
        const int32_t n =
            tb->bucket_count() == 0 ? kDefaultBuckets : tb->bucket_count();
        for (uint32_t e : EstimateBucketEdges(record.lengths, n)) {
          tb->add_bucket_edges(e);
        }
        tb->set_bucket_count(n);
      }
      const int buckets = tb->bucket_edges_size() + 1;
      if (tb->bucket_batch_sizes_size() > 0) {
        if (tb->bucket_batch_sizes_size() != buckets) {
          return Invalid(absl::StrCat("token_budget.bucket_batch_sizes has ",
                                      tb->bucket_batch_sizes_size(),
                                      " entries for ", buckets, " buckets"));
        }
        for (int i = 0; i < buckets; ++i) {
          if (tb->bucket_batch_sizes(i) < 1) {
            return Invalid(absl::StrCat("token_budget.bucket_batch_sizes[", i,
                                        "] must be >= 1"));
          }
        }
      } else if (tb->max_tokens() == 0) {
        return Invalid(
            "token_budget.max_tokens must be > 0 unless bucket_batch_sizes "
            "is set");
      }
    }
  }
  d.set_candidate_count(static_cast<int64_t>(record.ordinals.size()));
  const size_t candidate_count = record.ordinals.size();
  if (prediction) plan->prediction_ = prediction;

  // The generator, built over the frozen set exactly as a restart would.
  std::string frozen_entry = EncodeFrozen(record);
  auto frozen = std::make_shared<FrozenCandidates>();
  frozen->id_hashes = std::move(id_hashes);
  frozen->num_domains = static_cast<uint32_t>(d.domain_weights_size());
  frozen->weights = std::move(weights);
  frozen->ordinals = std::move(record.ordinals);
  frozen->lengths = std::move(record.lengths);
  frozen->domains = std::move(record.domains);
  plan->frozen_ = frozen;
  absl::StatusOr<std::unique_ptr<PlanSampler>> sampler =
      PlanSampler::Make(frozen, ConfigFor(d, options_.checkpoint_every),
                        ServingDocIds(store_, request.collection(), frozen));
  if (!sampler.ok()) return Annotate(sampler.status(), "strategy");
  plan->sampler_ = *std::move(sampler);
  plan->num_epochs_ = plan->sampler_->strategy_epochs() != 0
                          ? plan->sampler_->strategy_epochs()
                          : static_cast<uint64_t>(request.num_epochs());
  if (strategy.has_repetition_budget()) {
    d.set_num_epochs(static_cast<int64_t>(plan->num_epochs_));
  }
  std::string first_index;  // epoch 0's checkpoints, if stateful
  {
    absl::StatusOr<EpochInfo> first =
        plan->sampler_->OpenEpoch(0, "", &first_index);
    if (!first.ok()) return first.status();
    d.set_epoch_sample_count(static_cast<int64_t>(first->positions));
  }
  const int64_t now = NowNanos();
  *d.mutable_create_time() = TimeUtil::NanosecondsToTimestamp(now);
  *d.mutable_last_use_time() = TimeUtil::NanosecondsToTimestamp(now);
  *d.mutable_expire_time() = TimeUtil::NanosecondsToTimestamp(
      now + options_.ttl_seconds * int64_t{1000000000});
  plan->last_use_ns_.store(now);
  plan->persisted_use_ns_.store(now);
  plan->memory_bytes_.store(
      static_cast<int64_t>(plan->sampler_->MemoryBytes()));

  // Durable before the first batch: one atomic write of every entry.
  Internal in;
  in.collection_id = plan->collection_id_;
  in.freeze_seq = plan->freeze_seq_;
  in.checkpoint_every = plan->checkpoint_every_;
  in.num_epochs = plan->num_epochs_;
  in.key = key;
  in.owner = owner;
  std::vector<std::pair<std::string, std::string>> entries = {
      {"meta", d.SerializeAsString()},
      {"internal", EncodeInternal(in)},
      {"frozen", std::move(frozen_entry)},
  };
  if (prediction) {
    entries.push_back({"prediction", prediction->SerializeAsString()});
  }
  if (!first_index.empty()) entries.push_back({"epoch/0", first_index});
  if (absl::Status s = store_->PutPlanEntries(plan->id_, entries); !s.ok()) {
    return s;
  }
  spdlog::info("plan {} created: collection={} run_id='{}' candidates={}",
               plan->id_, request.collection(), request.run_id(),
               candidate_count);
  return plan;
}

}  // namespace winnow::server
