#include "storage/status.h"

#include "absl/strings/str_format.h"

namespace winnow::storage::internal {

absl::Status FromRocksDb(const rocksdb::Status& status,
                         std::string_view context) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrFormat("%s: %s", context, status.ToString());
  using Code = rocksdb::Status::Code;
  switch (status.code()) {
    case Code::kOk:
      return absl::OkStatus();
    case Code::kNotFound:
      return absl::NotFoundError(message);
    case Code::kCorruption:
      return absl::DataLossError(message);
    case Code::kNotSupported:
      return absl::UnimplementedError(message);
    case Code::kInvalidArgument:
      // We build every request to RocksDB ourselves; an invalid one is a bug
      // here, not the caller's input.
      return absl::InternalError(message);
    case Code::kIOError:
      if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
      return absl::InternalError(message);
    case Code::kMergeInProgress:
    case Code::kIncomplete:
      return absl::InternalError(message);
    case Code::kShutdownInProgress:
    case Code::kBusy:
    case Code::kTimedOut:
    case Code::kTryAgain:
      return absl::UnavailableError(message);
    case Code::kAborted:
      return absl::AbortedError(message);
    case Code::kExpired:
      return absl::DeadlineExceededError(message);
    case Code::kCompactionTooLarge:
    case Code::kColumnFamilyDropped:
    case Code::kMaxCode:
      return absl::InternalError(message);
  }
  return absl::InternalError(message);
}

}  // namespace winnow::storage::internal
