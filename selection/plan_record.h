// The byte encodings of a plan's persisted entries (docs/architecture.md
// "Plans on disk").
//
// A plan is stored as a few entries under its id, written in one atomic
// batch before its first batch is served:
//   "meta"        the contract's Plan description (encoded by the server)
//   "internal"    PlanInternal: what the registry needs besides it
//   "frozen"      FrozenRecord: the frozen candidates
//   "prediction"  repetition_budget only (encoded by the server)
//   "epoch/<e>"   a stateful epoch's index (plan_sampler.h)
//
// The formats are versioned; Decode* refuse any other version, truncated
// or trailing bytes, and inconsistent array lengths, and never read past
// their input. Plans written by earlier releases must keep decoding: a
// format change adds a version and keeps decoding the old ones.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SELECTION_PLAN_RECORD_H_
#define WINNOW_SELECTION_PLAN_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace winnow {

// The frozen candidates as persisted, aligned arrays in the plan's
// canonical order. Id hashes and weights are not stored: they are
// recomputed from the collection's ids and from `scores` (bit for bit).
struct FrozenRecord {
  std::vector<uint32_t> ordinals;  // storage ordinals
  std::vector<uint32_t> lengths;   // tokens, as at the freeze
  // Weighted strategies: the weight score of each candidate; else empty.
  std::vector<float> scores;
  // Mixtures: each candidate's index into the plan's domains; else empty.
  std::vector<uint16_t> domains;
  // A short plan's run (plan_builder.h SelectRun): the samples of its one
  // epoch, in sequence order, instead of the candidates; no scores.
  bool run = false;

  bool operator==(const FrozenRecord&) const = default;
};

// Format 3: a form byte (0 = the candidates in canonical order, 1 = a run),
// then format 2's body: ascending ordinals as a bitmap when that is smaller
// (else a plain array), lengths as 16 bits when they all fit (else 32),
// then the scores and domains. Format 2 (no form byte: candidates) is still
// decoded.
std::string EncodeFrozenRecord(const FrozenRecord& record);
// False if `in` is not a well-formed format-2 or format-3 record.
bool DecodeFrozenRecord(std::string_view in, FrozenRecord* record);

// What the registry persists besides the plan's description.
struct PlanInternal {
  uint32_t collection_id = 0;  // the collection's incarnation
  uint64_t freeze_seq = 0;     // the collection's write sequence at freeze
  uint64_t checkpoint_every = 64;
  uint64_t num_epochs = 0;  // resolved (repetition_budget sets it)
  std::string key;          // the plan fields, as PlanRegistry::PlanKey
  std::string owner;        // the token's name; "" without tokens

  bool operator==(const PlanInternal&) const = default;
};

// Format 1.
std::string EncodePlanInternal(const PlanInternal& internal);
bool DecodePlanInternal(std::string_view in, PlanInternal* internal);

}  // namespace winnow

#endif  // WINNOW_SELECTION_PLAN_RECORD_H_
