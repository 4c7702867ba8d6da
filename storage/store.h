// Store: Winnow's durable document store (docs/architecture.md).
//
// One RocksDB database holds every collection. RocksDB is the source of
// truth; each collection's dense columns (ids, domain, length, live bit,
// scores, attributes) are also held in memory, rebuilt from RocksDB at Open
// and updated after each write commits, and handed to the engine through
// ColumnsSnapshot.
//
// Writes. Each UpsertDocuments, PutScores and DeleteDocuments call is one
// atomic RocksDB WriteBatch, and with StoreOptions::sync_writes (the
// default) its WAL is fsynced before the call returns: a call that returned
// OK survives kill -9 and power loss. The whole batch is validated before
// anything is written; a call that fails leaves nothing of itself behind,
// neither on disk nor in memory. Readers (snapshots, GetDocuments,
// GetCollection) never see a write before it is durable. Repeated ids within
// one batch are INVALID_ARGUMENT (not "last wins"): the caller's intent is
// unclear.
//
// Layout (format.h): column blocks of 4,096 ordinals per column, with
// sparse updates as Merge operands (block_merge.h); payloads one key per
// document; embeddings in blocks of 4,096 rows (embedding_blocks.h), read
// through a cached matrix per collection within
// StoreOptions::max_embedding_memory_bytes.
//
// Documents. A document is addressed by its id and gets a dense uint32
// ordinal on first insert, allocated in order and never reused.
//  - Upserting an existing id replaces the document entirely, in place,
//    under the same ordinal: domain, length, attributes, payload,
//    embedding and scores all come from the new batch; a score or attribute
//    the batch does not give becomes null (absent).
//  - Deleting a document clears its live bit and drops its payload and
//    embedding, but keeps its id and length as a tombstone: plans frozen
//    earlier keep serving it (docs/sampling.md, "Plans"). Its scores,
//    attributes and domain stay in the columns but are not served.
//  - Upserting a deleted id revives it under its old ordinal, as a full
//    replace. (It is the same document, so "ordinals are never reused" still
//    holds.)
//
// Errors (absl::Status codes):
//  - INVALID_ARGUMENT: a bad name, a reserved score name or attribute key, a
//    misaligned column, a bad id, length, score, payload or embedding. The
//    message names the field, and for per-document errors the document's
//    index and id, e.g. "scores[1].name: 'domain' is a reserved name" or
//    "lengths[12] (id \"doc-12\"): -1 is negative".
//  - NOT_FOUND: an unknown collection, or a document that must exist.
//  - ALREADY_EXISTS: CreateCollection of an existing name.
//  - RESOURCE_EXHAUSTED: the disk is full, or a collection would pass 2^32-1
//    ordinals. Reads keep working while the disk is full.
//  - FAILED_PRECONDITION: the Store is closed, or the data directory holds a
//    storage format newer than this release's.
//  - DATA_LOSS: RocksDB reports corruption. INTERNAL / UNAVAILABLE: other
//    RocksDB I/O failures.
//
// Thread safety: a Store is safe for concurrent use from many threads
// without external synchronization, except Close() and destruction, which
// must not overlap any other call. Writes to one collection are serialized;
// writes to different collections proceed in parallel, and reads never wait
// for a write's fsync.
#ifndef WINNOW_STORAGE_STORE_H_
#define WINNOW_STORAGE_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "selection/bitmap.h"
#include "selection/exact_dedup.h"
#include "selection/job.h"
#include "storage/options.h"
#include "storage/snapshot.h"
#include "storage/types.h"

namespace winnow::storage {

namespace internal {
class StoreImpl;
}  // namespace internal

// An upsert that Store::StartUpsertDocuments has written but that may not be
// durable yet; hand it to Store::FinishUpsertDocuments. Move-only.
// Thread safety: a plain value; use from one thread at a time.
class PendingUpsert {
 public:
  PendingUpsert() = default;
  PendingUpsert(PendingUpsert&&) noexcept = default;
  PendingUpsert& operator=(PendingUpsert&&) noexcept = default;
  PendingUpsert(const PendingUpsert&) = delete;
  PendingUpsert& operator=(const PendingUpsert&) = delete;
  ~PendingUpsert() = default;

  // The outcome, valid once FinishUpsertDocuments returns OK.
  const UpsertResult& result() const { return result_; }

 private:
  friend class internal::StoreImpl;
  UpsertResult result_;
  // Null when the write is durable and visible already.
  std::shared_ptr<internal::Collection> collection_;
  uint64_t wal_ticket_ = 0;
  uint32_t rows_ = 0;
  uint64_t write_seq_ = 0;
  int64_t update_time_micros_ = 0;
};

// What Store::ReadPayloadHashes returns: per ordinal of the published rows,
// the SHA-256 of its payload where `present` says it has one.
struct PayloadHashes {
  std::vector<PayloadHash> hashes;
  Bitmap present;
  // Ordinals with a payload and no stored hash (before a backfill).
  std::vector<uint32_t> missing;
  // Hashes that the backfill computed and stored.
  int64_t backfilled = 0;
};

class Store {
 public:
  // Opens (creating if missing) the database in options.data_dir, migrates
  // an earlier storage format to the current one (migrations.h), and
  // rebuilds every collection's in-memory columns from it.
  // INVALID_ARGUMENT if data_dir is empty; FAILED_PRECONDITION if the
  // database has a newer format version; DATA_LOSS if it is corrupt or
  // holds data without a format version.
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const StoreOptions& options);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  // Closes the store as Close() does (errors are logged).
  virtual ~Store() = default;

  // ---- Collections ----

  // Creates an empty collection, durably. INVALID_ARGUMENT for a bad name
  // ("name: ...") or dimension ("embedding_dimension: ..."); ALREADY_EXISTS
  // if a collection of that name exists.
  virtual absl::Status CreateCollection(const CollectionSpec& spec) = 0;

  // The collection's spec and stats. NOT_FOUND if it does not exist.
  virtual absl::StatusOr<CollectionInfo> GetCollection(
      std::string_view name) const = 0;

  // Every collection, sorted by name.
  virtual std::vector<CollectionInfo> ListCollections() const = 0;

  // Deletes the collection and all its data, durably. Snapshots taken before
  // stay readable. A new collection of the same name starts empty.
  // NOT_FOUND if it does not exist.
  virtual absl::Status DeleteCollection(std::string_view name) = 0;

  // ---- Writes ----

  // Inserts or replaces documents (see the file comment for the replace,
  // revive and null semantics), as one atomic, durable write. On success
  // returns the counts and each document's ordinal. NOT_FOUND for an unknown
  // collection; INVALID_ARGUMENT for a bad batch (nothing is written). An
  // empty batch is OK and writes nothing.
  virtual absl::StatusOr<UpsertResult> UpsertDocuments(
      std::string_view collection, const DocumentBatch& batch) = 0;

  // UpsertDocuments in two steps, so that a caller with several batches in
  // flight (a bidirectional stream) overlaps one batch's WAL fsync with the
  // next batch's work, and concurrent batches share fsyncs:
  //  - StartUpsertDocuments validates and writes the batch, in call order
  //    (a later Start sees every earlier one). Same errors as
  //    UpsertDocuments; on error nothing is written. On success the batch
  //    may not be durable yet and is invisible to readers.
  //  - FinishUpsertDocuments waits until the batch is durable (WAL synced,
  //    shared with any other batch in flight), makes it visible, and returns
  //    its result. Acknowledge the batch only after it returns OK. On error
  //    (an fsync failure) the batch may or may not survive a crash; a later
  //    successful write or a restart makes whatever survived visible.
  // Call Finish for every successful Start, from any thread; Finish calls
  // may complete out of order. Batches that change existing documents are
  // durable and visible when Start returns (Finish then returns at once).
  virtual absl::StatusOr<PendingUpsert> StartUpsertDocuments(
      std::string_view collection, const DocumentBatch& batch) = 0;
  virtual absl::StatusOr<UpsertResult> FinishUpsertDocuments(
      PendingUpsert pending) = 0;

  // Sets (or, for null indexes, clears) named scores of existing live
  // documents, as one atomic, durable write; other scores are unchanged.
  // NOT_FOUND for an unknown collection, or, unless batch.allow_missing, for
  // an unknown or deleted document (named; nothing is written).
  // INVALID_ARGUMENT for a bad batch, or both ids and ordinals given.
  virtual absl::StatusOr<PutScoresResult> PutScores(
      std::string_view collection, const ScoreBatch& batch) = 0;

  // Deletes documents by id, as one atomic, durable write. Deleting an
  // already-deleted id is OK (counted in num_already_deleted), as is
  // naming an id twice. An id that was never written is NOT_FOUND naming it
  // and nothing is deleted, unless allow_missing, in which case it is listed
  // in missing_ids. NOT_FOUND for an unknown collection.
  virtual absl::StatusOr<DeleteResult> DeleteDocuments(
      std::string_view collection, std::span<const std::string_view> ids,
      bool allow_missing = false) = 0;

  // Applies one ReportTraining message (docs/feedback.md) as one atomic,
  // durable log record, and updates the documents' loss statistics
  // (loss_first, loss_last, loss_ema, loss_count, learnability,
  // reducible_loss), visible to readers when it returns. Unknown or deleted
  // documents are skipped and counted. A resend (a sequence not above the
  // last applied one of its stream_id, within
  // StoreOptions::feedback_stream_idle_seconds) is not applied again and
  // returns duplicate. INVALID_ARGUMENT for a bad message (nothing is
  // applied), naming the field and index; INVALID_ARGUMENT for an unknown
  // collection ("collection: ..."); FAILED_PRECONDITION when the collection
  // has a user score under a reserved name.
  virtual absl::StatusOr<ReportResult> ReportTraining(
      std::string_view collection, const TrainingReport& report) = 0;

  // The last excess loss each domain of plan `plan_id` was reported with,
  // sorted by domain. NOT_FOUND for an unknown collection.
  virtual absl::StatusOr<std::vector<StoredDomainLoss>> GetDomainLosses(
      std::string_view collection, std::string_view plan_id) const = 0;

  // Writes a checkpoint of the collection's loss statistics now and drops
  // the log records it covers (Open replays only what follows).
  virtual absl::Status CheckpointFeedback(std::string_view collection) = 0;

  // ---- Reads ----

  // Documents by id and by ordinal (see GetDocumentsOptions for which
  // fields, tombstones and missing documents). NOT_FOUND for an unknown
  // collection, or a missing document unless options.allow_missing;
  // INVALID_ARGUMENT for an unknown score name in options.score_names.
  // Each document is read as of one committed write to it; a concurrent
  // write to the same document may make its payload or embedding newer
  // than its other fields.
  virtual absl::StatusOr<GetDocumentsResult> GetDocuments(
      std::string_view collection, std::span<const std::string_view> ids,
      std::span<const uint64_t> ordinals,
      const GetDocumentsOptions& options) const = 0;

  // A consistent snapshot of the collection's in-memory columns (see
  // snapshot.h for how long to hold it). NOT_FOUND if it does not exist.
  virtual absl::StatusOr<ColumnsSnapshot> ReadColumns(
      std::string_view collection) const = 0;

  // The collection's embeddings with a snapshot of its columns, for Nearest
  // and the scorers: rows o with matrix->present.Get(o) and
  // columns.columns().live.Get(o) are the live documents with an embedding
  // (ordinals at or past matrix->num_rows have none yet). The matrix is
  // loaded on first use and then kept up to date by writes; loading it may
  // evict other collections' (least recently used first) to stay within
  // StoreOptions::max_embedding_memory_bytes. NOT_FOUND if the collection
  // does not exist; FAILED_PRECONDITION if it holds no embeddings
  // (embedding_dimension 0); RESOURCE_EXHAUSTED, naming
  // max_embedding_memory_bytes and the bytes needed, if its matrix alone
  // exceeds the budget. Do not call it holding a snapshot of the same
  // collection (it may take the collection's writer lock to load).
  virtual absl::StatusOr<EmbeddingsSnapshot> ReadEmbeddings(
      std::string_view collection) const = 0;

  // The SHA-256 of every payload of the collection, for the exact_dedup
  // scorer. Payloads written before hashes were kept (an earlier release)
  // get theirs first: read, hashed and stored durably, in chunks that each
  // hold the collection's write lock briefly, reporting progress to `job`
  // (phase "hashing older payloads"); a cancelled job stops between chunks
  // with CANCELLED, the hashes stored so far kept (they are correct).
  // NOT_FOUND if the collection does not exist or is deleted meanwhile.
  virtual absl::StatusOr<PayloadHashes> ReadPayloadHashes(
      std::string_view collection, JobContext& job) = 0;


  // ---- Operations (docs/operations.md, "Operations"): records the server
  // serializes ----
  //
  // One opaque record per operation id, in the meta family. Storage
  // neither parses nor interprets them.

  // Writes the record of operation `id` (replacing any), WAL-synced unless
  // sync_writes is off. INVALID_ARGUMENT for an empty id.
  virtual absl::Status PutOperationRecord(std::string_view id,
                                          std::string_view record) = 0;
  // (id, record) of every stored operation, in id order.
  virtual absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
  ListOperationRecords() const = 0;
  // Deletes the record; OK if there was none.
  virtual absl::Status DeleteOperationRecord(std::string_view id) = 0;

  // ---- Sampling plans (docs/sampling.md): records the server serializes --
  //
  // A plan is a set of named entries ("meta", "frozen", "epoch/3", ...)
  // under its id. Storage neither parses nor interprets them.

  // Writes `entries` of plan `plan_id` in one atomic batch, WAL-synced
  // (unless sync_writes is off): either all of them land or none.
  virtual absl::Status PutPlanEntries(
      std::string_view plan_id,
      const std::vector<std::pair<std::string, std::string>>& entries) = 0;
  // One entry; NOT_FOUND if the plan or the entry does not exist.
  virtual absl::StatusOr<std::string> GetPlanEntry(
      std::string_view plan_id, std::string_view key) const = 0;
  // (plan id, value) of entry `key` of every plan that has one.
  virtual std::vector<std::pair<std::string, std::string>> ListPlanEntries(
      std::string_view key) const = 0;
  // Deletes every entry of the plan, durably; OK if there was none.
  virtual absl::Status DeletePlan(std::string_view plan_id) = 0;
  // A random 32-byte secret named `name`, created on first use and kept in
  // the database, so a backup carries it (the cursor HMAC key).
  virtual absl::StatusOr<std::string> GetOrCreateSecret(
      std::string_view name) = 0;

  // RocksDB figures for metrics. Cheap (reads properties).
  virtual StoreStats GetStats() const = 0;

  // Writes a consistent, openable copy of the whole database into `dir`,
  // which must not exist, while serving (a RocksDB checkpoint: hard links
  // where possible). INVALID_ARGUMENT if dir exists.
  virtual absl::Status CreateCheckpoint(const std::string& dir) const = 0;

  // Flushes and compacts the whole database: folds every Merge operand into
  // its block and drops deleted data. Slow on a large store; for
  // maintenance and tests. Writes and reads continue meanwhile.
  virtual absl::Status Compact() = 0;

  // Flushes memtables and closes the database. Every later call returns
  // FAILED_PRECONDITION; snapshots taken before stay readable. Idempotent.
  virtual absl::Status Close() = 0;

 protected:
  Store() = default;
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_STORE_H_
