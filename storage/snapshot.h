// ColumnsSnapshot: a consistent, read-only view of one collection's
// in-memory columns, to hand to the engine (selection/columns.h).
//
// A snapshot holds a shared (reader) lock on the collection's columns while
// it is alive: writes to that collection commit to RocksDB meanwhile, but
// wait to update memory until every snapshot of the collection is released.
// Hold one for the duration of a query or one batch of a stream, not longer
// (a long-held snapshot delays the acknowledgement of writes to that
// collection). The columns never change while a snapshot is held, so the
// spans it returns are stable for its lifetime, and no longer.
//
// A snapshot keeps the collection's memory alive even if the collection is
// deleted or the Store closed meanwhile.
//
// Thread safety: const methods may be called from several threads at once.
// Move-only. Destroy it on the thread that took it: the reader lock is an
// absl::Mutex's, and abseil built with its debug checks (as Debian's is)
// aborts when a thread releases a lock it does not hold. A thread that
// holds a snapshot of a collection must not take a second one of the same
// collection: with a writer waiting in between, the second would wait for
// the first forever.
#ifndef WINNOW_STORAGE_SNAPSHOT_H_
#define WINNOW_STORAGE_SNAPSHOT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "selection/columns.h"
#include "selection/embeddings.h"

namespace winnow::storage {

namespace internal {
class Collection;
}  // namespace internal

// A scoped reader lock on the collection's columns, as far as clang's
// thread-safety analysis is concerned: it holds it from construction until
// it is destroyed (or moved from), and must be destroyed on the thread that
// made it.
class ABSL_SCOPED_LOCKABLE ColumnsSnapshot {
 public:
  ColumnsSnapshot(ColumnsSnapshot&&) noexcept;
  ColumnsSnapshot& operator=(ColumnsSnapshot&&) noexcept;
  ColumnsSnapshot(const ColumnsSnapshot&) = delete;
  ColumnsSnapshot& operator=(const ColumnsSnapshot&) = delete;
  ~ColumnsSnapshot() ABSL_UNLOCK_FUNCTION();

  // The columns for the engine: num_rows (ordinals allocated by durable
  // writes), the live bitmap, length, domain, scores, attributes and
  // find_id. Valid while this snapshot is alive (and not moved from).
  const ColumnSet& columns() const { return columns_; }

  // Ordinals ever allocated, live or not.
  uint32_t num_rows() const { return columns_.num_rows; }
  // Live documents.
  uint64_t num_live() const { return num_live_; }

  // The id of an ordinal < num_rows(), live or a tombstone.
  std::string_view id(uint32_t ordinal) const { return ids_[ordinal]; }
  // Every ordinal's id, as id() returns it (for callers that prefetch).
  std::span<const std::string_view> ids() const { return ids_; }
  // IdHash(id) per ordinal (selection/hash.h), for samplers.
  std::span<const uint64_t> id_hashes() const { return id_hashes_; }
  // The same hashes, readable after this snapshot is released: an
  // ordinal's hash never changes, and `owner` keeps their memory alive
  // while the collection grows.
  struct PinnedIdHashes {
    std::shared_ptr<const uint64_t[]> owner;
    std::span<const uint64_t> values;
  };
  PinnedIdHashes PinIdHashes() const;
  // The ordinal of an id, live or not; nullopt if never written.
  std::optional<uint32_t> FindId(std::string_view id) const;
  // FindId of many ids at once, faster than one by one for large batches:
  // out[i] is the ordinal of ids[i], or kNoOrdinal if it was never written.
  // out.size() must equal ids.size().
  static constexpr uint32_t kNoOrdinal = UINT32_MAX;
  void FindIds(std::span<const std::string_view> ids,
               std::span<uint32_t> out) const;

  // Per ordinal, the write sequence of the upsert that last wrote the
  // document (insert, replace or revive). A plan that freezes at
  // write_seq() S sees ordinal o as modified after the freeze iff
  // upsert_seqs()[o] > S. PutScores and deletes do not change it.
  std::span<const uint64_t> upsert_seqs() const { return upsert_seqs_; }
  // The collection's write sequence as of this snapshot.
  uint64_t write_seq() const { return write_seq_; }

  const std::string& collection() const;
  uint32_t embedding_dimension() const;
  // The collection's internal id. Ids are never reused, so a collection
  // deleted and created again under the same name has a new one: a reader
  // that compares ids across snapshots knows it reads the same collection.
  uint32_t collection_id() const;

 private:
  friend class internal::Collection;
  // Takes `columns_mu` shared (the collection's columns_mu_).
  ColumnsSnapshot(std::shared_ptr<const internal::Collection> collection,
                  absl::Mutex* columns_mu)
      ABSL_SHARED_LOCK_FUNCTION(columns_mu);
  // Releases the reader lock, if this snapshot still holds it.
  void Unlock();

  std::shared_ptr<const internal::Collection> collection_;
  absl::Mutex* locked_ = nullptr;  // held shared; null once moved from
  ColumnSet columns_;
  std::span<const std::string_view> ids_;
  std::span<const uint64_t> id_hashes_;
  std::span<const uint64_t> upsert_seqs_;
  uint64_t num_live_ = 0;
  uint64_t write_seq_ = 0;
};

// What Store::ReadEmbeddings returns. `columns` holds the collection's reader
// lock (above): take the candidate bitmap from it and drop it before a
// long computation; `matrix` stays valid on its own.
struct EmbeddingsSnapshot {
  ColumnsSnapshot columns;
  std::shared_ptr<const EmbeddingMatrix> matrix;
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_SNAPSHOT_H_
