// JSONL documents for `winnowctl import`: one JSON object per line,
//
//   {"id": "doc-1", "domain": "web", "length": 123,
//    "scores": {"quality": 0.5}, "attributes": {"lang": "en"},
//    "payload": "text", "embedding": [0.1, 0.2]}
//
// parsed with simdjson and gathered into columnar UpsertDocumentsRequest
// batches (the form the server parses fastest, docs/benchmarks.md).
//
// Only "id" is required. A null value means the field is absent (a null
// score is a null score). Unknown fields are errors, so that a misspelt
// "lenght" does not silently load documents of length 0.
#ifndef WINNOW_CLIENT_WINNOWCTL_JSONL_H_
#define WINNOW_CLIENT_WINNOWCTL_JSONL_H_

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "winnow/v1/document.pb.h"

namespace winnow::ctl {

// One document as read from a line. Reused from line to line, so that its
// buffers are allocated once.
struct ParsedDocument {
  std::string id;
  std::string domain;
  int64_t length = 0;
  // Non-null scores, in the line's order.
  std::vector<std::pair<std::string, float>> scores;
  // Attributes with a non-empty value, in the line's order.
  std::vector<std::pair<std::string, std::string>> attributes;
  // Empty means no payload.
  std::string payload;
  // Empty means no embedding.
  std::vector<float> embedding;

  void Clear();
};

// Whether `name` is a reserved word of the filter language,
// which the server refuses as a score name or an attribute key.
bool IsReservedName(std::string_view name);
// Whether `name` may name a score column: [a-z_][a-z0-9_]* and not a
// reserved word.
bool IsValidScoreName(std::string_view name);
// Whether `key` may be an attribute key: the same rule as a score name.
bool IsValidAttributeKey(std::string_view key);

// Parses JSONL lines into documents.
//
// Thread safety: not thread-safe (it owns a simdjson parser).
class DocumentParser {
 public:
  // `embedding_dimension` is the collection's: an embedding must have
  // exactly that many values, and none is allowed when it is 0.
  explicit DocumentParser(int embedding_dimension);

  // Parses one line (without its newline) into `*doc`. On error returns
  // INVALID_ARGUMENT with a message that names the field, without a file or
  // line number (the caller adds them), and `*doc` is unspecified.
  absl::Status Parse(std::string_view line, ParsedDocument* doc);

  // Whether the line holds only whitespace (skipped by an import).
  static bool IsBlank(std::string_view line);

 private:
  simdjson::dom::parser parser_;
  const int embedding_dimension_;
};

// Gathers documents into one columnar UpsertDocumentsRequest
// (DocumentColumns): per-document columns are filled for every document and
// dropped at the end when they hold nothing (no payloads, every length 0), and
// the domains column shrinks to one entry when every document shares it.
//
// Thread safety: not thread-safe.
class ColumnarBatchBuilder {
 public:
  explicit ColumnarBatchBuilder(std::string collection);

  // False when `doc` must go to the next batch instead: its id is already in
  // this one (the server rejects a batch that repeats an id, and the later
  // line must replace the earlier one, so it must land later), or it has an
  // embedding while this batch's documents have none, or the reverse
  // (embeddings are one row-major column for the whole batch).
  bool Accepts(const ParsedDocument& doc) const;
  // Appends `doc`; Accepts(doc) must be true.
  void Add(const ParsedDocument& doc);

  size_t size() const { return static_cast<size_t>(columns().ids_size()); }
  bool empty() const { return size() == 0; }
  // Returns the batch (its sequence unset) and starts an empty one.
  v1::UpsertDocumentsRequest Take();

 private:
  const v1::DocumentColumns& columns() const { return request_.columns(); }
  void Reset();

  const std::string collection_;
  v1::UpsertDocumentsRequest request_;
  // Views of the ids in request_, which RepeatedPtrField keeps in place.
  absl::flat_hash_set<std::string_view> ids_;
  // Index of each score and attribute column in request_.
  absl::flat_hash_map<std::string, int> score_columns_;
  absl::flat_hash_map<std::string, int> attribute_columns_;
  bool has_embeddings_ = false;
  bool any_payload_ = false;
  bool any_length_ = false;
};

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_JSONL_H_
