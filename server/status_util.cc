#include "server/status_util.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace winnow::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  int code = static_cast<int>(status.code());
  // OK (0) through UNAUTHENTICATED (16) are the canonical codes both use.
  grpc::StatusCode grpc_code =
      code > 0 && code <= static_cast<int>(grpc::StatusCode::UNAUTHENTICATED)
          ? static_cast<grpc::StatusCode>(code)
          : grpc::StatusCode::UNKNOWN;
  return grpc::Status(grpc_code, std::string(status.message()));
}

absl::Status Annotate(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(
      status.code(), absl::StrCat(std::string(prefix), ": ", status.message()));
}

}  // namespace winnow::server
