// Collection: one collection's in-memory columns, id index and stats, and
// the encoding of its writes into RocksDB batches. Internal to storage/.
//
// Writes go in two steps, so that memory changes only after RocksDB has
// committed (docs/architecture.md, "Layers"):
//   1. Prepare*(): validates the whole request against the current state
//      and encodes it into a rocksdb::WriteBatch plus a PendingWrite that
//      describes the in-memory change. Nothing is modified.
//   2. The Store commits the batch; only if that succeeds, Apply() updates
//      memory under the exclusive columns lock.
//
// Locking (checked by clang's -Wthread-safety, see the annotations):
//   write_mu_    serializes writers of this collection: held by the Store
//                across Prepare, commit and Apply. Also guards dropped_.
//   columns_mu_  readers (snapshots, GetDocuments, Info) hold it shared;
//                Apply holds it exclusive.
//   emb_mu_      guards the cached embedding matrix (emb_, emb_pending_):
//                a leaf, taken last, so that the Store can drop a matrix
//                (evict it) from any thread, even one holding a snapshot.
// Lock order: write_mu_, then columns_mu_, then emb_mu_.
// Every field under "Columns" is written only with both write_mu_ and
// columns_mu_ (exclusive) held, so it may be read with either held. The
// annotations say GUARDED_BY(columns_mu_); a writer that reads them holding
// write_mu_ alone says so with AssertWriterMayRead(). Growing vectors may
// reallocate only in Apply, where no reader can hold a span.
//
// Publication. Writers see every committed write; readers see only the
// *published* prefix of rows [0, published_rows_). A write that only appends
// documents may be applied before its WAL is synced (hidden: its rows lie
// past published_rows_), so that the next write can be prepared while the
// sync runs; Publish() exposes the rows once durable. Every other write
// syncs first and publishes as it applies. So readers never see a write
// that a power failure could still undo. Fields under "Published" are
// written with columns_mu_ exclusive (by Apply or Publish, not necessarily
// holding write_mu_) and read with columns_mu_ held; writers never read
// them.
#ifndef WINNOW_STORAGE_COLLECTION_H_
#define WINNOW_STORAGE_COLLECTION_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "selection/bitmap.h"
#include "selection/feedback.h"
#include "storage/append_only_array.h"
#include "storage/embedding_blocks.h"
#include "storage/format.h"
#include "storage/options.h"
#include "storage/snapshot.h"
#include "storage/store.h"
#include "storage/types.h"

namespace winnow::storage::internal {

// Transparent hashing for maps keyed by std::string and looked up by
// std::string_view (abseil here uses its own string_view type).
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const;
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    return a == b;
  }
};
template <typename V>
using StringMap = absl::flat_hash_map<std::string, V, StringHash, StringEq>;

// The Store's column family handles.
struct Families {
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* blocks = nullptr;
  rocksdb::ColumnFamilyHandle* docs = nullptr;
  rocksdb::ColumnFamilyHandle* plans = nullptr;
  rocksdb::ColumnFamilyHandle* embeddings = nullptr;
};

// Changes to one fixed-width column in one write: (ordinal, cell) pairs.
class CellChanges {
 public:
  CellChanges(ColumnKind kind, uint32_t column);

  ColumnKind kind() const { return kind_; }
  uint32_t column() const { return column_; }
  size_t size() const { return ordinals_.size(); }
  uint32_t ordinal(size_t i) const { return ordinals_[i]; }
  const char* cell(size_t i) const { return cells_.data() + i * width_; }

  template <typename T>
  void Add(uint32_t ordinal, T value) {
    static_assert(sizeof(T) <= 8);
    ordinals_.push_back(ordinal);
    cells_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }

  // Adds the changes to `batch`: a block none of whose ordinals existed
  // before (its first ordinal >= old_rows) is a Put of the whole block;
  // any other block gets one Merge operand of runs (block_merge.h).
  void Encode(uint32_t collection, uint32_t old_rows,
              rocksdb::ColumnFamilyHandle* blocks,
              rocksdb::WriteBatch* batch) const;

 private:
  ColumnKind kind_;
  uint32_t column_;
  uint32_t width_;
  std::vector<uint32_t> ordinals_;
  std::string cells_;
};

// What a prepared write changes in memory once committed.
struct PendingWrite {
  // Rows after the write; ordinals [old_rows, new_rows) are new, and their
  // ids are new_ids, in order.
  uint32_t new_rows = 0;
  std::vector<std::string_view> new_ids;
  std::vector<uint64_t> new_id_hashes;  // IdHash of each new id
  // Dictionary entries to append (their codes follow the existing ones).
  std::vector<std::string> new_domains;
  std::vector<std::string> new_score_names;
  std::vector<std::string> new_attribute_keys;
  // (key id, value), codes in order per key.
  std::vector<std::pair<uint32_t, std::string>> new_attribute_values;
  std::vector<CellChanges> changes;
  // Embeddings set and removed (encoded into the embeddings family; also
  // applied to the cached matrix, when the collection has one).
  EmbeddingChanges embeddings;
  // Documents whose stats contributions change. Upserts and deletes touch
  // every column of them; PutScores only the scores in touched_scores.
  std::vector<uint32_t> touched;
  bool all_columns = true;
  std::vector<uint32_t> touched_scores;
  uint64_t write_seq = 0;
  int64_t update_time_micros = 0;
  // True when the request changes nothing (an empty batch): the Store
  // neither commits nor applies it.
  bool noop = false;
  // True when the write only adds new documents (no existing document
  // changes), so it can be applied hidden and published once durable.
  bool append_only = false;
};

// What a prepared ReportTraining message changes once committed.
struct FeedbackWrite {
  // The message as logged: resolved ordinals, losses, steps.
  FeedbackRecord record;
  // A resend: nothing to commit or apply.
  bool duplicate = false;
  // The reserved score columns are created by this write (their meta keys
  // are in the batch).
  bool create_columns = false;
  uint64_t log_seq = 0;
  int64_t time_micros = 0;
};

// Limits a write is validated against.
struct WriteLimits {
  uint32_t max_id_bytes = 512;
  uint64_t max_payload_bytes = uint64_t{8} << 20;
};

// Copies row `ordinal` of a matrix (present there) into `out`, as floats.
void CopyMatrixRow(const EmbeddingMatrix& m, uint32_t ordinal,
                   std::vector<float>* out);

class Collection : public std::enable_shared_from_this<Collection> {
 public:
  Collection(uint32_t id, std::string name, uint32_t embedding_dimension,
             EmbeddingType embedding_type, int64_t create_time_micros,
             double loss_half_life = kDefaultLossEmaHalfLifeSteps);
  Collection(const Collection&) = delete;
  Collection& operator=(const Collection&) = delete;

  // Rebuilds a collection's memory from RocksDB (meta dictionaries, then
  // every column block). DATA_LOSS if what is stored is inconsistent.
  static absl::StatusOr<std::shared_ptr<Collection>> Load(
      rocksdb::DB* db, const Families& families, std::string name, uint32_t id,
      uint32_t embedding_dimension, EmbeddingType embedding_type,
      int64_t create_time_micros, double loss_half_life);

  // ---- Constant after construction ----
  uint32_t id() const { return id_; }
  const std::string& name() const { return name_; }
  uint32_t embedding_dimension() const { return embedding_dimension_; }
  EmbeddingType embedding_type() const { return embedding_type_; }
  double loss_half_life() const { return loss_half_life_; }

  // ---- Writers (the caller holds write_mu()) ----
  absl::Mutex& write_mu() const ABSL_LOCK_RETURNED(write_mu_) {
    return write_mu_;
  }
  bool dropped() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return dropped_;
  }
  void MarkDropped() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    dropped_ = true;
  }

  // Each validates the request and encodes it into `batch` and `pending`,
  // changing nothing. See store.h for the semantics and errors.
  absl::Status PrepareUpsert(const DocumentBatch& docs,
                             const WriteLimits& limits,
                             const Families& families,
                             rocksdb::WriteBatch* batch, PendingWrite* pending,
                             UpsertResult* result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status PreparePutScores(const ScoreBatch& scores,
                                const Families& families,
                                rocksdb::WriteBatch* batch,
                                PendingWrite* pending,
                                PutScoresResult* result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status PrepareDelete(std::span<const std::string_view> ids,
                             bool allow_missing, const Families& families,
                             rocksdb::WriteBatch* batch, PendingWrite* pending,
                             DeleteResult* result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // ---- Training feedback (collection_feedback.cc, docs/feedback.md) ----

  // Validates a ReportTraining message against the collection (reserved
  // columns, resend) and encodes its log record (and stream mark, domain
  // losses, new columns) into `batch`, changing nothing. The message's own
  // fields are checked by ValidateFeedbackRequest first.
  absl::Status PrepareReport(const TrainingReport& report, int64_t now_micros,
                             int64_t idle_micros, const Families& families,
                             rocksdb::WriteBatch* batch, FeedbackWrite* write,
                             ReportResult* result) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Applies a committed report: the loss states, then the six columns of
  // the documents it touched (takes columns_mu_ exclusive).
  void ApplyReport(const FeedbackWrite& write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(columns_mu_);
  // Reports applied since the last checkpoint.
  uint64_t reports_since_checkpoint() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) {
    return reports_since_checkpoint_;
  }
  // Encodes a checkpoint: the loss states and columns of every block
  // changed since the last one, the log position, the deletion of the log
  // records it covers and of idle stream marks. Commit it, then call
  // FeedbackCheckpointDone with the same `now_micros` and `idle_micros`.
  void PrepareFeedbackCheckpoint(int64_t now_micros, int64_t idle_micros,
                                 const Families& families,
                                 rocksdb::WriteBatch* batch) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  void FeedbackCheckpointDone(int64_t now_micros, int64_t idle_micros)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // Applies a committed write to memory; takes columns_mu_ exclusive. With
  // `publish`, the write is durable: publishes every row up to its end.
  // Without, `pending` must be append_only, and its rows stay hidden until
  // Publish().
  void Apply(const PendingWrite& pending, bool publish)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_) ABSL_LOCKS_EXCLUDED(columns_mu_);

  // Publishes rows [0, rows) and write sequence `write_seq`, now durable
  // (no-op for what is published already). Takes columns_mu_ exclusive; no
  // need to hold write_mu().
  void Publish(uint32_t rows, uint64_t write_seq, int64_t update_time_micros)
      ABSL_LOCKS_EXCLUDED(columns_mu_);

  // ---- Readers ----

  // A snapshot holding columns_mu_ shared. It must be destroyed on the
  // thread that took it (abseil's debug checks abort otherwise).
  ColumnsSnapshot Snapshot() const ABSL_LOCKS_EXCLUDED(columns_mu_);

  // Store::ReadPayloadHashes (store.h): the stored hashes of the published
  // rows that have a payload, and the ordinals missing one.
  absl::Status ReadPayloadHashes(rocksdb::DB* db, const Families& f,
                                 PayloadHashes* out) const
      ABSL_LOCKS_EXCLUDED(columns_mu_);
  // Hashes the payloads of `ordinals` that still have one into `wb` (and
  // `out`), for the backfill.
  absl::Status PrepareHashBackfill(rocksdb::DB* db, const Families& f,
                                   std::span<const uint32_t> ordinals,
                                   rocksdb::WriteBatch* wb,
                                   PayloadHashes* out) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  // MultiGet of docs-family `keys`: out[i] is nullopt where keys[i] is gone.
  // Errors say "<what> of collection '<name>'".
  absl::StatusOr<std::vector<std::optional<std::string>>> ReadDocs(
      rocksdb::DB* db, const Families& f, const std::vector<std::string>& keys,
      std::string_view what) const;

  // ---- The cached embedding matrix (collection_embeddings.cc) ----
  //
  // Loaded on demand by the Store (LoadEmbeddings), then kept up to date by
  // every write: Apply stages the write's rows and each publication makes a
  // new version of the matrix, copying only the blocks it touches, under
  // columns_mu_ exclusive, so that the version a snapshot sees holds exactly
  // the embeddings of the writes that snapshot sees. DropEmbeddings frees it.

  // A snapshot with the matrix of the same version, or nullopt when no
  // matrix is loaded.
  std::optional<EmbeddingsSnapshot> SnapshotWithEmbeddings() const
      ABSL_LOCKS_EXCLUDED(columns_mu_, emb_mu_);
  bool EmbeddingsLoaded() const ABSL_LOCKS_EXCLUDED(emb_mu_);
  // Bytes the loaded matrix takes (EmbeddingMatrix::MemoryBytes), 0 when
  // none is loaded.
  uint64_t embedding_memory_bytes() const { return emb_bytes_.load(); }
  // What loading the matrix would take, about (the caller holds write_mu()).
  uint64_t EstimateEmbeddingBytes() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // True when some committed rows are not published yet (hidden appends
  // waiting for their WAL sync). The caller holds write_mu().
  bool HasHiddenRows() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_LOCKS_EXCLUDED(columns_mu_);
  // Publishes every committed row; the caller made them durable (synced the
  // WAL) and holds write_mu().
  void PublishAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
      ABSL_LOCKS_EXCLUDED(columns_mu_);
  // Reads the collection's embedding blocks (a sequential read of the
  // embeddings family) into a matrix and makes it the cached one. The caller
  // holds write_mu() and has published every row (PublishAll). DATA_LOSS if
  // a block does not fit the collection.
  absl::Status LoadEmbeddings(rocksdb::DB* db, const Families& f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_)
          ABSL_LOCKS_EXCLUDED(columns_mu_, emb_mu_);
  // Frees the cached matrix (snapshots holding it keep their version);
  // returns the bytes it took. Needs no other lock.
  uint64_t DropEmbeddings() ABSL_LOCKS_EXCLUDED(emb_mu_);

  // Spec and stats (disk_bytes left 0). Takes columns_mu_ shared.
  CollectionInfo Info() const ABSL_LOCKS_EXCLUDED(columns_mu_);

  // Reads documents' in-memory fields and their payload and embedding keys
  // from `db`. Takes columns_mu_ shared for the in-memory part.
  absl::StatusOr<GetDocumentsResult> GetDocuments(
      rocksdb::DB* db, const Families& families,
      std::span<const std::string_view> ids, std::span<const uint64_t> ordinals,
      const GetDocumentsOptions& options) const
      ABSL_LOCKS_EXCLUDED(columns_mu_);

  // The ordinal of an id, live or not, published or not. Caller holds
  // write_mu() (and has called AssertWriterMayRead) or columns_mu_ shared.
  std::optional<uint32_t> Find(std::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(columns_mu_);
  // Likewise, but only among published rows (the readers' view). Caller
  // holds columns_mu_ shared.
  std::optional<uint32_t> FindPublished(std::string_view id) const
      ABSL_SHARED_LOCKS_REQUIRED(columns_mu_);
  // FindPublished of every id, into out[i] (kNoOrdinal when absent), with
  // the index's cache lines prefetched a few ids ahead: a batch of lookups
  // costs about one memory latency each instead of several.
  static constexpr uint32_t kNoOrdinal = UINT32_MAX;
  void FindPublishedMany(std::span<const std::string_view> ids,
                         std::span<uint32_t> out) const
      ABSL_SHARED_LOCKS_REQUIRED(columns_mu_);

 private:
  friend class winnow::storage::ColumnsSnapshot;

  struct ScoreColumnData {
    std::string name;
    std::vector<float> values;     // NaN = null
    uint64_t num_live_values = 0;  // published stat
  };
  struct AttributeColumnData {
    std::string key;
    std::vector<uint32_t> codes;      // 0 = absent
    std::vector<std::string> values;  // values[code - 1]
    StringMap<uint32_t> value_codes;
    uint64_t num_live_present = 0;  // published stat
  };

  // Heterogeneous hash and equality for the id index, a set of ordinals
  // looked up by id: the hash of an ordinal is its stored IdHash, so the
  // index costs 4 bytes a slot and no second copy of the ids.
  struct IdIndexHash {
    using is_transparent = void;
    const AppendOnlyArray<uint64_t>* hashes;
    size_t operator()(uint32_t ordinal) const { return (*hashes)[ordinal]; }
    size_t operator()(std::string_view id) const;
  };
  struct IdIndexEq {
    using is_transparent = void;
    const std::vector<std::string_view>* ids;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, std::string_view b) const {
      return (*ids)[a] == b;
    }
    bool operator()(std::string_view a, uint32_t b) const {
      return a == (*ids)[b];
    }
  };
  using IdIndex = absl::flat_hash_set<uint32_t, IdIndexHash, IdIndexEq>;

  // Append-only storage for id bytes in fixed chunks, so that the
  // string_views in ids_ never move.
  class IdArena {
   public:
    std::string_view Add(std::string_view id);
    size_t bytes() const { return bytes_; }

   private:
    static constexpr size_t kChunkBytes = size_t{1} << 20;
    std::vector<std::unique_ptr<char[]>> chunks_;
    size_t used_ = kChunkBytes;  // in the last chunk
    size_t bytes_ = 0;
  };

  // For a writer, which holds write_mu_: checks that write_mu_ is held, and
  // tells the analysis that the caller may read the columns without
  // columns_mu_ (see "Locking" above), which it cannot infer. Also usable
  // in a lambda, which the analysis sees holding no lock.
  void AssertWriterMayRead() const ABSL_ASSERT_EXCLUSIVE_LOCK(write_mu_)
      ABSL_ASSERT_SHARED_LOCK(columns_mu_) {
    write_mu_.AssertHeld();
  }

  uint32_t rows() const ABSL_SHARED_LOCKS_REQUIRED(columns_mu_) {
    return static_cast<uint32_t>(ids_.size());
  }
  // Adds new ids (with their IdHash) and grows every column to match, with
  // default values.
  void AppendRows(std::span<const std::string_view> new_ids,
                  std::span<const uint64_t> new_id_hashes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // Grows every column but the ids to `rows`, with default values.
  void ResizeColumns(size_t rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  void ApplyCell(ColumnKind kind, uint32_t column, uint32_t ordinal,
                 const char* cell)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // Adds (sign +1) or removes (-1) a live published document's
  // contribution to the stats; all scores, or only `scores`, when
  // !all_columns.
  void CountDocument(uint32_t ordinal, int sign, bool all_columns,
                     std::span<const uint32_t> scores)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(columns_mu_);
  // Publish() with columns_mu_ held exclusive.
  void PublishLocked(uint32_t rows, uint64_t write_seq,
                     int64_t update_time_micros)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(columns_mu_);
  // Load's work on a collection no other thread sees yet (it still takes
  // both locks, so the rules hold throughout).
  absl::Status LoadFrom(rocksdb::DB* db, const Families& families)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // LoadFrom's feedback part: loss states of the last checkpoint, then the
  // log after it, then the six columns recomputed from the states.
  absl::Status LoadFeedback(rocksdb::DB* db, const Families& families)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // Updates the loss states of one record (replay or a new report).
  void UpdateLossStates(const FeedbackRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The irreducible score column, or null when the collection has none.
  // The caller may read the columns (a writer).
  const std::vector<float>* IrreducibleColumn() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The six column values of ordinal o from its state and its irreducible
  // score (`irreducible` from IrreducibleColumn()).
  std::array<float, kNumFeedbackColumns> FeedbackValuesOf(
      uint32_t o, const std::vector<float>* irreducible) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Recomputes reducible_loss of `ordinals` after their irreducible score
  // changed (no stats counting: the caller's Apply does it).
  void RefreshReducible(std::span<const uint32_t> ordinals)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // True when score `sid` is one of the six feedback columns.
  bool IsFeedbackScore(uint32_t sid) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Builds the id hashes and index once every id block is read.
  absl::Status FinishIds()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_, columns_mu_);
  // Recomputes every stat from the columns (after Load). DATA_LOSS if a
  // code is out of range.
  absl::Status RecountAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(columns_mu_);
  uint64_t MemoryBytes() const ABSL_SHARED_LOCKS_REQUIRED(columns_mu_);
  // LoadEmbeddings' read: the matrix of every row, from RocksDB.
  absl::StatusOr<std::shared_ptr<EmbeddingMatrix>> ReadMatrix(
      rocksdb::DB* db, const Families& f) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Stages a committed write's embedding changes for the cached matrix
  // (nothing when none is loaded).
  void StageEmbeddings(const PendingWrite& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(columns_mu_) ABSL_LOCKS_EXCLUDED(emb_mu_);
  // Makes the cached matrix's next version: the staged writes of rows below
  // `rows`, and num_rows = rows (nothing when none is loaded).
  void PublishEmbeddings(uint32_t rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(columns_mu_) ABSL_LOCKS_EXCLUDED(emb_mu_);
  // Reads documents' embeddings from their blocks in RocksDB (when no
  // matrix is loaded): out[k] for ordinals[k]; left empty when a concurrent
  // write removed it.
  absl::Status ReadEmbeddingRows(
      rocksdb::DB* db, const Families& f, std::span<const uint32_t> ordinals,
      std::span<std::vector<float>* const> out) const;
  // Fills a snapshot's views of the published rows.
  void FillSnapshot(ColumnsSnapshot* snap) const
      ABSL_SHARED_LOCKS_REQUIRED(columns_mu_);

  // ---- Constant after construction ----
  const uint32_t id_;
  const std::string name_;
  const uint32_t embedding_dimension_;
  const EmbeddingType embedding_type_;
  const int64_t create_time_micros_;
  const double loss_half_life_;

  mutable absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(columns_mu_);
  bool dropped_ ABSL_GUARDED_BY(write_mu_) = false;

  // ---- Training feedback: the writers' state (see ApplyReport) ----
  // The reserved score columns exist and belong to feedback; their score
  // ids, by FeedbackColumn.
  bool feedback_owned_ ABSL_GUARDED_BY(write_mu_) = false;
  std::array<uint32_t, kNumFeedbackColumns> feedback_sids_
      ABSL_GUARDED_BY(write_mu_) = {};
  // Per ordinal; shorter than the rows when the last ones have no report.
  std::vector<LossState> loss_state_ ABSL_GUARDED_BY(write_mu_);
  // Blocks (ordinal >> kBlockShift) changed since the last checkpoint.
  absl::flat_hash_set<uint32_t> dirty_blocks_ ABSL_GUARDED_BY(write_mu_);
  uint64_t next_log_seq_ ABSL_GUARDED_BY(write_mu_) = 1;
  // The update time of the last write applied (PublishAll publishes it).
  int64_t applied_update_micros_ ABSL_GUARDED_BY(write_mu_) = 0;
  uint64_t reports_since_checkpoint_ ABSL_GUARDED_BY(write_mu_) = 0;
  struct StreamMark {
    uint64_t sequence = 0;
    int64_t time_micros = 0;
  };
  StringMap<StreamMark> streams_ ABSL_GUARDED_BY(write_mu_);

  mutable absl::Mutex columns_mu_;

  // ---- Columns: written with write_mu_ and columns_mu_ held ----
  IdArena arena_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<std::string_view> ids_ ABSL_GUARDED_BY(columns_mu_);
  // Append-only in place: a snapshot may pin it (ColumnsSnapshot::PinIdHashes).
  AppendOnlyArray<uint64_t> id_hashes_ ABSL_GUARDED_BY(columns_mu_);
  IdIndex index_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<uint32_t> domain_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<std::string> domain_names_ ABSL_GUARDED_BY(columns_mu_);
  StringMap<uint32_t> domain_codes_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<uint32_t> length_ ABSL_GUARDED_BY(columns_mu_);
  Bitmap live_all_ ABSL_GUARDED_BY(columns_mu_);  // every row, published or not
  Bitmap has_payload_ ABSL_GUARDED_BY(columns_mu_);
  Bitmap has_embedding_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<uint64_t> upsert_seq_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<ScoreColumnData> scores_
      ABSL_GUARDED_BY(columns_mu_);  // by score id
  StringMap<uint32_t> score_ids_ ABSL_GUARDED_BY(columns_mu_);
  std::vector<AttributeColumnData> attributes_
      ABSL_GUARDED_BY(columns_mu_);  // by key id
  StringMap<uint32_t> attribute_ids_ ABSL_GUARDED_BY(columns_mu_);

  uint64_t write_seq_ ABSL_GUARDED_BY(columns_mu_) = 0;

  // ---- Published: the readers' view (see "Publication") ----
  uint32_t published_rows_ ABSL_GUARDED_BY(columns_mu_) = 0;
  // live_all_ restricted to the published rows; what snapshots expose.
  Bitmap live_ ABSL_GUARDED_BY(columns_mu_);
  uint64_t published_write_seq_ ABSL_GUARDED_BY(columns_mu_) = 0;
  int64_t update_time_micros_ ABSL_GUARDED_BY(columns_mu_) = 0;
  // Stats over live published documents.
  uint64_t num_live_ ABSL_GUARDED_BY(columns_mu_) = 0;
  uint64_t num_tokens_ ABSL_GUARDED_BY(columns_mu_) = 0;
  uint64_t num_embeddings_ ABSL_GUARDED_BY(columns_mu_) = 0;
  std::vector<uint64_t> domain_docs_
      ABSL_GUARDED_BY(columns_mu_);  // by domain code
  std::vector<uint64_t> domain_tokens_
      ABSL_GUARDED_BY(columns_mu_);  // by domain code

  // ---- The cached embedding matrix (see "Locking") ----
  mutable absl::Mutex emb_mu_ ABSL_ACQUIRED_AFTER(columns_mu_);
  // The published version; null when not loaded. Replaced only with
  // columns_mu_ exclusive held too (or set to null, by DropEmbeddings).
  std::shared_ptr<const EmbeddingMatrix> emb_ ABSL_GUARDED_BY(emb_mu_);
  // Committed writes not published yet, in order: (rows after the write,
  // its embedding changes).
  std::vector<std::pair<uint32_t, EmbeddingChanges>> emb_pending_
      ABSL_GUARDED_BY(emb_mu_);
  std::atomic<uint64_t> emb_bytes_{0};
};

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_COLLECTION_H_
