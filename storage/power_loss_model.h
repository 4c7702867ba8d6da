// PowerLossModel: what a disk keeps through a power cut, for tests
// (docs/operations.md, "Durability"). Used by the in-process fault-injecting
// RocksDB file system (fault_injection_file_system.h) and by the tests'
// FUSE layer (tests/powerloss/), which call its hooks around every
// mutating operation on the real files under one root directory.
//
// It models what POSIX promises after a crash, and nothing more:
//  - A file's bytes are durable up to the last fsync/fdatasync of that
//    file (RocksDB's Sync/Fsync). sync_file_range (RocksDB's RangeSync)
//    makes nothing durable: it flushes neither the size nor the disk cache.
//    Overwritten or truncated bytes that were durable come back.
//  - A directory's entries (names: creations, renames, links, unlinks,
//    mkdir, rmdir) are durable as of the last fsync of that directory. An
//    fsync of a file does not make its name durable; an fsync of a
//    directory does not make its files' bytes durable.
//  - A new directory's own entries are empty until it is fsynced.
// PowerCycle() applies a cut: every file goes back to its durable bytes,
// every directory to its durable entries (names created since are
// dropped, names deleted or renamed away come back), and the result
// becomes the new durable state. It is the most losing outcome a real disk
// may produce, which is what a test wants.
//
// It works by inode: a directory's durable entries are (name, inode) pairs
// taken at its fsync, and files that a durable entry still names are kept
// alive by a hard link in `<root>.trash` when the layer deletes or
// replaces them. PowerCycle rebuilds the durable tree in `<root>.reboot`
// from hard links and swaps it in; nothing may hold files under the root
// open across it.
//
// Power: CutPower() (or the N-th mutating operation after CutPowerAfter(N))
// turns the power off; the layer then fails every mutating operation
// without doing it (Admit() returns false), as a dead disk would.
//
// Thread safety: thread-safe.
#ifndef WINNOW_STORAGE_POWER_LOSS_MODEL_H_
#define WINNOW_STORAGE_POWER_LOSS_MODEL_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace winnow::storage {

class PowerLossModel {
 public:
  // What the last power cycles did.
  struct Stats {
    uint64_t power_cycles = 0;
    uint64_t file_syncs = 0;
    uint64_t dir_syncs = 0;
    uint64_t files_rolled_back = 0;  // files whose bytes went back
    uint64_t bytes_dropped = 0;      // unsynced bytes past the synced size
    uint64_t names_dropped = 0;      // names that were not durable
    uint64_t names_restored = 0;     // durable names deleted or replaced
  };

  // The durability of one file (inode) opened for writing through a layer.
  struct File;

  // `root`: an existing directory. Call Reset() before use.
  explicit PowerLossModel(std::string root);
  PowerLossModel(const PowerLossModel&) = delete;
  PowerLossModel& operator=(const PowerLossModel&) = delete;
  ~PowerLossModel();

  const std::string& root() const { return root_; }
  // Whether `path` (absolute, normalized) lies under the root.
  bool Covers(std::string_view path) const;

  // Everything under the root is durable as it is now; power on.
  absl::Status Reset();

  // ---- Power ----
  void CutPower();
  // Power goes off at the `ops`-th mutating operation from now (that
  // operation fails); 0 disarms.
  void CutPowerAfter(uint64_t ops);
  bool powered() const;
  // Counts one mutating operation; false when the power is (now) off, and
  // then the layer must fail the operation without doing it.
  bool Admit();
  // Mutating operations admitted since Reset.
  uint64_t ops() const;
  // Drops everything not durable (see the file comment), then powers on.
  // The layer must hold no file under the root open.
  absl::Status PowerCycle();
  Stats stats() const;

  // ---- Hooks for the layer, with `path` absolute ----

  // The file at `path` (which exists), to be written through a layer; its
  // present bytes count as durable if it was not tracked yet. nullptr if it
  // is outside the root.
  std::shared_ptr<File> Track(const std::string& path);
  // Around writing [offset, offset + n) of `file`: BeforeWrite saves durable
  // bytes about to be overwritten, AfterWrite records the new size.
  void BeforeWrite(File& file, uint64_t offset, uint64_t n);
  void AfterWrite(File& file, uint64_t offset, uint64_t n);
  // The offset an append of `file` writes at.
  uint64_t Size(File& file);
  // Before truncating `file` to `size` (also O_TRUNC: size 0).
  void BeforeTruncate(File& file, uint64_t size);
  // Around an fsync of `file`: BeforeSync returns a token for AfterSync,
  // which (on success) makes what the file held at BeforeSync durable.
  std::pair<uint64_t, size_t> BeforeSync(File& file);
  void AfterSync(File& file, std::pair<uint64_t, size_t> token);
  // Before an fsync of the directory `path`: its present entries become
  // durable.
  void SyncDir(const std::string& path);

  // Namespace operations, done by `op` (returns 0 or an errno) under the
  // model's lock so that no directory fsync sees them half done. They keep
  // durable files alive and return op's result.
  int Unlink(const std::string& path, const std::function<int()>& op);
  int Rename(const std::string& from, const std::string& to,
             const std::function<int()>& op);
  int Rmdir(const std::string& path, const std::function<int()>& op);
  // Creations (mkdir, link, create): nothing to keep, but serialized too.
  int Create(const std::function<int()>& op);

 private:
  struct Entry {
    ino_t ino;
    bool is_dir;
    bool operator==(const Entry&) const = default;
  };
  using Entries = std::map<std::string, Entry>;

  absl::Status ResetLocked();
  // Reads directory `path`'s entries (regular files and directories).
  static bool ReadDir(const std::string& path, Entries* out);
  void SetDurable(ino_t dir, Entries entries);
  // Keeps the inode of `path` (a file or directory) alive in the trash if a
  // durable entry names it and the caller is about to remove its last name.
  void KeepIfDurable(const std::string& path);
  std::string TrashPath(ino_t ino, bool is_dir) const;

  const std::string root_;
  const std::string trash_;

  mutable std::mutex mu_;
  bool powered_ = true;               // GUARDED_BY(mu_)
  uint64_t cut_after_ = 0;            // GUARDED_BY(mu_)
  uint64_t ops_ = 0;                  // GUARDED_BY(mu_)
  ino_t root_ino_ = 0;                // GUARDED_BY(mu_)
  std::map<ino_t, Entries> durable_;  // GUARDED_BY(mu_), by directory inode
  std::map<ino_t, int> refs_;         // GUARDED_BY(mu_): durable names
  std::set<ino_t> trashed_;           // GUARDED_BY(mu_)
  std::map<ino_t, std::shared_ptr<File>> files_;  // GUARDED_BY(mu_)
  Stats stats_;                                   // GUARDED_BY(mu_)
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_POWER_LOSS_MODEL_H_
