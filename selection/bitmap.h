// Bitmap: a dense set of document ordinals, one bit per ordinal.
//
// The engine's unit of exchange: the live set, a filter's result and a
// plan's candidate set are all Bitmaps over ordinals [0, size()). Bits past
// size() in the last word are always zero, so word-wise operations and
// Count() need no masking.
//
// Thread safety: const methods may be called concurrently; mutation needs
// external synchronization.
#ifndef WINNOW_SELECTION_BITMAP_H_
#define WINNOW_SELECTION_BITMAP_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace winnow {

class Bitmap {
 public:
  Bitmap() = default;
  // All bits clear (or all set, when `value` is true) over [0, size).
  explicit Bitmap(size_t size, bool value = false);

  size_t size() const { return size_; }
  size_t num_words() const { return words_.size(); }
  static size_t WordsFor(size_t size) { return (size + 63) / 64; }

  bool Get(size_t i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void Set(size_t i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  void Clear(size_t i) { words_[i >> 6] &= ~(uint64_t{1} << (i & 63)); }
  void Assign(size_t i, bool v) { v ? Set(i) : Clear(i); }

  // Grows or shrinks to `size`; new bits are clear.
  void Resize(size_t size);

  // Number of set bits.
  size_t Count() const;

  // In-place set algebra; `other` must have the same size.
  void And(const Bitmap& other);
  void Or(const Bitmap& other);
  void AndNot(const Bitmap& other);
  // Complements every bit in [0, size).
  void Invert();

  std::span<uint64_t> words() { return words_; }
  std::span<const uint64_t> words() const { return words_; }

  // Calls fn(ordinal) for each set bit, in ascending order.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (size_t w = 0; w < words_.size(); ++w) {
      uint64_t bits = words_[w];
      while (bits != 0) {
        fn(w * 64 + static_cast<size_t>(std::countr_zero(bits)));
        bits &= bits - 1;
      }
    }
  }

  // The set bits as a sorted list of ordinals.
  std::vector<uint32_t> ToOrdinals() const;

  bool operator==(const Bitmap& other) const = default;

 private:
  void ClearTail();

  size_t size_ = 0;
  std::vector<uint64_t> words_;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_BITMAP_H_
