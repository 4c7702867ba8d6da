// Builds .npy files byte by byte for winnowctl's tests, well-formed or not.
#ifndef WINNOW_TESTS_CLIENT_NPY_FILES_H_
#define WINNOW_TESTS_CLIENT_NPY_FILES_H_

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace winnow::testing_npy {

// A .npy file: the magic string, version `major`.0, the header length
// (2 bytes for version 1, 4 after), `dict` padded with spaces and "\n" to
// a multiple of 64 bytes as numpy writes it, then `data`.
inline std::string NpyBytes(const std::string& dict, const std::string& data,
                            int major = 1) {
  const size_t length_bytes = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((8 + length_bytes + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < length_bytes; ++i) {
    out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

// The dict numpy writes for a C-order array.
inline std::string NpyDict(const std::string& descr, int64_t rows,
                           int64_t cols) {
  return absl::StrCat("{'descr': '", descr,
                      "', 'fortran_order': False, 'shape': (", rows, ", ", cols,
                      "), }");
}

inline std::string FloatBytes(const std::vector<float>& values) {
  std::string out(values.size() * sizeof(float), '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

// A float32 file of `rows` x `cols` values.
inline std::string Float32Npy(int64_t rows, int64_t cols,
                              const std::vector<float>& values, int major = 1) {
  return NpyBytes(NpyDict("<f4", rows, cols), FloatBytes(values), major);
}

// Writes `bytes` to a new temp file and returns its path.
inline std::string WriteTemp(const std::string& bytes,
                             const std::string& suffix = ".npy") {
  static int counter = 0;
  const std::string path = absl::StrCat(::testing::TempDir(), "/winnowctl_npy_",
                                        getpid(), "_", counter++, suffix);
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace winnow::testing_npy

#endif  // WINNOW_TESTS_CLIENT_NPY_FILES_H_
