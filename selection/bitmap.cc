#include "selection/bitmap.h"

#include <algorithm>

namespace winnow {

Bitmap::Bitmap(size_t size, bool value)
    : size_(size), words_(WordsFor(size), value ? ~uint64_t{0} : 0) {
  ClearTail();
}

void Bitmap::Resize(size_t size) {
  size_ = size;
  words_.resize(WordsFor(size), 0);
  ClearTail();
}

void Bitmap::ClearTail() {
  if (size_ % 64 != 0) {
    words_.back() &= (uint64_t{1} << (size_ % 64)) - 1;
  }
}

size_t Bitmap::Count() const {
  size_t n = 0;
  for (uint64_t w : words_) n += static_cast<size_t>(std::popcount(w));
  return n;
}

void Bitmap::And(const Bitmap& other) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= other.words_[i];
}

void Bitmap::Or(const Bitmap& other) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
}

void Bitmap::AndNot(const Bitmap& other) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
}

void Bitmap::Invert() {
  for (uint64_t& w : words_) w = ~w;
  ClearTail();
}

std::vector<uint32_t> Bitmap::ToOrdinals() const {
  std::vector<uint32_t> out(Count());
  uint32_t* next = out.data();
  for (size_t w = 0; w < words_.size(); ++w) {
    const uint64_t word = words_[w];
    const uint32_t base = static_cast<uint32_t>(w * 64);
    if (word == ~uint64_t{0}) {  // a full word: no bit scan
      for (uint32_t b = 0; b < 64; ++b) *next++ = base + b;
      continue;
    }
    for (uint64_t bits = word; bits != 0; bits &= bits - 1) {
      *next++ = base + static_cast<uint32_t>(std::countr_zero(bits));
    }
  }
  return out;
}

}  // namespace winnow
