#include "storage/fault_injection_file_system.h"

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>

#include "rocksdb/system_clock.h"

namespace winnow::storage::internal {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

IOStatus PowerOff() {
  return IOStatus::IOError("power loss: the power is off");
}

// A sync of a tracked file (`file` null: untracked) through `op`: refused
// with the power off; what it makes durable is recorded once it succeeds.
template <typename Op>
IOStatus SyncTracked(PowerLossModel& model, PowerLossModel::File* file, Op op) {
  if (!model.Admit()) return PowerOff();
  if (file == nullptr) return op();
  auto token = model.BeforeSync(*file);
  IOStatus s = op();
  if (s.ok()) model.AfterSync(*file, token);
  return s;
}

std::string Normal(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

// A file being written. `file` is null outside the model's root.
class PowerLossWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  PowerLossWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target,
                        std::shared_ptr<PowerLossModel> model,
                        std::shared_ptr<PowerLossModel::File> file)
      : FSWritableFileOwnerWrapper(std::move(target)),
        model_(std::move(model)),
        file_(std::move(file)) {}

  IOStatus Append(const Slice& data, const IOOptions& options,
                  IODebugContext* dbg) override {
    return Write(data, [&] { return target()->Append(data, options, dbg); });
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info,
                  IODebugContext* dbg) override {
    return Write(data,
                 [&] { return target()->Append(data, options, info, dbg); });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& options,
                            IODebugContext* dbg) override {
    return WriteAt(offset, data, [&] {
      return target()->PositionedAppend(data, offset, options, dbg);
    });
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    return WriteAt(offset, data, [&] {
      return target()->PositionedAppend(data, offset, options, info, dbg);
    });
  }
  IOStatus Truncate(uint64_t size, const IOOptions& options,
                    IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    if (file_ != nullptr) model_->BeforeTruncate(*file_, size);
    return target()->Truncate(size, options, dbg);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Sync(options, dbg); });
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Fsync(options, dbg); });
  }
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    // sync_file_range: durable bytes are not promised, so none are noted.
    if (!model_->Admit()) return PowerOff();
    return target()->RangeSync(offset, nbytes, options, dbg);
  }
  IOStatus Allocate(uint64_t offset, uint64_t len, const IOOptions& options,
                    IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    return target()->Allocate(offset, len, options, dbg);
  }

 private:
  template <typename Op>
  IOStatus Write(const Slice& data, Op op) {
    if (!model_->Admit()) return PowerOff();
    if (file_ == nullptr) return op();
    return WriteAt(model_->Size(*file_), data, op, /*admitted=*/true);
  }
  template <typename Op>
  IOStatus WriteAt(uint64_t offset, const Slice& data, Op op,
                   bool admitted = false) {
    if (!admitted && !model_->Admit()) return PowerOff();
    if (file_ == nullptr) return op();
    model_->BeforeWrite(*file_, offset, data.size());
    IOStatus s = op();
    if (s.ok()) model_->AfterWrite(*file_, offset, data.size());
    return s;
  }
  template <typename Op>
  IOStatus SyncWith(Op op) {
    return SyncTracked(*model_, file_.get(), op);
  }

  std::shared_ptr<PowerLossModel> model_;
  std::shared_ptr<PowerLossModel::File> file_;
};

class PowerLossRandomRWFile final : public rocksdb::FSRandomRWFileOwnerWrapper {
 public:
  PowerLossRandomRWFile(std::unique_ptr<rocksdb::FSRandomRWFile> target,
                        std::shared_ptr<PowerLossModel> model,
                        std::shared_ptr<PowerLossModel::File> file)
      : FSRandomRWFileOwnerWrapper(std::move(target)),
        model_(std::move(model)),
        file_(std::move(file)) {}

  IOStatus Write(uint64_t offset, const Slice& data, const IOOptions& options,
                 IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    if (file_ != nullptr) model_->BeforeWrite(*file_, offset, data.size());
    IOStatus s = target()->Write(offset, data, options, dbg);
    if (s.ok() && file_ != nullptr) {
      model_->AfterWrite(*file_, offset, data.size());
    }
    return s;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Sync(options, dbg); });
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return SyncWith([&] { return target()->Fsync(options, dbg); });
  }

 private:
  template <typename Op>
  IOStatus SyncWith(Op op) {
    return SyncTracked(*model_, file_.get(), op);
  }

  std::shared_ptr<PowerLossModel> model_;
  std::shared_ptr<PowerLossModel::File> file_;
};

class PowerLossDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  PowerLossDirectory(std::unique_ptr<rocksdb::FSDirectory> target,
                     std::shared_ptr<PowerLossModel> model, std::string path)
      : FSDirectoryWrapper(std::move(target)),
        model_(std::move(model)),
        path_(std::move(path)) {}

  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    // Entries added while the fsync runs may or may not be covered; the
    // model takes the entries before it (the losing choice).
    model_->SyncDir(path_);
    return FSDirectoryWrapper::Fsync(options, dbg);
  }
  IOStatus FsyncWithDirOptions(
      const IOOptions& options, IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_fsync_options) override {
    if (!model_->Admit()) return PowerOff();
    model_->SyncDir(path_);
    return FSDirectoryWrapper::FsyncWithDirOptions(options, dbg,
                                                   dir_fsync_options);
  }

 private:
  std::shared_ptr<PowerLossModel> model_;
  std::string path_;
};

class FaultInjectionFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  FaultInjectionFileSystem(std::shared_ptr<rocksdb::FileSystem> target,
                           std::shared_ptr<PowerLossModel> model)
      : FileSystemWrapper(std::move(target)), model_(std::move(model)) {}

  static const char* kClassName() { return "WinnowFaultInjectionFileSystem"; }
  const char* Name() const override { return kClassName(); }

  IOStatus NewWritableFile(const std::string& fname,
                           const rocksdb::FileOptions& options,
                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                           IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    const std::string path = Normal(fname);
    // O_TRUNC of an existing file: its durable bytes may come back.
    if (std::shared_ptr<PowerLossModel::File> old = model_->Track(path)) {
      model_->BeforeTruncate(*old, 0);
    }
    IOStatus s;
    model_->Create([&] {
      s = target()->NewWritableFile(fname, options, result, dbg);
      return s.ok() ? 0 : 1;
    });
    if (s.ok()) Wrap(path, result);
    return s;
  }
  IOStatus ReopenWritableFile(const std::string& fname,
                              const rocksdb::FileOptions& options,
                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                              IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Create([&] {
      s = target()->ReopenWritableFile(fname, options, result, dbg);
      return s.ok() ? 0 : 1;
    });
    if (s.ok()) Wrap(Normal(fname), result);
    return s;
  }
  IOStatus ReuseWritableFile(const std::string& fname,
                             const std::string& old_fname,
                             const rocksdb::FileOptions& options,
                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                             IODebugContext* dbg) override {
    IOStatus s = RenameFile(old_fname, fname, IOOptions(), dbg);
    if (!s.ok()) return s;
    return NewWritableFile(fname, options, result, dbg);
  }
  IOStatus NewRandomRWFile(const std::string& fname,
                           const rocksdb::FileOptions& options,
                           std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                           IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Create([&] {
      s = target()->NewRandomRWFile(fname, options, result, dbg);
      return s.ok() ? 0 : 1;
    });
    if (s.ok()) {
      *result = std::make_unique<PowerLossRandomRWFile>(
          std::move(*result), model_, model_->Track(Normal(fname)));
    }
    return s;
  }
  IOStatus NewDirectory(const std::string& name, const IOOptions& io_opts,
                        std::unique_ptr<rocksdb::FSDirectory>* result,
                        IODebugContext* dbg) override {
    IOStatus s = target()->NewDirectory(name, io_opts, result, dbg);
    if (s.ok()) {
      *result = std::make_unique<PowerLossDirectory>(std::move(*result), model_,
                                                     Normal(name));
    }
    return s;
  }
  IOStatus DeleteFile(const std::string& fname, const IOOptions& options,
                      IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Unlink(Normal(fname), [&] {
      s = target()->DeleteFile(fname, options, dbg);
      return s.ok() ? 0 : 1;
    });
    return s;
  }
  IOStatus Truncate(const std::string& fname, size_t size,
                    const IOOptions& options, IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    if (std::shared_ptr<PowerLossModel::File> f =
            model_->Track(Normal(fname))) {
      model_->BeforeTruncate(*f, size);
    }
    return target()->Truncate(fname, size, options, dbg);
  }
  IOStatus CreateDir(const std::string& dirname, const IOOptions& options,
                     IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Create([&] {
      s = target()->CreateDir(dirname, options, dbg);
      return s.ok() ? 0 : 1;
    });
    return s;
  }
  IOStatus CreateDirIfMissing(const std::string& dirname,
                              const IOOptions& options,
                              IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Create([&] {
      s = target()->CreateDirIfMissing(dirname, options, dbg);
      return s.ok() ? 0 : 1;
    });
    return s;
  }
  IOStatus DeleteDir(const std::string& dirname, const IOOptions& options,
                     IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    const int r = model_->Rmdir(Normal(dirname), [&] {
      s = target()->DeleteDir(dirname, options, dbg);
      return s.ok() ? 0 : 1;
    });
    if (r == ENOTEMPTY)
      return IOStatus::IOError("directory not empty", dirname);
    return s;
  }
  IOStatus RenameFile(const std::string& src, const std::string& target_name,
                      const IOOptions& options, IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Rename(Normal(src), Normal(target_name), [&] {
      s = target()->RenameFile(src, target_name, options, dbg);
      return s.ok() ? 0 : 1;
    });
    return s;
  }
  IOStatus LinkFile(const std::string& src, const std::string& target_name,
                    const IOOptions& options, IODebugContext* dbg) override {
    if (!model_->Admit()) return PowerOff();
    IOStatus s;
    model_->Create([&] {
      s = target()->LinkFile(src, target_name, options, dbg);
      return s.ok() ? 0 : 1;
    });
    return s;
  }

 private:
  void Wrap(const std::string& path,
            std::unique_ptr<rocksdb::FSWritableFile>* result) {
    *result = std::make_unique<PowerLossWritableFile>(
        std::move(*result), model_, model_->Track(path));
  }

  std::shared_ptr<PowerLossModel> model_;
};

class ShortSleepClock final : public rocksdb::SystemClockWrapper {
 public:
  explicit ShortSleepClock(const std::shared_ptr<rocksdb::SystemClock>& target)
      : SystemClockWrapper(target) {}
  const char* Name() const override { return "WinnowShortSleepClock"; }
  void SleepForMicroseconds(int micros) override {
    SystemClockWrapper::SleepForMicroseconds(std::min(micros, 10000));
  }
};

class ShortSleepEnv final : public rocksdb::EnvWrapper {
 public:
  explicit ShortSleepEnv(std::unique_ptr<rocksdb::Env> target)
      : EnvWrapper(std::move(target)) {
    system_clock_ = std::make_shared<ShortSleepClock>(system_clock_);
  }
  const char* Name() const override { return "WinnowShortSleepEnv"; }
  void SleepForMicroseconds(int micros) override {
    EnvWrapper::SleepForMicroseconds(std::min(micros, 10000));
  }
};

}  // namespace

std::unique_ptr<rocksdb::Env> NewShortSleepEnv(
    std::unique_ptr<rocksdb::Env> target) {
  return std::make_unique<ShortSleepEnv>(std::move(target));
}

std::shared_ptr<rocksdb::FileSystem> NewFaultInjectionFileSystem(
    std::shared_ptr<rocksdb::FileSystem> target,
    std::shared_ptr<PowerLossModel> model) {
  return std::make_shared<FaultInjectionFileSystem>(std::move(target),
                                                    std::move(model));
}

}  // namespace winnow::storage::internal
