// Storage format migrations (storage/migrations.h; docs/architecture.md,
// "Format migrations"): a directory written by an earlier release opens,
// migrates to kFormatVersion and reads back identical; a reopen is a
// no-op; a power cut anywhere in the migration leaves the old format or
// the new one, whole, and the next open completes; a newer format and data
// without a version are refused; a new directory starts at the newest
// format.
//
// The format 1 directory is the plan-compatibility fixture
// (tests/fixtures/compat_v1/backup/db), a backup written by release 6787f3f:
// 13 plans and a 400-document collection.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "rocksdb/db.h"
#include "storage/embedding_blocks.h"
#include "storage/float16.h"
#include "storage/format.h"
#include "storage/migrations.h"
#include "storage/power_loss_model.h"
#include "storage/store.h"
#include "tests/sanitized.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using internal::kFormatVersion;
using testing::DiskBase;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

namespace fs = std::filesystem;

// (plan id, entry name) -> value.
using PlanEntries = std::map<std::pair<std::string, std::string>, std::string>;

// What a data directory holds, read through RocksDB directly.
struct RawState {
  bool has_plans_family = false;
  uint32_t version = 0;       // 0: no version key
  PlanEntries format1_plans;  // "plan/<id>/<entry>" in meta
  PlanEntries plans;          // "<id>\0<entry>" in the plans family
  std::set<std::string> plan_markers;
  std::map<std::string, std::string> other_meta;  // every other meta key
  uint64_t sequence = 0;  // the database's last sequence number
  bool has_embeddings_family = false;
  uint64_t format2_embeddings = 0;  // per-document embedding keys in docs
};

RawState ReadRaw(const std::string& dir) {
  RawState st;
  std::vector<std::string> names;
  rocksdb::Status s =
      rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& name : names) {
    cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles,
                                   &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return st;
  st.sequence = raw->GetLatestSequenceNumber();
  for (size_t i = 0; i < names.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(
        raw->NewIterator(rocksdb::ReadOptions(), handles[i]));
    if (names[i] == "meta") {
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string key = it->key().ToString();
        if (key == "F") {
          EXPECT_EQ(it->value().size(), 4u);
          std::memcpy(&st.version, it->value().data(), 4);
        } else if (key.starts_with("plan/")) {
          const size_t slash = key.find('/', 5);
          EXPECT_NE(slash, std::string::npos) << key;
          st.format1_plans[{key.substr(5, slash - 5), key.substr(slash + 1)}] =
              it->value().ToString();
        } else {
          st.other_meta[key] = it->value().ToString();
        }
      }
    } else if (names[i] == "docs") {
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        st.format2_embeddings +=
            it->key().size() == 9 && it->key()[4] == 'E' ? 1 : 0;
      }
    } else if (names[i] == "embeddings") {
      st.has_embeddings_family = true;
    } else if (names[i] == "plans") {
      st.has_plans_family = true;
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string key = it->key().ToString();
        const size_t nul = key.find('\0');
        if (nul == std::string::npos) {
          st.plan_markers.insert(key);
        } else {
          st.plans[{key.substr(0, nul), key.substr(nul + 1)}] =
              it->value().ToString();
        }
      }
    }
    EXPECT_TRUE(it->status().ok()) << it->status().ToString();
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    raw->DestroyColumnFamilyHandle(h);
  }
  delete raw;
  return st;
}

std::set<std::string> PlanIds(const PlanEntries& entries) {
  std::set<std::string> ids;
  for (const auto& [key, value] : entries) ids.insert(key.first);
  return ids;
}

// Every entry reads back identical through the Store, and ListPlanEntries
// lists exactly the plans holding each entry name.
void ExpectServes(Store& store, const PlanEntries& want) {
  std::map<std::string, PlanEntries> by_name;
  for (const auto& [key, value] : want) {
    absl::StatusOr<std::string> got = store.GetPlanEntry(key.first, key.second);
    ASSERT_TRUE(got.ok()) << key.first << "/" << key.second << ": "
                          << got.status();
    EXPECT_EQ(*got, value) << key.first << "/" << key.second;
    by_name[key.second][key] = value;
  }
  for (const auto& [name, entries] : by_name) {
    PlanEntries listed;
    for (auto& [plan, value] : store.ListPlanEntries(name)) {
      listed[{plan, name}] = std::move(value);
    }
    EXPECT_EQ(listed, entries) << "ListPlanEntries(\"" << name << "\")";
  }
}

constexpr char kFormat1Fixture[] = WINNOW_FIXTURES_DIR "/compat_v1/backup/db";

void CopyDir(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const fs::directory_entry& e : fs::directory_iterator(from)) {
    fs::copy_file(e.path(), fs::path(to) / e.path().filename());
  }
}

// A format 1 directory written as release 6787f3f laid it out, with values
// large enough for the plans family's blob files, a plan entry name holding
// a slash, and meta keys that must stay in meta.
PlanEntries WriteSyntheticFormat1(const std::string& dir) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}},
      {"meta", {}},
      {"blocks", {}},
      {"docs", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, dir, cfs, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return {};
  std::mt19937_64 rng(7);
  auto bytes = [&](size_t n) {
    std::string v(n, '\0');
    for (char& c : v) c = static_cast<char>(rng());
    return v;
  };
  PlanEntries plans = {
      {{"pA1", "meta"}, "meta of pA1"},
      {{"pA1", "internal"}, bytes(100)},
      {{"pA1", "frozen"}, bytes(300 << 10)},
      {{"pA1-b", "meta"}, "meta of pA1-b"},
      {{"pA1-b", "frozen"}, bytes(200 << 10)},
      {{"pA1-b", "epoch/0"}, bytes(70 << 10)},
      {{"pA1-b", "epoch/12"}, bytes(10)},
      {{"pB", "meta"}, "meta of pB"},
      {{"pB", "frozen"}, ""},
  };
  rocksdb::WriteBatch batch;
  uint32_t one = 1;
  batch.Put(handles[1], "F", rocksdb::Slice(reinterpret_cast<char*>(&one), 4));
  batch.Put(handles[1], "secret/cursor", "0123456789abcdef0123456789abcdef");
  for (const auto& [key, value] : plans) {
    batch.Put(handles[1], "plan/" + key.first + "/" + key.second, value);
  }
  rocksdb::WriteOptions w;
  w.sync = true;
  EXPECT_TRUE(raw->Write(w, &batch).ok());
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    raw->DestroyColumnFamilyHandle(h);
  }
  delete raw;
  return plans;
}

// Writes to the meta family of a format 2 directory behind the Store's back
// (what another release would have written); true on success.
bool WriteMeta(const std::string& dir,
               const std::function<void(rocksdb::WriteBatch*,
                                        rocksdb::ColumnFamilyHandle*)>& fill) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}},
      {"meta", {}},
      {"blocks", {}},
      {"docs", {}},
      {"plans", {}},
      {"embeddings", {}}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(rocksdb::Options(), dir, cfs, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok()) return false;
  rocksdb::WriteBatch batch;
  fill(&batch, handles[1]);
  s = raw->Write(rocksdb::WriteOptions(), &batch);
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    raw->DestroyColumnFamilyHandle(h);
  }
  delete raw;
  return s.ok();
}

TEST(StoreMigrationTest, TheChainHasOneStepPerEarlierFormatInOrder) {
  std::span<const internal::Migration> chain = internal::FormatMigrations();
  ASSERT_EQ(chain.size(), kFormatVersion - 1);
  for (size_t i = 0; i < chain.size(); ++i) {
    EXPECT_EQ(chain[i].from_version, i + 1);
    EXPECT_NE(chain[i].run, nullptr);
    EXPECT_NE(std::string(chain[i].description), "");
  }
}

TEST(StoreMigrationTest,
     EarlierReleasesDirectoryMigratesAndReadsBackIdentical) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  CopyDir(kFormat1Fixture, options.data_dir);
  const RawState before = ReadRaw(options.data_dir);
  ASSERT_EQ(before.version, 1u);
  ASSERT_FALSE(before.has_plans_family);
  ASSERT_EQ(PlanIds(before.format1_plans).size(), 13u);

  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectServes(*store, before.format1_plans);
  absl::StatusOr<CollectionInfo> info = store->GetCollection("compat");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->num_ordinals, 400u);
  ASSERT_TRUE(store->Close().ok());

  const RawState after = ReadRaw(options.data_dir);
  EXPECT_EQ(after.version, kFormatVersion);
  EXPECT_TRUE(after.format1_plans.empty());
  EXPECT_EQ(after.plans, before.format1_plans);
  EXPECT_EQ(after.plan_markers, PlanIds(before.format1_plans));
  EXPECT_EQ(after.other_meta, before.other_meta);

  // A second open migrates nothing: it writes nothing at all.
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectServes(*store, before.format1_plans);
  ASSERT_TRUE(store->Close().ok());
  const RawState again = ReadRaw(options.data_dir);
  EXPECT_EQ(again.sequence, after.sequence);
  EXPECT_EQ(again.plans, after.plans);
}

TEST(StoreMigrationTest, LargePlansMoveIntoBlobFilesAndCheckpointsCarryThem) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  const PlanEntries plans = WriteSyntheticFormat1(options.data_dir);
  const RawState before = ReadRaw(options.data_dir);
  ASSERT_EQ(before.format1_plans, plans);
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectServes(*store, plans);
  // The secret stayed in meta, unchanged.
  absl::StatusOr<std::string> secret = store->GetOrCreateSecret("cursor");
  ASSERT_TRUE(secret.ok()) << secret.status();
  EXPECT_EQ(*secret, "0123456789abcdef0123456789abcdef");
  // Frozen records go to blob files once flushed; a checkpoint (a backup)
  // carries them.
  ASSERT_TRUE(store->Compact().ok());
  int blob_files = 0;
  for (const fs::directory_entry& e :
       fs::directory_iterator(options.data_dir)) {
    blob_files += e.path().extension() == ".blob";
  }
  EXPECT_GT(blob_files, 0);
  const std::string copy = dir.path() + "/checkpoint";
  ASSERT_TRUE(store->CreateCheckpoint(copy).ok());
  store.reset();
  fs::remove_all(options.data_dir);
  StoreOptions copy_options = options;
  copy_options.data_dir = copy;
  store = OpenOrDie(copy_options);
  ASSERT_NE(store, nullptr);
  ExpectServes(*store, plans);
  // Deleting a plan leaves the plans whose ids it prefixes.
  ASSERT_TRUE(store->DeletePlan("pA1").ok());
  PlanEntries rest = plans;
  std::erase_if(rest, [](const auto& e) { return e.first.first == "pA1"; });
  ExpectServes(*store, rest);
  EXPECT_EQ(store->GetPlanEntry("pA1", "frozen").status().code(),
            absl::StatusCode::kNotFound);
}

// What CutPowerThroughOpen saw.
struct PowerCuts {
  // The mutating file operations an open without a cut took.
  int operations = 0;
  // How many cuts left the directory at each format version.
  std::map<uint32_t, int> kept_at;
  bool completed = false;
};

// Opens a copy of `source` with the power cut at each mutating file
// operation of the open in turn, until an open needs fewer. After each cut,
// `check_kept` checks what the disk kept (read raw), and `serves` the store
// opened again from it. A sanitizer build cuts at every fourth operation
// only (tests/sanitized.h): each cut reopens RocksDB twice, which ASan makes
// slow, and the normal build cuts at every one.
PowerCuts CutPowerThroughOpen(
    const std::string& source, size_t write_buffer_bytes,
    const std::function<void(const RawState&)>& check_kept,
    const std::function<void(Store&)>& serves) {
  PowerCuts result;
  TempDir dir(DiskBase());
  const std::string root = dir.path() + "/disk";
  fs::create_directories(root);
  auto disk = std::make_shared<PowerLossModel>(root);
  StoreOptions options = TestOptions(root);
  options.power_loss = disk;
  // Small, so the migration's writes are flushed (into blob files) while
  // the power may still be cut.
  options.write_buffer_bytes = write_buffer_bytes;
  const uint64_t stride = ::winnow::testing::kSanitized ? 4 : 1;
  uint64_t cut = 1;
  for (; cut < 600 && !result.completed; cut += stride) {
    SCOPED_TRACE("power cut at mutating operation " + std::to_string(cut));
    fs::remove_all(options.data_dir);
    CopyDir(source, options.data_dir);
    EXPECT_TRUE(disk->Reset().ok());
    disk->CutPowerAfter(cut);
    {
      absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(options);
      if (s.ok() && disk->powered()) {
        result.completed = true;  // the migration needs fewer operations
      } else {
        EXPECT_FALSE(disk->powered()) << "open failed: " << s.status();
      }
      disk->CutPower();
    }
    EXPECT_TRUE(disk->PowerCycle().ok());
    const RawState kept = ReadRaw(options.data_dir);
    if (!result.completed) ++result.kept_at[kept.version];
    check_kept(kept);
    std::unique_ptr<Store> store = OpenOrDie(options);
    EXPECT_NE(store, nullptr);
    if (store != nullptr) serves(*store);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_TRUE(result.completed);
  // The last cut came after the open's last operation (to within a stride).
  result.operations = static_cast<int>(cut - stride - 1);
  return result;
}

// Migrates a copy of the format 1 directory `source` with the power cut at
// each mutating file operation of the open in turn: whatever the disk keeps
// is wholly format 1 or wholly a later format, and the next open completes
// the migration.
void ExpectPowerCutsLeaveOneWholeFormat(const std::string& source) {
  const RawState format1 = ReadRaw(source);
  ASSERT_EQ(format1.version, 1u);
  const PowerCuts cuts = CutPowerThroughOpen(
      source, 256 << 10,
      [&](const RawState& kept) {
        if (kept.version == 1) {
          EXPECT_EQ(kept.format1_plans, format1.format1_plans);
          EXPECT_TRUE(kept.plans.empty());
        } else {
          // Format 2 (the first step done), or the last format.
          EXPECT_GE(kept.version, 2u);
          EXPECT_LE(kept.version, kFormatVersion);
          EXPECT_TRUE(kept.format1_plans.empty());
          EXPECT_EQ(kept.plans, format1.format1_plans);
        }
        EXPECT_EQ(kept.other_meta, format1.other_meta);
      },
      [&](Store& store) { ExpectServes(store, format1.format1_plans); });
  EXPECT_GT(cuts.kept_at.count(1), 0u);
  std::printf(
      "migration power cuts (%s): the open took %d mutating operations; a "
      "cut at each earlier one left format 1 %d times, 2 %d times and 3 %d "
      "times\n",
      source.c_str(), cuts.operations,
      cuts.kept_at.count(1) ? cuts.kept_at.at(1) : 0,
      cuts.kept_at.count(2) ? cuts.kept_at.at(2) : 0,
      cuts.kept_at.count(3) ? cuts.kept_at.at(3) : 0);
}

TEST(StoreMigrationTest, PowerCutAnywhereInTheMigrationLeavesOneWholeFormat) {
  WINNOW_SKIP_UNDER_TSAN();
  ExpectPowerCutsLeaveOneWholeFormat(kFormat1Fixture);
}

TEST(StoreMigrationTest, PowerCutAnywhereInAMigrationToBlobFiles) {
  WINNOW_SKIP_UNDER_TSAN();
  TempDir staging;
  const std::string source = staging.path() + "/db";
  ASSERT_FALSE(WriteSyntheticFormat1(source).empty());
  ExpectPowerCutsLeaveOneWholeFormat(source);
}

TEST(StoreMigrationTest, ANewerFormatIsRefusedNamingBothVersions) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  OpenOrDie(options).reset();
  const uint32_t newer = kFormatVersion + 1;
  ASSERT_TRUE(WriteMeta(options.data_dir, [&](rocksdb::WriteBatch* b,
                                              rocksdb::ColumnFamilyHandle* m) {
    b->Put(m, "F", rocksdb::Slice(reinterpret_cast<const char*>(&newer), 4));
  }));
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(options);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();
  const std::string message(s.status().message());
  EXPECT_TRUE(message.starts_with("data_dir: '" + options.data_dir + "'"))
      << message;
  EXPECT_NE(message.find("format " + std::to_string(kFormatVersion + 1)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("format " + std::to_string(kFormatVersion)),
            std::string::npos)
      << message;
}

TEST(StoreMigrationTest, DataWithoutAFormatVersionIsDataLoss) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  }
  ASSERT_TRUE(WriteMeta(options.data_dir, [](rocksdb::WriteBatch* b,
                                             rocksdb::ColumnFamilyHandle* m) {
    b->Delete(m, "F");
  }));
  absl::StatusOr<std::unique_ptr<Store>> s = Store::Open(options);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_TRUE(std::string(s.status().message())
                  .starts_with("data_dir: '" + options.data_dir + "'"))
      << s.status();
}

TEST(StoreMigrationTest, ANewDirectoryStartsAtTheNewestFormatWithPlansFamily) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(
        store->PutPlanEntries("p1", {{"meta", "m"}, {"frozen", "f"}}).ok());
    EXPECT_EQ(store->PutPlanEntries("", {{"meta", "m"}}).code(),
              absl::StatusCode::kInvalidArgument);
  }
  const RawState st = ReadRaw(options.data_dir);
  EXPECT_EQ(st.version, kFormatVersion);
  EXPECT_TRUE(st.has_plans_family);
  EXPECT_TRUE(st.format1_plans.empty());
  EXPECT_EQ(st.plans,
            (PlanEntries{{{"p1", "meta"}, "m"}, {{"p1", "frozen"}, "f"}}));
  EXPECT_EQ(st.plan_markers, std::set<std::string>{"p1"});
}

TEST(StoreMigrationTest, PlansWhoseIdsPrefixEachOtherStayApart) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_NE(store, nullptr);
  PlanEntries all;
  for (const char* id : {"p", "p-", "p-x", "p0", "p_", "pa", "q"}) {
    std::vector<std::pair<std::string, std::string>> entries = {
        {"meta", std::string("meta of ") + id},
        {"epoch/1", std::string("epoch 1 of ") + id}};
    if (std::string(id) != "p0") entries.emplace_back("internal", id);
    ASSERT_TRUE(store->PutPlanEntries(id, entries).ok());
    for (auto& [k, v] : entries) all[{id, k}] = v;
  }
  ExpectServes(*store, all);
  ASSERT_TRUE(store->DeletePlan("p").ok());
  ASSERT_TRUE(store->DeletePlan("p-").ok());
  ASSERT_TRUE(store->DeletePlan("never").ok());
  std::erase_if(all, [](const auto& e) {
    return e.first.first == "p" || e.first.first == "p-";
  });
  ExpectServes(*store, all);
  EXPECT_EQ(store->ListPlanEntries("meta").size(), 5u);
}

// ---- Format 2 -> 3: embeddings from per-document keys into blocks ----

// ordinal -> the embedding as stored (float16 rounded), for documents that
// have one.
using Embeddings = std::map<uint32_t, std::vector<float>>;

// Writes collections "f32" (dim 12) and "f16" (dim 8, float16) through the
// Store, 5,000 documents each (two blocks) with replaces, deletes and
// documents without embeddings; returns what each holds.
std::map<std::string, Embeddings> WriteEmbeddingCollections(
    const StoreOptions& options) {
  std::map<std::string, Embeddings> want;
  std::unique_ptr<Store> store = OpenOrDie(options);
  EXPECT_NE(store, nullptr);
  if (store == nullptr) return want;
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> unit(-3, 3);
  for (const auto& [name, dim, type] :
       {std::tuple("f32", 12u, EmbeddingType::kFloat32),
        std::tuple("f16", 8u, EmbeddingType::kFloat16)}) {
    EXPECT_TRUE(store->CreateCollection({name, dim, type}).ok());
    Embeddings& e = want[name];
    auto upsert = [&](uint32_t begin, uint32_t end, uint32_t step, bool with) {
      std::vector<std::string> ids;
      for (uint32_t i = begin; i < end; i += step) {
        ids.push_back("d" + std::to_string(i));
      }
      DocumentBatch b;
      for (const std::string& id : ids) b.ids.push_back(id);
      std::vector<float> cells(with ? ids.size() * dim : 0);
      for (float& x : cells) x = unit(rng);
      b.embeddings = cells;
      absl::StatusOr<UpsertResult> r = store->UpsertDocuments(name, b);
      ASSERT_TRUE(r.ok()) << r.status();
      for (size_t i = 0; i < ids.size(); ++i) {
        const uint32_t o = static_cast<uint32_t>(r->ordinals[i]);
        if (!with) {
          e.erase(o);
          continue;
        }
        std::vector<float> row(cells.begin() + i * dim,
                               cells.begin() + (i + 1) * dim);
        if (type == EmbeddingType::kFloat16) {
          for (float& x : row) {
            x = internal::HalfToFloat(internal::FloatToHalf(x));
          }
        }
        e[o] = row;
      }
    };
    upsert(0, 5000, 1, true);
    upsert(7, 5000, 91, true);
    upsert(13, 5000, 77, false);
    std::vector<std::string> gone;
    for (uint32_t i = 3; i < 5000; i += 101)
      gone.push_back("d" + std::to_string(i));
    std::vector<std::string_view> views(gone.begin(), gone.end());
    EXPECT_TRUE(store->DeleteDocuments(name, views).ok());
    for (uint32_t i = 3; i < 5000; i += 101) e.erase(i);
  }
  EXPECT_TRUE(store->Close().ok());
  return want;
}

// Rewrites a directory of the current format as format 2 laid it out: each
// embedding under its own docs key, no embeddings family, version 2.
void RewriteAsFormat2(const std::string& dir,
                      const std::map<std::string, Embeddings>& want) {
  rocksdb::Options o;
  rocksdb::ColumnFamilyOptions emb;
  emb.merge_operator = internal::NewEmbeddingMergeOperator();
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, {}},
      {"meta", {}},
      {"blocks", {}},
      {"docs", {}},
      {"plans", {}},
      {"embeddings", emb}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, dir, cfs, &handles, &raw);
  ASSERT_TRUE(s.ok()) << s.ToString();
  rocksdb::WriteBatch batch;
  for (const auto& [name, rows] : want) {
    std::string record;
    ASSERT_TRUE(
        raw->Get({}, handles[1], internal::CollectionRecordKey(name), &record)
            .ok());
    internal::CollectionRecord r;
    ASSERT_TRUE(internal::DecodeCollectionRecord(record, &r));
    for (const auto& [o, row] : rows) {
      std::string value;
      for (float x : row) {
        if (r.embedding_type == 2) {
          internal::PutFixed<uint16_t>(&value, internal::FloatToHalf(x));
        } else {
          internal::PutFixed<float>(&value, x);
        }
      }
      batch.Put(handles[3],
                internal::DocKey(r.id, internal::DocField::kEmbedding, o),
                value);
    }
  }
  uint32_t two = 2;
  batch.Put(handles[1], "F", rocksdb::Slice(reinterpret_cast<char*>(&two), 4));
  rocksdb::WriteOptions w;
  w.sync = true;
  ASSERT_TRUE(raw->Write(w, &batch).ok());
  ASSERT_TRUE(raw->DropColumnFamily(handles[5]).ok());
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    raw->DestroyColumnFamilyHandle(h);
  }
  ASSERT_TRUE(raw->Close().ok());
  delete raw;
}

// The store serves exactly `want`, through ReadEmbeddings and GetDocuments.
void ExpectEmbeddings(Store& store,
                      const std::map<std::string, Embeddings>& want) {
  for (const auto& [name, rows] : want) {
    SCOPED_TRACE("collection " + name);
    absl::StatusOr<EmbeddingsSnapshot> snap = store.ReadEmbeddings(name);
    ASSERT_TRUE(snap.ok()) << snap.status();
    const EmbeddingMatrix& m = *snap->matrix;
    ASSERT_EQ(m.num_rows, 5000u);
    EXPECT_EQ(m.present.Count(), rows.size());
    std::vector<uint64_t> ordinals;
    for (const auto& [o, row] : rows) {
      ordinals.push_back(o);
      ASSERT_TRUE(m.present.Get(o)) << o;
      const EmbeddingBlock& b = *m.blocks[o / kEmbeddingBlockRows];
      for (uint32_t d = 0; d < m.dim; ++d) {
        const size_t at = size_t{o - b.first_ordinal} * m.dim + d;
        const float got = m.type == VectorType::kFloat16
                              ? internal::HalfToFloat(b.f16[at])
                              : b.f32[at];
        ASSERT_EQ(got, row[d]) << "ordinal " << o << " cell " << d;
      }
    }
    snap = absl::UnknownError("released");
    GetDocumentsOptions opts;
    opts.embedding = true;
    absl::StatusOr<GetDocumentsResult> got =
        store.GetDocuments(name, {}, ordinals, opts);
    ASSERT_TRUE(got.ok()) << got.status();
    for (const StoredDocument& d : got->documents) {
      EXPECT_EQ(d.embedding, rows.at(static_cast<uint32_t>(d.ordinal)))
          << d.ordinal;
    }
  }
}

TEST(StoreMigrationTest, Format2EmbeddingsMoveIntoBlocks) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  const std::map<std::string, Embeddings> want =
      WriteEmbeddingCollections(options);
  RewriteAsFormat2(options.data_dir, want);
  const RawState before = ReadRaw(options.data_dir);
  ASSERT_EQ(before.version, 2u);
  ASSERT_FALSE(before.has_embeddings_family);
  ASSERT_EQ(before.format2_embeddings,
            want.at("f32").size() + want.at("f16").size());

  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectEmbeddings(*store, want);
  ASSERT_TRUE(store->Close().ok());
  const RawState after = ReadRaw(options.data_dir);
  EXPECT_EQ(after.version, kFormatVersion);
  EXPECT_TRUE(after.has_embeddings_family);
  EXPECT_EQ(after.format2_embeddings, 0u);
  EXPECT_EQ(after.other_meta, before.other_meta);
  // A second open migrates nothing.
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectEmbeddings(*store, want);
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(ReadRaw(options.data_dir).sequence, after.sequence);
}

TEST(StoreMigrationTest, PowerCutAnywhereInTheEmbeddingsMigration) {
  WINNOW_SKIP_UNDER_TSAN();
  TempDir staging;
  const StoreOptions staging_options = TestOptions(staging.path());
  const std::map<std::string, Embeddings> want =
      WriteEmbeddingCollections(staging_options);
  RewriteAsFormat2(staging_options.data_dir, want);
  const std::string source = staging_options.data_dir;
  const RawState format2 = ReadRaw(source);
  ASSERT_EQ(format2.version, 2u);

  const PowerCuts cuts = CutPowerThroughOpen(
      source, 64 << 10,
      [&](const RawState& kept) {
        if (kept.version == 2) {
          EXPECT_EQ(kept.format2_embeddings, format2.format2_embeddings);
        } else {
          EXPECT_EQ(kept.version, kFormatVersion);
          EXPECT_EQ(kept.format2_embeddings, 0u);
        }
        EXPECT_EQ(kept.other_meta, format2.other_meta);
      },
      [&](Store& store) { ExpectEmbeddings(store, want); });
  EXPECT_GT(cuts.kept_at.count(2), 0u);
  std::printf(
      "embeddings migration power cuts: the open took %d mutating "
      "operations; a cut at each earlier one left format 2 %d times and "
      "format 3 %d times\n",
      cuts.operations, cuts.kept_at.count(2) ? cuts.kept_at.at(2) : 0,
      cuts.kept_at.count(3) ? cuts.kept_at.at(3) : 0);
}

}  // namespace
}  // namespace winnow::storage
