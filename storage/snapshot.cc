#include "storage/snapshot.h"

#include "storage/collection.h"

namespace winnow::storage {

ColumnsSnapshot::ColumnsSnapshot(
    std::shared_ptr<const internal::Collection> collection,
    std::shared_lock<std::shared_mutex> lock)
    : collection_(std::move(collection)), lock_(std::move(lock)) {}

ColumnsSnapshot::ColumnsSnapshot(ColumnsSnapshot&&) noexcept = default;
ColumnsSnapshot& ColumnsSnapshot::operator=(ColumnsSnapshot&& other) noexcept {
  if (this == &other) return *this;
  // Unlock before the collection this snapshot pins can be released.
  lock_ = {};
  collection_ = std::move(other.collection_);
  lock_ = std::move(other.lock_);
  columns_ = std::move(other.columns_);
  ids_ = other.ids_;
  id_hashes_ = other.id_hashes_;
  upsert_seqs_ = other.upsert_seqs_;
  num_live_ = other.num_live_;
  write_seq_ = other.write_seq_;
  return *this;
}
ColumnsSnapshot::~ColumnsSnapshot() = default;

std::optional<uint32_t> ColumnsSnapshot::FindId(std::string_view id) const {
  return collection_->FindPublished(id);
}

void ColumnsSnapshot::FindIds(std::span<const std::string_view> ids,
                              std::span<uint32_t> out) const {
  static_assert(kNoOrdinal == internal::Collection::kNoOrdinal);
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
