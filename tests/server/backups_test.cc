// BackupManager and RestoreBackup against a real store in a temp dir.
#include "server/backups.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "storage/store.h"
#include "tests/server/store_fixture.h"

namespace winnow::server {
namespace {

namespace fs = std::filesystem;

class BackupsTest : public testing::StoreTest {
 protected:
  BackupsTest() : StoreTest("web") {}
};

TEST(DefaultBackupDirTest, IsASiblingOfTheDataDir) {
  EXPECT_EQ(DefaultBackupDir("./data"), "data-backups");
  EXPECT_EQ(DefaultBackupDir("/var/lib/winnow"), "/var/lib/winnow-backups");
  EXPECT_EQ(DefaultBackupDir("/var/lib/winnow/"), "/var/lib/winnow-backups");
}

TEST_F(BackupsTest, CreateListRetainAndRestore) {
  BackupManager backups(store_.get(), root_ + "/backups", 2, "9.9.9");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<BackupRecord> b = backups.Create();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(b->collection_count, 1);
    EXPECT_EQ(b->server_version, "9.9.9");
    EXPECT_GT(b->size_bytes, 0);
    EXPECT_TRUE(fs::exists(b->path + "/backup.toml"));
    ids.push_back(b->backup_id);
  }
  EXPECT_LT(ids[0], ids[1]);  // ids sort by age
  EXPECT_LT(ids[1], ids[2]);
  // A leftover partial backup and a stray file are not listed.
  fs::create_directories(root_ + "/backups/.x.partial/db");
  std::ofstream(root_ + "/backups/README") << "not a backup";
  absl::StatusOr<std::vector<BackupRecord>> list = backups.List();
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);  // keep = 2
  EXPECT_EQ((*list)[0].backup_id, ids[2]);
  EXPECT_EQ((*list)[1].backup_id, ids[1]);
  // The next backup sweeps the partial one.
  ASSERT_TRUE(backups.Create().ok());
  EXPECT_FALSE(fs::exists(root_ + "/backups/.x.partial"));

  // Restore into a missing directory, then open it.
  const std::string restored = root_ + "/restored";
  ASSERT_TRUE(RestoreBackup((*list)[0].path, restored).ok());
  EXPECT_TRUE(CheckRestoreFinished(restored).ok());
  storage::StoreOptions options;
  options.data_dir = restored;
  absl::StatusOr<std::unique_ptr<storage::Store>> copy =
      storage::Store::Open(options);
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ((*copy)->ListCollections().size(), 1u);
  ASSERT_TRUE((*copy)->Close().ok());

  // Not into a non-empty one, and not from something else.
  absl::Status s = RestoreBackup((*list)[0].path, restored);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("data_dir: "), std::string::npos) << s;
  s = RestoreBackup(root_ + "/backups", root_ + "/elsewhere");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("restore_from: "), std::string::npos) << s;
  EXPECT_FALSE(fs::exists(root_ + "/elsewhere"));
}

TEST_F(BackupsTest, AnUnfinishedRestoreIsNeverServed) {
  const std::string dir = root_ + "/half";
  fs::create_directories(dir);
  std::ofstream(dir + "/RESTORE-IN-PROGRESS") << "";
  absl::Status s = CheckRestoreFinished(dir);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(CheckRestoreFinished(root_ + "/missing").ok());
  EXPECT_TRUE(CheckRestoreFinished(root_ + "/data").ok());
}

}  // namespace
}  // namespace winnow::server
