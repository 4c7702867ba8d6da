// Training feedback: per-document loss statistics and the log record of one
// ReportTraining message (docs/feedback.md).
//
// The statistics of a document are kept in O(1) per report and do not
// depend on the order in which reports arrive:
//  - loss_first / loss_last: the loss at the lowest / highest step
//    reported; ties go to the later arrival.
//  - loss_ema: sum_i w_i l_i / sum_i w_i with w_i = 0.5^((S - s_i) / h),
//    S the highest step reported for the document and h the collection's
//    half-life in steps. The ratio does not depend on S (it cancels), so
//    the state keeps both sums relative to the current S and rescales them
//    by 0.5^((S_new - S_old) / h) when S grows.
//  - loss_count: reports applied.
//  - learnability = loss_first - loss_last; reducible_loss = loss_last -
//    irreducible (null where irreducible is null).
//
// Plain values and pure functions; no synchronization.
#ifndef WINNOW_SELECTION_FEEDBACK_H_
#define WINNOW_SELECTION_FEEDBACK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace winnow {

// The half-life of a collection that does not set one, in steps.
inline constexpr double kDefaultLossEmaHalfLifeSteps = 1000.0;

// The reserved score columns, in this order (FeedbackColumn indexes them).
enum FeedbackColumn : int {
  kLossFirst = 0,
  kLossLast,
  kLossEma,
  kLossCount,
  kLearnability,
  kReducibleLoss,
  kNumFeedbackColumns,
};
inline constexpr std::array<const char*, kNumFeedbackColumns>
    kFeedbackColumnNames = {"loss_first", "loss_last",    "loss_ema",
                            "loss_count", "learnability", "reducible_loss"};
// The client-provided score reducible_loss subtracts.
inline constexpr char kIrreducibleScoreName[] = "irreducible";

// True for the six reserved names above: PutScores, UpsertDocuments and
// scorer outputs cannot write them.
bool IsFeedbackColumnName(std::string_view name);

// One document's loss statistics. count == 0 means no report yet.
struct LossState {
  int64_t first_step = 0;
  int64_t last_step = 0;  // S, the highest step reported
  float first_loss = 0;
  float last_loss = 0;
  uint32_t count = 0;
  // sum_i w_i and sum_i w_i l_i, weights relative to last_step.
  double sum_w = 0;
  double sum_wl = 0;
};

// Applies one report (step >= 0, finite loss >= 0) to `state`. Reports
// must be applied in arrival order for the tie rule of first/last; the EMA
// and count do not depend on the order. `half_life` > 0.
void UpdateLossState(LossState& state, int64_t step, float loss,
                     double half_life);

// The six column values of a state, NaN for null; `irreducible` NaN when
// the document has none.
std::array<float, kNumFeedbackColumns> FeedbackValues(const LossState& state,
                                                      float irreducible);

// One domain's excess loss in a report.
struct DomainLossValue {
  std::string domain;
  double excess_loss = 0;
};

// One ReportTraining message as the log stores it: documents resolved to
// ordinals (skipped documents left out), one step per sample.
struct FeedbackRecord {
  std::string stream_id;
  uint64_t sequence = 0;
  std::string plan_id;
  std::vector<uint32_t> ordinals;
  std::vector<float> losses;  // aligned with ordinals
  // One value (every sample) or one per ordinal.
  std::vector<int64_t> steps;
  std::vector<DomainLossValue> domain_losses;

  int64_t step(size_t i) const {
    return steps.size() == 1 ? steps[0] : steps[i];
  }
};

std::string EncodeFeedbackRecord(const FeedbackRecord& record);
// False when `bytes` is not a record EncodeFeedbackRecord wrote.
bool DecodeFeedbackRecord(std::string_view bytes, FeedbackRecord* record);

// The states of one block of ordinals [first, first + states.size()),
// encoded sparsely (documents with count > 0 only).
std::string EncodeLossStateBlock(std::span<const LossState> states);
// Decodes into states (whose size is the block's), overwriting the
// documents it holds. False if malformed or an offset is out of range.
bool DecodeLossStateBlock(std::string_view bytes, std::span<LossState> states);

// The request-level checks of a ReportTraining message, before any
// document is looked up: INVALID_ARGUMENT naming the field (and index),
// e.g. "losses[3]: -1 is negative; losses must be finite and >= 0".
struct FeedbackRequestView {
  std::string_view stream_id;
  std::string_view plan_id;
  size_t num_ids = 0;
  size_t num_ordinals = 0;
  std::span<const float> losses;
  std::span<const int64_t> steps;
  std::span<const DomainLossValue> domain_losses;
};
absl::Status ValidateFeedbackRequest(const FeedbackRequestView& request);

}  // namespace winnow

#endif  // WINNOW_SELECTION_FEEDBACK_H_
