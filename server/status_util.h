// The one place where an absl::Status becomes a grpc::Status
// (docs/architecture.md, "Conventions"), and a few helpers that keep error
// messages naming their field.
//
// Every handler returns ToGrpcStatus(...) of whatever the engine or storage
// returned; no handler builds a grpc::Status itself.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SERVER_STATUS_UTIL_H_
#define WINNOW_SERVER_STATUS_UTIL_H_

#include <grpcpp/support/status.h>

#include <string_view>

#include "absl/status/status.h"

namespace winnow::server {

// Same code, same message. absl and gRPC share the canonical code numbers
// (google.rpc.Code); a code outside them becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

// `status` with "prefix: " put before its message, code unchanged; OK stays
// OK. Used to name the field or the batch an error belongs to, as in
// "filter: unknown score 'qualty' at 1:1".
absl::Status Annotate(const absl::Status& status, std::string_view prefix);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_STATUS_UTIL_H_
