#include "server/backups.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace winnow::server {
namespace {

namespace fs = std::filesystem;

constexpr char kManifest[] = "backup.toml";
constexpr char kDbDir[] = "db";
constexpr char kPartialSuffix[] = ".partial";
constexpr char kRestoreMarker[] = "RESTORE-IN-PROGRESS";
constexpr int64_t kManifestFormat = 1;

absl::Status IoError(std::string_view what, const fs::path& path,
                     const std::error_code& ec) {
  return absl::InternalError(
      absl::StrFormat("%s '%s': %s", what, path.string(), ec.message()));
}

// fsync of a file or directory, so that a rename or a restore is durable.
absl::Status SyncPath(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return IoError("opening", path,
                   std::error_code(errno, std::generic_category()));
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return IoError("syncing", path,
                   std::error_code(err, std::generic_category()));
  }
  return absl::OkStatus();
}

// Creates `dir` and its missing parents, and fsyncs the parent of each one
// it created, so that their names survive a power failure.
absl::Status CreateDirectoriesDurably(const fs::path& dir) {
  fs::path path = dir.lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "a/b/" -> "a/b"
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = path; !p.empty() && !fs::exists(p, ec);
       p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  fs::create_directories(path, ec);
  if (ec) return IoError("creating", path, ec);
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    const fs::path parent = it->has_parent_path() ? it->parent_path() : ".";
    if (absl::Status s = SyncPath(parent); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int64_t TreeBytes(const fs::path& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    std::error_code size_ec;
    if (it->is_regular_file(size_ec)) {
      uintmax_t size = it->file_size(size_ec);
      if (!size_ec) total += static_cast<int64_t>(size);
    }
  }
  return total;
}

std::string FormatId(absl::Time t) {
  return absl::FormatTime("%Y%m%dT%H%M%E3SZ", t, absl::UTCTimeZone());
}

absl::Status WriteManifest(const fs::path& path, const BackupRecord& r) {
  toml::table t;
  t.insert("format", kManifestFormat);
  t.insert("backup_id", r.backup_id);
  t.insert("create_time", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ",
                                           r.create_time, absl::UTCTimeZone()));
  t.insert("create_time_micros", absl::ToUnixMicros(r.create_time));
  t.insert("size_bytes", r.size_bytes);
  t.insert("collection_count", static_cast<int64_t>(r.collection_count));
  t.insert("server_version", r.server_version);
  {
    std::ofstream out(path, std::ios::trunc);
    out << "# A Winnow backup: restore with\n"
        << "#   winnowd --restore-from <this directory> --data-dir DIR\n"
        << t << "\n";
    out.flush();
    if (!out) {
      return IoError("writing", path,
                     std::make_error_code(std::errc::io_error));
    }
  }
  return SyncPath(path);
}

absl::StatusOr<BackupRecord> ReadManifest(const fs::path& dir) {
  const fs::path path = dir / kManifest;
  toml::table t;
  try {
    t = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not a backup manifest: %s", path.string(), e.description()));
  }
  BackupRecord r;
  r.backup_id = t["backup_id"].value_or(std::string());
  r.create_time =
      absl::FromUnixMicros(t["create_time_micros"].value_or(int64_t{0}));
  r.size_bytes = t["size_bytes"].value_or(int64_t{0});
  r.collection_count =
      static_cast<int32_t>(t["collection_count"].value_or(int64_t{0}));
  r.server_version = t["server_version"].value_or(std::string());
  if (r.backup_id.empty() ||
      t["format"].value_or(int64_t{0}) != kManifestFormat) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not a format-%d backup manifest", path.string(), kManifestFormat));
  }
  std::error_code ec;
  r.path = fs::absolute(dir, ec).lexically_normal().string();
  if (ec) r.path = dir.string();
  return r;
}

bool IsComplete(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / kManifest, ec) &&
         fs::is_regular_file(dir / kDbDir / "CURRENT", ec);
}

}  // namespace

std::string DefaultBackupDir(const std::string& data_dir) {
  fs::path p = fs::path(data_dir).lexically_normal();
  if (p.has_filename() == false) p = p.parent_path();  // "data/" -> "data"
  return p.string() + "-backups";
}

BackupManager::BackupManager(storage::Store* store, std::string backup_dir,
                             int64_t keep, std::string server_version)
    : store_(store),
      backup_dir_(std::move(backup_dir)),
      keep_(keep),
      server_version_(std::move(server_version)) {}

absl::StatusOr<BackupRecord> BackupManager::Create() {
  absl::MutexLock lock(&create_mu_);
  const fs::path root(backup_dir_);
  std::error_code ec;
  if (absl::Status s = CreateDirectoriesDurably(root); !s.ok()) {
    return absl::InternalError("backup_dir: " + std::string(s.message()));
  }

  BackupRecord r;
  r.server_version = server_version_;
  // Taken before the checkpoint begins: the backup holds every write
  // acknowledged before it.
  r.create_time = absl::Now();
  r.backup_id = FormatId(r.create_time);
  for (int n = 2; fs::exists(root / r.backup_id, ec); ++n) {
    r.backup_id = absl::StrCat(FormatId(r.create_time), "-", n);
  }
  const fs::path partial =
      root / absl::StrCat(".", r.backup_id, kPartialSuffix);
  const fs::path final_dir = root / r.backup_id;
  fs::remove_all(partial, ec);
  fs::create_directories(partial, ec);
  if (ec) return IoError("creating", partial, ec);
  auto fail = [&](absl::Status s) {
    std::error_code ignored;
    fs::remove_all(partial, ignored);
    spdlog::error("backup {} failed: {}", r.backup_id, s.ToString());
    return s;
  };

  r.collection_count = static_cast<int32_t>(store_->ListCollections().size());
  const auto start = absl::Now();
  if (absl::Status s = store_->CreateCheckpoint((partial / kDbDir).string());
      !s.ok()) {
    return fail(s);
  }
  r.size_bytes = TreeBytes(partial / kDbDir);
  if (absl::Status s = WriteManifest(partial / kManifest, r); !s.ok()) {
    return fail(s);
  }
  if (absl::Status s = SyncPath(partial); !s.ok()) return fail(s);
  fs::rename(partial, final_dir, ec);
  if (ec) return fail(IoError("renaming", partial, ec));
  if (absl::Status s = SyncPath(root); !s.ok()) return fail(s);
  r.path = fs::absolute(final_dir, ec).lexically_normal().string();
  if (ec) r.path = final_dir.string();
  spdlog::info("backup {} done: {} bytes, {} collections, in {} ms at {}",
               r.backup_id, r.size_bytes, r.collection_count,
               absl::ToInt64Milliseconds(absl::Now() - start), r.path);
  ApplyRetention();
  return r;
}

absl::StatusOr<std::vector<BackupRecord>> BackupManager::List() const {
  std::vector<BackupRecord> out;
  const fs::path root(backup_dir_);
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  fs::directory_iterator it(root, ec);
  if (ec) return IoError("listing backup_dir", root, ec);
  for (fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return IoError("listing backup_dir", root, ec);
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || !it->is_directory(ec)) continue;
    if (!IsComplete(it->path())) continue;
    absl::StatusOr<BackupRecord> r = ReadManifest(it->path());
    if (!r.ok()) {
      spdlog::warn("backup_dir: skipping {}: {}", it->path().string(),
                   r.status().ToString());
      continue;
    }
    out.push_back(*std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const BackupRecord& a, const BackupRecord& b) {
              // Ids are creation times, so this is newest first, and stable
              // for paging even if the clock steps back.
              return a.backup_id > b.backup_id;
            });
  return out;
}

void BackupManager::ApplyRetention() {
  const fs::path root(backup_dir_);
  std::error_code ec;
  // Leftovers of backups cut short (a crash, a full disk). Only this
  // server writes here, and it runs one backup at a time.
  for (fs::directory_iterator it(root, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 1 && name[0] == '.' && name.ends_with(kPartialSuffix)) {
      std::error_code ignored;
      fs::remove_all(it->path(), ignored);
    }
  }
  if (keep_ <= 0) return;
  absl::StatusOr<std::vector<BackupRecord>> all = List();
  if (!all.ok()) {
    spdlog::warn("backup retention: {}", all.status().ToString());
    return;
  }
  for (size_t i = static_cast<size_t>(keep_); i < all->size(); ++i) {
    const BackupRecord& old = (*all)[i];
    std::error_code rm;
    fs::remove_all(old.path, rm);
    if (rm) {
      spdlog::warn("backup retention: removing {}: {}", old.path, rm.message());
    } else {
      spdlog::info("backup retention: removed {} (keeping the {} newest)",
                   old.backup_id, keep_);
    }
  }
}

absl::Status RestoreBackup(const std::string& backup_path,
                           const std::string& data_dir) {
  const fs::path from(backup_path);
  std::error_code ec;
  fs::path source;
  if (IsComplete(from)) {
    source = from / kDbDir;
  } else if (fs::is_regular_file(from / "CURRENT", ec)) {
    source = from;  // a bare checkpoint
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "restore_from: '%s' is not a Winnow backup (expected %s and %s/ "
        "inside it; see ListBackups for backup paths)",
        backup_path, kManifest, kDbDir));
  }
  const fs::path to(data_dir);
  if (fs::exists(to, ec)) {
    if (!fs::is_directory(to, ec)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data_dir: '%s' is not a directory; --restore-from restores into "
          "an empty or missing directory",
          data_dir));
    }
    if (!fs::is_empty(to, ec) || ec) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "data_dir: '%s' is not empty; --restore-from restores only into an "
          "empty or missing directory, so that it never overwrites a "
          "database",
          data_dir));
    }
  }
  if (absl::Status s = CreateDirectoriesDurably(to); !s.ok()) {
    return absl::InternalError("data_dir: " + std::string(s.message()));
  }
  const fs::path marker = to / kRestoreMarker;
  {
    std::ofstream out(marker);
    out << "winnowd --restore-from " << backup_path
        << " did not finish; empty this directory and restore again\n";
    if (!out) {
      return IoError("writing", marker,
                     std::make_error_code(std::errc::io_error));
    }
  }
  if (absl::Status s = SyncPath(to); !s.ok()) return s;
  int64_t bytes = 0;
  size_t files = 0;
  fs::directory_iterator it(source, ec);
  if (ec) return IoError("reading", source, ec);
  for (fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return IoError("reading", source, ec);
    if (!it->is_regular_file(ec)) continue;
    const fs::path target = to / it->path().filename();
    fs::copy_file(it->path(), target, ec);
    if (ec) return IoError("copying", it->path(), ec);
    if (absl::Status s = SyncPath(target); !s.ok()) return s;
    bytes += static_cast<int64_t>(fs::file_size(target, ec));
    ++files;
  }
  if (absl::Status s = SyncPath(to); !s.ok()) return s;
  fs::remove(marker, ec);
  if (ec) return IoError("removing", marker, ec);
  if (absl::Status s = SyncPath(to); !s.ok()) return s;
  spdlog::info("restore: copied {} files ({} bytes) from {} into {}", files,
               bytes, source.string(), data_dir);
  return absl::OkStatus();
}

absl::Status CheckRestoreFinished(const std::string& data_dir) {
  std::error_code ec;
  if (fs::exists(fs::path(data_dir) / kRestoreMarker, ec)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data_dir: '%s' holds a restore that did not finish (%s); empty it "
        "and run winnowd --restore-from again",
        data_dir, kRestoreMarker));
  }
  return absl::OkStatus();
}

}  // namespace winnow::server
