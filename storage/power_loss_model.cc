#include "storage/power_loss_model.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_format.h"

namespace winnow::storage {

struct PowerLossModel::File {
  ino_t ino = 0;
  std::string path;  // last known name, to read bytes about to be replaced
  uint64_t size = 0;
  uint64_t synced_size = 0;
  // Durable bytes overwritten or truncated since the last sync, oldest
  // first.
  struct Saved {
    uint64_t offset;
    std::string bytes;
  };
  std::vector<Saved> saved;
};

namespace {

std::string Errno(std::string_view what, const std::string& path) {
  return absl::StrFormat("%s '%s': %s", what, path, std::strerror(errno));
}

// Reads [offset, offset + n) of `path` (fewer bytes past its end).
std::string ReadRange(const std::string& path, uint64_t offset, uint64_t n) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  out.resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, offset + got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  out.resize(got);
  ::close(fd);
  return out;
}

}  // namespace

PowerLossModel::PowerLossModel(std::string root)
    : root_(std::filesystem::path(root).lexically_normal().string()),
      trash_(root_ + ".trash") {}

PowerLossModel::~PowerLossModel() {
  std::error_code ec;
  std::filesystem::remove_all(trash_, ec);
}

bool PowerLossModel::Covers(std::string_view path) const {
  return path == root_ ||
         (path.size() > root_.size() && path.starts_with(root_) &&
          path[root_.size()] == '/');
}

bool PowerLossModel::ReadDir(const std::string& path, Entries* out) {
  out->clear();
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return false;
  while (struct dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) {
      continue;
    }
    struct stat st;
    if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;
    }
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      (*out)[d->d_name] = Entry{st.st_ino, S_ISDIR(st.st_mode)};
    }
  }
  ::closedir(dir);
  return true;
}

void PowerLossModel::SetDurable(ino_t dir, Entries entries) {
  Entries& old = durable_[dir];
  for (const auto& [name, e] : old) {
    if (--refs_[e.ino] <= 0) refs_.erase(e.ino);
  }
  for (const auto& [name, e] : entries) ++refs_[e.ino];
  old = std::move(entries);
}

absl::Status PowerLossModel::Reset() {
  std::lock_guard lock(mu_);
  return ResetLocked();
}

absl::Status PowerLossModel::ResetLocked() {
  files_.clear();
  durable_.clear();
  refs_.clear();
  trashed_.clear();
  std::error_code ec;
  std::filesystem::remove_all(trash_, ec);
  if (::mkdir(trash_.c_str(), 0755) != 0) {
    return absl::InternalError(Errno("creating", trash_));
  }
  struct stat st;
  if (::stat(root_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InternalError(Errno("reading the root", root_));
  }
  root_ino_ = st.st_ino;
  // Everything present is durable.
  std::vector<std::pair<std::string, ino_t>> dirs = {{root_, root_ino_}};
  while (!dirs.empty()) {
    auto [path, ino] = dirs.back();
    dirs.pop_back();
    Entries entries;
    if (!ReadDir(path, &entries)) {
      return absl::InternalError(Errno("reading", path));
    }
    for (const auto& [name, e] : entries) {
      if (e.is_dir) dirs.emplace_back(path + "/" + name, e.ino);
    }
    SetDurable(ino, std::move(entries));
  }
  powered_ = true;
  cut_after_ = 0;
  ops_ = 0;
  return absl::OkStatus();
}

void PowerLossModel::CutPower() {
  std::lock_guard lock(mu_);
  powered_ = false;
}

void PowerLossModel::CutPowerAfter(uint64_t ops) {
  std::lock_guard lock(mu_);
  cut_after_ = ops;
}

bool PowerLossModel::powered() const {
  std::lock_guard lock(mu_);
  return powered_;
}

bool PowerLossModel::Admit() {
  std::lock_guard lock(mu_);
  if (!powered_) return false;
  if (cut_after_ > 0 && --cut_after_ == 0) {
    powered_ = false;
    return false;
  }
  ++ops_;
  return true;
}

uint64_t PowerLossModel::ops() const {
  std::lock_guard lock(mu_);
  return ops_;
}

PowerLossModel::Stats PowerLossModel::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::shared_ptr<PowerLossModel::File> PowerLossModel::Track(
    const std::string& path) {
  if (!Covers(path)) return nullptr;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return nullptr;
  std::lock_guard lock(mu_);
  std::shared_ptr<File>& f = files_[st.st_ino];
  if (f == nullptr) {
    f = std::make_shared<File>();
    f->ino = st.st_ino;
    f->size = f->synced_size = static_cast<uint64_t>(st.st_size);
  }
  f->path = path;
  return f;
}

void PowerLossModel::BeforeWrite(File& file, uint64_t offset, uint64_t n) {
  std::lock_guard lock(mu_);
  if (offset >= file.synced_size || n == 0) return;
  const uint64_t end = std::min(offset + n, file.synced_size);
  file.saved.push_back({offset, ReadRange(file.path, offset, end - offset)});
}

void PowerLossModel::AfterWrite(File& file, uint64_t offset, uint64_t n) {
  std::lock_guard lock(mu_);
  file.size = std::max(file.size, offset + n);
}

uint64_t PowerLossModel::Size(File& file) {
  std::lock_guard lock(mu_);
  return file.size;
}

void PowerLossModel::BeforeTruncate(File& file, uint64_t size) {
  std::lock_guard lock(mu_);
  if (size < file.synced_size) {
    file.saved.push_back(
        {size, ReadRange(file.path, size, file.synced_size - size)});
  }
  file.size = size;
}

std::pair<uint64_t, size_t> PowerLossModel::BeforeSync(File& file) {
  std::lock_guard lock(mu_);
  ++stats_.file_syncs;
  return {file.size, file.saved.size()};
}

void PowerLossModel::AfterSync(File& file, std::pair<uint64_t, size_t> token) {
  std::lock_guard lock(mu_);
  file.synced_size = token.first;
  const size_t n = std::min(token.second, file.saved.size());
  file.saved.erase(file.saved.begin(), file.saved.begin() + n);
}

void PowerLossModel::SyncDir(const std::string& path) {
  struct stat st;
  std::lock_guard lock(mu_);
  ++stats_.dir_syncs;
  if (!Covers(path) || ::stat(path.c_str(), &st) != 0) return;
  Entries entries;
  if (ReadDir(path, &entries)) SetDurable(st.st_ino, std::move(entries));
}

std::string PowerLossModel::TrashPath(ino_t ino, bool is_dir) const {
  return absl::StrFormat("%s/%c%d", trash_, is_dir ? 'd' : 'f',
                         static_cast<uint64_t>(ino));
}

void PowerLossModel::KeepIfDurable(const std::string& path) {
  struct stat st;
  if (!Covers(path) || ::lstat(path.c_str(), &st) != 0) return;
  if (!refs_.contains(st.st_ino) || trashed_.contains(st.st_ino)) return;
  if (S_ISREG(st.st_mode)) {
    if (::link(path.c_str(), TrashPath(st.st_ino, false).c_str()) == 0) {
      trashed_.insert(st.st_ino);
    }
  } else if (S_ISDIR(st.st_mode)) {
    // Only an empty directory can be replaced or removed: move it.
    if (::rename(path.c_str(), TrashPath(st.st_ino, true).c_str()) == 0) {
      trashed_.insert(st.st_ino);
    }
  }
}

int PowerLossModel::Unlink(const std::string& path,
                           const std::function<int()>& op) {
  std::lock_guard lock(mu_);
  struct stat st;
  const bool known = Covers(path) && ::lstat(path.c_str(), &st) == 0;
  if (known && S_ISREG(st.st_mode)) KeepIfDurable(path);
  const int r = op();
  if (r == 0 && known && st.st_nlink <= 1 && !trashed_.contains(st.st_ino)) {
    files_.erase(st.st_ino);  // gone: the inode number may be reused
  }
  return r;
}

int PowerLossModel::Rename(const std::string& from, const std::string& to,
                           const std::function<int()>& op) {
  std::lock_guard lock(mu_);
  struct stat from_st, to_st;
  const bool from_known = Covers(from) && ::lstat(from.c_str(), &from_st) == 0;
  const bool replaces = Covers(to) && ::lstat(to.c_str(), &to_st) == 0 &&
                        !(from_known && from_st.st_ino == to_st.st_ino);
  if (replaces) KeepIfDurable(to);
  const int r = op();
  if (r != 0) return r;
  if (from_known && S_ISREG(from_st.st_mode)) {
    auto it = files_.find(from_st.st_ino);
    if (it != files_.end()) it->second->path = to;
  }
  if (replaces && S_ISREG(to_st.st_mode) && to_st.st_nlink <= 1 &&
      !trashed_.contains(to_st.st_ino)) {
    files_.erase(to_st.st_ino);
  }
  return r;
}

int PowerLossModel::Rmdir(const std::string& path,
                          const std::function<int()>& op) {
  std::lock_guard lock(mu_);
  struct stat st;
  const bool known = Covers(path) && ::lstat(path.c_str(), &st) == 0;
  if (!known || !S_ISDIR(st.st_mode) || !refs_.contains(st.st_ino)) {
    const int r = op();
    if (r == 0 && known) {
      // Not named durably: forget what it held (its inode may be reused).
      auto it = durable_.find(st.st_ino);
      if (it != durable_.end()) {
        SetDurable(st.st_ino, {});
        durable_.erase(st.st_ino);
      }
    }
    return r;
  }
  // A durable name still points here: keep the inode (and its durable
  // entries) in the trash instead of removing it. rmdir's own checks first.
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return errno;
  int entries = 0;
  while (struct dirent* d = ::readdir(dir)) {
    if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) {
      ++entries;
    }
  }
  ::closedir(dir);
  if (entries > 0) return ENOTEMPTY;
  KeepIfDurable(path);
  return trashed_.contains(st.st_ino) ? 0 : op();
}

int PowerLossModel::Create(const std::function<int()>& op) {
  std::lock_guard lock(mu_);
  return op();
}

absl::Status PowerLossModel::PowerCycle() {
  std::lock_guard lock(mu_);
  powered_ = false;
  // Where each inode lives now, and every present name.
  std::map<ino_t, std::string> where;
  std::map<std::string, ino_t> present;  // relative path -> inode
  {
    std::vector<std::pair<std::string, std::string>> dirs = {{root_, ""}};
    while (!dirs.empty()) {
      auto [path, rel] = dirs.back();
      dirs.pop_back();
      Entries entries;
      if (!ReadDir(path, &entries)) {
        return absl::InternalError(Errno("reading", path));
      }
      for (const auto& [name, e] : entries) {
        const std::string child = path + "/" + name;
        const std::string child_rel = rel + "/" + name;
        present[child_rel] = e.ino;
        if (e.is_dir) {
          dirs.emplace_back(child, child_rel);
        } else {
          where.emplace(e.ino, child);
        }
      }
    }
    Entries trash;
    ReadDir(trash_, &trash);
    for (const auto& [name, e] : trash) {
      if (!e.is_dir) where.emplace(e.ino, trash_ + "/" + name);
    }
  }
  // Files back to their durable bytes.
  for (const auto& [ino, f] : files_) {
    if (f->size == f->synced_size && f->saved.empty()) continue;
    auto it = where.find(ino);
    if (it == where.end()) continue;  // no name can reach it
    int fd = ::open(it->second.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return absl::InternalError(Errno("opening", it->second));
    for (auto s = f->saved.rbegin(); s != f->saved.rend(); ++s) {
      if (::pwrite(fd, s->bytes.data(), s->bytes.size(), s->offset) !=
          static_cast<ssize_t>(s->bytes.size())) {
        ::close(fd);
        return absl::InternalError(Errno("restoring", it->second));
      }
    }
    const int rc = ::ftruncate(fd, static_cast<off_t>(f->synced_size));
    ::close(fd);
    if (rc != 0) return absl::InternalError(Errno("truncating", it->second));
    ++stats_.files_rolled_back;
    if (f->size > f->synced_size)
      stats_.bytes_dropped += f->size - f->synced_size;
  }
  // The durable tree, from hard links, in a scratch directory.
  const std::string reboot = root_ + ".reboot";
  const std::string dead = root_ + ".dead";
  std::error_code ec;
  std::filesystem::remove_all(reboot, ec);
  std::filesystem::remove_all(dead, ec);
  if (::mkdir(reboot.c_str(), 0755) != 0) {
    return absl::InternalError(Errno("creating", reboot));
  }
  std::map<std::string, ino_t> durable;  // relative path -> inode
  struct Todo {
    ino_t dir;
    std::string path, rel;
    int depth;
  };
  std::vector<Todo> todo = {{root_ino_, reboot, "", 0}};
  while (!todo.empty()) {
    Todo t = todo.back();
    todo.pop_back();
    if (t.depth > 64) return absl::InternalError("directory cycle");
    auto d = durable_.find(t.dir);
    if (d == durable_.end()) continue;  // never synced: empty
    for (const auto& [name, e] : d->second) {
      const std::string out = t.path + "/" + name;
      const std::string rel = t.rel + "/" + name;
      durable[rel] = e.ino;
      if (e.is_dir) {
        if (::mkdir(out.c_str(), 0755) != 0) {
          return absl::InternalError(Errno("creating", out));
        }
        todo.push_back({e.ino, out, rel, t.depth + 1});
        continue;
      }
      auto it = where.find(e.ino);
      if (it == where.end()) {
        return absl::InternalError(absl::StrFormat(
            "power loss model: the durable file %s (inode %d) is gone", rel,
            static_cast<uint64_t>(e.ino)));
      }
      if (::link(it->second.c_str(), out.c_str()) != 0) {
        return absl::InternalError(Errno("linking", out));
      }
    }
  }
  for (const auto& [rel, ino] : present) {
    auto it = durable.find(rel);
    if (it == durable.end() || it->second != ino) ++stats_.names_dropped;
  }
  for (const auto& [rel, ino] : durable) {
    auto it = present.find(rel);
    if (it == present.end() || it->second != ino) ++stats_.names_restored;
  }
  if (::rename(root_.c_str(), dead.c_str()) != 0 ||
      ::rename(reboot.c_str(), root_.c_str()) != 0) {
    return absl::InternalError(Errno("swapping in the rebuilt", root_));
  }
  std::filesystem::remove_all(dead, ec);
  ++stats_.power_cycles;
  return ResetLocked();
}

}  // namespace winnow::storage
