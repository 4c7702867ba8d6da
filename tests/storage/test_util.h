// Helpers for storage tests: a temporary data directory and a store opened
// in it.
#ifndef WINNOW_TESTS_STORAGE_TEST_UTIL_H_
#define WINNOW_TESTS_STORAGE_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

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
