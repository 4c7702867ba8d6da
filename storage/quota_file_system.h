// QuotaFileSystem: a RocksDB FileSystem that fails writes past a DiskQuota
// as a full disk does (disk_quota.h). Internal to storage/.
//
// It counts the bytes appended to every file opened for writing through it
// and releases them when the file is truncated, deleted or replaced by a
// rename, so the count follows what the database keeps on disk. An append
// that would pass the quota writes nothing and returns
// IOStatus::NoSpace(), the status a real ENOSPC produces.
//
// Thread safety: thread-safe, as RocksDB requires of a FileSystem.
#ifndef WINNOW_STORAGE_QUOTA_FILE_SYSTEM_H_
#define WINNOW_STORAGE_QUOTA_FILE_SYSTEM_H_

#include <memory>

#include "rocksdb/file_system.h"
#include "storage/disk_quota.h"

namespace winnow::storage::internal {

// Wraps `target` (for example rocksdb::FileSystem::Default()).
std::shared_ptr<rocksdb::FileSystem> NewQuotaFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target,
    std::shared_ptr<DiskQuota> quota);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_QUOTA_FILE_SYSTEM_H_
