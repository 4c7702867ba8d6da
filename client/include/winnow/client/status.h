// Conversion of gRPC statuses into absl::Status, the client library's error
// type. This is the one place where the client converts (errors are
// converted in exactly one place per layer boundary; docs/architecture.md).
#ifndef WINNOW_CLIENT_STATUS_H_
#define WINNOW_CLIENT_STATUS_H_

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace winnow {

// Returns the absl::Status with the same code and message. The two code
// enums share their numbering (both follow google.rpc.Code); a code outside
// it becomes UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The code's canonical upper-case name, such as "NOT_FOUND", as winnowctl
// prints it.
std::string StatusCodeName(absl::StatusCode code);

}  // namespace winnow

#endif  // WINNOW_CLIENT_STATUS_H_
