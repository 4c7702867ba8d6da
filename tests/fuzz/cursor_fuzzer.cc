// libFuzzer target: cursor tokens (server/cursor.h). The first byte picks
// what the rest is:
//  - even: a token, decoded as Sample decodes a client's cursor. It must
//    never crash, and nothing the fuzzer makes can pass the HMAC check;
//  - odd: a Cursor message, which is encoded, must decode to itself (or,
//    when its token is longer than kMaxCursorTokenBytes, be refused), and
//    then must not survive any one altered byte (chosen by the input): the
//    altered token is refused or decodes to the very same cursor (base64's
//    unused low bits).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/cursor.h"
#include "winnow/v1/cursor.pb.h"

// Parse errors of invalid UTF-8 are expected; keep them out of the log.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const winnow::server::CursorCodec* codec =
      new winnow::server::CursorCodec(std::string(32, '\x5a'));
  const uint8_t mode = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode % 2 == 0) {
    absl::StatusOr<winnow::v1::Cursor> c = codec->Decode(rest);
    if (!c.ok() && c.status().code() != absl::StatusCode::kInvalidArgument) {
      std::abort();
    }
    return 0;
  }
  winnow::v1::Cursor cursor;
  if (!cursor.ParseFromString(rest)) return 0;
  cursor.set_format_version(winnow::server::kCursorFormatVersion);
  if (cursor.plan_id().empty()) cursor.set_plan_id("p");
  const std::string token = codec->Encode(cursor);
  absl::StatusOr<winnow::v1::Cursor> back = codec->Decode(token);
  using google::protobuf::util::MessageDifferencer;
  if (token.size() > winnow::server::kMaxCursorTokenBytes) {
    // Too long to be a cursor the server issued: refused, never decoded.
    if (back.ok() || back.status().code() != absl::StatusCode::kInvalidArgument)
      std::abort();
    return 0;
  }
  if (!back.ok() || !MessageDifferencer::Equals(*back, cursor)) std::abort();
  if (token.empty()) return 0;
  std::string altered = token;
  const size_t at = (mode / 2) % altered.size();
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  absl::StatusOr<winnow::v1::Cursor> forged = codec->Decode(altered);
  if (forged.ok() && !MessageDifferencer::Equals(*forged, cursor)) std::abort();
  return 0;
}
