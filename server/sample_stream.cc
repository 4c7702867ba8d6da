#include "server/sample_stream.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "selection/weights.h"
#include "server/convert.h"
#include "server/query.h"

namespace winnow::server {
namespace {

// KeyedOrder breaks an exact tie of keys (a 2^-53 event) by doc id. The
// stream holds no snapshot while it draws, so the rare lookup takes its own
// short one. Two slots, because a comparison holds two ids at once.
std::function<std::string_view(uint32_t)> TieBreakIds(storage::Store* store,
                                                      std::string collection) {
  struct State {
    storage::Store* store;
    std::string collection;
    std::array<std::string, 2> slots;
    size_t next = 0;
  };
  auto state =
      std::make_shared<State>(State{store, std::move(collection), {}, 0});
  return [state](uint32_t ordinal) -> std::string_view {
    std::string& slot = state->slots[state->next++ % 2];
    slot.clear();
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        state->store->ReadColumns(state->collection);
    if (snapshot.ok() && ordinal < snapshot->num_rows()) {
      slot.assign(snapshot->id(ordinal));
    }
    return slot;
  };
}

}  // namespace

SampleStream::SampleStream(grpc::CallbackServerContext* context,
                           ServiceEnv& env,
                           const winnow::v1::SampleRequest* request)
    : StreamReactor(context, env, "winnow.v1.SelectionService/Sample"),
      request_(request) {
  scope_.Note("collection", request_->collection());
  scope_.Note("rank", request_->rank());
  scope_.Note("world_size", request_->world_size());
  Begin();
}

absl::Status SampleStream::Start() {
  absl::StatusOr<SampleParams> params = ValidateSampleRequest(*request_);
  if (!params.ok()) return params.status();
  params_ = *std::move(params);

  // Freeze the candidates under one snapshot, then let it go.
  std::vector<float> candidate_scores;
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        env_.store->ReadColumns(request_->collection());
    if (!snapshot.ok()) return snapshot.status();
    const ColumnSet& columns = snapshot->columns();
    absl::StatusOr<Filter> filter = CompileFilter(request_->filter(), columns);
    if (!filter.ok()) return filter.status();
    if (params_.view != winnow::v1::RESULT_VIEW_FULL) {
      if (absl::Status s = CheckScoreNames(request_->score_names(), columns);
          !s.ok()) {
        return s;
      }
    }
    std::span<const float> scores;
    if (params_.kind == SampleParams::Kind::kWeighted) {
      auto it = columns.scores.find(params_.score);
      if (it == columns.scores.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "strategy.weighted.score: unknown score '", params_.score, "'"));
      }
      scores = it->second;
    }
    Bitmap matches;
    filter->EvaluateInto(columns, &matches);
    ordinals_ = matches.ToOrdinals();
    id_hashes_.reserve(ordinals_.size());
    std::span<const uint64_t> hashes = snapshot->id_hashes();
    if (params_.kind == SampleParams::Kind::kWeighted) {
      candidate_scores.reserve(ordinals_.size());
    }
    for (uint32_t o : ordinals_) {
      id_hashes_.push_back(hashes[o]);
      if (params_.kind == SampleParams::Kind::kWeighted) {
        candidate_scores.push_back(o < scores.size() ? scores[o] : NAN);
      }
    }
    freeze_seq_ = snapshot->write_seq();
    // Lengths as of the freeze, by ordinal: one copy, then O(1) per sample.
    frozen_lengths_.assign(columns.length.begin(), columns.length.end());
    frozen_collection_id_ = snapshot->collection_id();
  }
  if (params_.kind == SampleParams::Kind::kWeighted) {
    absl::StatusOr<Weights> weights =
        ComputeWeights(candidate_scores, params_.weight_spec);
    if (!weights.ok()) return Annotate(weights.status(), "strategy.weighted");
    weights_ = std::move(weights->values);
  }
  candidates_.ordinals = ordinals_;
  candidates_.id_hashes = id_hashes_;
  candidates_.weights = weights_;
  candidates_.doc_id = TieBreakIds(env_.store, request_->collection());
  scope_.Note("candidates", static_cast<int64_t>(ordinals_.size()));
  return absl::OkStatus();
}

absl::StatusOr<bool> SampleStream::OpenEpoch() {
  order_ = std::make_unique<KeyedOrder>(candidates_, params_.seed, epoch_);
  uint64_t positions = order_->size();
  if (params_.samples_per_epoch != 0) {
    positions = std::min(positions, params_.samples_per_epoch);
  }
  absl::StatusOr<RankSchedule> schedule =
      RankSchedule::Make(positions, params_.batch_size, params_.world_size,
                         params_.rank, /*start_batch=*/0, params_.drop_last);
  if (!schedule.ok()) return schedule.status();
  schedule_ = *schedule;
  batches_ = std::make_unique<RankBatchStream>(order_.get(), *schedule_);
  served_in_epoch_ = 0;
  return schedule_->count() > 0;
}

absl::StatusOr<bool> SampleStream::Produce(winnow::v1::SampleResponse* out) {
  if (!started_) {
    started_ = true;
    if (absl::Status s = Start(); !s.ok()) return s;
  }
  if (params_.max_batches != 0 && served_ >= params_.max_batches) return false;
  if (order_ == nullptr || served_in_epoch_ >= schedule_->count()) {
    if (order_ != nullptr) ++epoch_;
    if (params_.num_epochs != 0 && epoch_ >= params_.num_epochs) return false;
    absl::StatusOr<bool> any = OpenEpoch();
    if (!any.ok()) return any.status();
    // Every epoch has as many positions as the first, so an epoch that
    // gives this rank nothing means none will; end rather than spin.
    if (!*any) return false;
  }
  GlobalBatch batch;
  batches_->Next(&batch);
  ++served_in_epoch_;
  ++served_;
  winnow::v1::SampleBatch* out_batch = out->mutable_batch();
  out_batch->set_epoch(static_cast<int64_t>(epoch_));
  out_batch->set_global_batch_index(static_cast<int64_t>(batch.index));
  out_batch->set_last_in_epoch(served_in_epoch_ == schedule_->count());
  if (absl::Status s = FillBatch(batch, out_batch); !s.ok()) return s;
  return CheckSize(*out);
}

absl::StatusOr<bool> SampleStream::CheckSize(
    const winnow::v1::SampleResponse& response) const {
  const size_t size = response.ByteSizeLong();
  const int64_t limit = env_.options->max_message_bytes;
  if (size <= static_cast<size_t>(limit)) return true;
  const bool full = params_.view == winnow::v1::RESULT_VIEW_FULL;
  return absl::ResourceExhaustedError(absl::StrCat(
      "batch ", response.batch().global_batch_index(), " in the ",
      full ? "FULL"
           : (params_.view == winnow::v1::RESULT_VIEW_IDS ? "IDS" : "ORDINALS"),
      " view is ", size, " bytes, over the ", FormatBytes(limit),
      " message limit; use a smaller batch_size",
      full ? ", a read_mask without payload, or the IDS view" : ""));
}

absl::Status SampleStream::FillBatch(const GlobalBatch& batch,
                                     winnow::v1::SampleBatch* out) {
  const std::vector<uint32_t>& ordinals = batch.ordinals;
  int64_t tokens = 0;
  int64_t longest = 0;
  for (uint32_t o : ordinals) {
    int64_t length = frozen_lengths_[o];
    tokens += length;
    longest = std::max(longest, length);
  }
  const int64_t padded = longest * static_cast<int64_t>(ordinals.size());
  out->set_token_count(tokens);
  out->set_padded_token_count(padded);
  out->set_padding_ratio(
      padded == 0 ? 0.0 : 1.0 - static_cast<double>(tokens) / padded);

  if (params_.view == winnow::v1::RESULT_VIEW_FULL) {
    if (absl::Status s = ReopenColumns(*env_.store, request_->collection(),
                                       frozen_collection_id_)
                             .status();
        !s.ok()) {
      return s;
    }
    std::vector<uint64_t> wanted(ordinals.begin(), ordinals.end());
    storage::GetDocumentsOptions options = ToReadOptions(
        params_.mask,
        {request_->score_names().begin(), request_->score_names().end()},
        /*allow_missing=*/true);
    options.include_deleted = true;  // served in its slot, marked deleted
    absl::StatusOr<storage::GetDocumentsResult> result =
        env_.store->GetDocuments(request_->collection(), {}, wanted, options);
    if (absl::IsNotFound(result.status())) {
      return CollectionGoneError(request_->collection());
    }
    if (!result.ok()) return result.status();
    if (result->documents.size() != ordinals.size()) {
      return CollectionGoneError(request_->collection());
    }
    for (size_t i = 0; i < ordinals.size(); ++i) {
      const storage::StoredDocument& d = result->documents[i];
      winnow::v1::SampledDocument* sample = out->add_samples();
      ToProto(d, params_.mask, sample->mutable_document());
      sample->mutable_document()->set_length(frozen_lengths_[d.ordinal]);
      const bool deleted = d.deleted;
      const bool modified = !deleted && d.upsert_seq > freeze_seq_;
      sample->set_deleted(deleted);
      sample->set_modified(modified);
      if (deleted) out->add_deleted_indexes(static_cast<uint32_t>(i));
      if (modified) out->add_modified_indexes(static_cast<uint32_t>(i));
    }
    return absl::OkStatus();
  }

  // Ordinals only grow within one collection: every candidate has an id.
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      ReopenColumns(*env_.store, request_->collection(), frozen_collection_id_);
  if (!snapshot.ok()) return snapshot.status();
  const ColumnSet& columns = snapshot->columns();
  std::span<const uint64_t> upsert_seqs = snapshot->upsert_seqs();
  const bool ids = params_.view == winnow::v1::RESULT_VIEW_IDS;
  for (size_t i = 0; i < ordinals.size(); ++i) {
    const uint32_t o = ordinals[i];
    if (ids) {
      out->add_ids(std::string(snapshot->id(o)));
    } else {
      out->add_ordinals(o);
    }
    out->add_lengths(frozen_lengths_[o]);
    out->add_domains(columns.domain_names[columns.domain[o]]);
    if (!columns.live->Get(o)) {
      out->add_deleted_indexes(static_cast<uint32_t>(i));
    } else if (upsert_seqs[o] > freeze_seq_) {
      out->add_modified_indexes(static_cast<uint32_t>(i));
    }
  }
  AppendScoreColumns(request_->score_names(), columns, ordinals,
                     out->mutable_scores());
  return absl::OkStatus();
}

}  // namespace winnow::server
