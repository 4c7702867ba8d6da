// Embedding storage (storage/embedding_blocks.h; docs/architecture.md,
// "Embeddings"): the matrix that Store::ReadEmbeddings returns equals what
// was written (float32 and float16; inserts, replaces with and without an
// embedding, deletes, revives), whether it was loaded before the writes and
// kept up to date by them or loaded afresh after a restart; GetDocuments
// returns the same rows; the cache stays within max_embedding_memory_bytes,
// evicting the least recently used matrix, and refuses a matrix that alone
// exceeds it; a matrix takes at most 1.1x its raw size; a sparse update
// writes a few rows, not a 4 MiB block.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "storage/float16.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::OpenOrDie;
using testing::TempDir;
using testing::TestOptions;

// What each document's embedding should be: ordinal -> floats (as stored:
// rounded to half for float16), nullopt when it has none.
using Expected = std::map<uint32_t, std::optional<std::vector<float>>>;

std::string Id(uint32_t i) { return "doc-" + std::to_string(i); }

class Writer {
 public:
  Writer(Store* store, std::string collection, uint32_t dim, bool half,
         uint64_t seed)
      : store_(store),
        collection_(std::move(collection)),
        dim_(dim),
        half_(half),
        rng_(seed) {}

  // Upserts documents `ids`, with random embeddings when `with_embedding`.
  void Upsert(const std::vector<uint32_t>& ids, bool with_embedding) {
    std::vector<std::string> names;
    for (uint32_t i : ids) names.push_back(Id(i));
    DocumentBatch b;
    for (const std::string& n : names) b.ids.push_back(n);
    std::vector<float> cells;
    std::uniform_real_distribution<float> unit(-2, 2);
    if (with_embedding) {
      cells.resize(ids.size() * dim_);
      for (float& x : cells) x = unit(rng_);
      b.embeddings = cells;
    }
    absl::StatusOr<UpsertResult> r = store_->UpsertDocuments(collection_, b);
    ASSERT_TRUE(r.ok()) << r.status();
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint32_t o = static_cast<uint32_t>(r->ordinals[i]);
      if (!with_embedding) {
        want_[o] = std::nullopt;
        continue;
      }
      std::vector<float> e(cells.begin() + i * dim_,
                           cells.begin() + (i + 1) * dim_);
      if (half_) {
        for (float& x : e) x = internal::HalfToFloat(internal::FloatToHalf(x));
      }
      want_[o] = e;
    }
  }

  void Delete(const std::vector<uint32_t>& ids) {
    std::vector<std::string> names;
    for (uint32_t i : ids) names.push_back(Id(i));
    std::vector<std::string_view> views(names.begin(), names.end());
    absl::StatusOr<DeleteResult> r =
        store_->DeleteDocuments(collection_, views);
    ASSERT_TRUE(r.ok()) << r.status();
    // Ordinals are allocated in order of first insert: here ids are
    // inserted in order, so ordinal == the id's number.
    for (uint32_t i : ids) want_[i] = std::nullopt;
  }

  const Expected& want() const { return want_; }
  void set_store(Store* store) { store_ = store; }

 private:
  Store* store_;
  std::string collection_;
  uint32_t dim_;
  bool half_;
  std::mt19937_64 rng_;
  Expected want_;
};

std::vector<uint32_t> Range(uint32_t begin, uint32_t end, uint32_t step = 1) {
  std::vector<uint32_t> out;
  for (uint32_t i = begin; i < end; i += step) out.push_back(i);
  return out;
}

float Cell(const EmbeddingMatrix& m, uint32_t o, uint32_t d) {
  const EmbeddingBlock& b = *m.blocks[o / kEmbeddingBlockRows];
  const size_t at = size_t{o - b.first_ordinal} * m.dim + d;
  return m.type == VectorType::kFloat16 ? internal::HalfToFloat(b.f16[at])
                                        : b.f32[at];
}

// The matrix holds exactly `want`: present bits, cells, norms; blocks of the
// documented shape.
void ExpectMatrix(const EmbeddingMatrix& m, const Expected& want,
                  uint32_t rows) {
  ASSERT_EQ(m.num_rows, rows);
  ASSERT_EQ(m.present.size(), rows);
  ASSERT_EQ(m.blocks.size(),
            (rows + kEmbeddingBlockRows - 1) / kEmbeddingBlockRows);
  for (size_t b = 0; b < m.blocks.size(); ++b) {
    if (m.blocks[b] == nullptr) continue;
    EXPECT_EQ(m.blocks[b]->first_ordinal, b * kEmbeddingBlockRows);
    EXPECT_EQ(m.blocks[b]->rows,
              std::min<uint32_t>(kEmbeddingBlockRows,
                                 rows - b * kEmbeddingBlockRows));
  }
  int mismatches = 0;
  for (uint32_t o = 0; o < rows && mismatches < 5; ++o) {
    auto it = want.find(o);
    const bool has = it != want.end() && it->second.has_value();
    if (m.present.Get(o) != has) {
      ADD_FAILURE() << "ordinal " << o << ": present " << m.present.Get(o)
                    << ", want " << has;
      ++mismatches;
      continue;
    }
    if (!has) continue;
    ASSERT_NE(m.blocks[o / kEmbeddingBlockRows], nullptr) << o;
    double sum = 0;
    for (uint32_t d = 0; d < m.dim; ++d) {
      const float got = Cell(m, o, d);
      if (got != (*it->second)[d]) {
        ADD_FAILURE() << "ordinal " << o << " cell " << d << ": " << got
                      << ", want " << (*it->second)[d];
        ++mismatches;
        break;
      }
      sum += double{got} * got;
    }
    const EmbeddingBlock& b = *m.blocks[o / kEmbeddingBlockRows];
    EXPECT_NEAR(b.norms[o - b.first_ordinal], std::sqrt(sum),
                1e-5 * (1 + std::sqrt(sum)))
        << "norm of ordinal " << o;
  }
}

// ReadEmbeddings and GetDocuments both return `want`.
void ExpectStore(Store& store, const std::string& c, const Expected& want,
                 uint32_t rows) {
  absl::StatusOr<EmbeddingsSnapshot> snap = store.ReadEmbeddings(c);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->columns.num_rows(), rows);
  ExpectMatrix(*snap->matrix, want, rows);
  snap = absl::StatusOr<EmbeddingsSnapshot>(absl::UnknownError("released"));

  std::vector<uint64_t> ordinals;
  for (uint32_t o = 0; o < rows; ++o) ordinals.push_back(o);
  GetDocumentsOptions opts;
  opts.embedding = true;
  absl::StatusOr<GetDocumentsResult> got =
      store.GetDocuments(c, {}, ordinals, opts);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->documents.size(), rows);
  int mismatches = 0;
  for (const StoredDocument& d : got->documents) {
    auto it = want.find(static_cast<uint32_t>(d.ordinal));
    const std::vector<float> expected =
        it != want.end() && it->second.has_value() ? *it->second
                                                   : std::vector<float>();
    if (d.embedding != expected && mismatches++ < 5) {
      ADD_FAILURE() << "GetDocuments: ordinal " << d.ordinal << " has "
                    << d.embedding.size() << " floats, want " << expected.size()
                    << " (or different values)";
    }
  }
}

// Inserts 9,000 documents (three blocks) in batches that straddle blocks,
// then replaces, clears, deletes and revives some.
void WriteHistory(Writer& w) {
  for (uint32_t begin = 0; begin < 9000; begin += 1500) {
    w.Upsert(Range(begin, begin + 1500), true);
  }
  w.Upsert(Range(10, 5000, 97), true);    // replace, with embeddings
  w.Upsert(Range(20, 9000, 301), false);  // replace, without
  w.Delete(Range(30, 9000, 113));         // delete
  w.Upsert(Range(30, 4000, 226), true);   // revive some of them
  w.Upsert(Range(9000, 9100), false);     // new rows without embeddings
  w.Upsert({9050, 9099}, true);           // then one gets one
}

class EmbeddingsTest : public ::testing::TestWithParam<bool> {};

TEST_P(EmbeddingsTest, MatrixEqualsWhatWasWrittenCachedOrLoadedAfterRestart) {
  const bool half = GetParam();
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  constexpr uint32_t kDim = 24;
  CollectionSpec spec{"c", kDim,
                      half ? EmbeddingType::kFloat16 : EmbeddingType::kFloat32};
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection(spec).ok());
  // A second collection, read before any write: its matrix is kept up to
  // date by every write that follows.
  ASSERT_TRUE(
      store->CreateCollection({"kept", kDim, spec.embedding_type}).ok());
  absl::StatusOr<EmbeddingsSnapshot> empty = store->ReadEmbeddings("kept");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->matrix->num_rows, 0u);
  empty = absl::UnknownError("released");

  Writer fresh(store.get(), "c", kDim, half, 1);
  Writer kept(store.get(), "kept", kDim, half, 1);
  WriteHistory(fresh);
  // The same history, with the matrix read between the steps too.
  for (uint32_t begin = 0; begin < 9000; begin += 1500) {
    kept.Upsert(Range(begin, begin + 1500), true);
    ExpectStore(*store, "kept", kept.want(), begin + 1500);
  }
  kept.Upsert(Range(10, 5000, 97), true);
  kept.Upsert(Range(20, 9000, 301), false);
  ExpectStore(*store, "kept", kept.want(), 9000);
  kept.Delete(Range(30, 9000, 113));
  kept.Upsert(Range(30, 4000, 226), true);
  ExpectStore(*store, "kept", kept.want(), 9000);
  kept.Upsert(Range(9000, 9100), false);
  kept.Upsert({9050, 9099}, true);
  ASSERT_EQ(fresh.want(), kept.want());

  ExpectStore(*store, "kept", kept.want(), 9100);
  ExpectStore(*store, "c", fresh.want(), 9100);
  // After a compaction (Merge operands folded into the blocks) and a
  // restart, the loaded matrix is the same.
  ASSERT_TRUE(store->Compact().ok());
  store.reset();
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  ExpectStore(*store, "kept", kept.want(), 9100);
  ExpectStore(*store, "c", fresh.want(), 9100);
}

INSTANTIATE_TEST_SUITE_P(Types, EmbeddingsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Float16" : "Float32";
                         });

TEST(StoreEmbeddingsTest, TheCachedVersionAfterWritesEqualsAFreshLoad) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  constexpr uint32_t kDim = 16;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c", kDim}).ok());
  Writer w(store.get(), "c", kDim, false, 2);
  w.Upsert(Range(0, 5000), true);
  absl::StatusOr<EmbeddingsSnapshot> before = store->ReadEmbeddings("c");
  ASSERT_TRUE(before.ok());
  std::shared_ptr<const EmbeddingMatrix> old = before->matrix;
  before = absl::UnknownError("released");
  WriteHistory(w);
  absl::StatusOr<EmbeddingsSnapshot> cached = store->ReadEmbeddings("c");
  ASSERT_TRUE(cached.ok());
  std::shared_ptr<const EmbeddingMatrix> after = cached->matrix;
  cached = absl::UnknownError("released");
  // An older version is unchanged by the writes after it.
  EXPECT_EQ(old->num_rows, 5000u);
  EXPECT_TRUE(old->present.Get(30));
  // The same directory opened afresh (a checkpoint, read by another store).
  const std::string copy = dir.path() + "/copy";
  ASSERT_TRUE(store->CreateCheckpoint(copy).ok());
  StoreOptions copy_options = options;
  copy_options.data_dir = copy;
  std::unique_ptr<Store> other = OpenOrDie(copy_options);
  absl::StatusOr<EmbeddingsSnapshot> loaded = other->ReadEmbeddings("c");
  ASSERT_TRUE(loaded.ok());
  const EmbeddingMatrix& a = *after;
  const EmbeddingMatrix& b = *loaded->matrix;
  ASSERT_EQ(a.num_rows, b.num_rows);
  EXPECT_TRUE(a.present == b.present);
  ASSERT_EQ(a.blocks.size(), b.blocks.size());
  for (size_t k = 0; k < a.blocks.size(); ++k) {
    ASSERT_EQ(a.blocks[k] == nullptr, b.blocks[k] == nullptr) << k;
    if (a.blocks[k] == nullptr) continue;
    EXPECT_EQ(a.blocks[k]->f32, b.blocks[k]->f32) << "block " << k;
    EXPECT_EQ(a.blocks[k]->norms, b.blocks[k]->norms) << "block " << k;
  }
  ExpectMatrix(b, w.want(), 9100);
}

TEST(StoreEmbeddingsTest, HiddenAppendsArePublishedBeforeTheMatrixLoads) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c", 4}).ok());
  std::vector<std::string> names = {"a", "b"};
  DocumentBatch b;
  for (const std::string& n : names) b.ids.push_back(n);
  std::vector<float> cells = {1, 2, 3, 4, 5, 6, 7, 8};
  b.embeddings = cells;
  absl::StatusOr<PendingUpsert> pending = store->StartUpsertDocuments("c", b);
  ASSERT_TRUE(pending.ok()) << pending.status();
  absl::StatusOr<EmbeddingsSnapshot> snap = store->ReadEmbeddings("c");
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->columns.num_rows(), 2u);
  EXPECT_EQ(snap->matrix->num_rows, 2u);
  EXPECT_TRUE(snap->matrix->present.Get(1));
  EXPECT_EQ(snap->matrix->blocks[0]->f32[4], 5.0f);
  snap = absl::UnknownError("released");
  ASSERT_TRUE(store->FinishUpsertDocuments(*std::move(pending)).ok());
  // A hidden append while the matrix is loaded shows with its publication.
  names = {"c"};
  b.ids = {names[0]};
  cells = {9, 9, 9, 9};
  b.embeddings = cells;
  pending = store->StartUpsertDocuments("c", b);
  ASSERT_TRUE(pending.ok());
  snap = store->ReadEmbeddings("c");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->columns.num_rows(), snap->matrix->num_rows);
  snap = absl::UnknownError("released");
  ASSERT_TRUE(store->FinishUpsertDocuments(*std::move(pending)).ok());
  snap = store->ReadEmbeddings("c");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->matrix->num_rows, 3u);
  EXPECT_EQ(snap->matrix->blocks[0]->f32[8], 9.0f);
}

// A collection of `rows` 256-d float32 embeddings.
void Fill(Store& store, const std::string& name, uint32_t rows) {
  ASSERT_TRUE(store.CreateCollection({name, 256}).ok());
  Writer w(&store, name, 256, false, 3);
  for (uint32_t begin = 0; begin < rows; begin += 2000) {
    w.Upsert(Range(begin, std::min(rows, begin + 2000)), true);
  }
}

TEST(StoreEmbeddingsTest, AMatrixTakesAtMostATenthMoreThanItsCells) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  Fill(*store, "f32", 10000);
  ASSERT_TRUE(
      store->CreateCollection({"f16", 256, EmbeddingType::kFloat16}).ok());
  Writer w(store.get(), "f16", 256, true, 4);
  w.Upsert(Range(0, 10000), true);
  for (const char* name : {"f32", "f16"}) {
    absl::StatusOr<EmbeddingsSnapshot> snap = store->ReadEmbeddings(name);
    ASSERT_TRUE(snap.ok());
    const double raw = 10000.0 * 256 * (std::string(name) == "f16" ? 2 : 4);
    const double bytes = static_cast<double>(snap->matrix->MemoryBytes());
    EXPECT_LE(bytes, 1.1 * raw) << name;
    EXPECT_GE(bytes, raw) << name;
    snap = absl::UnknownError("released");
    // The collection's and the store's memory report it.
    absl::StatusOr<CollectionInfo> info = store->GetCollection(name);
    ASSERT_TRUE(info.ok());
    EXPECT_GE(static_cast<double>(info->memory_bytes), bytes) << name;
  }
  const StoreStats st = store->GetStats();
  EXPECT_EQ(st.embedding_matrices, 2u);
  EXPECT_GE(st.embedding_memory_bytes, 10000u * 256 * 6);
  EXPECT_LE(st.embedding_memory_bytes, 1.1 * 10000 * 256 * 6);
  EXPECT_EQ(st.embedding_memory_budget_bytes, uint64_t{8} << 30);
}

TEST(StoreEmbeddingsTest, PastTheBudgetTheLeastRecentlyUsedMatrixIsEvicted) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  // 4,096 rows of 1 KiB: about 4.1 MiB each; room for two.
  options.max_embedding_memory_bytes = 9 << 20;
  std::unique_ptr<Store> store = OpenOrDie(options);
  for (const char* name : {"a", "b", "c"}) Fill(*store, name, 4096);
  auto read = [&](const char* name) {
    absl::StatusOr<EmbeddingsSnapshot> snap = store->ReadEmbeddings(name);
    ASSERT_TRUE(snap.ok()) << snap.status();
  };
  auto in_memory = [&](const char* name) {
    absl::StatusOr<CollectionInfo> info = store->GetCollection(name);
    EXPECT_TRUE(info.ok());
    return info->memory_bytes > (4u << 20);
  };
  read("a");
  read("b");
  EXPECT_TRUE(in_memory("a"));
  EXPECT_TRUE(in_memory("b"));
  read("a");  // b is now the least recently used
  read("c");
  EXPECT_TRUE(in_memory("a"));
  EXPECT_FALSE(in_memory("b"));
  EXPECT_TRUE(in_memory("c"));
  StoreStats st = store->GetStats();
  EXPECT_EQ(st.embedding_matrices, 2u);
  EXPECT_LE(st.embedding_memory_bytes, options.max_embedding_memory_bytes);
  // A write that grows a matrix past the budget evicts another.
  Writer w(store.get(), "c", 256, false, 5);
  w.Upsert(Range(4096, 4096 + 1024), true);
  st = store->GetStats();
  EXPECT_LE(st.embedding_memory_bytes, options.max_embedding_memory_bytes);
  EXPECT_FALSE(in_memory("a"));
  // An evicted collection still answers GetDocuments and loads again.
  read("b");
  EXPECT_TRUE(in_memory("b"));
}

TEST(StoreEmbeddingsTest, AMatrixOverTheWholeBudgetIsResourceExhausted) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.max_embedding_memory_bytes = 2 << 20;
  std::unique_ptr<Store> store = OpenOrDie(options);
  Fill(*store, "big", 4096);
  absl::StatusOr<EmbeddingsSnapshot> snap = store->ReadEmbeddings("big");
  ASSERT_EQ(snap.status().code(), absl::StatusCode::kResourceExhausted)
      << snap.status();
  const std::string message(snap.status().message());
  EXPECT_NE(message.find("max_embedding_memory_bytes"), std::string::npos)
      << message;
  EXPECT_NE(message.find("'big'"), std::string::npos) << message;
  // The bytes needed: at least the cells.
  const size_t at = message.find("need ");
  ASSERT_NE(at, std::string::npos) << message;
  EXPECT_GE(std::stoull(message.substr(at + 5)), 4096u * 1024);
  EXPECT_EQ(store->GetStats().embedding_memory_bytes, 0u);
  // GetDocuments still returns embeddings, read from the blocks.
  GetDocumentsOptions opts;
  opts.embedding = true;
  std::vector<uint64_t> ordinals = {0, 4095};
  absl::StatusOr<GetDocumentsResult> got =
      store->GetDocuments("big", {}, ordinals, opts);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->documents[0].embedding.size(), 256u);
  EXPECT_EQ(got->documents[1].embedding.size(), 256u);
  EXPECT_EQ(store->GetStats().embedding_memory_bytes, 0u);
  // No embeddings at all: FAILED_PRECONDITION.
  ASSERT_TRUE(store->CreateCollection({"plain"}).ok());
  EXPECT_EQ(store->ReadEmbeddings("plain").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->ReadEmbeddings("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(StoreEmbeddingsTest, ASparseUpdateWritesRowsNotBlocks) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  Fill(*store, "c", 8192);  // two 4 MiB blocks
  Writer w(store.get(), "c", 256, false, 6);
  const uint64_t before = store->GetStats().bytes_written;
  w.Upsert({5, 4100}, true);  // one row in each block
  w.Delete({6, 4101});
  const uint64_t written = store->GetStats().bytes_written - before;
  // Two rows of 1 KiB, two zero runs, and the other columns' cells.
  EXPECT_LT(written, 32u << 10);
  EXPECT_GT(written, 2u << 10);
}

TEST(StoreEmbeddingsTest, BlocksLiveInBlobFilesAndDeleteCollectionDropsThem) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::unique_ptr<Store> store = OpenOrDie(options);
  Fill(*store, "c", 8192);
  ASSERT_TRUE(store->Compact().ok());
  uint64_t blob_bytes = 0;
  for (const auto& e : std::filesystem::directory_iterator(options.data_dir)) {
    if (e.path().extension() == ".blob") blob_bytes += e.file_size();
  }
  EXPECT_GE(blob_bytes, 8192u * 1024);
  absl::StatusOr<EmbeddingsSnapshot> snap = store->ReadEmbeddings("c");
  ASSERT_TRUE(snap.ok());
  std::shared_ptr<const EmbeddingMatrix> kept = snap->matrix;
  snap = absl::UnknownError("released");
  ASSERT_TRUE(store->DeleteCollection("c").ok());
  EXPECT_EQ(store->GetStats().embedding_memory_bytes, 0u);
  EXPECT_EQ(kept->num_rows, 8192u);  // a reader's version stays valid
  // A new collection of the same name starts empty.
  ASSERT_TRUE(store->CreateCollection({"c", 256}).ok());
  snap = store->ReadEmbeddings("c");
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->matrix->num_rows, 0u);
}

}  // namespace
}  // namespace winnow::storage
