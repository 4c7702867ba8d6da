#include "server/cursor.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

absl::Status BadCursor(std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("cursor: ", std::string(why),
                   "; pass the cursor string of a SampleResponse unchanged"));
}

}  // namespace

std::string CursorCodec::Sign(std::string_view bytes) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), mac,
       &length);
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string CursorCodec::Encode(const winnow::v1::Cursor& cursor) const {
  winnow::v1::SignedCursor signed_cursor;
  std::string bytes = cursor.SerializeAsString();
  signed_cursor.set_signature(Sign(bytes));
  signed_cursor.set_cursor(std::move(bytes));
  std::string token;
  absl::WebSafeBase64Escape(signed_cursor.SerializeAsString(), &token);
  return token;
}

absl::StatusOr<winnow::v1::Cursor> CursorCodec::Decode(
    std::string_view token) const {
  if (token.size() > kMaxCursorTokenBytes)
    return BadCursor("longer than any cursor");
  std::string raw;
  if (!absl::WebSafeBase64Unescape(std::string(token), &raw)) {
    return BadCursor("not base64url");
  }
  winnow::v1::SignedCursor signed_cursor;
  if (!signed_cursor.ParseFromString(raw)) return BadCursor("corrupted");
  const std::string expected = Sign(signed_cursor.cursor());
  if (signed_cursor.signature().size() != expected.size() ||
      CRYPTO_memcmp(signed_cursor.signature().data(), expected.data(),
                    expected.size()) != 0) {
    return BadCursor("the signature does not verify (forged or corrupted)");
  }
  winnow::v1::Cursor cursor;
  if (!cursor.ParseFromString(signed_cursor.cursor())) {
    return BadCursor("corrupted");
  }
  if (cursor.format_version() != kCursorFormatVersion) {
    return BadCursor(absl::StrCat("format version ", cursor.format_version(),
                                  " is not known to this server"));
  }
  if (cursor.plan_id().empty()) return BadCursor("names no plan");
  return cursor;
}

}  // namespace winnow::server
