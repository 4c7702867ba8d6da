// The power-loss file system itself (storage/fault_injection_file_system.h
// over storage/power_loss_model.h): after a power cycle, exactly what POSIX
// promises survives, and nothing else.
#include "storage/fault_injection_file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "storage/power_loss_model.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using rocksdb::FileOptions;
using rocksdb::IOOptions;
using testing::TempDir;

// The file's bytes, or nullopt if it does not exist.
std::optional<std::string> Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class FaultInjectionFileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/disk";
    std::filesystem::create_directories(root_);
    model_ = std::make_shared<PowerLossModel>(root_);
    ASSERT_TRUE(model_->Reset().ok());
    fs_ = internal::NewFaultInjectionFileSystem(rocksdb::FileSystem::Default(),
                                                model_);
  }

  std::string P(const std::string& name) const { return root_ + "/" + name; }

  // Creates `name` with `bytes`, synced if `sync`.
  void Write(const std::string& name, const std::string& bytes, bool sync) {
    std::unique_ptr<rocksdb::FSWritableFile> f;
    ASSERT_TRUE(fs_->NewWritableFile(P(name), FileOptions(), &f, nullptr).ok());
    ASSERT_TRUE(f->Append(bytes, IOOptions(), nullptr).ok());
    if (sync) ASSERT_TRUE(f->Sync(IOOptions(), nullptr).ok());
    ASSERT_TRUE(f->Close(IOOptions(), nullptr).ok());
  }
  void SyncDir(const std::string& name = "") {
    std::unique_ptr<rocksdb::FSDirectory> d;
    ASSERT_TRUE(fs_->NewDirectory(name.empty() ? root_ : P(name), IOOptions(),
                                  &d, nullptr)
                    .ok());
    ASSERT_TRUE(d->Fsync(IOOptions(), nullptr).ok());
  }
  void PowerCycle() {
    model_->CutPower();
    absl::Status s = model_->PowerCycle();
    ASSERT_TRUE(s.ok()) << s;
  }

  TempDir dir_;
  std::string root_;
  std::shared_ptr<PowerLossModel> model_;
  std::shared_ptr<rocksdb::FileSystem> fs_;
};

TEST_F(FaultInjectionFileSystemTest, KeepsSyncedBytesAndDropsTheRest) {
  std::unique_ptr<rocksdb::FSWritableFile> f;
  ASSERT_TRUE(fs_->NewWritableFile(P("log"), FileOptions(), &f, nullptr).ok());
  SyncDir();  // the name is durable
  ASSERT_TRUE(f->Append("synced;", IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->Sync(IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->Append("range-synced;", IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->RangeSync(0, 20, IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->Append("flushed", IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->Flush(IOOptions(), nullptr).ok());
  ASSERT_TRUE(f->Close(IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("log")), "synced;range-synced;flushed");
  PowerCycle();
  EXPECT_EQ(Read(P("log")), "synced;");
  EXPECT_EQ(model_->stats().bytes_dropped, 20u);
}

TEST_F(FaultInjectionFileSystemTest, NewNameNeedsItsDirectorySynced) {
  Write("a", "aaa", /*sync=*/true);
  Write("b", "bbb", /*sync=*/true);
  SyncDir();
  Write("c", "ccc", /*sync=*/true);  // synced bytes, but not its name
  PowerCycle();
  EXPECT_EQ(Read(P("a")), "aaa");
  EXPECT_EQ(Read(P("b")), "bbb");
  EXPECT_EQ(Read(P("c")), std::nullopt);
  EXPECT_EQ(model_->stats().names_dropped, 1u);
}

TEST_F(FaultInjectionFileSystemTest, RenameOverIsUndoneUntilTheDirectorySync) {
  // RocksDB's CURRENT: write a temp file, sync it, rename it over.
  Write("CURRENT", "MANIFEST-1", true);
  SyncDir();
  Write("CURRENT.tmp", "MANIFEST-2", true);
  ASSERT_TRUE(
      fs_->RenameFile(P("CURRENT.tmp"), P("CURRENT"), IOOptions(), nullptr)
          .ok());
  EXPECT_EQ(Read(P("CURRENT")), "MANIFEST-2");
  PowerCycle();
  EXPECT_EQ(Read(P("CURRENT")), "MANIFEST-1");
  EXPECT_EQ(Read(P("CURRENT.tmp")), std::nullopt);

  Write("CURRENT.tmp", "MANIFEST-3", true);
  ASSERT_TRUE(
      fs_->RenameFile(P("CURRENT.tmp"), P("CURRENT"), IOOptions(), nullptr)
          .ok());
  SyncDir();
  PowerCycle();
  EXPECT_EQ(Read(P("CURRENT")), "MANIFEST-3");
  EXPECT_EQ(Read(P("CURRENT.tmp")), std::nullopt);
}

TEST_F(FaultInjectionFileSystemTest,
       RenamedFileWhoseNewNameWasSyncedKeepsBoth) {
  // The rename is durable in the target directory only: the old name
  // (in an unsynced directory) still names it too, as on a real disk.
  ASSERT_TRUE(fs_->CreateDir(P("from"), IOOptions(), nullptr).ok());
  ASSERT_TRUE(fs_->CreateDir(P("to"), IOOptions(), nullptr).ok());
  SyncDir();
  Write("from/f", "data", true);
  SyncDir("from");
  ASSERT_TRUE(
      fs_->RenameFile(P("from/f"), P("to/f"), IOOptions(), nullptr).ok());
  SyncDir("to");
  PowerCycle();
  EXPECT_EQ(Read(P("to/f")), "data");
  EXPECT_EQ(Read(P("from/f")), "data");
}

TEST_F(FaultInjectionFileSystemTest, DeleteComesBackUntilTheDirectorySync) {
  Write("sst", "table", true);
  Write("log", "wal", false);
  SyncDir();
  ASSERT_TRUE(fs_->DeleteFile(P("sst"), IOOptions(), nullptr).ok());
  ASSERT_TRUE(fs_->DeleteFile(P("log"), IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("sst")), std::nullopt);
  PowerCycle();
  EXPECT_EQ(Read(P("sst")), "table");
  EXPECT_EQ(Read(P("log")), "");  // its name was durable, its bytes not
  EXPECT_EQ(model_->stats().names_restored, 2u);

  ASSERT_TRUE(fs_->DeleteFile(P("sst"), IOOptions(), nullptr).ok());
  SyncDir();
  PowerCycle();
  EXPECT_EQ(Read(P("sst")), std::nullopt);
}

TEST_F(FaultInjectionFileSystemTest,
       TruncationAndOverwritesOfSyncedBytesRollBack) {
  Write("f", "0123456789", true);
  SyncDir();
  // O_TRUNC, then new unsynced bytes, then a truncation.
  std::unique_ptr<rocksdb::FSWritableFile> w;
  ASSERT_TRUE(fs_->NewWritableFile(P("f"), FileOptions(), &w, nullptr).ok());
  ASSERT_TRUE(w->Append("xy", IOOptions(), nullptr).ok());
  ASSERT_TRUE(w->Truncate(1, IOOptions(), nullptr).ok());
  ASSERT_TRUE(w->Close(IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("f")), "x");
  PowerCycle();
  EXPECT_EQ(Read(P("f")), "0123456789");

  // Overwrites in the middle through a RandomRWFile, then a sync: durable.
  std::unique_ptr<rocksdb::FSRandomRWFile> rw;
  ASSERT_TRUE(fs_->NewRandomRWFile(P("f"), FileOptions(), &rw, nullptr).ok());
  ASSERT_TRUE(rw->Write(2, "ab", IOOptions(), nullptr).ok());
  ASSERT_TRUE(rw->Sync(IOOptions(), nullptr).ok());
  ASSERT_TRUE(rw->Write(8, "cdef", IOOptions(), nullptr).ok());
  ASSERT_TRUE(rw->Close(IOOptions(), nullptr).ok());
  EXPECT_EQ(Read(P("f")), "01ab4567cdef");
  PowerCycle();
  EXPECT_EQ(Read(P("f")), "01ab456789");
}

TEST_F(FaultInjectionFileSystemTest, NewDirectoryIsEmptyUntilSynced) {
  ASSERT_TRUE(fs_->CreateDir(P("db"), IOOptions(), nullptr).ok());
  Write("db/x", "x", true);
  PowerCycle();
  EXPECT_FALSE(std::filesystem::exists(P("db")));  // root not synced

  ASSERT_TRUE(fs_->CreateDir(P("db"), IOOptions(), nullptr).ok());
  SyncDir();
  Write("db/x", "x", true);
  PowerCycle();
  EXPECT_TRUE(std::filesystem::is_directory(P("db")));
  EXPECT_EQ(Read(P("db/x")), std::nullopt);  // db not synced

  Write("db/x", "x", true);
  SyncDir("db");
  ASSERT_TRUE(fs_->DeleteFile(P("db/x"), IOOptions(), nullptr).ok());
  ASSERT_TRUE(fs_->DeleteDir(P("db"), IOOptions(), nullptr).ok());
  EXPECT_FALSE(std::filesystem::exists(P("db")));
  PowerCycle();
  EXPECT_EQ(Read(P("db/x")), "x");
}

TEST_F(FaultInjectionFileSystemTest, LinksNeedTheirDirectorySynced) {
  Write("a", "data", true);
  SyncDir();
  ASSERT_TRUE(fs_->LinkFile(P("a"), P("b"), IOOptions(), nullptr).ok());
  PowerCycle();
  EXPECT_EQ(Read(P("b")), std::nullopt);
  ASSERT_TRUE(fs_->LinkFile(P("a"), P("b"), IOOptions(), nullptr).ok());
  SyncDir();
  ASSERT_TRUE(fs_->DeleteFile(P("a"), IOOptions(), nullptr).ok());
  SyncDir();
  PowerCycle();
  EXPECT_EQ(Read(P("a")), std::nullopt);
  EXPECT_EQ(Read(P("b")), "data");
}

TEST_F(FaultInjectionFileSystemTest,
       WithThePowerOffWritesFailAndChangeNothing) {
  Write("a", "aaa", true);
  SyncDir();
  std::unique_ptr<rocksdb::FSWritableFile> f;
  ASSERT_TRUE(fs_->NewWritableFile(P("b"), FileOptions(), &f, nullptr).ok());
  model_->CutPower();
  EXPECT_TRUE(f->Append("x", IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(f->Sync(IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(fs_->DeleteFile(P("a"), IOOptions(), nullptr).IsIOError());
  EXPECT_TRUE(
      fs_->RenameFile(P("a"), P("c"), IOOptions(), nullptr).IsIOError());
  std::unique_ptr<rocksdb::FSWritableFile> g;
  EXPECT_TRUE(
      fs_->NewWritableFile(P("d"), FileOptions(), &g, nullptr).IsIOError());
  EXPECT_EQ(Read(P("a")), "aaa");
  EXPECT_EQ(Read(P("c")), std::nullopt);
  EXPECT_EQ(Read(P("d")), std::nullopt);
  f->Close(IOOptions(), nullptr).PermitUncheckedError();
  ASSERT_TRUE(model_->PowerCycle().ok());
  EXPECT_TRUE(model_->powered());
  EXPECT_EQ(Read(P("b")), std::nullopt);
  Write("e", "e", true);  // powered again
}

TEST_F(FaultInjectionFileSystemTest, CutPowerAfterFailsTheNthOperation) {
  model_->CutPowerAfter(3);
  std::unique_ptr<rocksdb::FSWritableFile> f;
  ASSERT_TRUE(fs_->NewWritableFile(P("a"), FileOptions(), &f, nullptr).ok());
  ASSERT_TRUE(f->Append("1", IOOptions(), nullptr).ok());
  EXPECT_TRUE(f->Append("2", IOOptions(), nullptr).IsIOError());
  EXPECT_FALSE(model_->powered());
  EXPECT_EQ(Read(P("a")), "1");
  f->Close(IOOptions(), nullptr).PermitUncheckedError();
}

}  // namespace
}  // namespace winnow::storage
