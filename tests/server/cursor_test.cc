// CursorCodec: tokens round-trip, and anything this database did not sign
// is INVALID_ARGUMENT, never trusted.
#include "server/cursor.h"

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"

namespace winnow::server {
namespace {

winnow::v1::Cursor Sample() {
  winnow::v1::Cursor c;
  c.set_format_version(kCursorFormatVersion);
  c.set_plan_id("pABC");
  c.set_collection("web");
  c.set_epoch(3);
  c.set_next_global_batch(40);
  c.set_sampler_version(1);
  return c;
}

TEST(CursorCodecTest, RoundTrips) {
  CursorCodec codec(std::string(32, 'k'));
  absl::StatusOr<winnow::v1::Cursor> got = codec.Decode(codec.Encode(Sample()));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->SerializeAsString(), Sample().SerializeAsString());
}

TEST(CursorCodecTest, EveryAlteredByteIsRefused) {
  CursorCodec codec(std::string(32, 'k'));
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(codec.Encode(Sample()), &raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    for (unsigned char flip : {0x01, 0x80}) {
      std::string bad = raw;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      std::string token;
      absl::WebSafeBase64Escape(bad, &token);
      absl::StatusOr<winnow::v1::Cursor> got = codec.Decode(token);
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << "byte " << i;
      EXPECT_EQ(got.status().message().rfind("cursor: ", 0), 0u);
    }
  }
  // Truncated, empty, not base64.
  std::string token = codec.Encode(Sample());
  EXPECT_FALSE(codec.Decode(token.substr(0, token.size() / 2)).ok());
  EXPECT_FALSE(codec.Decode("").ok());
  EXPECT_FALSE(codec.Decode("!!!").ok());
}

TEST(CursorCodecTest, AnotherKeyOrAnUnknownFormatIsRefused) {
  CursorCodec a(std::string(32, 'a'));
  CursorCodec b(std::string(32, 'b'));
  EXPECT_EQ(b.Decode(a.Encode(Sample())).status().code(),
            absl::StatusCode::kInvalidArgument);
  winnow::v1::Cursor future = Sample();
  future.set_format_version(2);
  absl::StatusOr<winnow::v1::Cursor> got = a.Decode(a.Encode(future));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("format version 2"), std::string::npos);
}

// A token longer than kMaxCursorTokenBytes is refused before it is decoded,
// even when it is signed; the server never issues one (its plan ids and
// collection names are short).
TEST(CursorCodecTest, OverlongTokenIsRefused) {
  CursorCodec codec(std::string(32, 'k'));
  winnow::v1::Cursor big = Sample();
  big.set_plan_id(std::string(kMaxCursorTokenBytes, 'p'));
  const std::string token = codec.Encode(big);
  ASSERT_GT(token.size(), kMaxCursorTokenBytes);
  absl::StatusOr<winnow::v1::Cursor> got = codec.Decode(token);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got.status().message().find("longer"), std::string::npos);
}

}  // namespace
}  // namespace winnow::server
