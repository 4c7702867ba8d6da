// A really full disk, whole system: winnowd on a small tmpfs.
// Writes get RESOURCE_EXHAUSTED, reads keep working, and once the file
// system grows (a tmpfs remount with a larger size) writes succeed again
// and everything acknowledged survives a restart.
//
// Needs to mount a tmpfs (root with CAP_SYS_ADMIN); where that is not
// allowed the test is reported as SKIPPED, never as passed. The same
// behaviour is covered without privileges by tests/storage/disk_full_test.cc
// through a quota file system.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kDocs = 64;
constexpr size_t kPayload = 16 << 10;  // 1 MiB per batch

v1::UpsertDocumentsRequest Batch(int b) {
  v1::UpsertDocumentsRequest req;
  v1::DocumentColumns* cols = req.mutable_columns();
  for (int i = 0; i < kDocs; ++i) {
    cols->add_ids("b" + std::to_string(b) + "-" + std::to_string(i));
    cols->add_lengths(i);
    cols->add_payloads(std::string(kPayload, static_cast<char>('a' + b % 26)));
  }
  return req;
}

// Unmounts on destruction, after the server using it is gone.
class Tmpfs {
 public:
  explicit Tmpfs(std::string path) : path_(std::move(path)) {
    std::filesystem::create_directories(path_);
  }
  ~Tmpfs() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  // Mounts (or with `remount`, resizes) a tmpfs of `mib` MiB; the errno
  // text on failure.
  std::string Mount(int mib, bool remount) {
    std::string opts = "size=" + std::to_string(mib) + "m";
    unsigned long flags = remount ? MS_REMOUNT : 0;
    if (mount("tmpfs", path_.c_str(), "tmpfs", flags, opts.c_str()) != 0) {
      return std::strerror(errno);
    }
    mounted_ = true;
    return "";
  }

 private:
  std::string path_;
  bool mounted_ = false;
};

int64_t CountAll(const Client& client) {
  v1::CountRequest req;
  req.set_collection("full");
  absl::StatusOr<v1::CountResponse> r = client.Count(req);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->count() : -1;
}

absl::Status WriteOne(const Client& client, int b) {
  DocumentWriter w = client.UpsertDocuments("full");
  absl::Status s = w.Write(Batch(b));
  if (!s.ok()) return s;
  return w.Close();
}

TEST(DiskFullSystemTest, TmpfsFullThenGrown) {
  TempDir dir;
  Tmpfs fs(dir.path() + "/mnt");
  if (std::string err = fs.Mount(40, false); !err.empty()) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << err
                 << "); the storage-level disk-full test covers this";
  }
  const std::string data = dir.path() + "/mnt/data";
  auto server = WinnowdProcess::Start(data);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name("full");
  ASSERT_TRUE(client->CreateCollection(create).ok());

  // Fill it: 1 MiB batches until the disk refuses one.
  int acked = 0;
  absl::Status full;
  {
    DocumentWriter w = client->UpsertDocuments("full");
    for (int b = 0; b < 100 && full.ok(); ++b) {
      full = w.Write(Batch(b));
      if (full.ok()) full = w.Flush();
      if (full.ok()) acked = b + 1;
    }
  }
  ASSERT_FALSE(full.ok()) << "40 MiB never filled";
  ASSERT_EQ(CountAll(*client), int64_t{acked} * kDocs) << server->Log();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  ASSERT_GT(acked, 0);

  // Reads keep working and show exactly the acknowledged batches.
  EXPECT_EQ(CountAll(*client), int64_t{acked} * kDocs);
  v1::GetDocumentsRequest get;
  get.set_collection("full");
  get.add_ids("b0-0");
  absl::StatusOr<v1::GetDocumentsResponse> doc = client->GetDocuments(get);
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->documents_size(), 1);
  EXPECT_EQ(doc->documents(0).payload(), std::string(kPayload, 'a'));
  EXPECT_TRUE(client->ListCollections(v1::ListCollectionsRequest()).ok());
  // Another write is refused the same way.
  EXPECT_EQ(WriteOne(*client, 1000).code(),
            absl::StatusCode::kResourceExhausted);

  // Space returns. RocksDB's recovery retries every 5 s; until it has run,
  // writes are still refused.
  ASSERT_EQ(fs.Mount(512, true), "");
  const auto start = std::chrono::steady_clock::now();
  absl::Status again = WriteOne(*client, 1001);
  while (!again.ok() &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(15)) {
    EXPECT_EQ(again.code(), absl::StatusCode::kResourceExhausted) << again;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    again = WriteOne(*client, 1001);
  }
  ASSERT_TRUE(again.ok()) << again << "\n" << server->Log();
  EXPECT_TRUE(WriteOne(*client, 1002).ok());
  const int64_t want = (int64_t{acked} + 2) * kDocs;
  EXPECT_EQ(CountAll(*client), want);

  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
  server = WinnowdProcess::Start(data);
  ASSERT_NE(server, nullptr);
  client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(CountAll(*client), want);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
}  // namespace winnow
