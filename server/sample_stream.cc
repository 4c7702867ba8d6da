#include "server/sample_stream.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "selection/hash.h"
#include "server/convert.h"
#include "server/packed.h"
#include "server/query.h"

namespace winnow::server {
namespace {

// How many items ahead FillBatch prefetches.
constexpr size_t kAhead = 16;

absl::Status PlanDeletedError(const std::string& plan_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("plan '", plan_id, "' was deleted; start a new run"));
}

// One pass over the batch's documents (each a few cache misses): counts
// them per domain into *served, and marks the positions of those deleted
// or replaced since the plan froze. `unchanged` (no write published since
// the freeze) skips the marking: every candidate is then still live and
// unmodified.
void CountAndMarkChanged(const ColumnSet& columns,
                         std::span<const uint64_t> upsert_seqs,
                         std::span<const uint32_t> ordinals,
                         uint64_t freeze_seq, bool unchanged,
                         winnow::v1::SampleBatch* out,
                         std::vector<Metrics::DomainCount>* served) {
  std::vector<uint64_t> counts(columns.domain_names.size());
  const uint32_t* domain = columns.domain.data();
  const size_t n = ordinals.size();
  if (unchanged) {
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) __builtin_prefetch(&domain[ordinals[i + kAhead]]);
      const uint32_t code = domain[ordinals[i]];
      if (code < counts.size()) ++counts[code];
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {
        const uint32_t ahead = ordinals[i + kAhead];
        __builtin_prefetch(&domain[ahead]);
        __builtin_prefetch(&upsert_seqs[ahead]);
      }
      const uint32_t o = ordinals[i];
      const uint32_t code = domain[o];
      if (code < counts.size()) ++counts[code];
      if (!columns.live->Get(o)) {
        out->add_deleted_indexes(static_cast<uint32_t>(i));
      } else if (upsert_seqs[o] > freeze_seq) {
        out->add_modified_indexes(static_cast<uint32_t>(i));
      }
    }
  }
  for (size_t code = 0; code < counts.size(); ++code) {
    if (counts[code] != 0) {
      served->push_back({columns.domain_names[code], counts[code]});
    }
  }
}

// The IDS and ORDINALS views: ids or ordinals, lengths and domain names.
void FillIdsOrOrdinals(bool ids, std::span<const std::string_view> id_of,
                       const ColumnSet& columns,
                       std::span<const uint32_t> ordinals,
                       std::span<const uint32_t> lengths,
                       winnow::v1::SampleBatch* out) {
  const int n = static_cast<int>(ordinals.size());
  if (ids) {
    out->mutable_ids()->Reserve(n);
  } else {
    out->mutable_ordinals()->Assign(ordinals.begin(), ordinals.end());
  }
  out->mutable_lengths()->Assign(lengths.begin(), lengths.end());
  out->mutable_domains()->Reserve(n);
  for (size_t i = 0; i < ordinals.size(); ++i) {
    // Two stages: the id's view and the domain 2 * kAhead ahead, then the
    // id's bytes (through the view fetched by then) kAhead ahead.
    if (i + 2 * kAhead < ordinals.size()) {
      const uint32_t ahead = ordinals[i + 2 * kAhead];
      if (ids) __builtin_prefetch(&id_of[ahead]);
      __builtin_prefetch(&columns.domain[ahead]);
    }
    if (ids && i + kAhead < ordinals.size()) {
      __builtin_prefetch(id_of[ordinals[i + kAhead]].data());
    }
    const uint32_t o = ordinals[i];
    if (ids) out->add_ids(id_of[o].data(), id_of[o].size());
    out->add_domains(columns.domain_names[columns.domain[o]]);
  }
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
  Begin(*request_);
}

SampleStream::~SampleStream() {
  if (plan_ != nullptr) plan_->AddStream(-1);
}

absl::Status SampleStream::Start() {
  absl::StatusOr<SampleParams> params = ValidateSampleRequest(*request_);
  if (!params.ok()) return params.status();
  params_ = *std::move(params);
  PlanRegistry& plans = *env_.plans;
  uint64_t start_batch = 0;
  if (!request_->cursor().empty()) {
    absl::StatusOr<winnow::v1::Cursor> cursor =
        plans.cursors().Decode(request_->cursor());
    if (!cursor.ok()) return cursor.status();
    if (!request_->collection().empty() &&
        cursor->collection() != request_->collection()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cursor: it belongs to collection '", cursor->collection(),
          "', not '", request_->collection(), "'"));
    }
    if (cursor->sampler_version() != kSamplerVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cursor: its plan was sampled by sampler version ",
          cursor->sampler_version(), ", which this server (version ",
          kSamplerVersion, ") cannot reproduce; start a new run"));
    }
    if (!request_->plan_id().empty() &&
        request_->plan_id() != cursor->plan_id()) {
      return absl::InvalidArgumentError(
          absl::StrCat("plan_id: '", request_->plan_id(),
                       "' is not the cursor's plan '", cursor->plan_id(), "'"));
    }
    absl::StatusOr<std::shared_ptr<Plan>> plan = plans.Get(cursor->plan_id());
    if (absl::IsNotFound(plan.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("cursor: its plan '", cursor->plan_id(),
                       "' is gone (deleted or expired); start a new run"));
    }
    if (!plan.ok()) return plan.status();
    plan_ = *std::move(plan);
    epoch_ = static_cast<uint64_t>(cursor->epoch());
    start_batch = static_cast<uint64_t>(cursor->next_global_batch());
  } else if (!request_->plan_id().empty()) {
    absl::StatusOr<std::shared_ptr<Plan>> plan = plans.Get(request_->plan_id());
    if (!plan.ok()) return Annotate(plan.status(), "plan_id");
    plan_ = *std::move(plan);
  } else {
    absl::StatusOr<std::shared_ptr<Plan>> plan =
        plans.FindOrCreate(*request_, scope_.principal().name);
    if (!plan.ok()) return plan.status();
    plan_ = *std::move(plan);
  }
  // Resumed from a cursor or a plan id: the plan's collection must be in
  // the caller's token's scope (auth.h). A cursor names its collection; a
  // plan id outside the scope is answered as unknown.
  if (absl::Status s = CheckObjectScope(
          scope_.principal(), plan_->collection(),
          request_->cursor().empty() ? "plan_id" : "cursor",
          /*hide=*/request_->cursor().empty(),
          absl::StrCat("plan_id: plan '", request_->plan_id(), "' not found"));
      !s.ok()) {
    plan_.reset();
    return s;
  }
  plan_->AddStream(1);
  plan_->Touch();
  // A resumed stream may repeat the plan fields; they must be the plan's.
  if (!request_->cursor().empty() || !request_->plan_id().empty()) {
    if (absl::Status s = PlanRegistry::CheckResumedFields(*request_, *plan_);
        !s.ok()) {
      return s;
    }
  }
  if (!request_->collection().empty() &&
      request_->collection() != plan_->collection()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "plan '", plan_->id(), "' belongs to collection '", plan_->collection(),
        "', not '", request_->collection(), "'"));
  }
  scope_.Note("plan", plan_->id());
  scope_.Note("epoch", static_cast<int64_t>(epoch_));
  scope_.Note("start_batch", static_cast<int64_t>(start_batch));
  if (plan_->num_epochs() != 0 && epoch_ >= plan_->num_epochs()) {
    schedule_.reset();
    return absl::OkStatus();  // the run is complete: the stream ends OK
  }
  absl::StatusOr<bool> any = OpenEpoch(start_batch);
  if (!any.ok()) return any.status();
  return absl::OkStatus();
}

absl::StatusOr<bool> SampleStream::OpenEpoch(uint64_t start) {
  absl::StatusOr<EpochInfo> info = plan_->OpenEpoch(epoch_);
  if (!info.ok()) return info.status();
  if (start > info->all_batches) {
    return absl::InvalidArgumentError(
        absl::StrCat("cursor: global batch ", start, " is past epoch ", epoch_,
                     "'s ", info->all_batches, " batches"));
  }
  absl::StatusOr<RankSchedule> schedule =
      RankSchedule::FromBatches(info->batches, params_.world_size, params_.rank,
                                start, plan_->drop_last());
  if (!schedule.ok()) return schedule.status();
  schedule_ = *schedule;
  epoch_batches_ = info->batches;
  served_in_epoch_ = 0;
  return schedule_->count() > 0;
}

absl::StatusOr<bool> SampleStream::Produce(winnow::v1::SampleResponse* out) {
  if (!started_) {
    started_ = true;
    if (absl::Status s = Start(); !s.ok()) return s;
  }
  if (plan_->deleted()) return PlanDeletedError(plan_->id());
  if (params_.max_batches != 0 && served_ >= params_.max_batches) return false;
  // Move to the next epoch that gives this rank a batch.
  int empty_epochs = 0;
  while (!schedule_ || served_in_epoch_ >= schedule_->count()) {
    if (schedule_) ++epoch_;
    if (plan_->num_epochs() != 0 && epoch_ >= plan_->num_epochs()) {
      return false;
    }
    absl::StatusOr<bool> any = OpenEpoch(0);
    if (!any.ok()) return any.status();
    // Epochs of an unbounded plan all have the same size, so one that
    // gives this rank nothing means none will; end rather than spin.
    if (!*any && ++empty_epochs >= 2) return false;
  }
  const uint64_t i = served_in_epoch_++;
  ++served_;
  const uint64_t j = schedule_->GlobalBatch(i);
  Batch batch;
  if (absl::Status s = plan_->GetBatch(epoch_, j, &batch); !s.ok()) return s;

  out->set_plan_id(plan_->id());
  winnow::v1::SampleBatch* out_batch = out->mutable_batch();
  out_batch->set_epoch(static_cast<int64_t>(epoch_));
  out_batch->set_global_batch_index(static_cast<int64_t>(j));
  out_batch->set_last_in_epoch(served_in_epoch_ == schedule_->count());
  out_batch->set_over_budget(batch.over_budget);
  if (batch.bucket >= 0) out_batch->set_bucket_index(batch.bucket);
  std::vector<Metrics::DomainCount> served;
  if (absl::Status s = FillBatch(batch, out_batch, &served); !s.ok()) {
    return s;
  }
  if (env_.metrics != nullptr) RecordMetrics(batch, *out_batch, served);

  // The cursor: the next round of this epoch, or the next epoch.
  winnow::v1::Cursor cursor;
  cursor.set_format_version(kCursorFormatVersion);
  cursor.set_plan_id(plan_->id());
  cursor.set_collection(plan_->collection());
  cursor.set_sampler_version(plan_->sampler_version());
  const uint64_t next = schedule_->NextBatchAfter(i);
  if (next >= epoch_batches_) {
    cursor.set_epoch(static_cast<int64_t>(epoch_ + 1));
    cursor.set_next_global_batch(0);
  } else {
    cursor.set_epoch(static_cast<int64_t>(epoch_));
    cursor.set_next_global_batch(static_cast<int64_t>(next));
  }
  out->set_cursor(env_.plans->cursors().Encode(cursor));
  if (first_message_) {
    first_message_ = false;
    *out->mutable_plan() = plan_->Describe();
    if (plan_->prediction()) {
      *out->mutable_repetition_budget_prediction() = *plan_->prediction();
    }
    *out->mutable_domain_weights() = out->plan().domain_weights();
  }
  return CheckSize(*out);
}

void SampleStream::RecordMetrics(const Batch& batch,
                                 const winnow::v1::SampleBatch& out,
                                 std::span<const Metrics::DomainCount> served) {
  env_.metrics->RecordSampleBatch(plan_->collection(), served,
                                  out.padding_ratio());
  if (!plan_->mixture()) return;
  if (first_message_) {
    // The plan's target shares; the first message describes the plan.
    const winnow::v1::Plan described = plan_->Describe();
    std::vector<std::pair<std::string_view, double>> shares;
    for (const winnow::v1::DomainWeight& w : described.domain_weights()) {
      shares.emplace_back(w.domain(), w.weight());
    }
    env_.metrics->SetMixtureTarget(plan_->collection(), shares);
  }
  if (std::optional<double> drift = plan_->RecordServed(epoch_, batch)) {
    env_.metrics->SetServedMixtureDrift(plan_->collection(), plan_->id(),
                                        *drift);
  }
}

absl::StatusOr<bool> SampleStream::CheckSize(
    const winnow::v1::SampleResponse& response) const {
  const size_t size = response.ByteSizeLong();
  const int64_t limit = env_.options->max_message_bytes;
  if (size <= static_cast<size_t>(limit)) return true;
  const bool full = params_.view == winnow::v1::RESULT_VIEW_FULL;
  std::string view = winnow::v1::ResultView_Name(params_.view);
  view.erase(0, std::string_view("RESULT_VIEW_").size());
  return absl::ResourceExhaustedError(absl::StrCat(
      "batch ", response.batch().global_batch_index(), " in the ", view,
      " view is ", size, " bytes, over the ", FormatBytes(limit),
      " message limit; use a smaller batch_size or token budget",
      full ? ", a read_mask without payload, or the IDS view" : ""));
}

absl::Status SampleStream::FillBatch(
    const Batch& batch, winnow::v1::SampleBatch* out,
    std::vector<Metrics::DomainCount>* served) {
  const FrozenCandidates& frozen = plan_->frozen();
  // A batch's candidates are spread over the whole plan (and their
  // documents over the whole collection), so every array read below is a
  // cache miss. The loops prefetch kAhead items ahead to overlap them.
  const size_t n_items = batch.items.size();
  std::vector<uint32_t> ordinals(n_items);
  std::vector<uint32_t> lengths(n_items);
  int64_t tokens = 0;
  int64_t longest = 0;
  for (size_t i = 0; i < n_items; ++i) {
    if (i + kAhead < n_items) {
      const uint32_t ahead = batch.items[i + kAhead];
      __builtin_prefetch(&frozen.ordinals[ahead]);
      __builtin_prefetch(&frozen.lengths[ahead]);
    }
    const uint32_t index = batch.items[i];
    ordinals[i] = frozen.ordinals[index];
    lengths[i] = frozen.lengths[index];
    const int64_t length = lengths[i];
    tokens += length;
    longest = std::max(longest, length);
  }
  const int64_t padded = longest * static_cast<int64_t>(ordinals.size());
  out->set_token_count(tokens);
  out->set_padded_token_count(padded);
  out->set_padding_ratio(
      padded == 0 ? 0.0 : 1.0 - static_cast<double>(tokens) / padded);
  if (params_.view == winnow::v1::RESULT_VIEW_FULL) {
    return FillDocuments(batch, ordinals, lengths, out, served);
  }
  return FillColumns(ordinals, lengths, out, served);
}

absl::Status SampleStream::FillDocuments(
    const Batch& batch, std::span<const uint32_t> ordinals,
    std::span<const uint32_t> lengths, winnow::v1::SampleBatch* out,
    std::vector<Metrics::DomainCount>* served) {
  const uint64_t freeze_seq = plan_->freeze_seq();
  if (absl::Status s = ReopenColumns(*env_.store, plan_->collection(),
                                     plan_->collection_id())
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
      env_.store->GetDocuments(plan_->collection(), {}, wanted, options);
  if (absl::IsNotFound(result.status())) {
    return CollectionGoneError(plan_->collection());
  }
  if (!result.ok()) return result.status();
  if (result->documents.size() != ordinals.size()) {
    return CollectionGoneError(plan_->collection());
  }
  for (size_t i = 0; i < ordinals.size(); ++i) {
    const storage::StoredDocument& d = result->documents[i];
    winnow::v1::SampledDocument* sample = out->add_samples();
    ToProto(d, params_.mask, sample->mutable_document());
    sample->mutable_document()->set_length(lengths[i]);
    const bool deleted = d.deleted;
    const bool modified = !deleted && d.upsert_seq > freeze_seq;
    sample->set_deleted(deleted);
    sample->set_modified(modified);
    sample->set_over_budget(batch.over_budget);
    if (deleted) out->add_deleted_indexes(static_cast<uint32_t>(i));
    if (modified) out->add_modified_indexes(static_cast<uint32_t>(i));
  }
  // By name: a handful of domains, so a flat list.
  for (const winnow::v1::SampledDocument& s : out->samples()) {
    const std::string_view domain = s.document().domain();
    auto it = std::find_if(
        served->begin(), served->end(),
        [&](const Metrics::DomainCount& c) { return c.domain == domain; });
    if (it == served->end()) {
      served->push_back({std::string(domain), 1});
    } else {
      ++it->count;
    }
  }
  return absl::OkStatus();
}

absl::Status SampleStream::FillColumns(
    std::span<const uint32_t> ordinals, std::span<const uint32_t> lengths,
    winnow::v1::SampleBatch* out, std::vector<Metrics::DomainCount>* served) {
  // Ordinals only grow within one collection: every candidate has an id.
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      ReopenColumns(*env_.store, plan_->collection(), plan_->collection_id());
  if (!snapshot.ok()) return snapshot.status();
  const ColumnSet& columns = snapshot->columns();
  if (absl::Status s = CheckScoreNames(request_->score_names(), columns);
      !s.ok()) {
    return s;
  }
  // Every write that deletes or replaces a document publishes a write
  // sequence above the freeze's, so an equal one means none happened.
  const bool unchanged = snapshot->write_seq() == plan_->freeze_seq();
  CountAndMarkChanged(columns, snapshot->upsert_seqs(), ordinals,
                      plan_->freeze_seq(), unchanged, out, served);
  if (params_.view == winnow::v1::RESULT_VIEW_PACKED) {
    FillPacked(request_->packed_fields(), snapshot->ids(), columns, ordinals,
               lengths, out->mutable_packed());
  } else {
    FillIdsOrOrdinals(params_.view == winnow::v1::RESULT_VIEW_IDS,
                      snapshot->ids(), columns, ordinals, lengths, out);
  }
  AppendScoreColumns(request_->score_names(), columns, ordinals,
                     out->mutable_scores());
  return absl::OkStatus();
}

}  // namespace winnow::server
