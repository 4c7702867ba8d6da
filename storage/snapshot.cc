#include "storage/snapshot.h"

#include <utility>

#include "storage/collection.h"

namespace winnow::storage {

// The constructor, the moves and the destructor hand a reader lock from
// one object to another, which the analysis cannot follow: it checks the
// holders instead (ABSL_SCOPED_LOCKABLE in snapshot.h).
ColumnsSnapshot::ColumnsSnapshot(
    std::shared_ptr<const internal::Collection> collection,
    absl::Mutex* columns_mu) ABSL_NO_THREAD_SAFETY_ANALYSIS
    : collection_(std::move(collection)),
      locked_(columns_mu) {
  locked_->ReaderLock();
}

void ColumnsSnapshot::Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (locked_ != nullptr) locked_->ReaderUnlock();
  locked_ = nullptr;
}

ColumnsSnapshot::ColumnsSnapshot(ColumnsSnapshot&& other) noexcept
    : collection_(std::move(other.collection_)),
      locked_(std::exchange(other.locked_, nullptr)),
      columns_(std::move(other.columns_)),
      ids_(other.ids_),
      id_hashes_(other.id_hashes_),
      upsert_seqs_(other.upsert_seqs_),
      num_live_(other.num_live_),
      write_seq_(other.write_seq_) {}

ColumnsSnapshot& ColumnsSnapshot::operator=(ColumnsSnapshot&& other) noexcept {
  if (this == &other) return *this;
  // Unlock before the collection this snapshot pins can be released.
  Unlock();
  collection_ = std::move(other.collection_);
  locked_ = std::exchange(other.locked_, nullptr);
  columns_ = std::move(other.columns_);
  ids_ = other.ids_;
  id_hashes_ = other.id_hashes_;
  upsert_seqs_ = other.upsert_seqs_;
  num_live_ = other.num_live_;
  write_seq_ = other.write_seq_;
  return *this;
}

ColumnsSnapshot::~ColumnsSnapshot() ABSL_NO_THREAD_SAFETY_ANALYSIS { Unlock(); }

ColumnsSnapshot::PinnedIdHashes ColumnsSnapshot::PinIdHashes() const {
  collection_->columns_mu_.AssertReaderHeld();  // by this snapshot
  AppendOnlyArray<uint64_t>::Pinned pinned =
      collection_->id_hashes_.Pin(id_hashes_.size());
  return {std::move(pinned.owner), pinned.values};
}

std::optional<uint32_t> ColumnsSnapshot::FindId(std::string_view id) const {
  collection_->columns_mu_.AssertReaderHeld();  // by this snapshot
  return collection_->FindPublished(id);
}

void ColumnsSnapshot::FindIds(std::span<const std::string_view> ids,
                              std::span<uint32_t> out) const {
  static_assert(kNoOrdinal == internal::Collection::kNoOrdinal);
  collection_->columns_mu_.AssertReaderHeld();  // by this snapshot
  collection_->FindPublishedMany(ids, out);
}

const std::string& ColumnsSnapshot::collection() const {
  return collection_->name();
}

uint32_t ColumnsSnapshot::embedding_dimension() const {
  return collection_->embedding_dimension();
}

uint32_t ColumnsSnapshot::collection_id() const { return collection_->id(); }

}  // namespace winnow::storage
