// Global batches and how they are dealt to ranks (docs/sampling.md,
// "Global batches and ranks").
//
// An epoch's global sequence of `n` positions is cut into global batches of
// `batch_size`; global batch j holds positions [j * batch_size,
// min((j + 1) * batch_size, n)). With drop_last the short final batch is not
// served.
//
// A stream that starts at global batch s with world size W gives rank r the
// batches s + r, s + r + W, s + r + 2W, ... With drop_last (the default) a
// rank stops before a round in which some rank would have no batch, so every
// rank gets the same number of batches and no rank waits at a collective.
//
// The cursor after a rank's i-th batch names global batch s + i * W: the
// next round, assuming every rank has consumed as many batches as this one.
// It is therefore the same on every rank, and a stream reopened at it with
// any world size continues exactly where the run left off.
//
// All types here are plain values; thread-compatible.
#ifndef WINNOW_SELECTION_BATCHES_H_
#define WINNOW_SELECTION_BATCHES_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "selection/sampler.h"

namespace winnow {

// Global batches in an epoch of `num_positions`.
uint64_t NumGlobalBatches(uint64_t num_positions, uint64_t batch_size,
                          bool drop_last);

// The global batches one rank receives.
class RankSchedule {
 public:
  // INVALID_ARGUMENT (naming the field) if batch_size == 0, world_size == 0,
  // rank >= world_size, or start_batch > the epoch's number of batches.
  static absl::StatusOr<RankSchedule> Make(uint64_t num_positions,
                                           uint64_t batch_size,
                                           uint32_t world_size, uint32_t rank,
                                           uint64_t start_batch,
                                           bool drop_last);
  // The same for an epoch of `num_global_batches` batches of any size (for
  // length-bucketed batches, where drop_last drops only incomplete rounds).
  static absl::StatusOr<RankSchedule> FromBatches(uint64_t num_global_batches,
                                                  uint32_t world_size,
                                                  uint32_t rank,
                                                  uint64_t start_batch,
                                                  bool drop_last);

  // Batches this rank receives in the rest of the epoch.
  uint64_t count() const { return count_; }
  // The global index of this rank's i-th batch (0-based), i < count().
  uint64_t GlobalBatch(uint64_t i) const {
    return start_ + rank_ + i * world_size_;
  }
  // The cursor's next global batch after this rank's i-th batch.
  uint64_t NextBatchAfter(uint64_t i) const {
    return start_ + (i + 1) * world_size_;
  }
  // Positions [begin, end) of global batch j.
  uint64_t BatchBegin(uint64_t j) const { return j * batch_size_; }
  uint64_t BatchEnd(uint64_t j) const;

  uint64_t num_global_batches() const { return num_global_batches_; }
  uint64_t batch_size() const { return batch_size_; }

 private:
  RankSchedule() = default;

  uint64_t num_positions_ = 0;
  uint64_t batch_size_ = 0;
  uint64_t num_global_batches_ = 0;
  uint32_t world_size_ = 1;
  uint32_t rank_ = 0;
  uint64_t start_ = 0;
  uint64_t count_ = 0;
};

// One served global batch.
struct GlobalBatch {
  uint64_t index = 0;       // global batch index within the epoch
  uint64_t next_batch = 0;  // the cursor's next global batch after it
  std::vector<uint32_t> ordinals;
};

// Reads one rank's batches of an epoch from a keyed order.
//
// Thread safety: not thread-safe; shares `order` with no one else while it
// runs.
class RankBatchStream {
 public:
  RankBatchStream(KeyedOrder* order, const RankSchedule& schedule)
      : order_(order), schedule_(schedule) {}

  // Fills `batch` with the next batch and returns true, or returns false at
  // the end of this rank's share of the epoch.
  bool Next(GlobalBatch* batch);

 private:
  KeyedOrder* order_;
  RankSchedule schedule_;
  uint64_t served_ = 0;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_BATCHES_H_
