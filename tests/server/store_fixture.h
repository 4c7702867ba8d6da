// StoreTest: a gtest fixture with a real store in a fresh temp dir
// (root()/data) holding one empty collection, closed and removed after the
// test. For server/ units that need a store but no gRPC.
#ifndef WINNOW_TESTS_SERVER_STORE_FIXTURE_H_
#define WINNOW_TESTS_SERVER_STORE_FIXTURE_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "storage/store.h"

namespace winnow::server::testing {

class StoreTest : public ::testing::Test {
 protected:
  explicit StoreTest(std::string collection)
      : collection_(std::move(collection)) {}

  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "winnow-server-XXXXXX")
            .string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    storage::StoreOptions options;
    options.data_dir = root_ + "/data";
    absl::StatusOr<std::unique_ptr<storage::Store>> store =
        storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    ASSERT_TRUE(store_->CreateCollection({collection_, 0}).ok());
  }
  void TearDown() override {
    if (store_) (void)store_->Close();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  const std::string collection_;
  std::string root_;
  std::unique_ptr<storage::Store> store_;
};

}  // namespace winnow::server::testing

#endif  // WINNOW_TESTS_SERVER_STORE_FIXTURE_H_
