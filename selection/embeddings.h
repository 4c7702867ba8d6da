// A collection's embeddings as the engine reads them: an immutable matrix in
// blocks of consecutive ordinals, shared between versions so that a write
// copies only the blocks it touches (docs/architecture.md, "Embeddings").
// Plain data: storage/ builds and caches it, and Nearest and the scorers read
// it. Thread-safe to read from any number of threads.
#ifndef WINNOW_SELECTION_EMBEDDINGS_H_
#define WINNOW_SELECTION_EMBEDDINGS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "selection/bitmap.h"

namespace winnow {

// How the cells of a matrix are stored.
enum class VectorType : uint8_t {
  kFloat32 = 1,
  // IEEE 754 half precision, as the bits (uint16_t).
  kFloat16 = 2,
};

// Rows per block: the same as the storage column blocks' 4,096 ordinals.
inline constexpr uint32_t kEmbeddingBlockRows = 4096;

// Rows [first_ordinal, first_ordinal + rows) of the matrix, row-major,
// `dim` cells a row. A row without an embedding holds zeros.
struct EmbeddingBlock {
  uint32_t first_ordinal = 0;
  uint32_t rows = 0;
  // rows * dim cells; exactly one of the two is filled, by the type.
  std::vector<float> f32;
  std::vector<uint16_t> f16;
  // The L2 norm of each row (0 for a row without an embedding), for cosine.
  std::vector<float> norms;

  size_t MemoryBytes() const {
    return f32.capacity() * sizeof(float) + f16.capacity() * sizeof(uint16_t) +
           norms.capacity() * sizeof(float) + sizeof(*this);
  }
};

// A collection's embeddings at one version. Immutable once published.
struct EmbeddingMatrix {
  VectorType type = VectorType::kFloat32;
  uint32_t dim = 0;
  // Ordinals covered: the collection's row count when the version was made.
  uint32_t num_rows = 0;
  // blocks[b] covers ordinals [b * kEmbeddingBlockRows, ...), with rows =
  // min(kEmbeddingBlockRows, num_rows - first_ordinal); null when no row of
  // the block has an embedding (a block whose embeddings were all removed
  // may stay, all zeros: read `present`).
  std::vector<std::shared_ptr<const EmbeddingBlock>> blocks;
  // Bit o set iff ordinal o has an embedding (live or not: callers AND it
  // with the live bitmap of the snapshot they read with). num_rows bits.
  Bitmap present;

  size_t MemoryBytes() const {
    size_t bytes = sizeof(*this) + present.num_words() * sizeof(uint64_t) +
                   blocks.capacity() * sizeof(blocks[0]);
    for (const auto& b : blocks) {
      if (b != nullptr) bytes += b->MemoryBytes();
    }
    return bytes;
  }
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_EMBEDDINGS_H_
