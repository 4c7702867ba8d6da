// Collection's training feedback (collection.h, docs/feedback.md): the
// ReportTraining log, the in-memory loss states, their checkpoints and the
// replay at Open.
//
// Design: each message is one log record, written with its stream's
// high-water mark in one WAL-synced batch. Once committed, the loss states
// (writer-side, under write_mu_) are updated and the six statistic columns
// of the touched documents are rewritten in the collection's ordinary score
// columns (under columns_mu_), so every reader (snapshots, GetScores,
// filters, new plans) sees exact values as soon as the report is
// acknowledged, with no overlay to merge. A checkpoint writes the states
// and column cells of the changed blocks and deletes the log records it
// covers in the same batch, so a crash on either side of it loses nothing
// and replays nothing twice.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"
#include "storage/collection.h"
#include "storage/feedback_keys.h"
#include "storage/status.h"

namespace winnow::storage::internal {
namespace {

absl::Status Corrupt(std::string_view collection, std::string_view what) {
  return absl::DataLossError(
      absl::StrFormat("collection '%s': %s", collection, what));
}

}  // namespace

bool Collection::IsFeedbackScore(uint32_t sid) const {
  if (!feedback_owned_) return false;
  return std::find(feedback_sids_.begin(), feedback_sids_.end(), sid) !=
         feedback_sids_.end();
}

absl::Status Collection::PrepareReport(const TrainingReport& report,
                                       int64_t now_micros, int64_t idle_micros,
                                       const Families& f,
                                       rocksdb::WriteBatch* wb,
                                       FeedbackWrite* w,
                                       ReportResult* r) const {
  AssertWriterMayRead();
  if (!feedback_owned_) {
    for (const char* name : kFeedbackColumnNames) {
      if (score_ids_.contains(std::string_view(name))) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "scores: collection '%s' has a user score '%s', a name reserved "
            "for training statistics; ReportTraining needs it free "
            "(docs/feedback.md)",
            name_, name));
      }
    }
  }
  // A resend of a message already applied.
  if (auto it = streams_.find(report.stream_id); it != streams_.end()) {
    const StreamMark& mark = it->second;
    if (now_micros - mark.time_micros <= idle_micros &&
        report.sequence <= mark.sequence) {
      w->duplicate = true;
      r->duplicate = true;
      return absl::OkStatus();
    }
  }

  FeedbackRecord& rec = w->record;
  rec.stream_id = std::string(report.stream_id);
  rec.sequence = report.sequence;
  rec.plan_id = std::string(report.plan_id);
  rec.domain_losses = report.domain_losses;
  const bool by_id = !report.ids.empty();
  const size_t n = by_id ? report.ids.size() : report.ordinals.size();
  const bool one_step = report.steps.size() == 1;
  rec.ordinals.reserve(n);
  rec.losses.reserve(n);
  if (!one_step) rec.steps.reserve(n);
  std::vector<uint32_t> found;
  if (by_id) {
    found.resize(n);
    FindPublishedMany(report.ids, found);
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t o;
    if (by_id) {
      o = found[i];
    } else {
      o = report.ordinals[i] < published_rows_
              ? static_cast<uint32_t>(report.ordinals[i])
              : kNoOrdinal;
    }
    if (o == kNoOrdinal || !live_.Get(o)) {
      ++r->num_skipped;
      continue;
    }
    rec.ordinals.push_back(o);
    rec.losses.push_back(report.losses[i]);
    if (!one_step) rec.steps.push_back(report.steps[i]);
  }
  if (one_step) rec.steps.push_back(report.steps[0]);
  if (rec.ordinals.empty() && !one_step) rec.steps.clear();
  r->num_applied = rec.ordinals.size();

  w->log_seq = next_log_seq_;
  w->time_micros = now_micros;
  wb->Put(f.meta, FeedbackLogKey(id_, w->log_seq), EncodeFeedbackRecord(rec));
  std::string mark;
  PutFixed<uint64_t>(&mark, report.sequence);
  PutFixed<int64_t>(&mark, now_micros);
  wb->Put(f.meta, FeedbackStreamKey(id_, report.stream_id), mark);
  if (!report.domain_losses.empty()) {
    const std::string prefix = FeedbackDomainPrefix(id_, report.plan_id);
    for (const DomainLossValue& d : report.domain_losses) {
      std::string v;
      PutFixed<double>(&v, d.excess_loss);
      PutFixed<int64_t>(&v, report.steps[0]);
      wb->Put(f.meta, prefix + d.domain, v);
    }
  }
  if (!feedback_owned_) {
    w->create_columns = true;
    for (int k = 0; k < kNumFeedbackColumns; ++k) {
      wb->Put(f.meta,
              CollectionMetaKey(id_, MetaKind::kScoreName,
                                static_cast<uint32_t>(scores_.size() + k)),
              kFeedbackColumnNames[k]);
    }
    wb->Put(f.meta, FeedbackKey(id_, FeedbackKind::kOwned), "");
  }
  return absl::OkStatus();
}

void Collection::UpdateLossStates(const FeedbackRecord& rec) {
  for (size_t i = 0; i < rec.ordinals.size(); ++i) {
    const uint32_t o = rec.ordinals[i];
    if (o >= loss_state_.size()) {
      // Grow geometrically: reports usually reach the last ordinals soon.
      if (o >= loss_state_.capacity()) {
        loss_state_.reserve(
            std::max<size_t>(o + 1, 2 * loss_state_.capacity()));
      }
      loss_state_.resize(o + 1);
    }
    UpdateLossState(loss_state_[o], rec.step(i), rec.losses[i],
                    loss_half_life_);
    dirty_blocks_.insert(o >> kBlockShift);
  }
  reports_since_checkpoint_ += rec.ordinals.size();
}

const std::vector<float>* Collection::IrreducibleColumn() const {
  AssertWriterMayRead();
  auto it = score_ids_.find(kIrreducibleScoreName);
  return it == score_ids_.end() ? nullptr : &scores_[it->second].values;
}

std::array<float, kNumFeedbackColumns> Collection::FeedbackValuesOf(
    uint32_t o, const std::vector<float>* irreducible) const {
  return FeedbackValues(o < loss_state_.size() ? loss_state_[o] : LossState{},
                        irreducible != nullptr ? (*irreducible)[o] : NAN);
}

void Collection::ApplyReport(const FeedbackWrite& w) {
  UpdateLossStates(w.record);
  streams_[w.record.stream_id] = StreamMark{w.record.sequence, w.time_micros};
  next_log_seq_ = w.log_seq + 1;

  // The new column values, computed before taking the readers' lock.
  std::vector<uint32_t> touched(w.record.ordinals);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  std::vector<std::array<float, kNumFeedbackColumns>> values(touched.size());
  const std::vector<float>* irreducible = IrreducibleColumn();
  for (size_t k = 0; k < touched.size(); ++k) {
    values[k] = FeedbackValuesOf(touched[k], irreducible);
  }

  absl::WriterMutexLock lock(&columns_mu_);
  if (w.create_columns) {
    for (int c = 0; c < kNumFeedbackColumns; ++c) {
      const uint32_t sid = static_cast<uint32_t>(scores_.size());
      score_ids_.emplace(kFeedbackColumnNames[c], sid);
      ScoreColumnData& col = scores_.emplace_back();
      col.name = kFeedbackColumnNames[c];
      col.values.assign(rows(), NAN);
      feedback_sids_[c] = sid;
    }
    feedback_owned_ = true;
  }
  for (size_t k = 0; k < touched.size(); ++k) {
    const uint32_t o = touched[k];
    // Touched documents are live and published: they count in the stats.
    for (int c = 0; c < kNumFeedbackColumns; ++c) {
      ScoreColumnData& col = scores_[feedback_sids_[c]];
      const float before = col.values[o];
      const float after = values[k][c];
      col.num_live_values += static_cast<int>(std::isnan(before)) -
                             static_cast<int>(std::isnan(after));
      col.values[o] = after;
    }
  }
}

void Collection::RefreshReducible(std::span<const uint32_t> ordinals) {
  ScoreColumnData& col = scores_[feedback_sids_[kReducibleLoss]];
  const std::vector<float>* irreducible = IrreducibleColumn();
  for (uint32_t o : ordinals) {
    if (o >= loss_state_.size() || loss_state_[o].count == 0) continue;
    col.values[o] = FeedbackValuesOf(o, irreducible)[kReducibleLoss];
  }
}

void Collection::PrepareFeedbackCheckpoint(int64_t now_micros,
                                           int64_t idle_micros,
                                           const Families& f,
                                           rocksdb::WriteBatch* wb) const {
  AssertWriterMayRead();
  std::vector<uint32_t> blocks(dirty_blocks_.begin(), dirty_blocks_.end());
  std::sort(blocks.begin(), blocks.end());
  std::string cells;
  for (uint32_t block : blocks) {
    const size_t begin = size_t{block} << kBlockShift;
    const size_t end = std::min(begin + kBlockSize, loss_state_.size());
    if (begin < end) {
      wb->Put(f.meta, FeedbackStateKey(id_, block),
              EncodeLossStateBlock(std::span<const LossState>(loss_state_)
                                       .subspan(begin, end - begin)));
    }
    // The statistic columns as plain score blocks (whole values: only
    // feedback writes them).
    const size_t cells_end =
        std::min(begin + kBlockSize, size_t{published_rows_});
    if (!feedback_owned_ || begin >= cells_end) continue;
    for (uint32_t sid : feedback_sids_) {
      const std::vector<float>& v = scores_[sid].values;
      cells.assign(reinterpret_cast<const char*>(v.data() + begin),
                   (cells_end - begin) * sizeof(float));
      wb->Put(f.blocks, BlockKey(id_, ColumnKind::kScore, sid, block), cells);
    }
  }
  std::string covered;
  PutFixed<uint64_t>(&covered, next_log_seq_ - 1);
  wb->Put(f.meta, FeedbackKey(id_, FeedbackKind::kCheckpoint), covered);
  wb->DeleteRange(f.meta, FeedbackLogKey(id_, 0),
                  FeedbackLogKey(id_, next_log_seq_));
  for (const auto& [stream, mark] : streams_) {
    if (now_micros - mark.time_micros > idle_micros) {
      wb->Delete(f.meta, FeedbackStreamKey(id_, stream));
    }
  }
}

void Collection::FeedbackCheckpointDone(int64_t now_micros,
                                        int64_t idle_micros) {
  dirty_blocks_.clear();
  reports_since_checkpoint_ = 0;
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (now_micros - it->second.time_micros > idle_micros) {
      streams_.erase(it++);
    } else {
      ++it;
    }
  }
}

absl::Status Collection::LoadFeedback(rocksdb::DB* db, const Families& f) {
  const std::string lower = FeedbackPrefix(id_);
  const std::string upper = FeedbackPrefix(id_ + 1);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, f.meta));
  uint64_t covered = 0;
  FeedbackRecord rec;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    std::string_view key(it->key().data(), it->key().size());
    std::string_view value(it->value().data(), it->value().size());
    key.remove_prefix(lower.size());
    if (key.empty()) return Corrupt(name_, "empty feedback key");
    const char kind = key[0];
    key.remove_prefix(1);
    switch (static_cast<FeedbackKind>(kind)) {
      case FeedbackKind::kStateBlock: {
        if (key.size() != 4) return Corrupt(name_, "bad loss state key");
        const size_t begin = size_t{GetBig32(key.data())} << kBlockShift;
        if (begin >= rows()) return Corrupt(name_, "loss states past the rows");
        const size_t end = std::min(begin + kBlockSize, size_t{rows()});
        if (loss_state_.size() < end) loss_state_.resize(end);
        if (!DecodeLossStateBlock(value, std::span<LossState>(loss_state_)
                                             .subspan(begin, end - begin))) {
          return Corrupt(name_, "malformed loss state block");
        }
        break;
      }
      case FeedbackKind::kCheckpoint:
        if (value.size() != 8) return Corrupt(name_, "bad feedback checkpoint");
        covered = GetFixed<uint64_t>(value.data());
        next_log_seq_ = std::max(next_log_seq_, covered + 1);
        break;
      case FeedbackKind::kLog: {
        if (key.size() != 8) return Corrupt(name_, "bad feedback log key");
        const uint64_t seq =
            (uint64_t{GetBig32(key.data())} << 32) | GetBig32(key.data() + 4);
        if (seq <= covered) break;  // folded into the checkpoint
        if (!DecodeFeedbackRecord(value, &rec)) {
          return Corrupt(name_, "malformed feedback log record");
        }
        for (uint32_t o : rec.ordinals) {
          if (o >= rows()) return Corrupt(name_, "feedback of an unknown row");
        }
        UpdateLossStates(rec);
        next_log_seq_ = std::max(next_log_seq_, seq + 1);
        break;
      }
      case FeedbackKind::kOwned:
        feedback_owned_ = true;
        break;
      case FeedbackKind::kStream:
        if (value.size() != 16) return Corrupt(name_, "bad stream mark");
        streams_[std::string(key)] =
            StreamMark{GetFixed<uint64_t>(value.data()),
                       GetFixed<int64_t>(value.data() + 8)};
        break;
      case FeedbackKind::kHalfLife:
      case FeedbackKind::kDomainLoss:
        break;
      default:
        return Corrupt(name_, "unknown feedback key");
    }
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "reading feedback of " + name_);
  }
  if (!feedback_owned_) {
    if (!loss_state_.empty()) {
      return Corrupt(name_, "loss statistics without their columns");
    }
    return absl::OkStatus();
  }
  for (int c = 0; c < kNumFeedbackColumns; ++c) {
    auto sid = score_ids_.find(std::string_view(kFeedbackColumnNames[c]));
    if (sid == score_ids_.end()) {
      return Corrupt(name_, "a training statistic column is missing");
    }
    feedback_sids_[c] = sid->second;
  }
  // The columns from the states: the checkpointed cells plus the replay.
  const std::vector<float>* irreducible = IrreducibleColumn();
  for (uint32_t o = 0; o < loss_state_.size(); ++o) {
    if (loss_state_[o].count == 0) continue;
    const std::array<float, kNumFeedbackColumns> v =
        FeedbackValuesOf(o, irreducible);
    for (int c = 0; c < kNumFeedbackColumns; ++c) {
      scores_[feedback_sids_[c]].values[o] = v[c];
    }
  }
  return absl::OkStatus();
}

}  // namespace winnow::storage::internal
