// FaultInjectionFileSystem: a RocksDB FileSystem that can lose power, for
// tests (StoreOptions::power_loss). Internal to storage/ and its tests.
//
// It forwards to `target` (the local file system) and reports every
// mutating operation under the model's root to a PowerLossModel
// (power_loss_model.h), which records what is durable:
//  - WritableFile and RandomRWFile: bytes written, truncations, and
//    Sync/Fsync (durable up to there). RangeSync is forwarded but makes
//    nothing durable.
//  - FSDirectory::Fsync / FsyncWithDirOptions: the directory's entries.
//  - DeleteFile, RenameFile, LinkFile, CreateDir(IfMissing), DeleteDir,
//    Truncate: the namespace, kept so that a power cycle can undo what no
//    directory fsync covered.
// While the power is off, every mutating operation (anywhere) fails with
// an I/O error and does nothing; reads keep working. RocksDB's
// ReuseWritableFile (log recycling, off by default) is a rename and a
// fresh file.
//
// Thread safety: thread-safe, as RocksDB requires of a FileSystem.
#ifndef WINNOW_STORAGE_FAULT_INJECTION_FILE_SYSTEM_H_
#define WINNOW_STORAGE_FAULT_INJECTION_FILE_SYSTEM_H_

#include <memory>

#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/power_loss_model.h"

namespace winnow::storage::internal {

std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target,
    std::shared_ptr<PowerLossModel> model);

// `target` with its clock's sleeps cut to at most 10 ms: RocksDB waits 1 s
// after a failed background job, which a power cut in a compaction causes
// every time, and a test cuts the power often.
std::unique_ptr<rocksdb::Env> NewShortSleepEnv(
    std::unique_ptr<rocksdb::Env> target);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_FAULT_INJECTION_FILE_SYSTEM_H_
