// Conversions between the wire contract (winnow.v1 messages) and storage's
// value types.
//
// Write batches are converted to storage's *views* (storage/types.h): the
// columnar forms (DocumentColumns, PutScoresRequest) convert without copying
// any id, value or payload; the row form (Document messages) copies only
// the numbers it must lay out as columns (lengths, scores, embeddings).
// A converted batch points into the request, so the request must outlive
// it.
//
// Errors are INVALID_ARGUMENT naming the request field, for what the
// storage types cannot express or what is checked more clearly here
// (alignment of columns, "documents[3].length"); storage validates the
// rest (names, ids, finite values, sizes) and names its own fields.
//
// Pure functions; thread-compatible.
#ifndef WINNOW_SERVER_CONVERT_H_
#define WINNOW_SERVER_CONVERT_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/validation.h"
#include "storage/types.h"
#include "winnow/v1/collection.pb.h"
#include "winnow/v1/document.pb.h"
#include "winnow/v1/score.pb.h"

namespace winnow::server {

// ---- Collections ----

// CreateCollectionRequest.collection -> spec. INVALID_ARGUMENT for a
// negative dimension or unknown dtype ("collection.embedding_dimension").
absl::StatusOr<storage::CollectionSpec> ToCollectionSpec(
    const winnow::v1::Collection& collection);

// Spec, create time and stats.
void ToProto(const storage::CollectionInfo& info,
             winnow::v1::Collection* collection);

// ---- Documents ----

// An UpsertDocumentsRequest as a storage::DocumentBatch, with the buffers
// the row form needs.
class UpsertBatch {
 public:
  // Converts `request`, which must outlive this object and stay unchanged.
  absl::Status Build(const winnow::v1::UpsertDocumentsRequest& request);

  const storage::DocumentBatch& batch() const { return batch_; }
  size_t size() const { return batch_.ids.size(); }

 private:
  using Rows = google::protobuf::RepeatedPtrField<winnow::v1::Document>;
  // The columnar form alone: views into the request, nothing copied.
  absl::Status BuildColumnar(const winnow::v1::DocumentColumns& cols);
  // Rows then columns: ids, domains and lengths; checks the embeddings'
  // shape and sets *row_dim (0 without embeddings).
  absl::Status LayOutRows(const Rows& rows,
                          const winnow::v1::DocumentColumns& cols,
                          size_t* row_dim);
  void AddPayloads(const Rows& rows, const winnow::v1::DocumentColumns& cols);
  void AddEmbeddings(const Rows& rows, const winnow::v1::DocumentColumns& cols,
                     size_t row_dim);
  absl::Status AddScores(const Rows& rows,
                         const winnow::v1::DocumentColumns& cols);
  absl::Status AddAttributes(const Rows& rows,
                             const winnow::v1::DocumentColumns& cols);

  storage::DocumentBatch batch_;
  // Owned columns for the row form (or a mix of rows and columns).
  std::vector<int64_t> lengths_;
  std::vector<float> embeddings_;
  // deque: references stay valid as columns are added.
  std::deque<std::vector<float>> score_values_;
  std::deque<std::vector<uint32_t>> score_nulls_;
};

// The storage read options for a GetDocuments-style read.
storage::GetDocumentsOptions ToReadOptions(const DocumentMask& mask,
                                           std::vector<std::string> score_names,
                                           bool allow_missing);

// A stored document as a Document message, with the fields of `mask` (id
// and ordinal always).
void ToProto(const storage::StoredDocument& document, const DocumentMask& mask,
             winnow::v1::Document* out);

// ---- Scores ----

// A ReportTrainingRequest as a storage::TrainingReport of views into it
// (the request must outlive the report); the store validates it.
storage::TrainingReport ToTrainingReport(
    const winnow::v1::ReportTrainingRequest& request);

// A PutScoresRequest as a storage::ScoreBatch of views into it (the request
// must outlive the batch). INVALID_ARGUMENT if both ids and ordinals are
// set.
absl::StatusOr<storage::ScoreBatch> ToScoreBatch(
    const winnow::v1::PutScoresRequest& request);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_CONVERT_H_
