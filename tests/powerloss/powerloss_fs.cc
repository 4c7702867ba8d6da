// powerloss_fs: a FUSE passthrough file system that can lose power, for the
// whole-process power-loss test (power_loss_process_test.cc).
//
//   powerloss_fs BACKING_DIR MOUNTPOINT
//
// Mounts BACKING_DIR at MOUNTPOINT. Every operation is passed through to
// the backing files, and every mutating one is reported to a
// PowerLossModel (storage/power_loss_model.h) with BACKING_DIR as its
// root: written bytes, truncations, fsync/fdatasync of files, fsync of
// directories, creations, links, renames, unlinks and rmdirs. So a power
// cycle leaves exactly what POSIX promises to keep. Writes go through to
// the daemon (no writeback cache) and the kernel caches no names or
// attributes, so what a process sees after a power cycle is the disk.
//
// Control, one command per line on stdin, one answer line on stdout:
//   cut     the power goes off: every mutating operation fails with EIO
//   cycle   drop everything not durable and power on again ("ok <stats>");
//           no process may hold a file on the mount open
//   quit    unmount and exit (also on end of input)
// It prints "mounted" once the mount is up, and exits 77 with a line
// "unavailable: <why>" if FUSE cannot be used here (no /dev/fuse, or no
// permission to mount).
#define FUSE_USE_VERSION 31

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "storage/power_loss_model.h"

namespace {

using winnow::storage::PowerLossModel;

std::string g_backing;
std::string g_mountpoint;
PowerLossModel* g_model = nullptr;

std::string B(const char* path) { return g_backing + path; }

struct Handle {
  int fd = -1;
  std::string path;                            // backing path at open
  std::shared_ptr<PowerLossModel::File> file;  // null when read-only
};

Handle* H(struct fuse_file_info* fi) {
  return reinterpret_cast<Handle*>(fi->fh);
}

int Err(int rc) { return rc == 0 ? 0 : -errno; }

void* Init(struct fuse_conn_info* /*conn*/, struct fuse_config* cfg) {
  cfg->entry_timeout = 0;
  cfg->attr_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->hard_remove = 1;  // no .fuse_hidden files: unlink is unlink
  cfg->nullpath_ok = 1;
  cfg->use_ino = 1;
  cfg->direct_io = 0;
  cfg->kernel_cache = 0;
  return nullptr;
}

int GetAttr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  if (fi != nullptr) return Err(::fstat(H(fi)->fd, st));
  return Err(::lstat(B(path).c_str(), st));
}

int Access(const char* path, int mask) {
  return Err(::access(B(path).c_str(), mask));
}

// A directory handle holds the directory's backing path: with nullpath_ok
// the library may not pass it to fsyncdir.
int OpenDir(const char* path, struct fuse_file_info* fi) {
  std::string p = B(path);
  while (p.size() > g_backing.size() && p.back() == '/') p.pop_back();
  fi->fh = reinterpret_cast<uint64_t>(new std::string(std::move(p)));
  return 0;
}

int ReleaseDir(const char* /*path*/, struct fuse_file_info* fi) {
  delete reinterpret_cast<std::string*>(fi->fh);
  return 0;
}

int ReadDir(const char* path, void* buf, fuse_fill_dir_t filler,
            off_t /*offset*/, struct fuse_file_info* fi,
            enum fuse_readdir_flags /*flags*/) {
  DIR* d = ::opendir(fi != nullptr && fi->fh != 0
                         ? reinterpret_cast<std::string*>(fi->fh)->c_str()
                         : B(path).c_str());
  if (d == nullptr) return -errno;
  while (struct dirent* e = ::readdir(d)) {
    struct stat st = {};
    st.st_ino = e->d_ino;
    st.st_mode = static_cast<mode_t>(e->d_type) << 12;
    if (filler(buf, e->d_name, &st, 0, static_cast<fuse_fill_dir_flags>(0))) {
      break;
    }
  }
  ::closedir(d);
  return 0;
}

int MkDir(const char* path, mode_t mode) {
  if (!g_model->Admit()) return -EIO;
  return -g_model->Create(
      [&] { return ::mkdir(B(path).c_str(), mode) == 0 ? 0 : errno; });
}

int Unlink(const char* path) {
  if (!g_model->Admit()) return -EIO;
  const std::string p = B(path);
  return -g_model->Unlink(p,
                          [&] { return ::unlink(p.c_str()) == 0 ? 0 : errno; });
}

int RmDir(const char* path) {
  if (!g_model->Admit()) return -EIO;
  const std::string p = B(path);
  return -g_model->Rmdir(p,
                         [&] { return ::rmdir(p.c_str()) == 0 ? 0 : errno; });
}

int Rename(const char* from, const char* to, unsigned int flags) {
  if (!g_model->Admit()) return -EIO;
  if (flags != 0 && flags != RENAME_NOREPLACE) return -EINVAL;
  const std::string f = B(from), t = B(to);
  return -g_model->Rename(f, t, [&] {
    if (flags == RENAME_NOREPLACE && ::access(t.c_str(), F_OK) == 0) {
      return EEXIST;
    }
    return ::rename(f.c_str(), t.c_str()) == 0 ? 0 : errno;
  });
}

int Link(const char* from, const char* to) {
  if (!g_model->Admit()) return -EIO;
  return -g_model->Create(
      [&] { return ::link(B(from).c_str(), B(to).c_str()) == 0 ? 0 : errno; });
}

int Chmod(const char* path, mode_t mode, struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  if (fi != nullptr) return Err(::fchmod(H(fi)->fd, mode));
  return Err(::chmod(B(path).c_str(), mode));
}

int Chown(const char* path, uid_t uid, gid_t gid, struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  if (fi != nullptr) return Err(::fchown(H(fi)->fd, uid, gid));
  return Err(::lchown(B(path).c_str(), uid, gid));
}

int Utimens(const char* path, const struct timespec tv[2],
            struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  if (fi != nullptr) return Err(::futimens(H(fi)->fd, tv));
  return Err(::utimensat(AT_FDCWD, B(path).c_str(), tv, AT_SYMLINK_NOFOLLOW));
}

int Truncate(const char* path, off_t size, struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  if (fi != nullptr) {
    if (H(fi)->file != nullptr) {
      g_model->BeforeTruncate(*H(fi)->file, static_cast<uint64_t>(size));
    }
    return Err(::ftruncate(H(fi)->fd, size));
  }
  const std::string p = B(path);
  if (auto f = g_model->Track(p)) {
    g_model->BeforeTruncate(*f, static_cast<uint64_t>(size));
  }
  return Err(::truncate(p.c_str(), size));
}

// Opens (creating with `mode` if `create`) and tracks a file opened for
// writing.
int OpenFile(const char* path, struct fuse_file_info* fi, bool create,
             mode_t mode) {
  const std::string p = B(path);
  const int acc = fi->flags & O_ACCMODE;
  const bool writes = acc != O_RDONLY || (fi->flags & O_TRUNC) != 0;
  if (writes && !g_model->Admit()) return -EIO;
  // The kernel hands write offsets itself: never let O_APPEND move them.
  const int flags = (fi->flags & ~O_APPEND) | O_CLOEXEC;
  if ((fi->flags & O_TRUNC) != 0) {
    if (auto f = g_model->Track(p)) g_model->BeforeTruncate(*f, 0);
  }
  int fd = -1;
  const int rc = g_model->Create([&] {
    fd = create ? ::open(p.c_str(), flags | O_CREAT, mode)
                : ::open(p.c_str(), flags);
    return fd >= 0 ? 0 : errno;
  });
  if (rc != 0) return -rc;
  auto h = std::make_unique<Handle>();
  h->fd = fd;
  h->path = p;
  if (writes) h->file = g_model->Track(p);
  fi->fh = reinterpret_cast<uint64_t>(h.release());
  return 0;
}

int Open(const char* path, struct fuse_file_info* fi) {
  return OpenFile(path, fi, false, 0);
}

int Create(const char* path, mode_t mode, struct fuse_file_info* fi) {
  return OpenFile(path, fi, true, mode);
}

int Read(const char* /*path*/, char* buf, size_t size, off_t offset,
         struct fuse_file_info* fi) {
  ssize_t r = ::pread(H(fi)->fd, buf, size, offset);
  return r < 0 ? -errno : static_cast<int>(r);
}

int Write(const char* /*path*/, const char* buf, size_t size, off_t offset,
          struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  Handle* h = H(fi);
  if (h->file != nullptr) {
    g_model->BeforeWrite(*h->file, static_cast<uint64_t>(offset), size);
  }
  ssize_t r = ::pwrite(h->fd, buf, size, offset);
  if (r < 0) return -errno;
  if (h->file != nullptr) {
    g_model->AfterWrite(*h->file, static_cast<uint64_t>(offset),
                        static_cast<uint64_t>(r));
  }
  return static_cast<int>(r);
}

int StatFs(const char* /*path*/, struct statvfs* st) {
  return Err(::statvfs(g_backing.c_str(), st));
}

int Flush(const char* /*path*/, struct fuse_file_info* /*fi*/) { return 0; }

int Release(const char* /*path*/, struct fuse_file_info* fi) {
  Handle* h = H(fi);
  ::close(h->fd);
  delete h;
  return 0;
}

int FSync(const char* /*path*/, int datasync, struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  Handle* h = H(fi);
  // fsync through any descriptor, even a read-only one, syncs the file.
  if (h->file == nullptr) h->file = g_model->Track(h->path);
  if (h->file == nullptr) {
    return Err(datasync ? ::fdatasync(h->fd) : ::fsync(h->fd));
  }
  auto token = g_model->BeforeSync(*h->file);
  const int rc = datasync ? ::fdatasync(h->fd) : ::fsync(h->fd);
  if (rc != 0) return -errno;
  g_model->AfterSync(*h->file, token);
  return 0;
}

int FSyncDir(const char* /*path*/, int /*datasync*/,
             struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  const std::string& p = *reinterpret_cast<std::string*>(fi->fh);
  g_model->SyncDir(p);
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  const int rc = ::fsync(fd);
  ::close(fd);
  return Err(rc);
}

int FAllocate(const char* /*path*/, int mode, off_t offset, off_t length,
              struct fuse_file_info* fi) {
  if (!g_model->Admit()) return -EIO;
  Handle* h = H(fi);
  if (::fallocate(h->fd, mode, offset, length) != 0) return -errno;
  if ((mode & FALLOC_FL_KEEP_SIZE) == 0 && h->file != nullptr) {
    g_model->AfterWrite(*h->file, static_cast<uint64_t>(offset),
                        static_cast<uint64_t>(length));
  }
  return 0;
}

void Unmount() {
  if (::umount2(g_mountpoint.c_str(), MNT_DETACH) != 0) {
    const std::string cmd = "fusermount3 -u -z '" + g_mountpoint + "'";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "powerloss_fs: cannot unmount %s\n",
                   g_mountpoint.c_str());
    }
  }
}

void Control() {
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "cut") {
      g_model->CutPower();
      std::cout << "ok" << std::endl;
    } else if (line == "cycle") {
      g_model->CutPower();
      absl::Status s = g_model->PowerCycle();
      if (!s.ok()) {
        std::cout << "error " << s.ToString() << std::endl;
        continue;
      }
      const PowerLossModel::Stats st = g_model->stats();
      std::cout << "ok cycles=" << st.power_cycles
                << " file_syncs=" << st.file_syncs
                << " dir_syncs=" << st.dir_syncs
                << " files_rolled_back=" << st.files_rolled_back
                << " bytes_dropped=" << st.bytes_dropped
                << " names_dropped=" << st.names_dropped
                << " names_restored=" << st.names_restored << std::endl;
    } else if (line == "quit") {
      break;
    } else {
      std::cout << "error unknown command '" << line << "'" << std::endl;
    }
  }
  Unmount();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s BACKING_DIR MOUNTPOINT\n", argv[0]);
    return 2;
  }
  char resolved[PATH_MAX];
  if (::realpath(argv[1], resolved) == nullptr) {
    std::perror(argv[1]);
    return 2;
  }
  g_backing = resolved;
  if (::realpath(argv[2], resolved) == nullptr) {
    std::perror(argv[2]);
    return 2;
  }
  g_mountpoint = resolved;
  int probe = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (probe < 0) {
    std::cout << "unavailable: cannot open /dev/fuse: " << std::strerror(errno)
              << std::endl;
    return 77;
  }
  ::close(probe);

  PowerLossModel model(g_backing);
  if (absl::Status s = model.Reset(); !s.ok()) {
    std::fprintf(stderr, "powerloss_fs: %s\n", s.ToString().c_str());
    return 1;
  }
  g_model = &model;

  struct fuse_operations ops = {};
  ops.init = Init;
  ops.getattr = GetAttr;
  ops.access = Access;
  ops.readdir = ReadDir;
  ops.mkdir = MkDir;
  ops.unlink = Unlink;
  ops.rmdir = RmDir;
  ops.rename = Rename;
  ops.link = Link;
  ops.chmod = Chmod;
  ops.chown = Chown;
  ops.utimens = Utimens;
  ops.truncate = Truncate;
  ops.open = Open;
  ops.create = Create;
  ops.read = Read;
  ops.write = Write;
  ops.statfs = StatFs;
  ops.flush = Flush;
  ops.release = Release;
  ops.fsync = FSync;
  ops.opendir = OpenDir;
  ops.releasedir = ReleaseDir;
  ops.fsyncdir = FSyncDir;
  ops.fallocate = FAllocate;

  char arg0[] = "powerloss_fs";
  char* fuse_argv[] = {arg0, nullptr};
  struct fuse_args args = FUSE_ARGS_INIT(1, fuse_argv);
  struct fuse* fuse = fuse_new(&args, &ops, sizeof(ops), nullptr);
  if (fuse == nullptr) {
    std::cout << "unavailable: fuse_new failed" << std::endl;
    return 77;
  }
  if (fuse_mount(fuse, g_mountpoint.c_str()) != 0) {
    std::cout << "unavailable: cannot mount " << g_mountpoint
              << " (no permission to mount FUSE here?)" << std::endl;
    fuse_destroy(fuse);
    return 77;
  }
  std::cout << "mounted" << std::endl;
  std::thread(Control).detach();
  const int rc = fuse_loop_mt(fuse, /*clone_fd=*/0);
  fuse_unmount(fuse);
  fuse_destroy(fuse);
  return rc == 0 ? 0 : 1;
}
