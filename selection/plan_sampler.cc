#include "selection/plan_sampler.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "selection/batches.h"
#include "selection/hash.h"
#include "selection/sampler.h"

namespace winnow {
namespace {

// Mixture state is recorded every this many positions.
constexpr uint64_t kMixtureStride = 4096;
// Positions fetched from a sequence at a time while bucketing.
constexpr uint64_t kChunk = 4096;
// Generated bucketed batches kept for ranks that read behind the others.
constexpr size_t kBatchCache = 1024;
constexpr uint32_t kIndexFormat = 1;

// ---- a little-endian byte writer/reader for epoch indexes ----

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  void U64(uint64_t v) { out_->append(reinterpret_cast<const char*>(&v), 8); }
  void U32(uint32_t v) { out_->append(reinterpret_cast<const char*>(&v), 4); }

 private:
  std::string* out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U64(uint64_t* v) { return Take(v, 8); }
  bool U32(uint32_t* v) { return Take(v, 4); }
  bool done() const { return in_.empty(); }

 private:
  bool Take(void* v, size_t n) {
    if (in_.size() < n) return false;
    std::memcpy(v, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  std::string_view in_;
};

absl::Status Corrupt(const char* what) {
  return absl::DataLossError(absl::StrCat("epoch index is corrupt: ", what));
}

}  // namespace

size_t FrozenCandidates::MemoryBytes() const {
  return ordinals.capacity() * 4 + lengths.capacity() * 4 +
         id_hashes.capacity() * 8 + weights.capacity() * 8 +
         domains.capacity() * 2;
}

// ---- sequences ----

class PlanSampler::Sequence {
 public:
  virtual ~Sequence() = default;
  virtual uint64_t size() const = 0;
  // Appends the candidate indices at positions [begin, min(end, size())).
  virtual void Get(uint64_t begin, uint64_t end,
                   std::vector<uint32_t>* out) = 0;
  virtual size_t MemoryBytes() const = 0;
  // Serialized state checkpoints (kMixture), appended to an epoch index.
  virtual void SaveState(Writer&) const {}
};

namespace {

using Sequence = PlanSampler::Sequence;

class KeyedSequence final : public Sequence {
 public:
  KeyedSequence(const Candidates& c, uint64_t seed, uint64_t epoch,
                uint64_t cut)
      : order_(c, seed, epoch) {
    size_ = std::min(order_.size(), cut);
  }
  uint64_t size() const override { return size_; }
  void Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out) override {
    order_.Get(begin, std::min(end, size_), out);
  }
  size_t MemoryBytes() const override { return order_.MemoryBytes(); }

 private:
  KeyedOrder order_;
  uint64_t size_ = 0;
};

class FixedSequence final : public Sequence {
 public:
  explicit FixedSequence(uint64_t size) : size_(size) {}
  uint64_t size() const override { return size_; }
  void Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out) override {
    for (uint64_t i = begin; i < std::min(end, size_); ++i) {
      out->push_back(static_cast<uint32_t>(i));
    }
  }
  size_t MemoryBytes() const override { return 0; }

 private:
  uint64_t size_;
};

class AliasSequence final : public Sequence {
 public:
  AliasSequence(const AliasTable* table, uint64_t seed, uint64_t epoch,
                uint64_t size)
      : table_(table), epoch_key_(EpochKey(seed, epoch)), size_(size) {}
  uint64_t size() const override { return size_; }
  void Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out) override {
    for (uint64_t i = begin; i < std::min(end, size_); ++i) {
      out->push_back(table_->Draw(PositionDraw(epoch_key_, i)));
    }
  }
  size_t MemoryBytes() const override { return 0; }

 private:
  const AliasTable* table_;
  uint64_t epoch_key_;
  uint64_t size_;
};

// The seed of a domain's keyed order in its pass p (p = 0 is the plan seed,
// as for uniform).
uint64_t PassSeed(uint64_t seed, uint32_t pass) {
  return pass == 0 ? seed : Mix64(seed ^ (0x9e3779b97f4a7c15ULL * pass));
}

class MixtureSequence final : public Sequence {
 public:
  struct State {
    std::vector<uint32_t> pass;
    std::vector<uint64_t> count;
  };

  MixtureSequence(const FrozenCandidates& f, const MixtureSpec& spec,
                  const DocIdFn& doc_id, uint64_t seed, uint64_t epoch,
                  uint64_t positions, uint64_t first_sample)
      : spec_(spec),
        doc_id_(doc_id),
        seed_(seed),
        epoch_(epoch),
        epoch_key_(EpochKey(seed, epoch)),
        first_sample_(first_sample),
        members_(f.num_domains),
        hashes_(f.num_domains),
        orders_(f.num_domains) {
    for (uint32_t i = 0; i < f.domains.size(); ++i) {
      members_[f.domains[i]].push_back(i);
      hashes_[f.domains[i]].push_back(f.hash(i));
    }
    limit_ = positions;
  }

  // Computes the size and the state checkpoints with one pass.
  void Scan() {
    State s = Initial();
    states_.clear();
    uint64_t i = 0;
    for (; i < limit_; ++i) {
      if (i % kMixtureStride == 0) states_.push_back(s);
      if (Pick(i, &s) < 0) break;
    }
    size_ = i;
    states_.resize((size_ + kMixtureStride - 1) / kMixtureStride);
  }

  // Restores from an index written by SaveState.
  bool Load(Reader& r) {
    uint64_t n = 0;
    if (!r.U64(&size_) || !r.U64(&n) || size_ > limit_ ||
        n != (size_ + kMixtureStride - 1) / kMixtureStride) {
      return false;
    }
    states_.resize(n);
    for (State& s : states_) {
      s = Initial();
      for (size_t d = 0; d < members_.size(); ++d) {
        if (!r.U32(&s.pass[d]) || !r.U64(&s.count[d])) return false;
        if (s.count[d] > members_[d].size()) return false;
      }
    }
    return true;
  }

  void SaveState(Writer& w) const override {
    w.U64(size_);
    w.U64(states_.size());
    for (const State& s : states_) {
      for (size_t d = 0; d < members_.size(); ++d) {
        w.U32(s.pass[d]);
        w.U64(s.count[d]);
      }
    }
  }

  uint64_t size() const override { return size_; }

  void Get(uint64_t begin, uint64_t end, std::vector<uint32_t>* out) override {
    end = std::min(end, size_);
    if (begin >= end) return;
    uint64_t i = (begin / kMixtureStride) * kMixtureStride;
    State s = states_[begin / kMixtureStride];
    for (; i < begin; ++i) Pick(i, &s);
    std::vector<uint32_t> one;
    for (; i < end; ++i) {
      int d = Pick(i, &s);
      // Pick advanced the counter past the document it chose.
      one.clear();
      Order(d, s.pass[d]).Get(s.count[d] - 1, s.count[d], &one);
      out->push_back(one[0]);
    }
  }

  size_t MemoryBytes() const override {
    size_t bytes = states_.capacity() * members_.size() * 12;
    for (size_t d = 0; d < members_.size(); ++d) {
      bytes += members_[d].capacity() * 4 + hashes_[d].capacity() * 8;
      if (orders_[d].order) bytes += orders_[d].order->MemoryBytes();
    }
    return bytes;
  }

 private:
  struct DomainOrder {
    uint32_t pass = 0;
    std::unique_ptr<KeyedOrder> order;
  };

  State Initial() const {
    State s;
    s.pass.assign(members_.size(), 0);
    s.count.assign(members_.size(), 0);
    return s;
  }

  const std::vector<double>& WeightsAt(uint64_t sample) const {
    const std::vector<double>* w = &spec_.weights;
    for (const MixtureSpec::Step& step : spec_.steps) {
      if (step.start_sample <= sample) w = &step.weights;
    }
    return *w;
  }

  // Picks position i's domain and advances its counter; -1 when no domain
  // can be drawn (every weighted domain dropped).
  int Pick(uint64_t i, State* s) const {
    const std::vector<double>& w = WeightsAt(first_sample_ + i);
    const size_t k = members_.size();
    double total = 0;
    for (size_t d = 0; d < k; ++d) {
      if (Available(d, *s) && w[d] > 0) total += w[d];
    }
    if (!(total > 0)) return -1;
    const double target = UnitFromDraw(PositionDraw(epoch_key_, i)) * total;
    double cum = 0;
    int chosen = -1;
    for (size_t d = 0; d < k; ++d) {
      if (!Available(d, *s) || !(w[d] > 0)) continue;
      chosen = static_cast<int>(d);
      cum += w[d];
      if (target < cum) break;
    }
    if (s->count[chosen] == members_[chosen].size()) {  // reshuffle
      ++s->pass[chosen];
      s->count[chosen] = 0;
    }
    ++s->count[chosen];
    return chosen;
  }

  bool Available(size_t d, const State& s) const {
    if (members_[d].empty()) return false;
    return !spec_.drop_exhausted || s.count[d] < members_[d].size();
  }

  KeyedOrder& Order(int d, uint32_t pass) {
    DomainOrder& o = orders_[d];
    if (!o.order || o.pass != pass) {
      Candidates c;
      c.ordinals = members_[d];
      c.id_hashes = hashes_[d];
      c.doc_id = doc_id_;
      o.order = std::make_unique<KeyedOrder>(c, PassSeed(seed_, pass), epoch_);
      o.pass = pass;
    }
    return *o.order;
  }

  const MixtureSpec& spec_;
  const DocIdFn& doc_id_;
  uint64_t seed_;
  uint64_t epoch_;
  uint64_t epoch_key_;
  uint64_t first_sample_;
  uint64_t limit_ = 0;
  uint64_t size_ = 0;
  std::vector<std::vector<uint32_t>> members_;  // candidate indices
  std::vector<std::vector<uint64_t>> hashes_;
  std::vector<DomainOrder> orders_;
  std::vector<State> states_;  // at positions 0, stride, 2 stride, ...
};

}  // namespace

// ---- one open epoch ----

struct PlanSampler::Epoch {
  EpochInfo info;
  std::unique_ptr<Sequence> seq;
  // Token budget only.
  std::vector<BucketCheckpoint> checkpoints;  // ascending next_batch
  std::unique_ptr<BucketBatcher> batcher;
  uint64_t seq_pos = 0;     // next sequence position to add
  uint64_t next_batch = 0;  // index of the next batch to be emitted
  bool flushed = false;
  std::deque<Batch> cache;  // batches [cache_begin, next_batch)
  uint64_t cache_begin = 0;
  std::vector<uint32_t> chunk;
};

PlanSampler::PlanSampler(std::shared_ptr<const FrozenCandidates> frozen,
                         SamplerConfig config, DocIdFn doc_id)
    : frozen_(std::move(frozen)),
      config_(std::move(config)),
      doc_id_(std::move(doc_id)) {}

PlanSampler::~PlanSampler() = default;

absl::StatusOr<std::unique_ptr<PlanSampler>> PlanSampler::Make(
    std::shared_ptr<const FrozenCandidates> frozen, SamplerConfig config,
    DocIdFn doc_id) {
  const FrozenCandidates& f = *frozen;
  const size_t n = f.ordinals.size();
  const bool hashes_ok = f.hashes_by_ordinal.empty() ? f.id_hashes.size() == n
                                                     : f.id_hashes.empty();
  if (f.lengths.size() != n || !hashes_ok ||
      (!f.weights.empty() && f.weights.size() != n)) {
    return absl::InvalidArgumentError("frozen candidate arrays differ in size");
  }
  if (n > UINT32_MAX) return absl::InvalidArgumentError("too many candidates");
  if (config.batch_size == 0 && !config.token_budget) {
    return absl::InvalidArgumentError("batch_size must be >= 1");
  }
  if (config.checkpoint_every == 0) config.checkpoint_every = 64;
  auto sampler = std::unique_ptr<PlanSampler>(
      new PlanSampler(std::move(frozen), std::move(config), std::move(doc_id)));
  PlanSampler& s = *sampler;
  const SamplerConfig& c = s.config_;
  switch (c.kind) {
    case SequenceKind::kKeyed:
    case SequenceKind::kFixed:
      break;
    case SequenceKind::kAlias: {
      if (c.samples_per_epoch == 0) {
        return absl::InvalidArgumentError(
            "samples_per_epoch must be >= 1 for sampling with replacement");
      }
      std::vector<double> ones;
      if (f.weights.empty()) ones.assign(n, 1.0);
      absl::StatusOr<AliasTable> table =
          AliasTable::Build(f.weights.empty() ? ones : f.weights);
      if (!table.ok()) return table.status();
      s.alias_ = *std::move(table);
      break;
    }
    case SequenceKind::kMixture: {
      if (c.samples_per_epoch == 0) {
        return absl::InvalidArgumentError(
            "samples_per_epoch must be >= 1 for a mixture");
      }
      if (f.domains.size() != n) {
        return absl::InvalidArgumentError("frozen domains missing");
      }
      auto check = [&](const std::vector<double>& w) -> absl::Status {
        if (w.size() != f.num_domains) {
          return absl::InvalidArgumentError("one weight per domain expected");
        }
        return absl::OkStatus();
      };
      if (absl::Status st = check(c.mixture.weights); !st.ok()) return st;
      for (const MixtureSpec::Step& step : c.mixture.steps) {
        if (absl::Status st = check(step.weights); !st.ok()) return st;
      }
      break;
    }
  }
  return sampler;
}

uint64_t PlanSampler::strategy_epochs() const {
  const uint64_t n = frozen_->ordinals.size();
  if (config_.total_budget == 0 || n == 0) return 0;
  return (config_.total_budget + n - 1) / n;
}

uint64_t PlanSampler::EpochPositions(uint64_t e) const {
  const uint64_t n = frozen_->ordinals.size();
  if (config_.total_budget != 0) {
    if (e * n >= config_.total_budget) return 0;
    return std::min(n, config_.total_budget - e * n);
  }
  switch (config_.kind) {
    case SequenceKind::kAlias:
    case SequenceKind::kMixture:
      return config_.samples_per_epoch;
    default:
      return config_.samples_per_epoch == 0
                 ? n
                 : std::min<uint64_t>(n, config_.samples_per_epoch);
  }
}

Candidates PlanSampler::KeyedCandidates() const {
  Candidates c;
  if (frozen_->id_hashes.empty()) {
    c.hashes_by_ordinal = frozen_->hashes_by_ordinal;
    c.hash_ordinals = frozen_->ordinals;
  } else {
    c.id_hashes = frozen_->id_hashes;
  }
  c.weights = frozen_->weights;
  c.doc_id = doc_id_;
  return c;
}

EpochInfo PlanSampler::FixedBatchesInfo(uint64_t positions) const {
  EpochInfo info;
  info.positions = positions;
  info.all_batches =
      NumGlobalBatches(positions, config_.batch_size, /*drop_last=*/false);
  info.batches =
      NumGlobalBatches(positions, config_.batch_size, config_.drop_last);
  return info;
}

std::optional<EpochInfo> PlanSampler::StatelessEpochInfo(uint64_t e) const {
  if (config_.kind == SequenceKind::kMixture || config_.token_budget) {
    return std::nullopt;
  }
  uint64_t positions = EpochPositions(e);
  if (config_.kind == SequenceKind::kKeyed) {
    positions = std::min(positions, KeyedOrderSize(KeyedCandidates()));
  }
  return FixedBatchesInfo(positions);
}

absl::StatusOr<std::unique_ptr<PlanSampler::Epoch>> PlanSampler::BuildEpoch(
    uint64_t e, std::string_view saved, std::string* to_save) {
  auto epoch = std::make_unique<Epoch>();
  const uint64_t positions = EpochPositions(e);
  Reader reader(saved);
  if (!saved.empty()) {
    uint32_t format = 0;
    if (!reader.U32(&format) || format != kIndexFormat) {
      return Corrupt("unknown format");
    }
  }
  MixtureSequence* mixture = nullptr;
  switch (config_.kind) {
    case SequenceKind::kKeyed:
      epoch->seq = std::make_unique<KeyedSequence>(KeyedCandidates(),
                                                   config_.seed, e, positions);
      break;
    case SequenceKind::kFixed:
      epoch->seq = std::make_unique<FixedSequence>(positions);
      break;
    case SequenceKind::kAlias:
      epoch->seq =
          std::make_unique<AliasSequence>(&*alias_, config_.seed, e, positions);
      break;
    case SequenceKind::kMixture: {
      auto m = std::make_unique<MixtureSequence>(
          *frozen_, config_.mixture, doc_id_, config_.seed, e, positions,
          e * config_.samples_per_epoch);
      mixture = m.get();
      if (saved.empty()) {
        m->Scan();
      } else if (!m->Load(reader)) {
        return Corrupt("mixture state");
      }
      epoch->seq = std::move(m);
      break;
    }
  }
  EpochInfo& info = epoch->info;
  info.positions = epoch->seq->size();
  const bool stateful = mixture != nullptr || config_.token_budget.has_value();
  if (!config_.token_budget) {
    info = FixedBatchesInfo(info.positions);
  } else {
    const TokenBudgetSpec& tb = *config_.token_budget;
    epoch->batcher = std::make_unique<BucketBatcher>(tb.edges, tb.max_tokens,
                                                     tb.batch_sizes);
    if (saved.empty()) {
      // One pass: count the batches, checkpoint every K.
      BucketBatcher scan(tb.edges, tb.max_tokens, tb.batch_sizes);
      std::vector<Batch> emitted;
      std::vector<uint32_t> chunk;
      uint64_t batches = 0;
      uint64_t next_mark = config_.checkpoint_every;
      for (uint64_t p = 0; p < info.positions; p += kChunk) {
        chunk.clear();
        epoch->seq->Get(p, p + kChunk, &chunk);
        for (size_t k = 0; k < chunk.size(); ++k) {
          emitted.clear();
          scan.Add(chunk[k], frozen_->lengths[chunk[k]], &emitted);
          batches += emitted.size();
          if (batches >= next_mark) {
            epoch->checkpoints.push_back(
                BucketCheckpoint{batches, p + k + 1, scan.contents()});
            while (next_mark <= batches) next_mark += config_.checkpoint_every;
          }
        }
      }
      emitted.clear();
      scan.Flush(&emitted);
      batches += emitted.size();
      info.all_batches = batches;
    } else {
      uint64_t count = 0;
      if (!reader.U64(&info.all_batches) || !reader.U64(&count)) {
        return Corrupt("bucket checkpoints");
      }
      const uint32_t buckets = static_cast<uint32_t>(tb.edges.size() + 1);
      for (uint64_t i = 0; i < count; ++i) {
        BucketCheckpoint cp;
        uint32_t nb = 0;
        if (!reader.U64(&cp.next_batch) || !reader.U64(&cp.seq_pos) ||
            !reader.U32(&nb) || nb != buckets || cp.seq_pos > info.positions) {
          return Corrupt("bucket checkpoint");
        }
        cp.contents.resize(nb);
        for (auto& items : cp.contents) {
          uint32_t k = 0;
          if (!reader.U32(&k) || k > frozen_->ordinals.size()) {
            return Corrupt("bucket contents");
          }
          items.resize(k);
          for (uint32_t& item : items) {
            if (!reader.U32(&item) || item >= frozen_->ordinals.size()) {
              return Corrupt("bucket item");
            }
          }
        }
        epoch->checkpoints.push_back(std::move(cp));
      }
    }
    info.batches = info.all_batches;  // drop_last drops only rounds here
  }
  if (!saved.empty() && !reader.done()) return Corrupt("trailing bytes");
  if (stateful && saved.empty() && to_save != nullptr) {
    Writer w(to_save);
    w.U32(kIndexFormat);
    if (mixture != nullptr) mixture->SaveState(w);
    if (config_.token_budget) {
      w.U64(info.all_batches);
      w.U64(epoch->checkpoints.size());
      for (const BucketCheckpoint& cp : epoch->checkpoints) {
        w.U64(cp.next_batch);
        w.U64(cp.seq_pos);
        w.U32(static_cast<uint32_t>(cp.contents.size()));
        for (const auto& items : cp.contents) {
          w.U32(static_cast<uint32_t>(items.size()));
          for (uint32_t item : items) w.U32(item);
        }
      }
    }
  }
  return epoch;
}

absl::StatusOr<EpochInfo> PlanSampler::OpenEpoch(uint64_t e,
                                                 std::string_view saved,
                                                 std::string* to_save) {
  auto it = epochs_.find(e);
  if (it != epochs_.end()) return it->second->info;
  absl::StatusOr<std::unique_ptr<Epoch>> epoch = BuildEpoch(e, saved, to_save);
  if (!epoch.ok()) return epoch.status();
  // Ranks cross an epoch boundary together; two open epochs suffice.
  while (epochs_.size() >= 2) {
    auto victim = epochs_.begin();
    if (victim->first > e) victim = std::prev(epochs_.end());
    epochs_.erase(victim);
  }
  EpochInfo info = (*epoch)->info;
  epochs_.emplace(e, *std::move(epoch));
  return info;
}

absl::Status PlanSampler::Generate(Epoch& epoch, uint64_t j) {
  if (!(j >= epoch.cache_begin && j < epoch.next_batch) &&
      !(j >= epoch.next_batch &&
        j < epoch.next_batch + 2 * config_.checkpoint_every)) {
    // Restart from the last checkpoint at or before j.
    const BucketCheckpoint* from = nullptr;
    for (const BucketCheckpoint& cp : epoch.checkpoints) {
      if (cp.next_batch <= j) from = &cp;
    }
    epoch.cache.clear();
    epoch.flushed = false;
    epoch.chunk.clear();
    if (from == nullptr) {
      epoch.batcher->Restore({}, frozen_->lengths);
      epoch.seq_pos = 0;
      epoch.next_batch = 0;
    } else {
      epoch.batcher->Restore(from->contents, frozen_->lengths);
      epoch.seq_pos = from->seq_pos;
      epoch.next_batch = from->next_batch;
    }
    epoch.cache_begin = epoch.next_batch;
  }
  std::vector<Batch> emitted;
  while (epoch.next_batch <= j) {
    emitted.clear();
    if (epoch.seq_pos < epoch.info.positions) {
      if (epoch.chunk.empty()) {
        epoch.seq->Get(epoch.seq_pos, epoch.seq_pos + kChunk, &epoch.chunk);
        std::reverse(epoch.chunk.begin(), epoch.chunk.end());
      }
      const uint32_t index = epoch.chunk.back();
      epoch.chunk.pop_back();
      ++epoch.seq_pos;
      epoch.batcher->Add(index, frozen_->lengths[index], &emitted);
    } else if (!epoch.flushed) {
      epoch.batcher->Flush(&emitted);
      epoch.flushed = true;
    } else {
      return absl::OutOfRangeError(
          absl::StrCat("global batch ", j, " is past the epoch's end"));
    }
    for (Batch& b : emitted) {
      epoch.cache.push_back(std::move(b));
      ++epoch.next_batch;
    }
    while (epoch.cache.size() > kBatchCache) {
      epoch.cache.pop_front();
      ++epoch.cache_begin;
    }
  }
  return absl::OkStatus();
}

absl::Status PlanSampler::GetBatch(uint64_t e, uint64_t j, Batch* out) {
  auto it = epochs_.find(e);
  if (it == epochs_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("epoch ", e, " is not open"));
  }
  Epoch& epoch = *it->second;
  out->items.clear();
  out->bucket = -1;
  out->over_budget = false;
  if (j >= epoch.info.all_batches) {
    return absl::OutOfRangeError(
        absl::StrCat("global batch ", j, " is past the epoch's ",
                     epoch.info.all_batches, " batches"));
  }
  if (!config_.token_budget) {
    const uint64_t begin = j * config_.batch_size;
    epoch.seq->Get(begin, begin + config_.batch_size, &out->items);
    return absl::OkStatus();
  }
  if (absl::Status s = Generate(epoch, j); !s.ok()) return s;
  *out = epoch.cache[j - epoch.cache_begin];
  return absl::OkStatus();
}

void PlanSampler::CloseEpochs() { epochs_.clear(); }

size_t PlanSampler::MemoryBytes() const {
  size_t bytes = frozen_->MemoryBytes();
  if (alias_) bytes += alias_->MemoryBytes();
  for (const auto& [e, epoch] : epochs_) {
    bytes += epoch->seq->MemoryBytes();
    for (const BucketCheckpoint& cp : epoch->checkpoints) {
      for (const auto& items : cp.contents) bytes += items.capacity() * 4 + 24;
    }
    for (const Batch& b : epoch->cache) bytes += b.items.capacity() * 4 + 40;
    if (epoch->batcher) bytes += epoch->batcher->MemoryBytes();
  }
  return bytes;
}

}  // namespace winnow
