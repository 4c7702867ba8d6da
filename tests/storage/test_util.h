// Helpers for storage tests: a temporary data directory and a store opened
// in it.
#ifndef WINNOW_TESTS_STORAGE_TEST_UTIL_H_
#define WINNOW_TESTS_STORAGE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/store.h"

namespace winnow::storage::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() : TempDir(std::filesystem::temp_directory_path().string()) {}
  // Under `base` instead.
  explicit TempDir(const std::string& base) {
    std::string pattern =
        (std::filesystem::path(base) / "winnow-storage-XXXXXX").string();
    char* dir = mkdtemp(pattern.data());
    EXPECT_NE(dir, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Where a power-loss test's disk lives: the model (storage/power_loss_model.h)
// decides what survives, so the real fsyncs under it only cost time; tmpfs
// makes them free.
inline std::string DiskBase() {
  std::error_code ec;
  if (::access("/dev/shm", W_OK) == 0 &&
      std::filesystem::is_directory("/dev/shm", ec)) {
    return "/dev/shm";
  }
  return std::filesystem::temp_directory_path().string();
}

// Under TSan the power-loss tests are skipped: Debian's RocksDB is not
// instrumented, and it hands the power-loss file wrappers (and its Env)
// between its threads through synchronization TSan cannot see, so TSan
// reports every such hand-off. The plain and ASan+UBSan builds run them;
// the file system's own tests (fault_injection_file_system_test.cc) run
// under TSan.
#if defined(__SANITIZE_THREAD__)
#define WINNOW_SKIP_UNDER_TSAN()                                         \
  GTEST_SKIP() << "skipped under TSan: RocksDB is not instrumented and " \
                  "hands the power-loss wrappers between its threads"
#else
#define WINNOW_SKIP_UNDER_TSAN() (void)0
#endif

inline StoreOptions TestOptions(const std::string& dir) {
  StoreOptions o;
  o.data_dir = dir + "/db";
  // Small memtables so tests exercise flushes and SST reads too.
  o.write_buffer_bytes = 1 << 20;
  return o;
}

inline std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(options);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

}  // namespace winnow::storage::testing

#endif  // WINNOW_TESTS_STORAGE_TEST_UTIL_H_
