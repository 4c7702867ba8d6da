#include "selection/batches.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace winnow {

uint64_t NumGlobalBatches(uint64_t num_positions, uint64_t batch_size,
                          bool drop_last) {
  if (batch_size == 0) return 0;
  return drop_last ? num_positions / batch_size
                   : (num_positions + batch_size - 1) / batch_size;
}

absl::StatusOr<RankSchedule> RankSchedule::Make(
    uint64_t num_positions, uint64_t batch_size, uint32_t world_size,
    uint32_t rank, uint64_t start_batch, bool drop_last) {
  if (batch_size == 0) {
    return absl::InvalidArgumentError("batch_size must be > 0");
  }
  // A start past the last batch is allowed only at the epoch's end
  // boundary, which names no batch.
  const uint64_t all_batches =
      NumGlobalBatches(num_positions, batch_size, false);
  if (start_batch > all_batches) {
    return absl::InvalidArgumentError(
        absl::StrCat("start batch ", start_batch, " is past the epoch's ",
                     all_batches, " global batches"));
  }
  absl::StatusOr<RankSchedule> s = FromBatches(
      NumGlobalBatches(num_positions, batch_size, drop_last), world_size, rank,
      std::min(start_batch, all_batches), drop_last);
  if (!s.ok()) return s;
  s->num_positions_ = num_positions;
  s->batch_size_ = batch_size;
  return s;
}

absl::StatusOr<RankSchedule> RankSchedule::FromBatches(
    uint64_t num_global_batches, uint32_t world_size, uint32_t rank,
    uint64_t start_batch, bool drop_last) {
  if (world_size == 0) {
    return absl::InvalidArgumentError("world_size must be > 0");
  }
  if (rank >= world_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank must be < world_size (", world_size, "), got ", rank));
  }
  RankSchedule s;
  s.num_global_batches_ = num_global_batches;
  s.world_size_ = world_size;
  s.rank_ = rank;
  s.start_ = start_batch;
  const uint64_t g = num_global_batches;
  if (start_batch >= g) {
    s.count_ = 0;
  } else if (drop_last) {
    s.count_ = (g - start_batch) / world_size;  // whole rounds only
  } else {
    uint64_t first = start_batch + rank;
    s.count_ = first < g ? (g - 1 - first) / world_size + 1 : 0;
  }
  return s;
}

uint64_t RankSchedule::BatchEnd(uint64_t j) const {
  return std::min(num_positions_, (j + 1) * batch_size_);
}

bool RankBatchStream::Next(GlobalBatch* batch) {
  if (served_ >= schedule_.count()) return false;
  const uint64_t j = schedule_.GlobalBatch(served_);
  batch->index = j;
  batch->next_batch = schedule_.NextBatchAfter(served_);
  batch->ordinals.clear();
  order_->Get(schedule_.BatchBegin(j), schedule_.BatchEnd(j), &batch->ordinals);
  ++served_;
  return true;
}

}  // namespace winnow
