// PlanSampler: one plan's generator (docs/sampling.md, "Plans": one
// generator per plan).
//
// A plan's frozen candidates, in the plan's canonical order, plus the
// strategy's resolved parameters, define one global sequence per epoch:
//
//   kKeyed    KeyedOrder (sampler.h) over the candidates, weighted when
//             weights are given: uniform, weighted, and the shuffled
//             selections (top_k with shuffle, cluster_balanced,
//             repetition_budget)
//   kFixed    the candidates in their frozen order every epoch (ordered,
//             top_k without shuffle)
//   kAlias    position i draws AliasTable(weights) with
//             hash(seed, epoch, i): weighted_with_replacement
//   kMixture  position i picks a domain with hash(seed, epoch, i) by the
//             weights in force at that sample, then takes the next document
//             of that domain's keyed order (a new keyed order per pass when
//             a domain runs out and is reshuffled)
//
// Each epoch's sequence is cut into global batches: fixed batch_size
// slices, or length-bucketed batches under a token budget
// (strategies.h BucketBatcher). Any global batch of any epoch can be asked
// for, so every rank, any world size and any resume point read the same
// batches.
//
// Stateful epochs (mixture, token budget) are opened with one pass over the
// epoch that records the sampler state every `checkpoint_every` global
// batches (bucket contents, per-domain counters). The pass yields a
// serialized epoch index that the caller persists; an epoch reopened from
// it (after a restart) regenerates at most checkpoint_every batches to reach
// any batch. Stateless epochs need no index.
//
// Everything is in candidate-index space: a batch lists indices into the
// frozen arrays.
//
// Thread safety: not thread-safe; the plan serializes calls under its lock.
#ifndef WINNOW_SELECTION_PLAN_SAMPLER_H_
#define WINNOW_SELECTION_PLAN_SAMPLER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/strategies.h"

namespace winnow {

struct Candidates;  // sampler.h

enum class SequenceKind { kKeyed, kFixed, kAlias, kMixture };

// A plan's frozen candidates, aligned arrays in the plan's canonical order.
struct FrozenCandidates {
  std::vector<uint32_t> ordinals;  // storage ordinals
  std::vector<uint32_t> lengths;   // tokens, as at the freeze
  // IdHash(doc id) of each candidate; empty when hashes_by_ordinal is set.
  std::vector<uint64_t> id_hashes;
  // Or: IdHash by storage ordinal, the collection's own array (pinned, kept
  // alive by hash_owner), read through `ordinals` and never copied.
  std::shared_ptr<const void> hash_owner;
  std::span<const uint64_t> hashes_by_ordinal;
  // kKeyed / kAlias: weights (empty = all 1). A weight not > 0 leaves the
  // candidate out of kKeyed epochs.
  std::vector<double> weights;
  // kMixture: each candidate's domain, an index into the plan's domains
  // (sorted by name).
  std::vector<uint16_t> domains;
  uint32_t num_domains = 0;
  // A short plan's run (plan_builder.h SelectShortRun): the arrays hold its
  // one epoch's samples in sequence order, served as they are (kFixed).
  bool run = false;

  uint64_t hash(size_t i) const {
    return id_hashes.empty() ? hashes_by_ordinal[ordinals[i]] : id_hashes[i];
  }
  // Bytes held, not counting the collection's hashes.
  size_t MemoryBytes() const;
};

struct MixtureSpec {
  // Per domain (by name order), >= 0; the positive ones need candidates.
  std::vector<double> weights;
  struct Step {
    uint64_t start_sample = 0;  // across epochs: epoch e starts at e * spe
    std::vector<double> weights;
  };
  std::vector<Step> steps;      // ascending start_sample
  bool drop_exhausted = false;  // else reshuffle
};

struct TokenBudgetSpec {
  int64_t max_tokens = 0;
  std::vector<uint32_t> edges;       // resolved inclusive upper edges
  std::vector<int32_t> batch_sizes;  // empty or one per bucket
};

struct SamplerConfig {
  SequenceKind kind = SequenceKind::kKeyed;
  uint64_t seed = 0;
  // Positions per epoch: kAlias and kMixture need it; otherwise 0 means
  // every candidate once and a positive value cuts the epoch.
  uint64_t samples_per_epoch = 0;
  // repetition_budget: the total budget N over all epochs; each epoch is a
  // pass over the candidates and the last one is cut. 0 = none.
  uint64_t total_budget = 0;
  uint64_t batch_size = 0;  // 0 with a token budget
  std::optional<TokenBudgetSpec> token_budget;
  bool drop_last = true;
  uint64_t checkpoint_every = 64;  // K, in global batches
  MixtureSpec mixture;
};

// What one epoch holds once opened.
struct EpochInfo {
  uint64_t positions = 0;    // samples in the epoch's global sequence
  uint64_t batches = 0;      // global batches served (after drop_last
                             // drops a short final fixed-size batch)
  uint64_t all_batches = 0;  // global batches before any drop
};

class PlanSampler {
 public:
  // INVALID_ARGUMENT if `config` does not fit `frozen`.
  static absl::StatusOr<std::unique_ptr<PlanSampler>> Make(
      std::shared_ptr<const FrozenCandidates> frozen, SamplerConfig config,
      DocIdFn doc_id);
  ~PlanSampler();

  // Epochs the strategy imposes (repetition_budget: ceil(N / P)); 0 if
  // none.
  uint64_t strategy_epochs() const;

  // Opens epoch `e` if it is not open. `saved` is an index this sampler
  // returned earlier (read back from durable storage) or empty. When the
  // epoch is stateful and was computed anew, *to_save receives its index.
  absl::StatusOr<EpochInfo> OpenEpoch(uint64_t e, std::string_view saved,
                                      std::string* to_save);

  // What OpenEpoch(e) will return, without building the epoch, for an
  // epoch that keeps no index (OpenEpoch's *to_save stays empty): every
  // sequence but a mixture's, without a token budget. std::nullopt for the
  // others. It computes no key, so a caller can persist a plan while
  // another thread opens its first epoch.
  std::optional<EpochInfo> StatelessEpochInfo(uint64_t e) const;

  // Global batch j (< all_batches) of an open epoch.
  absl::Status GetBatch(uint64_t e, uint64_t j, Batch* out);
  // Whether epoch e is open. At most two epochs are open at a time: opening
  // a third closes the one opened least recently, so a caller that shares
  // the sampler checks this (and reopens) before GetBatch.
  bool IsOpen(uint64_t e) const { return epochs_.count(e) != 0; }

  // Drops every open epoch (an idle plan keeps only its frozen arrays);
  // the next OpenEpoch rebuilds or reloads it.
  void CloseEpochs();

  const FrozenCandidates& frozen() const { return *frozen_; }
  const SamplerConfig& config() const { return config_; }
  size_t MemoryBytes() const;

  class Sequence;  // one epoch's global sequence (plan_sampler.cc)

 private:
  struct BucketCheckpoint {
    uint64_t next_batch = 0;
    uint64_t seq_pos = 0;
    std::vector<std::vector<uint32_t>> contents;
  };
  struct Epoch;

  PlanSampler(std::shared_ptr<const FrozenCandidates> frozen,
              SamplerConfig config, DocIdFn doc_id);
  absl::StatusOr<std::unique_ptr<Epoch>> BuildEpoch(uint64_t e,
                                                    std::string_view saved,
                                                    std::string* to_save);
  uint64_t EpochPositions(uint64_t e) const;
  Candidates KeyedCandidates() const;
  // Positions cut into fixed-size global batches.
  EpochInfo FixedBatchesInfo(uint64_t positions) const;
  // Bucketed: generate batches until `j` is cached.
  absl::Status Generate(Epoch& epoch, uint64_t j);

  std::shared_ptr<const FrozenCandidates> frozen_;
  SamplerConfig config_;
  DocIdFn doc_id_;
  std::optional<AliasTable> alias_;
  std::map<uint64_t, std::unique_ptr<Epoch>> epochs_;  // at most 2 open
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_PLAN_SAMPLER_H_
