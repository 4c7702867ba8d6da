#include "server/status_util.h"

#include <gtest/gtest.h>

namespace winnow::server {
namespace {

TEST(StatusUtilTest, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(StatusUtilTest, EveryCanonicalCodeKeepsItsNumberAndMessage) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status s(static_cast<absl::StatusCode>(code), "field: went wrong");
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), code);
    EXPECT_EQ(g.error_message(), "field: went wrong");
  }
}

TEST(StatusUtilTest, DocumentedErrorCodes) {
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::AlreadyExistsError("x")).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::ResourceExhaustedError("x")).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::UnimplementedError("x")).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST(StatusUtilTest, NonCanonicalCodeBecomesUnknown) {
  absl::Status s(static_cast<absl::StatusCode>(42), "odd");
  EXPECT_EQ(ToGrpcStatus(s).error_code(), grpc::StatusCode::UNKNOWN);
}

TEST(StatusUtilTest, AnnotatePrefixesAndKeepsTheCode) {
  absl::Status s = Annotate(
      absl::InvalidArgumentError("unknown score 'q' at 1:1"), "filter");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "filter: unknown score 'q' at 1:1");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "filter").ok());
}

}  // namespace
}  // namespace winnow::server
