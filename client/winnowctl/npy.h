// NumPy .npy files of embeddings for winnowctl (`import --embeddings`,
// `nearest --vector-file`, `compute target-similarity --target-vectors`).
//
// Only what numpy.save writes for a 2-D float array is accepted: format
// versions 1.0, 2.0 and 3.0, a header dict with exactly the keys 'descr',
// 'fortran_order' and 'shape', dtype '<f4' (float32) or '<f2' (float16),
// fortran_order False and a shape (rows, dim). Anything else is refused with
// a message naming the file and what is wrong, rather than guessed at.
#ifndef WINNOW_CLIENT_WINNOWCTL_NPY_H_
#define WINNOW_CLIENT_WINNOWCTL_NPY_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace winnow::ctl {

struct NpyHeader {
  // Bytes per value: 4 (float32) or 2 (float16).
  int item_size = 4;
  int64_t rows = 0;
  int64_t cols = 0;
  // Where the data starts, from the start of the file.
  int64_t data_offset = 0;

  int64_t data_bytes() const { return rows * cols * item_size; }
};

// Parses the header dict, such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
// into the dtype and shape (data_offset is left 0). INVALID_ARGUMENT names
// the key at fault, without the file's name.
absl::StatusOr<NpyHeader> ParseNpyHeaderDict(std::string_view dict);

// Parses the start of a file: the magic string, the version, the header
// length and the dict. `prefix` must hold the whole header;
// INVALID_ARGUMENT when it does not or when anything is wrong.
absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view prefix);

// float16 (IEEE 754 binary16) bits to float.
float HalfToFloat(uint16_t bits);

// Reads the rows of a .npy file one at a time, converting float16 to float.
//
// Thread safety: not thread-safe.
class NpyReader {
 public:
  // Opens and checks the file: its header, and that its size matches the
  // header's shape exactly. Errors start with the path.
  static absl::StatusOr<std::unique_ptr<NpyReader>> Open(
      const std::string& path);
  ~NpyReader();
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;

  const NpyHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  // The next row to read.
  int64_t next_row() const { return next_row_; }

  // Positions the reader at `row` (0 <= row <= rows).
  absl::Status Seek(int64_t row);
  // Reads the next row into `*row` (resized to cols). OUT_OF_RANGE after
  // the last row; DATA_LOSS on a read error.
  absl::Status ReadRow(std::vector<float>* row);

 private:
  NpyReader(std::string path, FILE* file, NpyHeader header)
      : path_(std::move(path)), file_(file), header_(header) {}

  const std::string path_;
  FILE* const file_;
  const NpyHeader header_;
  int64_t next_row_ = 0;
  std::vector<char> buffer_;
};

// Reads a whole (small) .npy file: rows * cols floats, row-major.
absl::StatusOr<std::vector<float>> ReadNpyFile(const std::string& path,
                                               NpyHeader* header);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_NPY_H_
