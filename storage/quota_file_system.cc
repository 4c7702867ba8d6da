#include "storage/quota_file_system.h"

#include <atomic>
#include <map>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace winnow::storage::internal {
namespace {

// The bytes counted for one file. Shared by the file system's table and
// the open file, so a file deleted while still open stops counting.
struct Tracked {
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> live{true};
};

class QuotaWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  QuotaWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target,
                    std::shared_ptr<DiskQuota> quota,
                    std::shared_ptr<Tracked> tracked)
      : FSWritableFileOwnerWrapper(std::move(target)),
        quota_(std::move(quota)),
        tracked_(std::move(tracked)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (!Use(data.size())) return NoSpace();
    rocksdb::IOStatus s = target()->Append(data, options, dbg);
    if (!s.ok()) Unuse(data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    if (!Use(data.size())) return NoSpace();
    rocksdb::IOStatus s = target()->Append(data, options, info, dbg);
    if (!s.ok()) Unuse(data.size());
    return s;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                     uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (!Use(data.size())) return NoSpace();
    rocksdb::IOStatus s =
        target()->PositionedAppend(data, offset, options, dbg);
    if (!s.ok()) Unuse(data.size());
    return s;
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                     uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     const rocksdb::DataVerificationInfo& info,
                                     rocksdb::IODebugContext* dbg) override {
    if (!Use(data.size())) return NoSpace();
    rocksdb::IOStatus s =
        target()->PositionedAppend(data, offset, options, info, dbg);
    if (!s.ok()) Unuse(data.size());
    return s;
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->Truncate(size, options, dbg);
    if (s.ok()) {
      uint64_t bytes = tracked_->bytes.load();
      if (size < bytes) Unuse(bytes - size);
    }
    return s;
  }

 private:
  static rocksdb::IOStatus NoSpace() {
    return rocksdb::IOStatus::NoSpace("disk quota exceeded");
  }
  bool Use(uint64_t n) {
    if (!tracked_->live.load()) return true;  // deleted: no longer counted
    if (!quota_->TryUse(n)) return false;
    tracked_->bytes.fetch_add(n);
    return true;
  }
  void Unuse(uint64_t n) {
    if (!tracked_->live.load()) return;
    tracked_->bytes.fetch_sub(n);
    quota_->Release(n);
  }

  std::shared_ptr<DiskQuota> quota_;
  std::shared_ptr<Tracked> tracked_;
};

class QuotaFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  QuotaFileSystem(std::shared_ptr<rocksdb::FileSystem> target,
                  std::shared_ptr<DiskQuota> quota)
      : FileSystemWrapper(std::move(target)), quota_(std::move(quota)) {}

  static const char* kClassName() { return "WinnowQuotaFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s =
        target()->NewWritableFile(fname, options, result, dbg);
    if (s.ok()) Wrap(fname, /*fresh=*/true, result);
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s =
        target()->ReopenWritableFile(fname, options, result, dbg);
    if (s.ok()) Wrap(fname, /*fresh=*/false, result);
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s =
        target()->ReuseWritableFile(fname, old_fname, options, result, dbg);
    if (s.ok()) {
      Forget(old_fname);
      Wrap(fname, /*fresh=*/true, result);
    }
    return s;
  }
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->DeleteFile(fname, options, dbg);
    if (s.ok()) Forget(fname);
    return s;
  }
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->RenameFile(src, dst, options, dbg);
    if (s.ok()) {
      absl::MutexLock lock(&mu_);
      ForgetLocked(dst);
      auto it = files_.find(src);
      if (it != files_.end()) {
        files_[dst] = std::move(it->second);
        files_.erase(it);
      }
    }
    return s;
  }

 private:
  void Wrap(const std::string& fname, bool fresh,
            std::unique_ptr<rocksdb::FSWritableFile>* result)
      ABSL_LOCKS_EXCLUDED(mu_) {
    std::shared_ptr<Tracked> tracked;
    {
      absl::MutexLock lock(&mu_);
      auto it = files_.find(fname);
      if (fresh && it != files_.end()) {
        // Truncated by the open: its old bytes are gone.
        ForgetLocked(fname);
        it = files_.end();
      }
      if (it == files_.end()) {
        it = files_.emplace(fname, std::make_shared<Tracked>()).first;
      }
      tracked = it->second;
    }
    *result = std::make_unique<QuotaWritableFile>(std::move(*result), quota_,
                                                  std::move(tracked));
  }
  void Forget(const std::string& fname) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    ForgetLocked(fname);
  }
  void ForgetLocked(const std::string& fname)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = files_.find(fname);
    if (it == files_.end()) return;
    it->second->live.store(false);
    quota_->Release(it->second->bytes.exchange(0));
    files_.erase(it);
  }

  std::shared_ptr<DiskQuota> quota_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Tracked>> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::shared_ptr<rocksdb::FileSystem> NewQuotaFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target,
    std::shared_ptr<DiskQuota> quota) {
  return std::make_shared<QuotaFileSystem>(std::move(target), std::move(quota));
}

}  // namespace winnow::storage::internal
