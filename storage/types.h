// Value types of the storage API: collection specs and stats, write batches,
// read options and results (docs/architecture.md, "Data model").
//
// Write batches are *views*: every string_view and span points into memory
// the caller owns (typically the parsed gRPC request) and must stay valid
// for the duration of the call that takes the batch. Nothing is copied
// until the write is encoded.
//
// Thread safety: plain values; no internal synchronization.
#ifndef WINNOW_STORAGE_TYPES_H_
#define WINNOW_STORAGE_TYPES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "selection/feedback.h"

namespace winnow::storage {

// Largest embedding dimension a collection may declare.
inline constexpr uint32_t kMaxEmbeddingDimension = 65536;

// Longest score name or attribute key, in bytes.
inline constexpr size_t kMaxColumnNameBytes = 128;

enum class EmbeddingType : uint8_t {
  // 4 bytes per dimension, exact.
  kFloat32 = 1,
  // 2 bytes per dimension, IEEE half precision rounded to nearest even.
  // Values whose magnitude exceeds 65504 are INVALID_ARGUMENT.
  kFloat16 = 2,
};

// What CreateCollection needs.
struct CollectionSpec {
  // [a-z0-9][a-z0-9_.-]{0,63}.
  std::string name;
  // Floats per embedding; 0 means the collection holds no embeddings.
  // At most kMaxEmbeddingDimension.
  uint32_t embedding_dimension = 0;
  EmbeddingType embedding_type = EmbeddingType::kFloat32;
  // Half-life of the loss_ema training statistic, in steps
  // (docs/feedback.md); 0 means kDefaultLossEmaHalfLifeSteps (1,000).
  // Otherwise finite and > 0.
  double loss_ema_half_life_steps = 0;
};

// Per-domain counts over live documents.
struct DomainInfo {
  std::string name;
  uint64_t num_documents = 0;
  // Sum of lengths, in tokens.
  uint64_t num_tokens = 0;
};

// Per-score counts over live documents.
struct ScoreInfo {
  std::string name;
  // Live documents with a non-null value.
  uint64_t num_values = 0;
};

// A collection's spec and stats, as of the last committed write.
struct CollectionInfo {
  std::string name;
  uint32_t embedding_dimension = 0;
  EmbeddingType embedding_type = EmbeddingType::kFloat32;
  // The loss_ema half-life in steps (the default filled in).
  double loss_ema_half_life_steps = 0;
  // Microseconds since the Unix epoch.
  int64_t create_time_micros = 0;
  // Time of the last committed write, microseconds since the Unix epoch; 0
  // if the collection was never written.
  int64_t update_time_micros = 0;

  // Live (not deleted) documents.
  uint64_t num_documents = 0;
  // Ordinals ever allocated: live documents plus tombstones.
  uint64_t num_ordinals = 0;
  // Sum of the lengths of live documents, in tokens.
  uint64_t num_tokens = 0;
  // Live documents that have an embedding.
  uint64_t num_embeddings = 0;
  // Every domain ever written, sorted by name (a domain whose documents are
  // all deleted shows num_documents 0).
  std::vector<DomainInfo> domains;
  // Every score column, sorted by name.
  std::vector<ScoreInfo> scores;
  // Attribute keys that at least one live document has, sorted.
  std::vector<std::string> attribute_keys;

  // The collection's write sequence: incremented by every committed
  // UpsertDocuments, PutScores and DeleteDocuments call (see
  // ColumnsSnapshot::upsert_seqs()).
  uint64_t write_seq = 0;
  // Approximate on-disk size (RocksDB SST files and memtables), in bytes.
  uint64_t disk_bytes = 0;
  // Approximate size of the in-memory columns and id index, in bytes.
  uint64_t memory_bytes = 0;
};

// One named score for the documents of a batch, aligned with its ids.
struct ScoreColumn {
  // [a-z_][a-z0-9_]*, not a reserved word, at most kMaxColumnNameBytes.
  std::string_view name;
  // One value per document; values[i] belongs to document i. Must be finite
  // unless i is listed in null_indexes.
  std::span<const float> values;
  // Indexes into `values` that hold no value (the stored float there is
  // ignored). Strictly ascending, each < values.size().
  std::span<const uint32_t> null_indexes;
};

// One attribute key for the documents of a batch, aligned with its ids.
struct AttributeColumn {
  // [a-z_][a-z0-9_]*, not a reserved word, at most kMaxColumnNameBytes.
  std::string_view key;
  // One value per document; an empty string means the document lacks the
  // attribute.
  std::vector<std::string_view> values;
};

// A batch of documents for UpsertDocuments, column-wise.
//
// Alignment: every per-document column is either empty, meaning "not given
// for any document", or has exactly ids.size() entries; `domains` may also
// have exactly one entry, which then applies to every document.
struct DocumentBatch {
  // Document ids, 1 to StoreOptions::max_id_bytes bytes each, unique within
  // the batch (a repeated id is INVALID_ARGUMENT).
  std::vector<std::string_view> ids;
  // Domain per document; empty means "" for all.
  std::vector<std::string_view> domains;
  // Length in tokens per document, 0 to UINT32_MAX; empty means 0 for all.
  std::span<const int64_t> lengths;
  // Payload per document (nullopt: none); empty means no payloads. Each at
  // most StoreOptions::max_payload_bytes.
  std::vector<std::optional<std::string_view>> payloads;
  // Row-major embeddings, ids.size() * embedding_dimension finite floats, or
  // empty for none. Always float32 here, whatever the storage type.
  std::span<const float> embeddings;
  // Score columns; names unique within the batch.
  std::vector<ScoreColumn> scores;
  // Attribute columns; keys unique within the batch.
  std::vector<AttributeColumn> attributes;
};

// A PutScores batch: documents by id or by ordinal (not both), and score
// columns aligned with them.
struct ScoreBatch {
  // Documents by id; unique within the batch.
  std::vector<std::string_view> ids;
  // Documents by ordinal; unique within the batch.
  std::span<const uint64_t> ordinals;
  // Score columns aligned with ids (or ordinals). A null index *clears* that
  // document's score; scores not named are left unchanged. A column is
  // created on its first write.
  std::vector<ScoreColumn> scores;
  // When false, an unknown or deleted document fails the whole batch with
  // NOT_FOUND naming it. When true, such documents are skipped (and counted).
  bool allow_missing = false;
};

// One ReportTraining message (docs/feedback.md): per-sample losses by
// document id or ordinal (not both), aligned with `losses`, and one step
// for every sample or one each.
struct TrainingReport {
  // The reporting stream and its message number: a message whose sequence
  // is not above the stream's last applied one is a resend, acknowledged
  // and not applied.
  std::string_view stream_id;
  uint64_t sequence = 0;
  // The plan the samples came from; required with domain_losses.
  std::string_view plan_id;
  std::vector<std::string_view> ids;
  std::span<const uint64_t> ordinals;
  std::span<const float> losses;
  std::span<const int64_t> steps;
  // Stored per (plan, domain) for the live mixture; needs exactly one step.
  std::vector<DomainLossValue> domain_losses;
};

struct ReportResult {
  // True when the message was a resend and nothing was applied.
  bool duplicate = false;
  // Samples applied.
  uint64_t num_applied = 0;
  // Samples whose document is unknown or deleted.
  uint64_t num_skipped = 0;
};

// The last domain losses a plan's reports gave (Store::GetDomainLosses).
struct StoredDomainLoss {
  std::string domain;
  double excess_loss = 0;
  int64_t step = 0;
};

struct UpsertResult {
  // Documents whose id was new to the collection: fresh ordinals.
  uint64_t num_created = 0;
  // Documents that replaced a live document with the same id.
  uint64_t num_replaced = 0;
  // Documents that replaced a deleted document (tombstone) with the same id:
  // the document is live again under its old ordinal.
  uint64_t num_revived = 0;
  // The ordinal of each document of the batch, in batch order.
  std::vector<uint32_t> ordinals;
  // The collection's write sequence after this write.
  uint64_t write_seq = 0;
};

struct PutScoresResult {
  // Documents whose scores were set.
  uint64_t num_documents = 0;
  // Documents skipped as unknown or deleted (only with allow_missing).
  uint64_t num_missing = 0;
  uint64_t write_seq = 0;
};

struct DeleteResult {
  // Live documents that this call deleted.
  uint64_t num_deleted = 0;
  // Ids that were already deleted (a harmless retry).
  uint64_t num_already_deleted = 0;
  // Ids that were never written (only with allow_missing).
  std::vector<std::string> missing_ids;
  uint64_t write_seq = 0;
};

// What GetDocuments returns of each document. id, ordinal, deleted, domain
// and length are always returned.
struct GetDocumentsOptions {
  bool attributes = true;
  bool scores = true;
  // Scores to return when `scores`; empty means every score column. An
  // unknown name is INVALID_ARGUMENT.
  std::vector<std::string> score_names;
  bool payload = true;
  // Embeddings are large; returned only when asked.
  bool embedding = false;
  // When true, deleted documents are returned with deleted = true and only
  // id, ordinal and length (their tombstone). When false, they count as
  // missing.
  bool include_deleted = true;
  // When false, a missing document fails the call with NOT_FOUND naming it.
  // When true, it is left out and listed in the result.
  bool allow_missing = false;
};

// One document as stored.
struct StoredDocument {
  std::string id;
  uint32_t ordinal = 0;
  // True for a tombstone: only id, ordinal and length are meaningful.
  bool deleted = false;
  std::string domain;
  // Tokens.
  uint32_t length = 0;
  // Present attributes only.
  std::map<std::string, std::string> attributes;
  // Non-null scores only (of the requested names).
  std::map<std::string, float> scores;
  std::optional<std::string> payload;
  // Empty when the document has none or it was not requested. float16
  // collections return the stored half values widened to float.
  std::vector<float> embedding;
  // The write sequence of the upsert that last wrote this document.
  uint64_t upsert_seq = 0;
};

struct GetDocumentsResult {
  // Documents found: those asked by id first, in request order, then those
  // asked by ordinal.
  std::vector<StoredDocument> documents;
  // Requested ids / ordinals that were missing (only with allow_missing).
  std::vector<std::string> missing_ids;
  std::vector<uint64_t> missing_ordinals;
};

// RocksDB health figures for metrics (docs/operations.md "Metrics"). Cumulative
// counters are since Open.
struct StoreStats {
  uint64_t live_sst_bytes = 0;
  uint64_t estimated_num_keys = 0;
  uint64_t pending_compaction_bytes = 0;
  uint64_t memtable_bytes = 0;
  uint64_t block_cache_usage_bytes = 0;
  uint64_t block_cache_capacity_bytes = 0;
  uint64_t block_cache_hits = 0;
  uint64_t block_cache_misses = 0;
  // Time writes were stalled or delayed, in microseconds.
  uint64_t write_stall_micros = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_read = 0;
  // Background errors (such as a full disk during a flush) since Open.
  uint64_t background_errors = 0;
  // Memtables full and waiting to be flushed.
  uint64_t immutable_memtables = 0;
  uint64_t running_compactions = 0;
  uint64_t running_flushes = 0;
  // Writes are stopped (1) until compaction or flushes catch up.
  uint64_t write_stopped = 0;
  // The rate writes are delayed to, in bytes per second; 0 when they are
  // not delayed.
  uint64_t delayed_write_rate = 0;
  uint64_t compaction_read_bytes = 0;
  uint64_t compaction_write_bytes = 0;
  uint64_t flush_write_bytes = 0;
  // WAL fsyncs.
  uint64_t wal_syncs = 0;
  // Embedding matrices in memory (docs/architecture.md, "Embeddings"): the
  // bytes they take, how many, and StoreOptions::max_embedding_memory_bytes.
  uint64_t embedding_memory_bytes = 0;
  uint64_t embedding_matrices = 0;
  uint64_t embedding_memory_budget_bytes = 0;
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_TYPES_H_
