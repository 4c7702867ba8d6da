// AppendOnlyArray: a growable array whose entries, once written, stay where
// they are for as long as anyone holds the buffer they were written in.
//
// Growing past the capacity copies the entries into a new buffer and keeps
// using that; the old buffer lives on while a Pinned view of it is held. A
// reader that took a Pinned view under the collection's lock may keep
// reading its entries after releasing the lock, provided those entries are
// never rewritten in place (true of a collection's id hashes: an ordinal's
// id never changes). The writer only appends past the reader's end, which
// touches other memory.
//
// Thread safety: as std::vector for the owner (the collection's locks);
// a Pinned view is immutable and may be read from any thread.
#ifndef WINNOW_STORAGE_APPEND_ONLY_ARRAY_H_
#define WINNOW_STORAGE_APPEND_ONLY_ARRAY_H_

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>

namespace winnow::storage {

template <typename T>
class AppendOnlyArray {
 public:
  // The first `size` entries of a buffer, kept alive by `owner`.
  struct Pinned {
    std::shared_ptr<const T[]> owner;
    std::span<const T> values;
  };

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  T& operator[](size_t i) { return buffer_[i]; }
  const T& operator[](size_t i) const { return buffer_[i]; }

  void reserve(size_t capacity) {
    if (capacity <= capacity_) return;
    std::shared_ptr<T[]> grown(new T[capacity]);
    std::copy(buffer_.get(), buffer_.get() + size_, grown.get());
    buffer_ = std::move(grown);
    capacity_ = capacity;
  }
  void push_back(const T& value) {
    if (size_ == capacity_) reserve(std::max<size_t>(16, 2 * capacity_));
    buffer_[size_++] = value;
  }
  // Grows to `size` entries (value-initialized); never shrinks.
  void resize(size_t size) {
    reserve(size);
    std::fill(buffer_.get() + size_, buffer_.get() + std::max(size, size_),
              T());
    size_ = std::max(size, size_);
  }

  std::span<const T> span() const { return {buffer_.get(), size_}; }
  // The first `n` <= size() entries, readable after the owner has grown.
  Pinned Pin(size_t n) const { return {buffer_, {buffer_.get(), n}}; }

 private:
  std::shared_ptr<T[]> buffer_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_APPEND_ONLY_ARRAY_H_
