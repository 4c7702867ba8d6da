// Backups (docs/operations.md, "Backups"): consistent online copies of the
// whole database, listed and pruned in a backup directory, and the restore that
// `winnowd --restore-from` runs before the store opens.
//
// Layout of the backup directory (ServerOptions::backup_dir):
//
//   <backup_dir>/<backup_id>/backup.toml   what the backup is (BackupRecord)
//   <backup_dir>/<backup_id>/db/           a RocksDB checkpoint: an openable
//                                          copy of the database (hard links
//                                          to the live SST files where the
//                                          file system allows)
//   <backup_dir>/.<backup_id>.partial/     a backup being written; never
//                                          listed, removed by the next Backup
//
// A backup id is its UTC creation time, "20261127T175230.123Z", so ids sort
// by age; a second backup in the same millisecond gets a "-2" suffix.
// A backup is complete once its directory has its final name: it is
// written under the .partial name and renamed.
//
// Thread safety: a BackupManager is safe for concurrent use; backups run
// one at a time (a second Create waits for the first). RestoreBackup runs
// before the server starts, alone.
#ifndef WINNOW_SERVER_BACKUPS_H_
#define WINNOW_SERVER_BACKUPS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/store.h"

namespace winnow::server {

// One backup, as backup.toml records it.
struct BackupRecord {
  std::string backup_id;
  // When the checkpoint was taken: the backup holds every write
  // acknowledged before this, and none that began after it.
  absl::Time create_time;
  // Total size of the backup's files, in bytes.
  int64_t size_bytes = 0;
  // The backup's directory (what --restore-from takes).
  std::string path;
  int32_t collection_count = 0;
  // Version of the winnowd that wrote it.
  std::string server_version;
};

// The backup directory used when ServerOptions::backup_dir is empty: a
// sibling of the data directory named "<data_dir>-backups" (./data ->
// ./data-backups), usually on the same file system, so that a backup
// hard-links the SST files instead of copying them.
std::string DefaultBackupDir(const std::string& data_dir);

class BackupManager {
 public:
  // `keep`: how many backups to keep, newest first; older ones are deleted
  // after each successful backup. 0 keeps all.
  BackupManager(storage::Store* store, std::string backup_dir, int64_t keep,
                std::string server_version);

  // Takes a backup while the store keeps serving reads and writes, then
  // applies retention. Errors: the store's (RESOURCE_EXHAUSTED on a full
  // disk), or INTERNAL when the backup directory cannot be written.
  absl::StatusOr<BackupRecord> Create() ABSL_LOCKS_EXCLUDED(create_mu_);

  // Complete backups, newest first. A directory that is not a readable
  // backup is skipped (and logged).
  absl::StatusOr<std::vector<BackupRecord>> List() const;

  const std::string& backup_dir() const { return backup_dir_; }

 private:
  // Deletes the oldest backups beyond keep_ and leftover .partial dirs.
  void ApplyRetention();

  storage::Store* const store_;
  const std::string backup_dir_;
  const int64_t keep_;
  const std::string server_version_;
  absl::Mutex create_mu_;  // one backup at a time
};

// Restores the backup in `backup_path` (a <backup_id> directory, or a bare
// checkpoint directory) into `data_dir`, which must be missing or empty;
// the store is then opened on it as usual. While files are copied,
// data_dir holds a RESTORE-IN-PROGRESS marker, so that a restore cut short
// is never served (see CheckRestoreFinished). Errors name the flag:
// INVALID_ARGUMENT "restore_from: ..." for a path that is not a backup,
// FAILED_PRECONDITION "data_dir: ... is not empty" for a non-empty target,
// INTERNAL for I/O failures.
absl::Status RestoreBackup(const std::string& backup_path,
                           const std::string& data_dir);

// FAILED_PRECONDITION if `data_dir` holds the marker of a restore that did
// not finish; OK otherwise (also when data_dir is missing).
absl::Status CheckRestoreFinished(const std::string& data_dir);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_BACKUPS_H_
