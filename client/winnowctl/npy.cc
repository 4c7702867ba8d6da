#include "client/winnowctl/npy.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace winnow::ctl {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// Largest header accepted: numpy's own limit for reading is 10,000 bytes.
constexpr uint32_t kMaxHeaderBytes = 1 << 16;

absl::Status Bad(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what));
}

// A strict reader of the header dict: a Python literal with string keys and
// string, bool or tuple-of-int values.
class DictCursor {
 public:
  explicit DictCursor(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t'))
      ++pos_;
  }
  bool Eat(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }

  // A '...' or "..." literal without escapes.
  absl::StatusOr<std::string> String() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return Bad("expected a quoted string");
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return Bad("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    if (s.find('\\') != std::string::npos) return Bad("escapes in a string");
    pos_ = end + 1;
    return s;
  }

  absl::StatusOr<bool> Bool() {
    SkipSpace();
    for (const auto& [word, value] :
         {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Bad("expected True or False");
  }

  // A tuple of non-negative ints: (), (3,), (3, 4) or (3, 4,).
  absl::StatusOr<std::vector<int64_t>> IntTuple() {
    if (!Eat('(')) return Bad("expected a tuple such as (rows, dim)");
    std::vector<int64_t> values;
    while (!Eat(')')) {
      if (!values.empty() && !Eat(',')) return Bad("expected ',' or ')'");
      if (Eat(')')) break;  // a trailing comma
      SkipSpace();
      int64_t v = 0;
      const size_t start = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10)
          return Bad("a dimension is too large");
        v = v * 10 + (text_[pos_++] - '0');
      }
      if (pos_ == start) return Bad("expected a non-negative integer");
      values.push_back(v);
    }
    return values;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// Parses one key's value into `*header`.
absl::Status ParseValue(const std::string& key, DictCursor& cursor,
                        NpyHeader* header) {
  if (key == "descr") {
    absl::StatusOr<std::string> descr = cursor.String();
    if (!descr.ok())
      return Bad(absl::StrCat("'descr': ", descr.status().message()));
    if (*descr == "<f4") {
      header->item_size = 4;
    } else if (*descr == "<f2") {
      header->item_size = 2;
    } else {
      return Bad(absl::StrCat(
          "dtype '", *descr,
          "' is not supported: expected little-endian float32 ('<f4') or "
          "float16 ('<f2'); convert with arr.astype(np.float32)"));
    }
  } else if (key == "fortran_order") {
    absl::StatusOr<bool> fortran = cursor.Bool();
    if (!fortran.ok())
      return Bad(absl::StrCat("'fortran_order': ", fortran.status().message()));
    if (*fortran) {
      return Bad(
          "fortran_order is True: save the array in C order "
          "(np.ascontiguousarray)");
    }
  } else if (key == "shape") {
    absl::StatusOr<std::vector<int64_t>> shape = cursor.IntTuple();
    if (!shape.ok())
      return Bad(absl::StrCat("'shape': ", shape.status().message()));
    if (shape->size() != 2) {
      return Bad(absl::StrCat("shape has ", shape->size(),
                              " dimensions: expected 2, (rows, dim)"));
    }
    if ((*shape)[1] == 0) return Bad("shape (rows, 0): rows have no values");
    if ((*shape)[0] > (int64_t{1} << 60) / (*shape)[1] / 4)
      return Bad("shape is too large");
    header->rows = (*shape)[0];
    header->cols = (*shape)[1];
  } else {
    return Bad(absl::StrCat("unexpected key '", key,
                            "': expected only 'descr', 'fortran_order' and "
                            "'shape'"));
  }
  return absl::OkStatus();
}

uint32_t LittleEndian(std::string_view bytes) {
  uint32_t v = 0;
  for (size_t i = bytes.size(); i-- > 0;)
    v = v << 8 | static_cast<unsigned char>(bytes[i]);
  return v;
}

}  // namespace

absl::StatusOr<NpyHeader> ParseNpyHeaderDict(std::string_view dict) {
  DictCursor cursor(dict);
  NpyHeader header;
  std::vector<std::string> seen;
  if (!cursor.Eat('{')) return Bad("header is not a dict: expected '{'");
  while (!cursor.Eat('}')) {
    if (!seen.empty() && !cursor.Eat(','))
      return Bad("header dict: expected ',' or '}'");
    if (cursor.Eat('}')) break;  // a trailing comma
    absl::StatusOr<std::string> key = cursor.String();
    if (!key.ok())
      return Bad(absl::StrCat("header dict key: ", key.status().message()));
    for (const std::string& k : seen) {
      if (k == *key) return Bad(absl::StrCat("header repeats key '", k, "'"));
    }
    seen.push_back(*key);
    if (!cursor.Eat(':')) return Bad("header dict: expected ':' after a key");
    if (absl::Status s = ParseValue(*key, cursor, &header); !s.ok()) return s;
  }
  if (!cursor.AtEnd()) return Bad("header has text after the dict");
  for (const char* required : {"descr", "fortran_order", "shape"}) {
    bool found = false;
    for (const std::string& k : seen) found = found || k == required;
    if (!found) return Bad(absl::StrCat("header lacks key '", required, "'"));
  }
  return header;
}

absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view prefix) {
  if (prefix.substr(0, kMagic.size()) != kMagic) {
    return Bad("not a .npy file: it does not start with \\x93NUMPY");
  }
  if (prefix.size() < 8) return Bad("truncated in its header");
  const int major = static_cast<unsigned char>(prefix[6]);
  if (major < 1 || major > 3) {
    return Bad(
        absl::StrCat(".npy format version ", major, ".",
                     static_cast<int>(static_cast<unsigned char>(prefix[7])),
                     " is not supported: expected 1.0, 2.0 or 3.0"));
  }
  const size_t length_bytes = major == 1 ? 2 : 4;
  if (prefix.size() < 8 + length_bytes) return Bad("truncated in its header");
  const uint32_t length = LittleEndian(prefix.substr(8, length_bytes));
  if (length > kMaxHeaderBytes) return Bad("header is too long");
  const size_t start = 8 + length_bytes;
  if (prefix.size() < start + length) return Bad("truncated in its header");
  absl::StatusOr<NpyHeader> header =
      ParseNpyHeaderDict(prefix.substr(start, length));
  if (!header.ok()) return header;
  header->data_offset = static_cast<int64_t>(start + length);
  return header;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {  // infinity or NaN
    bits = sign | 0x7f800000 | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // zero
    bits = sign;
  } else {  // subnormal: normalize
    int e = 113;
    while ((mantissa & 0x400) == 0) {
      mantissa <<= 1;
      --e;
    }
    bits = sign | (static_cast<uint32_t>(e) << 23) | ((mantissa & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

absl::StatusOr<std::unique_ptr<NpyReader>> NpyReader::Open(
    const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string prefix(12 + kMaxHeaderBytes, '\0');
  prefix.resize(std::fread(prefix.data(), 1, prefix.size(), file));
  absl::StatusOr<NpyHeader> header = ParseNpyHeader(prefix);
  struct stat st;
  if (header.ok() && fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode)) {
    const int64_t data = st.st_size - header->data_offset;
    if (data != header->data_bytes()) {
      header = Bad(absl::StrCat(
          data < header->data_bytes() ? "truncated" : "too long", ": shape (",
          header->rows, ", ", header->cols, ") of ", header->item_size,
          "-byte values needs ", header->data_bytes(),
          " bytes of data, the file has ", data));
    }
  }
  if (!header.ok()) {
    std::fclose(file);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", header.status().message()));
  }
  auto reader = std::unique_ptr<NpyReader>(new NpyReader(path, file, *header));
  if (absl::Status s = reader->Seek(0); !s.ok()) return s;
  return reader;
}

NpyReader::~NpyReader() { std::fclose(file_); }

absl::Status NpyReader::Seek(int64_t row) {
  if (row < 0 || row > header_.rows) {
    return absl::OutOfRangeError(absl::StrCat(
        path_, ": row ", row, " is past its ", header_.rows, " rows"));
  }
  const int64_t offset =
      header_.data_offset + row * header_.cols * header_.item_size;
  if (fseeko(file_, offset, SEEK_SET) != 0) {
    return absl::DataLossError(
        absl::StrCat("cannot seek in ", path_, ": ", std::strerror(errno)));
  }
  next_row_ = row;
  return absl::OkStatus();
}

absl::Status NpyReader::ReadRow(std::vector<float>* row) {
  if (next_row_ >= header_.rows) {
    return absl::OutOfRangeError(
        absl::StrCat(path_, " has only ", header_.rows, " rows"));
  }
  const size_t cols = static_cast<size_t>(header_.cols);
  buffer_.resize(cols * header_.item_size);
  if (std::fread(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    return absl::DataLossError(absl::StrCat(
        "error reading row ", next_row_, " of ", path_, ": ",
        std::ferror(file_) ? std::strerror(errno) : "unexpected end of file"));
  }
  row->resize(cols);
  if (header_.item_size == 4) {  // '<f4' on a little-endian host
    std::memcpy(row->data(), buffer_.data(), buffer_.size());
  } else {
    for (size_t i = 0; i < cols; ++i) {
      uint16_t h;
      std::memcpy(&h, buffer_.data() + 2 * i, 2);
      (*row)[i] = HalfToFloat(h);
    }
  }
  ++next_row_;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ReadNpyFile(const std::string& path,
                                               NpyHeader* header) {
  absl::StatusOr<std::unique_ptr<NpyReader>> reader = NpyReader::Open(path);
  if (!reader.ok()) return reader.status();
  *header = (*reader)->header();
  std::vector<float> all, row;
  all.reserve(static_cast<size_t>(header->rows * header->cols));
  for (int64_t r = 0; r < header->rows; ++r) {
    if (absl::Status s = (*reader)->ReadRow(&row); !s.ok()) return s;
    all.insert(all.end(), row.begin(), row.end());
  }
  return all;
}

}  // namespace winnow::ctl
