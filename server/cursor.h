// Cursor tokens (docs/sampling.md "The cursor"; proto/winnow/v1/cursor.proto).
//
// A token is a serialized SignedCursor in unpadded base64url: the
// serialized Cursor and its HMAC-SHA256 under the database's cursor key.
// The key lives in the database (storage's "cursor" secret), so a restored
// backup accepts the cursors issued before it.
//
// Decode refuses, with INVALID_ARGUMENT naming the field "cursor", anything
// that is not a token this database signed: bad base64, bad protobuf, a
// signature that does not verify (compared in constant time), or a format
// version this server does not know. What the cursor points at (a plan
// that is gone, another collection, a sampler version that cannot be
// reproduced) is the caller's check: FAILED_PRECONDITION.
//
// Thread safety: immutable after construction; thread-safe.
#ifndef WINNOW_SERVER_CURSOR_H_
#define WINNOW_SERVER_CURSOR_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "winnow/v1/cursor.pb.h"

namespace winnow::server {

inline constexpr uint32_t kCursorFormatVersion = 1;

// The longest token Decode accepts. A token the server issues is far
// shorter: a plan id, a collection name (at most 64 bytes) and four
// integers.
inline constexpr size_t kMaxCursorTokenBytes = 4096;

class CursorCodec {
 public:
  // `key`: the HMAC key, 32 bytes.
  explicit CursorCodec(std::string key) : key_(std::move(key)) {}

  // A cursor whose token would exceed kMaxCursorTokenBytes encodes, but
  // Decode refuses the token.
  std::string Encode(const winnow::v1::Cursor& cursor) const;
  absl::StatusOr<winnow::v1::Cursor> Decode(std::string_view token) const;

 private:
  std::string Sign(std::string_view bytes) const;

  const std::string key_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_CURSOR_H_
