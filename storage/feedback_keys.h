// Keys of the training-feedback data in the meta column family
// (docs/feedback.md, "Storage"). Internal to storage/.
//
// Every key is "R" + be32(collection) + a kind byte + ..., so one
// DeleteRange drops a collection's feedback, and data directories written
// before feedback existed simply have none of them (no format change).
//
//   B + be32(block)      loss states of one block of 4,096 ordinals
//                        (EncodeLossStateBlock), as of the last checkpoint
//   C                    fixed64: the last log record the checkpoint covers
//   H                    double: the collection's loss_ema half-life, steps
//   L + be64(seq)        one ReportTraining message (EncodeFeedbackRecord)
//   O                    marker: the reserved score columns are feedback's
//   S + stream_id        fixed64 last applied sequence, fixed64 micros of
//                        the stream's last message
//   D + plan_id + 0 + domain
//                        double excess loss, fixed64 step: the last domain
//                        loss reported for that plan
#ifndef WINNOW_STORAGE_FEEDBACK_KEYS_H_
#define WINNOW_STORAGE_FEEDBACK_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/format.h"

namespace winnow::storage::internal {

inline constexpr char kFeedbackTag = 'R';

enum class FeedbackKind : char {
  kStateBlock = 'B',
  kCheckpoint = 'C',
  kHalfLife = 'H',
  kLog = 'L',
  kOwned = 'O',
  kStream = 'S',
  kDomainLoss = 'D',
};

// "R" + be32(collection): every feedback key of the collection starts so.
inline std::string FeedbackPrefix(uint32_t collection) {
  std::string k(1, kFeedbackTag);
  PutBig32(&k, collection);
  return k;
}

inline std::string FeedbackKey(uint32_t collection, FeedbackKind kind) {
  std::string k = FeedbackPrefix(collection);
  k.push_back(static_cast<char>(kind));
  return k;
}

inline std::string FeedbackStateKey(uint32_t collection, uint32_t block) {
  std::string k = FeedbackKey(collection, FeedbackKind::kStateBlock);
  PutBig32(&k, block);
  return k;
}

inline std::string FeedbackLogKey(uint32_t collection, uint64_t seq) {
  std::string k = FeedbackKey(collection, FeedbackKind::kLog);
  PutBig32(&k, static_cast<uint32_t>(seq >> 32));
  PutBig32(&k, static_cast<uint32_t>(seq));
  return k;
}

inline std::string FeedbackStreamKey(uint32_t collection,
                                     std::string_view stream_id) {
  std::string k = FeedbackKey(collection, FeedbackKind::kStream);
  k.append(stream_id);
  return k;
}

// The prefix of a plan's domain losses; append the domain for one key.
inline std::string FeedbackDomainPrefix(uint32_t collection,
                                        std::string_view plan_id) {
  std::string k = FeedbackKey(collection, FeedbackKind::kDomainLoss);
  k.append(plan_id);
  k.push_back('\0');
  return k;
}

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_FEEDBACK_KEYS_H_
