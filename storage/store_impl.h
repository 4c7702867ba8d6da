// StoreImpl: the RocksDB-backed Store (store.h). Internal to storage/.
#ifndef WINNOW_STORAGE_STORE_IMPL_H_
#define WINNOW_STORAGE_STORE_IMPL_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/statistics.h"
#include "storage/collection.h"
#include "storage/store.h"

namespace winnow::storage::internal {

class StoreImpl final : public Store {
 public:
  explicit StoreImpl(const StoreOptions& options);
  ~StoreImpl() override;

  // Opens RocksDB and loads every collection; called once by Store::Open.
  absl::Status Init();

  absl::Status CreateCollection(const CollectionSpec& spec) override;
  absl::StatusOr<CollectionInfo> GetCollection(
      std::string_view name) const override;
  std::vector<CollectionInfo> ListCollections() const override;
  absl::Status DeleteCollection(std::string_view name) override;

  absl::StatusOr<UpsertResult> UpsertDocuments(
      std::string_view collection, const DocumentBatch& batch) override;
  absl::StatusOr<PendingUpsert> StartUpsertDocuments(
      std::string_view collection, const DocumentBatch& batch) override;
  absl::StatusOr<UpsertResult> FinishUpsertDocuments(
      PendingUpsert pending) override;
  absl::StatusOr<PutScoresResult> PutScores(std::string_view collection,
                                            const ScoreBatch& batch) override;
  absl::StatusOr<DeleteResult> DeleteDocuments(
      std::string_view collection, std::span<const std::string_view> ids,
      bool allow_missing) override;

  absl::StatusOr<ReportResult> ReportTraining(
      std::string_view collection, const TrainingReport& report) override;
  absl::StatusOr<std::vector<StoredDomainLoss>> GetDomainLosses(
      std::string_view collection, std::string_view plan_id) const override;
  absl::Status CheckpointFeedback(std::string_view collection) override;

  absl::StatusOr<GetDocumentsResult> GetDocuments(
      std::string_view collection, std::span<const std::string_view> ids,
      std::span<const uint64_t> ordinals,
      const GetDocumentsOptions& options) const override;
  absl::StatusOr<ColumnsSnapshot> ReadColumns(
      std::string_view collection) const override;
  absl::StatusOr<EmbeddingsSnapshot> ReadEmbeddings(
      std::string_view collection) const override;
  absl::StatusOr<PayloadHashes> ReadPayloadHashes(std::string_view collection,
                                                  JobContext& job) override;

  absl::Status PutOperationRecord(std::string_view id,
                                  std::string_view record) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
  ListOperationRecords() const override;
  absl::Status DeleteOperationRecord(std::string_view id) override;

  absl::Status PutPlanEntries(
      std::string_view plan_id,
      const std::vector<std::pair<std::string, std::string>>& entries) override;
  absl::StatusOr<std::string> GetPlanEntry(std::string_view plan_id,
                                           std::string_view key) const override;
  std::vector<std::pair<std::string, std::string>> ListPlanEntries(
      std::string_view key) const override;
  absl::Status DeletePlan(std::string_view plan_id) override;
  absl::StatusOr<std::string> GetOrCreateSecret(std::string_view name) override
      ABSL_LOCKS_EXCLUDED(secret_mu_);
  StoreStats GetStats() const override;
  absl::Status CreateCheckpoint(const std::string& dir) const override;
  absl::Status Compact() override;
  absl::Status Close() override;

 private:
  // The collection of that name, or NOT_FOUND; FAILED_PRECONDITION when
  // closed.
  absl::StatusOr<std::shared_ptr<Collection>> Find(std::string_view name) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Runs one prepared write on a collection: lock its writer mutex, check
  // it still exists, prepare, commit, apply. With `pending` (upserts only),
  // an append-only write is committed without a WAL sync and applied
  // hidden, and `pending` says what FinishUpsertDocuments must wait for.
  template <typename Result, typename PrepareFn>
  // `reserve`: the batch's expected bytes, allocated up front (a large
  // batch that grows copies itself again and again).
  absl::StatusOr<Result> Write(std::string_view collection, PrepareFn&& prepare,
                               PendingUpsert* pending, size_t reserve = 0);
  // About the bytes an upsert's WriteBatch takes.
  static size_t UpsertBatchBytes(const DocumentBatch& docs);
  // Writes `batch`, syncing the WAL first if `sync`; after a failed write,
  // first tries to resume RocksDB (a full disk that has space again).
  absl::Status Commit(rocksdb::WriteBatch* batch, bool sync,
                      std::string_view what);
  // Group commit of the WAL. NoteUnsyncedWrite() numbers a write committed
  // without sync; SyncWalTo(t) returns once a WAL sync that started after
  // write t was committed has succeeded. One caller syncs for everyone
  // waiting meanwhile.
  uint64_t NoteUnsyncedWrite() ABSL_LOCKS_EXCLUDED(sync_mu_);
  // After a failed write or WAL sync: resumes RocksDB, or returns the
  // failure (with `what` as context) while it has not recovered.
  absl::Status ResumeAfterFailure(std::string_view what)
      ABSL_LOCKS_EXCLUDED(failure_mu_);
  // Records a failed write or WAL sync; returns it as an absl::Status.
  absl::Status NoteFailure(const rocksdb::Status& s, std::string_view what)
      ABSL_LOCKS_EXCLUDED(failure_mu_);
  absl::Status SyncWalTo(uint64_t ticket) ABSL_LOCKS_EXCLUDED(sync_mu_);
  // Checkpoints a collection's feedback (its write_mu() held).
  absl::Status CheckpointFeedbackLocked(Collection& c)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(c.write_mu());
  CollectionInfo InfoWithDisk(const Collection& c) const;
  // Reads the format version: stamps a new database with kFormatVersion,
  // migrates an older format (migrations.h), refuses a newer one
  // (FAILED_PRECONDITION) and data without a version (DATA_LOSS).
  absl::Status CheckFormat();
  absl::Status LoadCollections() ABSL_LOCKS_EXCLUDED(mu_);

  // ---- The embedding matrix cache (docs/architecture.md, "Embeddings") --
  // Loads the collection's matrix unless it is loaded, evicting the least
  // recently used others to stay within max_embedding_memory_bytes;
  // RESOURCE_EXHAUSTED if it alone does not fit.
  absl::Status LoadEmbeddings(const std::shared_ptr<Collection>& c) const
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  // Removes least recently used matrices from the cache until the cached
  // ones, the reserved bytes and `extra` fit the budget; returns them, for
  // the caller to drop once cache_mu_ is released.
  std::vector<std::shared_ptr<Collection>> PickVictimsLocked(
      uint64_t extra) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(cache_mu_);
  // Evicts matrices while the cached ones exceed the budget (after a write
  // grew one).
  void EnforceEmbeddingBudget() const ABSL_LOCKS_EXCLUDED(cache_mu_);
  // Marks the collection's matrix most recently used.
  void TouchEmbeddings(const Collection& c) const
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  // Drops the collection's matrix and its cache entry (DeleteCollection).
  void ForgetEmbeddings(Collection& c) const ABSL_LOCKS_EXCLUDED(cache_mu_);

  // ---- Constant after Init ----
  const StoreOptions options_;
  const WriteLimits limits_;
  rocksdb::WriteOptions write_options_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  // The quota file system's Env (options_.disk_quota); outlives db_.
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  Families families_;

  std::atomic<bool> closed_{false};

  absl::Mutex sync_mu_ ABSL_ACQUIRED_BEFORE(failure_mu_);
  absl::CondVar sync_cv_;  // a WAL sync ended (wal_syncing_ went false)
  uint64_t wal_written_ ABSL_GUARDED_BY(sync_mu_) = 0;
  uint64_t wal_synced_ ABSL_GUARDED_BY(sync_mu_) = 0;
  bool wal_syncing_ ABSL_GUARDED_BY(sync_mu_) = false;
  std::atomic<bool> needs_resume_{false};
  absl::Mutex secret_mu_;  // serializes GetOrCreateSecret
  absl::Mutex failure_mu_;
  rocksdb::Status last_failure_ ABSL_GUARDED_BY(failure_mu_);

  // Guards the collection map and the id counter. Held exclusive by
  // CreateCollection and DeleteCollection across their RocksDB writes (rare
  // admin calls), shared by lookups. Lock order: a collection's write_mu(),
  // then mu_ (see DeleteCollection); a collection's locks are never taken
  // with mu_ held.
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> collections_
      ABSL_GUARDED_BY(mu_);
  uint32_t next_collection_id_ ABSL_GUARDED_BY(mu_) = 1;

  // The collections whose embedding matrix is loaded, by id, with their
  // last use. A leaf lock: no other lock is taken while it is held (a
  // victim's matrix is dropped after it is released).
  struct CachedEmbeddings {
    std::weak_ptr<Collection> collection;
    uint64_t last_use = 0;
  };
  mutable absl::Mutex cache_mu_;
  mutable std::map<uint32_t, CachedEmbeddings> cached_embeddings_
      ABSL_GUARDED_BY(cache_mu_);
  mutable uint64_t embedding_clock_ ABSL_GUARDED_BY(cache_mu_) = 0;
  // Bytes of matrices being loaded, counted against the budget.
  mutable uint64_t reserved_embedding_bytes_ ABSL_GUARDED_BY(cache_mu_) = 0;
};

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_STORE_IMPL_H_
