#include "server/filter_stream.h"

#include <algorithm>
#include <bit>
#include <span>
#include <string>

#include "server/convert.h"
#include "server/packed.h"
#include "server/query.h"

namespace winnow::server {
namespace {

// Upper bounds on the wire size of one result in the IDS and ORDINALS
// views (the PACKED view's are PackedBytesPerDocument): an id's tag and
// length prefix, a packed ordinal, and per score column a packed float plus
// a packed null index.
constexpr size_t kIdFramingBytes = 6;
constexpr size_t kOrdinalBytes = 5;
constexpr size_t kScoreBytes = 9;

// The set ordinals of `bits` from `start` on, at most `limit` (0 = all).
std::vector<uint32_t> CollectFrom(const Bitmap& bits, uint64_t start,
                                  uint64_t limit) {
  std::vector<uint32_t> out;
  std::span<const uint64_t> words = bits.words();
  for (size_t w = static_cast<size_t>(start / 64); w < words.size(); ++w) {
    uint64_t word = words[w];
    if (w == start / 64) word &= ~uint64_t{0} << (start % 64);
    while (word != 0) {
      if (limit != 0 && out.size() >= limit) return out;
      out.push_back(static_cast<uint32_t>(w * 64 + std::countr_zero(word)));
      word &= word - 1;
    }
  }
  return out;
}

}  // namespace

FilterStream::FilterStream(grpc::CallbackServerContext* context,
                           ServiceEnv& env,
                           const winnow::v1::FilterRequest* request)
    : StreamReactor(context, env, "winnow.v1.SelectionService/Filter"),
      request_(request) {
  scope_.Note("collection", request_->collection());
  Begin(*request_);
}

absl::Status FilterStream::Start() {
  absl::StatusOr<FilterParams> params = ValidateFilterRequest(*request_);
  if (!params.ok()) return params.status();
  params_ = *params;
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
  Bitmap matches;
  filter->EvaluateInto(columns, &matches);
  matches_ = CollectFrom(matches, params_.start_ordinal, params_.max_results);
  frozen_collection_id_ = snapshot->collection_id();
  scope_.Note("matches", static_cast<int64_t>(matches_.size()));
  return absl::OkStatus();
}

absl::StatusOr<bool> FilterStream::Produce(winnow::v1::FilterResponse* out) {
  if (!started_) {
    started_ = true;
    if (absl::Status s = Start(); !s.ok()) return s;
  }
  if (messages_ > 0 && next_ >= matches_.size()) return false;
  out->set_total_count(static_cast<int64_t>(matches_.size()));
  absl::Status status = params_.view == winnow::v1::RESULT_VIEW_FULL
                            ? FillDocuments(out)
                            : FillIds(out);
  if (!status.ok()) return status;
  out->set_next_ordinal(next_ == 0 ? params_.start_ordinal
                                   : uint64_t{matches_[next_ - 1]} + 1);
  ++messages_;
  return true;
}

absl::Status FilterStream::FillIds(winnow::v1::FilterResponse* out) {
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      ReopenColumns(*env_.store, request_->collection(), frozen_collection_id_);
  if (!snapshot.ok()) return snapshot.status();
  const bool packed = params_.view == winnow::v1::RESULT_VIEW_PACKED;
  const bool ids = packed || params_.view == winnow::v1::RESULT_VIEW_IDS;
  const size_t id_framing =
      packed ? PackedBytesPerDocument(request_->packed_fields())
             : kIdFramingBytes;
  // Lower the batch if it would pass the message size limit; the rest go
  // in the next message. At least one result per message.
  const size_t budget = MessageBudget(env_.options->max_message_bytes);
  const size_t score_bytes =
      static_cast<size_t>(request_->score_names_size()) * kScoreBytes;
  const size_t limit = std::min(matches_.size(), next_ + params_.batch_size);
  size_t end = next_;
  size_t bytes = 0;
  for (; end < limit; ++end) {
    // Ordinals only grow within one collection, so every match has an id.
    const size_t size =
        score_bytes +
        (ids ? snapshot->id(matches_[end]).size() + id_framing : kOrdinalBytes);
    if (end > next_ && bytes + size > budget) break;
    bytes += size;
  }
  std::span<const uint32_t> batch(matches_.data() + next_, end - next_);
  if (packed) {
    FillPacked(request_->packed_fields(), snapshot->ids(), snapshot->columns(),
               batch, {}, out->mutable_packed());
  } else if (ids) {
    out->mutable_ids()->Reserve(static_cast<int>(batch.size()));
    for (uint32_t ordinal : batch) {
      out->add_ids(std::string(snapshot->id(ordinal)));
    }
  } else {
    out->mutable_ordinals()->Assign(batch.begin(), batch.end());
  }
  if (!batch.empty()) {
    AppendScoreColumns(request_->score_names(), snapshot->columns(), batch,
                       out->mutable_scores());
  }
  next_ = end;
  return absl::OkStatus();
}

absl::Status FilterStream::FillDocuments(winnow::v1::FilterResponse* out) {
  const size_t end = std::min(matches_.size(), next_ + params_.batch_size);
  if (absl::Status s = ReopenColumns(*env_.store, request_->collection(),
                                     frozen_collection_id_)
                           .status();
      !s.ok()) {
    return s;
  }
  if (end == next_) return absl::OkStatus();
  std::vector<uint64_t> ordinals(matches_.begin() + next_,
                                 matches_.begin() + end);
  storage::GetDocumentsOptions options = ToReadOptions(
      params_.mask,
      {request_->score_names().begin(), request_->score_names().end()},
      /*allow_missing=*/true);
  // A match deleted since the filter ran is still served, as its tombstone
  // (id, ordinal, length), in its place.
  options.include_deleted = true;
  absl::StatusOr<storage::GetDocumentsResult> result =
      env_.store->GetDocuments(request_->collection(), {}, ordinals, options);
  if (absl::IsNotFound(result.status())) {
    return CollectionGoneError(request_->collection());
  }
  if (!result.ok()) return result.status();
  if (!result->missing_ordinals.empty()) {
    return CollectionGoneError(request_->collection());
  }
  // Lower the batch if the documents would pass the message size limit;
  // the rest go in the next message. At least one document per message.
  const size_t budget = MessageBudget(env_.options->max_message_bytes);
  size_t bytes = 0;
  size_t taken = 0;
  for (const storage::StoredDocument& d : result->documents) {
    winnow::v1::Document doc;
    ToProto(d, params_.mask, &doc);
    size_t size = doc.ByteSizeLong() + 8;
    if (taken > 0 && bytes + size > budget) break;
    bytes += size;
    *out->add_documents() = std::move(doc);
    ++taken;
  }
  next_ += taken;
  return absl::OkStatus();
}

}  // namespace winnow::server
