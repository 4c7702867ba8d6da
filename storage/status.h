// The one place RocksDB statuses become absl::Status (docs/architecture.md).
// Internal to storage/.
#ifndef WINNOW_STORAGE_STATUS_H_
#define WINNOW_STORAGE_STATUS_H_

#include <string_view>

#include "absl/status/status.h"
#include "rocksdb/status.h"

namespace winnow::storage::internal {

// Maps a RocksDB status to the code whose handler must act (abseil's
// guidance): a full disk is RESOURCE_EXHAUSTED (docs/api.md), corruption is
// DATA_LOSS, a busy or shutting-down database is UNAVAILABLE (a retry
// helps), and other I/O errors are INTERNAL. `context` says what was being
// done, e.g. "writing batch to collection 'web'".
absl::Status FromRocksDb(const rocksdb::Status& status,
                         std::string_view context);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_STATUS_H_
