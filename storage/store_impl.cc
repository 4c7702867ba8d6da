#include "storage/store_impl.h"

#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <system_error>

#include "absl/strings/str_format.h"
#include "rocksdb/convenience.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/sst_file_manager.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "spdlog/spdlog.h"
#include "storage/block_merge.h"
#include "storage/embedding_blocks.h"
#include "storage/fault_injection_file_system.h"
#include "storage/feedback_keys.h"
#include "storage/migrations.h"
#include "storage/names.h"
#include "storage/quota_file_system.h"
#include "storage/status.h"

namespace winnow::storage {

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const StoreOptions& options) {
  auto store = std::make_unique<internal::StoreImpl>(options);
  if (absl::Status s = store->Init(); !s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

namespace internal {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RocksDB's own messages, into winnowd's log (prefixed "rocksdb: ") rather
// than a LOG file in the data directory. Besides keeping one log, this
// matters on a full disk: Debian's RocksDB asserts (and so aborts the
// server) when its LOG file writer is written again after a failed write.
class SpdlogLogger final : public rocksdb::Logger {
 public:
  explicit SpdlogLogger(rocksdb::InfoLogLevel level) : Logger(level) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }
  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char line[2048];
    std::vsnprintf(line, sizeof line, format, ap);
    spdlog::level::level_enum to = spdlog::level::info;
    switch (level) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL:
        to = spdlog::level::debug;
        break;
      case rocksdb::InfoLogLevel::INFO_LEVEL:
      case rocksdb::InfoLogLevel::HEADER_LEVEL:
        to = spdlog::level::info;
        break;
      case rocksdb::InfoLogLevel::WARN_LEVEL:
        to = spdlog::level::warn;
        break;
      default:
        to = spdlog::level::err;
        break;
    }
    spdlog::log(to, "rocksdb: {}", line);
  }
};

rocksdb::CompressionType PickCompression() {
  // LZ4 is cheap enough for the ingest path; float columns compress little,
  // but codes, lengths, bits and NaN runs compress well.
  for (rocksdb::CompressionType t : rocksdb::GetSupportedCompressions()) {
    if (t == rocksdb::kLZ4Compression) return t;
  }
  return rocksdb::kNoCompression;
}

// Creates `dir` and its missing parents, fsyncing the parent of each one
// it creates: RocksDB fsyncs the data directory when it adds files to it,
// but not the data directory's own name in its parent, so without this a
// power failure soon after the first start could lose the whole directory.
absl::Status CreateDirDurably(rocksdb::FileSystem& fs, const std::string& dir) {
  std::filesystem::path path = std::filesystem::path(dir).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "data/" -> "data"
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (std::filesystem::path p = path;
       !p.empty() && !std::filesystem::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    const std::string parent =
        it->has_parent_path() ? it->parent_path().string() : ".";
    rocksdb::IOStatus s =
        fs.CreateDirIfMissing(it->string(), rocksdb::IOOptions(), nullptr);
    std::unique_ptr<rocksdb::FSDirectory> d;
    if (s.ok()) s = fs.NewDirectory(parent, rocksdb::IOOptions(), &d, nullptr);
    if (s.ok()) s = d->Fsync(rocksdb::IOOptions(), nullptr);
    if (!s.ok()) {
      return absl::InternalError(absl::StrFormat(
          "data_dir: cannot create '%s' durably: %s", dir, s.ToString()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

StoreImpl::StoreImpl(const StoreOptions& options)
    : options_(options),
      limits_{options.max_id_bytes, options.max_payload_bytes} {}

StoreImpl::~StoreImpl() {
  if (absl::Status s = Close(); !s.ok()) {
    spdlog::error("closing the store in {}: {}", options_.data_dir,
                  s.ToString());
  }
}

absl::Status StoreImpl::Init() {
  if (options_.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: is empty");
  }
  if (!options_.sync_writes) {
    spdlog::warn(
        "WAL sync disabled (sync_writes=false): acknowledged writes may be "
        "lost on power failure");
  }
  write_options_.sync = options_.sync_writes;

  block_cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);
  statistics_ = rocksdb::CreateDBStatistics();

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options_.max_background_jobs;
  db_options.bytes_per_sync = 1 << 20;
  db_options.statistics = statistics_;
  db_options.keep_log_file_num = 10;
  // Warnings and errors only: RocksDB logs every flush and compaction at
  // info level.
  db_options.info_log =
      std::make_shared<SpdlogLogger>(rocksdb::InfoLogLevel::WARN_LEVEL);
  std::shared_ptr<rocksdb::FileSystem> fs = rocksdb::FileSystem::Default();
  if (options_.disk_quota != nullptr || options_.power_loss != nullptr) {
    if (options_.power_loss != nullptr) {
      fs = NewFaultInjectionFileSystem(std::move(fs), options_.power_loss);
    }
    if (options_.disk_quota != nullptr) {
      fs = NewQuotaFileSystem(std::move(fs), options_.disk_quota);
    }
    env_ = rocksdb::NewCompositeEnv(fs);
    if (options_.power_loss != nullptr) {
      env_ = NewShortSleepEnv(std::move(env_));
    }
    db_options.env = env_.get();
  }
  if (absl::Status s = CreateDirDurably(*fs, options_.data_dir); !s.ok()) {
    return s;
  }
  // Lets RocksDB recover by itself from a full disk once space returns: it
  // retries every 5 s (Resume() answers Busy meanwhile), so writes recover
  // within about 5 s of space returning.
  db_options.sst_file_manager.reset(rocksdb::NewSstFileManager(
      env_ != nullptr ? env_.get() : rocksdb::Env::Default()));

  const rocksdb::CompressionType compression = PickCompression();
  auto family_options = [&](size_t block_size, bool bloom) {
    rocksdb::ColumnFamilyOptions cf;
    cf.write_buffer_size = options_.write_buffer_bytes;
    cf.compression = compression;
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = block_cache_;
    table.block_size = block_size;
    if (bloom) {
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    }
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return cf;
  };
  rocksdb::ColumnFamilyOptions meta = family_options(4 << 10, false);
  meta.write_buffer_size = 8 << 20;
  // Column blocks are 4-32 KiB values, read by scans.
  rocksdb::ColumnFamilyOptions blocks = family_options(32 << 10, false);
  blocks.merge_operator = NewBlockMergeOperator();
  // Payloads and embeddings are read by point lookups.
  rocksdb::ColumnFamilyOptions docs = family_options(16 << 10, true);
  // Plan entries: a few small ones and a frozen record of up to tens of MB
  // per plan, written once, read by point lookup when a plan loads, listed
  // at open. Values of 64 KiB or more go to blob files, uncompressed (the
  // record is mostly floats and bitmaps), so that compaction never rewrites
  // them and the SSTs, which ListPlanEntries scans, hold only small values.
  // The memtable (as large as the others) holds a few plans before a flush.
  rocksdb::ColumnFamilyOptions plans = family_options(4 << 10, true);
  plans.compression = rocksdb::kNoCompression;
  plans.enable_blob_files = true;
  plans.min_blob_size = 64 << 10;
  plans.blob_compression_type = rocksdb::kNoCompression;
  // Embedding blocks: values of up to 4,096 rows (4 MiB at 256-d float32),
  // written whole by a bulk ingest and changed by Merge operands of rows
  // (embedding_blocks.h), read by a sequential scan when a collection's
  // matrix loads. Every value goes to a blob file, so compaction moves only
  // the small keys and never rewrites a block unless it folds Merge
  // operands into it; garbage collection reclaims replaced blocks from the
  // oldest blob files. Uncompressed: float cells do not compress.
  rocksdb::ColumnFamilyOptions embeddings = family_options(4 << 10, false);
  embeddings.merge_operator = NewEmbeddingMergeOperator();
  embeddings.compression = rocksdb::kNoCompression;
  embeddings.enable_blob_files = true;
  embeddings.min_blob_size = 0;
  embeddings.blob_compression_type = rocksdb::kNoCompression;
  embeddings.enable_blob_garbage_collection = true;

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, family_options(4 << 10, false)},
      {kMetaFamily, meta},
      {kBlocksFamily, blocks},
      {kDocsFamily, docs},
      {kPlansFamily, plans},
      {kEmbeddingsFamily, embeddings},
  };
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options_.data_dir,
                                        descriptors, &handles_, &db);
  if (!s.ok()) {
    return FromRocksDb(s, "opening the database in " + options_.data_dir);
  }
  db_.reset(db);
  families_ =
      Families{handles_[1], handles_[2], handles_[3], handles_[4], handles_[5]};
  if (absl::Status st = CheckFormat(); !st.ok()) return st;
  return LoadCollections();
}

absl::Status StoreImpl::CheckFormat() {
  std::string version;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), families_.meta,
                               kFormatVersionKey, &version);
  if (s.IsNotFound()) {
    // A new database (or one cut short before its first write): stamp it
    // with the newest format. Anything else without a version is not ours
    // to guess at.
    for (rocksdb::ColumnFamilyHandle* h : handles_) {
      std::unique_ptr<rocksdb::Iterator> it(
          db_->NewIterator(rocksdb::ReadOptions(), h));
      it->SeekToFirst();
      if (!it->status().ok()) {
        return FromRocksDb(it->status(), "reading " + h->GetName());
      }
      if (it->Valid()) {
        return absl::DataLossError(absl::StrFormat(
            "data_dir: '%s' holds data (in column family %s) but no storage "
            "format version; refusing to guess its format",
            options_.data_dir, h->GetName()));
      }
    }
    std::string v;
    PutFixed<uint32_t>(&v, kFormatVersion);
    rocksdb::WriteBatch batch;
    batch.Put(families_.meta, kFormatVersionKey, v);
    return Commit(&batch, options_.sync_writes, "writing the format version");
  }
  if (!s.ok()) return FromRocksDb(s, "reading the format version");
  if (version.size() != 4 || GetFixed<uint32_t>(version.data()) == 0) {
    return absl::DataLossError(absl::StrFormat(
        "data_dir: '%s' holds a malformed storage format version (\"%s\")",
        options_.data_dir, Escape(version)));
  }
  const uint32_t found = GetFixed<uint32_t>(version.data());
  if (found > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "data_dir: '%s' holds storage format %d, newer than format %d that "
        "this server reads; run the release that wrote it, or restore a "
        "backup taken before the upgrade",
        options_.data_dir, found, kFormatVersion));
  }
  if (found == kFormatVersion) return absl::OkStatus();
  return MigrateFormat(MigrationContext{db_.get(), families_}, found,
                       options_.data_dir);
}

absl::Status StoreImpl::LoadCollections() {
  // Loads without mu_ held (Init runs before the store is shared), so that
  // no collection's lock is ever taken under mu_: the lock order is the
  // other way (DeleteCollection), and abseil's deadlock detection would
  // count a load under mu_ as a cycle.
  std::optional<uint32_t> next_id;
  std::string next;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), families_.meta,
                               kNextCollectionIdKey, &next);
  if (s.ok() && next.size() == 4) {
    next_id = GetFixed<uint32_t>(next.data());
  } else if (!s.IsNotFound()) {
    return s.ok() ? absl::DataLossError("bad next collection id")
                  : FromRocksDb(s, "reading the next collection id");
  }
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), families_.meta));
  const std::string prefix(1, kCollectionRecordTag);
  std::map<std::string, std::shared_ptr<Collection>, std::less<>> loaded;
  uint64_t documents = 0;
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    std::string name(it->key().data() + 1, it->key().size() - 1);
    CollectionRecord r;
    if (!DecodeCollectionRecord(
            std::string_view(it->value().data(), it->value().size()), &r)) {
      return absl::DataLossError("bad record of collection '" + name + "'");
    }
    // Collections created before training feedback have no half-life key.
    double half_life = kDefaultLossEmaHalfLifeSteps;
    std::string h;
    rocksdb::Status hs =
        db_->Get(rocksdb::ReadOptions(), families_.meta,
                 FeedbackKey(r.id, FeedbackKind::kHalfLife), &h);
    if (hs.ok() && h.size() == 8) {
      half_life = GetFixed<double>(h.data());
    } else if (!hs.IsNotFound()) {
      return hs.ok() ? absl::DataLossError("bad loss_ema half-life of '" +
                                           name + "'")
                     : FromRocksDb(hs, "reading collection '" + name + "'");
    }
    absl::StatusOr<std::shared_ptr<Collection>> c = Collection::Load(
        db_.get(), families_, name, r.id, r.embedding_dimension,
        static_cast<EmbeddingType>(r.embedding_type), r.create_time_micros,
        half_life);
    if (!c.ok()) return c.status();
    documents += (*c)->Info().num_ordinals;
    loaded.emplace(std::move(name), *std::move(c));
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "listing collections");
  }
  const size_t count = loaded.size();
  {
    absl::MutexLock lock(&mu_);
    if (next_id) next_collection_id_ = *next_id;
    collections_ = std::move(loaded);
  }
  spdlog::info("storage: opened {} with {} collections ({} documents) in {} ms",
               options_.data_dir, count, documents,
               std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count());
  return absl::OkStatus();
}

// ---- Operations ----
//
// The meta family: "O" + id -> the record.

absl::Status StoreImpl::PutOperationRecord(std::string_view id,
                                           std::string_view record) {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  if (id.empty()) {
    return absl::InvalidArgumentError("operation id: must not be empty");
  }
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Put(families_.meta, OperationRecordKey(id),
                                rocksdb::Slice(record.data(), record.size()));
  if (!s.ok()) return FromRocksDb(s, "writing an operation");
  return Commit(&batch, options_.sync_writes, "writing an operation");
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>>
StoreImpl::ListOperationRecords() const {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), families_.meta));
  const std::string prefix(1, kOperationTag);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    out.emplace_back(std::string(it->key().data() + 1, it->key().size() - 1),
                     it->value().ToString());
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "listing operations");
  }
  return out;
}

absl::Status StoreImpl::DeleteOperationRecord(std::string_view id) {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Delete(families_.meta, OperationRecordKey(id));
  if (!s.ok()) return FromRocksDb(s, "deleting an operation");
  return Commit(&batch, options_.sync_writes, "deleting an operation");
}

// ---- Sampling plans ----
//
// The plans family (format.h): a marker "<id>" and "<id>\0<entry>" per
// entry.

absl::Status StoreImpl::PutPlanEntries(
    std::string_view plan_id,
    const std::vector<std::pair<std::string, std::string>>& entries) {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  if (plan_id.empty() || plan_id.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "plan_id: \"%s\" is empty or holds a NUL byte", Escape(plan_id)));
  }
  if (entries.empty()) return absl::OkStatus();
  // Sized up front, so that the batch copies each value exactly once: a
  // growing batch would copy a multi-MB frozen record again on each
  // reallocation. The batch has a 12-byte header; a record is a tag, the
  // family id, key and value, each length a varint (<= 16 bytes in all).
  size_t bytes = 12 + 16 + plan_id.size();
  for (const auto& [key, value] : entries) {
    bytes += 16 + plan_id.size() + 1 + key.size() + value.size();
  }
  rocksdb::WriteBatch batch(bytes);
  rocksdb::Status s =
      batch.Put(families_.plans, rocksdb::Slice(plan_id.data(), plan_id.size()),
                rocksdb::Slice());
  for (const auto& [key, value] : entries) {
    if (!s.ok()) break;
    s = batch.Put(families_.plans, PlanEntryKey(plan_id, key), value);
  }
  if (!s.ok()) return FromRocksDb(s, "writing a plan");
  return Commit(&batch, options_.sync_writes, "writing a plan");
}

absl::StatusOr<std::string> StoreImpl::GetPlanEntry(
    std::string_view plan_id, std::string_view key) const {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), families_.plans,
                               PlanEntryKey(plan_id, key), &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError("plan '" + std::string(plan_id) +
                               "' has no entry '" + std::string(key) + "'");
  }
  if (!s.ok()) return FromRocksDb(s, "reading a plan");
  return value;
}

std::vector<std::pair<std::string, std::string>> StoreImpl::ListPlanEntries(
    std::string_view key) const {
  std::vector<std::pair<std::string, std::string>> out;
  if (closed_.load()) return out;
  // Two seeks per plan: to its entry, then past its keys to the next
  // plan's marker. The iterator never lands on another entry, so a listing
  // never reads a frozen record.
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), families_.plans));
  for (it->SeekToFirst(); it->Valid();) {
    const std::string_view at(it->key().data(), it->key().size());
    const std::string plan(at.substr(0, at.find('\0')));
    const std::string want = PlanEntryKey(plan, key);
    it->Seek(want);
    if (it->Valid() && it->key() == rocksdb::Slice(want)) {
      out.emplace_back(plan, it->value().ToString());
    }
    it->Seek(PlanKeysEnd(plan));
  }
  if (!it->status().ok()) {
    spdlog::error("storage: listing plan entries '{}': {}", std::string(key),
                  it->status().ToString());
  }
  return out;
}

absl::Status StoreImpl::DeletePlan(std::string_view plan_id) {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.DeleteRange(
      families_.plans, rocksdb::Slice(plan_id.data(), plan_id.size()),
      PlanKeysEnd(plan_id));
  if (!s.ok()) return FromRocksDb(s, "deleting a plan");
  return Commit(&batch, options_.sync_writes, "deleting a plan");
}

absl::StatusOr<std::string> StoreImpl::GetOrCreateSecret(
    std::string_view name) {
  if (closed_.load()) return absl::UnavailableError("the store is closed");
  absl::MutexLock lock(&secret_mu_);
  const std::string key = "secret/" + std::string(name);
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), families_.meta, key, &value);
  if (s.ok()) return value;
  if (!s.IsNotFound()) return FromRocksDb(s, "reading a secret");
  std::random_device random;  // the kernel's CSPRNG on Linux
  value.resize(32);
  for (size_t i = 0; i < value.size(); i += 4) {
    const uint32_t r = random();
    std::memcpy(&value[i], &r, 4);
  }
  rocksdb::WriteBatch batch;
  s = batch.Put(families_.meta, key, value);
  if (!s.ok()) return FromRocksDb(s, "writing a secret");
  if (absl::Status st = Commit(&batch, /*sync=*/true, "writing a secret");
      !st.ok()) {
    return st;
  }
  return value;
}

absl::Status StoreImpl::Commit(rocksdb::WriteBatch* batch, bool sync,
                               std::string_view what) {
  if (absl::Status s = ResumeAfterFailure(what); !s.ok()) return s;
  rocksdb::WriteOptions options = write_options_;
  options.sync = sync;
  rocksdb::Status s = db_->Write(options, batch);
  if (!s.ok()) return NoteFailure(s, what);
  return absl::OkStatus();
}

absl::Status StoreImpl::ResumeAfterFailure(std::string_view what) {
  if (!needs_resume_.load()) return absl::OkStatus();
  // Clears a background error (such as a full disk) once it has passed;
  // RocksDB also retries by itself every 5 s, and answers Busy meanwhile.
  // Until it is cleared the WAL is not touched again: Debian's RocksDB
  // asserts when a WAL writer that failed is written again.
  rocksdb::Status resumed = db_->Resume();
  if (resumed.ok()) {
    needs_resume_.store(false);
    return absl::OkStatus();
  }
  spdlog::debug("storage: resuming after a failed write: {}",
                resumed.ToString());
  absl::MutexLock lock(&failure_mu_);
  return FromRocksDb(last_failure_, what);
}

absl::Status StoreImpl::NoteFailure(const rocksdb::Status& s,
                                    std::string_view what) {
  {
    absl::MutexLock lock(&failure_mu_);
    last_failure_ = s;
  }
  needs_resume_.store(true);
  return FromRocksDb(s, what);
}

uint64_t StoreImpl::NoteUnsyncedWrite() {
  absl::MutexLock lock(&sync_mu_);
  return ++wal_written_;
}

absl::Status StoreImpl::SyncWalTo(uint64_t ticket) {
  absl::MutexLock lock(&sync_mu_);
  while (wal_synced_ < ticket && wal_syncing_) sync_cv_.Wait(&sync_mu_);
  if (wal_synced_ >= ticket) return absl::OkStatus();
  if (absl::Status s = ResumeAfterFailure("syncing the WAL"); !s.ok()) {
    return s;
  }
  // Lead a sync covering every write committed so far.
  wal_syncing_ = true;
  const uint64_t target = wal_written_;
  sync_mu_.Unlock();
  rocksdb::Status s = db_->SyncWAL();
  sync_mu_.Lock();
  wal_syncing_ = false;
  if (s.ok() && target > wal_synced_) wal_synced_ = target;
  sync_cv_.SignalAll();
  if (!s.ok()) return NoteFailure(s, "syncing the WAL");
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Collection>> StoreImpl::Find(
    std::string_view name) const {
  if (closed_.load()) return absl::FailedPreconditionError("store is closed");
  absl::ReaderMutexLock lock(&mu_);
  auto it = collections_.find(name);
  if (it == collections_.end()) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", name));
  }
  return it->second;
}

absl::Status StoreImpl::CreateCollection(const CollectionSpec& spec) {
  if (closed_.load()) return absl::FailedPreconditionError("store is closed");
  if (absl::Status s = ValidateCollectionName(spec.name, "name"); !s.ok()) {
    return s;
  }
  if (spec.embedding_dimension > kMaxEmbeddingDimension) {
    return absl::InvalidArgumentError(
        absl::StrFormat("embedding_dimension: %d exceeds the maximum of %d",
                        spec.embedding_dimension, kMaxEmbeddingDimension));
  }
  if (spec.embedding_type != EmbeddingType::kFloat32 &&
      spec.embedding_type != EmbeddingType::kFloat16) {
    return absl::InvalidArgumentError("embedding_type: unknown type");
  }
  const double half_life = spec.loss_ema_half_life_steps == 0
                               ? kDefaultLossEmaHalfLifeSteps
                               : spec.loss_ema_half_life_steps;
  if (!std::isfinite(half_life) || half_life <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "loss_ema_half_life_steps: %f must be finite and > 0 (0 means the "
        "default, %d steps)",
        spec.loss_ema_half_life_steps,
        static_cast<int>(kDefaultLossEmaHalfLifeSteps)));
  }
  absl::MutexLock lock(&mu_);
  if (collections_.contains(spec.name)) {
    return absl::AlreadyExistsError(
        absl::StrFormat("collection '%s' already exists", spec.name));
  }
  if (next_collection_id_ == UINT32_MAX) {
    return absl::ResourceExhaustedError("no collection ids left");
  }
  CollectionRecord r;
  r.id = next_collection_id_;
  r.embedding_dimension = spec.embedding_dimension;
  r.embedding_type = static_cast<uint8_t>(spec.embedding_type);
  r.create_time_micros = NowMicros();
  std::string next;
  PutFixed<uint32_t>(&next, r.id + 1);
  rocksdb::WriteBatch batch;
  batch.Put(families_.meta, CollectionRecordKey(spec.name),
            EncodeCollectionRecord(r));
  batch.Put(families_.meta, kNextCollectionIdKey, next);
  std::string h;
  PutFixed<double>(&h, half_life);
  batch.Put(families_.meta, FeedbackKey(r.id, FeedbackKind::kHalfLife), h);
  if (absl::Status s =
          Commit(&batch, options_.sync_writes,
                 absl::StrFormat("creating collection '%s'", spec.name));
      !s.ok()) {
    return s;
  }
  next_collection_id_ = r.id + 1;
  collections_.emplace(
      spec.name, std::make_shared<Collection>(
                     r.id, spec.name, r.embedding_dimension,
                     spec.embedding_type, r.create_time_micros, half_life));
  return absl::OkStatus();
}

CollectionInfo StoreImpl::InfoWithDisk(const Collection& c) const {
  CollectionInfo info = c.Info();
  const std::string lower = CollectionPrefix(c.id());
  const std::string upper = CollectionPrefix(c.id() + 1);
  rocksdb::Range range(lower, upper);
  rocksdb::SizeApproximationOptions opts;
  opts.include_memtables = true;
  opts.include_files = true;
  opts.files_size_error_margin = 0.1;
  for (rocksdb::ColumnFamilyHandle* cf :
       {families_.blocks, families_.docs, families_.embeddings}) {
    uint64_t size = 0;
    if (db_->GetApproximateSizes(opts, cf, &range, 1, &size).ok()) {
      info.disk_bytes += size;
    }
  }
  return info;
}

absl::StatusOr<CollectionInfo> StoreImpl::GetCollection(
    std::string_view name) const {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(name);
  if (!c.ok()) return c.status();
  return InfoWithDisk(**c);
}

std::vector<CollectionInfo> StoreImpl::ListCollections() const {
  std::vector<std::shared_ptr<Collection>> all;
  if (closed_.load()) return {};
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  std::vector<CollectionInfo> out;
  out.reserve(all.size());
  for (const auto& c : all) out.push_back(InfoWithDisk(*c));
  return out;
}

absl::Status StoreImpl::DeleteCollection(std::string_view name) {
  // Lock order: a collection's write mutex, then mu_ (never mu_ first: a
  // thread holding a snapshot, which a writer holding the write mutex waits
  // for, may call Find). mu_ is not held across the fsync either, so other
  // collections stay reachable meanwhile.
  absl::StatusOr<std::shared_ptr<Collection>> found = Find(name);
  if (!found.ok()) return found.status();
  std::shared_ptr<Collection> c = *std::move(found);
  absl::MutexLock write_lock(&c->write_mu());
  if (c->dropped()) {  // a concurrent DeleteCollection won
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", name));
  }
  const std::string lower = CollectionPrefix(c->id());
  const std::string upper = CollectionPrefix(c->id() + 1);
  rocksdb::WriteBatch batch;
  batch.DeleteRange(families_.blocks, lower, upper);
  batch.DeleteRange(families_.docs, lower, upper);
  batch.DeleteRange(families_.embeddings, lower, upper);
  batch.DeleteRange(families_.meta, CollectionMetaPrefix(c->id()),
                    CollectionMetaPrefix(c->id() + 1));
  batch.DeleteRange(families_.meta, FeedbackPrefix(c->id()),
                    FeedbackPrefix(c->id() + 1));
  batch.Delete(families_.meta, CollectionRecordKey(name));
  if (absl::Status s =
          Commit(&batch, options_.sync_writes,
                 absl::StrFormat("deleting collection '%s'", name));
      !s.ok()) {
    return s;
  }
  c->MarkDropped();
  ForgetEmbeddings(*c);
  {
    absl::MutexLock lock(&mu_);
    auto it = collections_.find(name);
    if (it != collections_.end() && it->second == c) collections_.erase(it);
  }
  // Reclaim disk now: drop SST files wholly inside the deleted ranges (the
  // range tombstones already hide them; the rest goes at compaction).
  for (rocksdb::ColumnFamilyHandle* cf :
       {families_.blocks, families_.docs, families_.embeddings}) {
    rocksdb::Slice begin(lower), end(upper);
    rocksdb::Status s =
        rocksdb::DeleteFilesInRange(db_.get(), cf, &begin, &end);
    if (!s.ok()) {
      spdlog::warn("storage: reclaiming files of deleted collection '{}': {}",
                   name, s.ToString());
    }
  }
  return absl::OkStatus();
}

template <typename Result, typename PrepareFn>
absl::StatusOr<Result> StoreImpl::Write(std::string_view collection,
                                        PrepareFn&& prepare,
                                        PendingUpsert* ticket, size_t reserve) {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(collection);
  if (!c.ok()) return c.status();
  absl::MutexLock write_lock(&(*c)->write_mu());
  if ((*c)->dropped()) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", collection));
  }
  rocksdb::WriteBatch batch(reserve);
  PendingWrite pending;
  Result result;
  if (absl::Status s = prepare(**c, &batch, &pending, &result); !s.ok()) {
    return s;
  }
  if (pending.noop) return result;
  const std::string what =
      absl::StrFormat("writing to collection '%s'", collection);
  if (ticket != nullptr && pending.append_only && options_.sync_writes) {
    // Commit now, sync later (FinishUpsertDocuments): the rows stay hidden
    // from readers until then, but the next write can build on them.
    if (absl::Status s = Commit(&batch, /*sync=*/false, what); !s.ok()) {
      return s;
    }
    (*c)->Apply(pending, /*publish=*/false);
    ticket->collection_ = *c;
    ticket->wal_ticket_ = NoteUnsyncedWrite();
    ticket->rows_ = pending.new_rows;
    ticket->write_seq_ = pending.write_seq;
    ticket->update_time_micros_ = pending.update_time_micros;
    return result;
  }
  if (absl::Status s = Commit(&batch, options_.sync_writes, what); !s.ok()) {
    return s;
  }
  (*c)->Apply(pending, /*publish=*/true);
  if ((*c)->EmbeddingsLoaded()) EnforceEmbeddingBudget();
  return result;
}

absl::StatusOr<PendingUpsert> StoreImpl::StartUpsertDocuments(
    std::string_view collection, const DocumentBatch& docs) {
  PendingUpsert ticket;
  absl::StatusOr<UpsertResult> r = Write<UpsertResult>(
      collection,
      [&](const Collection& c, rocksdb::WriteBatch* batch,
          PendingWrite* pending, UpsertResult* result) {
        c.write_mu().AssertHeld();  // by Write
        return c.PrepareUpsert(docs, limits_, families_, batch, pending,
                               result);
      },
      &ticket, UpsertBatchBytes(docs));
  if (!r.ok()) return r.status();
  ticket.result_ = *std::move(r);
  return ticket;
}

size_t StoreImpl::UpsertBatchBytes(const DocumentBatch& docs) {
  // The embeddings and payloads, plus the other columns' cells and the
  // keys, generously.
  size_t bytes = docs.embeddings.size() * sizeof(float) + docs.ids.size() * 96;
  for (const auto& p : docs.payloads) bytes += p.has_value() ? p->size() : 0;
  for (std::string_view id : docs.ids) bytes += id.size();
  return bytes;
}

absl::StatusOr<UpsertResult> StoreImpl::FinishUpsertDocuments(
    PendingUpsert ticket) {
  if (closed_.load()) return absl::FailedPreconditionError("store is closed");
  if (ticket.collection_ != nullptr) {
    if (absl::Status s = SyncWalTo(ticket.wal_ticket_); !s.ok()) return s;
    ticket.collection_->Publish(ticket.rows_, ticket.write_seq_,
                                ticket.update_time_micros_);
    if (ticket.collection_->EmbeddingsLoaded()) EnforceEmbeddingBudget();
  }
  return std::move(ticket.result_);
}

absl::StatusOr<UpsertResult> StoreImpl::UpsertDocuments(
    std::string_view collection, const DocumentBatch& docs) {
  absl::StatusOr<PendingUpsert> ticket = StartUpsertDocuments(collection, docs);
  if (!ticket.ok()) return ticket.status();
  return FinishUpsertDocuments(*std::move(ticket));
}

absl::StatusOr<PutScoresResult> StoreImpl::PutScores(
    std::string_view collection, const ScoreBatch& scores) {
  return Write<PutScoresResult>(
      collection,
      [&](const Collection& c, rocksdb::WriteBatch* batch,
          PendingWrite* pending, PutScoresResult* result) {
        c.write_mu().AssertHeld();  // by Write
        return c.PreparePutScores(scores, families_, batch, pending, result);
      },
      nullptr);
}

absl::StatusOr<DeleteResult> StoreImpl::DeleteDocuments(
    std::string_view collection, std::span<const std::string_view> ids,
    bool allow_missing) {
  return Write<DeleteResult>(
      collection,
      [&](const Collection& c, rocksdb::WriteBatch* batch,
          PendingWrite* pending, DeleteResult* result) {
        c.write_mu().AssertHeld();  // by Write
        return c.PrepareDelete(ids, allow_missing, families_, batch, pending,
                               result);
      },
      nullptr);
}

// ---- Training feedback ----

absl::StatusOr<ReportResult> StoreImpl::ReportTraining(
    std::string_view collection, const TrainingReport& report) {
  FeedbackRequestView view;
  view.stream_id = report.stream_id;
  view.plan_id = report.plan_id;
  view.num_ids = report.ids.size();
  view.num_ordinals = report.ordinals.size();
  view.losses = report.losses;
  view.steps = report.steps;
  view.domain_losses = report.domain_losses;
  if (absl::Status s = ValidateFeedbackRequest(view); !s.ok()) return s;
  absl::StatusOr<std::shared_ptr<Collection>> found = Find(collection);
  if (!found.ok()) {
    if (absl::IsNotFound(found.status())) {
      return absl::InvalidArgumentError(
          absl::StrFormat("collection: '%s' not found", collection));
    }
    return found.status();
  }
  Collection& c = **found;
  absl::MutexLock write_lock(&c.write_mu());
  if (c.dropped()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("collection: '%s' not found", collection));
  }
  const int64_t now = NowMicros();
  const int64_t idle = options_.feedback_stream_idle_seconds * 1000000;
  rocksdb::WriteBatch batch;
  FeedbackWrite write;
  ReportResult result;
  if (absl::Status s = c.PrepareReport(report, now, idle, families_, &batch,
                                       &write, &result);
      !s.ok()) {
    return s;
  }
  if (write.duplicate) return result;
  if (absl::Status s = Commit(
          &batch, options_.sync_writes,
          absl::StrFormat("reporting training to collection '%s'", collection));
      !s.ok()) {
    return s;
  }
  c.ApplyReport(write);
  if (c.reports_since_checkpoint() >= options_.feedback_checkpoint_reports) {
    // The report is durable already; a failed checkpoint only means a
    // longer replay at the next Open.
    if (absl::Status s = CheckpointFeedbackLocked(c); !s.ok()) {
      spdlog::warn("storage: checkpointing the feedback of '{}': {}",
                   std::string(collection), s.ToString());
    }
  }
  return result;
}

absl::Status StoreImpl::CheckpointFeedbackLocked(Collection& c) {
  const int64_t now = NowMicros();
  const int64_t idle = options_.feedback_stream_idle_seconds * 1000000;
  rocksdb::WriteBatch batch;
  c.PrepareFeedbackCheckpoint(now, idle, families_, &batch);
  // No sync: if the checkpoint is lost, so is the deletion of the log
  // records it covers (one batch), and Open replays them.
  if (absl::Status s =
          Commit(&batch, /*sync=*/false,
                 absl::StrFormat("checkpointing feedback of '%s'", c.name()));
      !s.ok()) {
    return s;
  }
  c.FeedbackCheckpointDone(now, idle);
  return absl::OkStatus();
}

absl::Status StoreImpl::CheckpointFeedback(std::string_view collection) {
  absl::StatusOr<std::shared_ptr<Collection>> found = Find(collection);
  if (!found.ok()) return found.status();
  Collection& c = **found;
  absl::MutexLock write_lock(&c.write_mu());
  if (c.dropped()) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", collection));
  }
  return CheckpointFeedbackLocked(c);
}

absl::StatusOr<std::vector<StoredDomainLoss>> StoreImpl::GetDomainLosses(
    std::string_view collection, std::string_view plan_id) const {
  absl::StatusOr<std::shared_ptr<Collection>> found = Find(collection);
  if (!found.ok()) return found.status();
  const std::string prefix = FeedbackDomainPrefix((*found)->id(), plan_id);
  std::vector<StoredDomainLoss> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), families_.meta));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    if (it->value().size() != 16) {
      return absl::DataLossError("bad domain loss of plan '" +
                                 std::string(plan_id) + "'");
    }
    StoredDomainLoss& d = out.emplace_back();
    d.domain.assign(it->key().data() + prefix.size(),
                    it->key().size() - prefix.size());
    d.excess_loss = GetFixed<double>(it->value().data());
    d.step = GetFixed<int64_t>(it->value().data() + 8);
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "reading domain losses");
  }
  return out;
}

absl::StatusOr<GetDocumentsResult> StoreImpl::GetDocuments(
    std::string_view collection, std::span<const std::string_view> ids,
    std::span<const uint64_t> ordinals,
    const GetDocumentsOptions& options) const {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(collection);
  if (!c.ok()) return c.status();
  if (options.embedding && (*c)->embedding_dimension() > 0) {
    // Embeddings are read from the matrix, loaded on first use; a matrix
    // over the budget is read block by block instead.
    if (absl::Status s = LoadEmbeddings(*c);
        !s.ok() && !absl::IsResourceExhausted(s)) {
      return s;
    }
  }
  return (*c)->GetDocuments(db_.get(), families_, ids, ordinals, options);
}

absl::StatusOr<ColumnsSnapshot> StoreImpl::ReadColumns(
    std::string_view collection) const {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(collection);
  if (!c.ok()) return c.status();
  return (*c)->Snapshot();
}

absl::StatusOr<EmbeddingsSnapshot> StoreImpl::ReadEmbeddings(
    std::string_view collection) const {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(collection);
  if (!c.ok()) return c.status();
  if ((*c)->embedding_dimension() == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "collection '%s' has no embeddings (embedding_dimension 0)",
        collection));
  }
  // A concurrent load of another collection may evict this one between its
  // load and the snapshot: try again a few times.
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (std::optional<EmbeddingsSnapshot> snap = (*c)->SnapshotWithEmbeddings();
        snap.has_value()) {
      TouchEmbeddings(**c);
      return *std::move(snap);
    }
    if (absl::Status s = LoadEmbeddings(*c); !s.ok()) return s;
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "collection '%s': its embeddings were evicted by other collections' "
      "as soon as loaded; raise max_embedding_memory_bytes (%d bytes)",
      collection, options_.max_embedding_memory_bytes));
}

absl::Status StoreImpl::LoadEmbeddings(
    const std::shared_ptr<Collection>& c) const {
  if (c->EmbeddingsLoaded()) return absl::OkStatus();
  absl::MutexLock write_lock(&c->write_mu());
  if (c->dropped()) {
    return absl::NotFoundError(
        absl::StrFormat("collection '%s' not found", c->name()));
  }
  if (c->EmbeddingsLoaded()) return absl::OkStatus();
  const uint64_t budget = options_.max_embedding_memory_bytes;
  const uint64_t needed = c->EstimateEmbeddingBytes();
  if (budget > 0 && needed > budget) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "collection '%s': its embeddings need %d bytes in memory, more than "
        "max_embedding_memory_bytes (%d bytes) allows; raise it",
        c->name(), needed, budget));
  }
  // Make room first: evict the least recently used matrices until this one
  // fits, and reserve its bytes so that concurrent loads count it.
  std::vector<std::shared_ptr<Collection>> victims;
  {
    absl::MutexLock lock(&cache_mu_);
    victims = PickVictimsLocked(needed);
    reserved_embedding_bytes_ += needed;
  }
  for (const auto& v : victims) v->DropEmbeddings();
  absl::Status s;
  const auto start = std::chrono::steady_clock::now();
  if (c->HasHiddenRows()) {
    // Appends applied but waiting for their WAL sync: sync now and publish
    // them, so that the matrix loads what readers see.
    // (A read that syncs the WAL: the store's logical state is unchanged.)
    StoreImpl* self = const_cast<StoreImpl*>(this);
    s = self->SyncWalTo(self->NoteUnsyncedWrite());
    if (s.ok()) c->PublishAll();
  }
  if (s.ok()) s = c->LoadEmbeddings(db_.get(), families_);
  {
    absl::MutexLock lock(&cache_mu_);
    reserved_embedding_bytes_ -= needed;
    if (s.ok()) {
      cached_embeddings_[c->id()] = CachedEmbeddings{c, ++embedding_clock_};
    }
  }
  if (!s.ok()) return s;
  spdlog::info(
      "storage: loaded the embeddings of '{}' ({} bytes in memory) in {} ms",
      c->name(), c->embedding_memory_bytes(),
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start)
          .count());
  EnforceEmbeddingBudget();
  return absl::OkStatus();
}

std::vector<std::shared_ptr<Collection>> StoreImpl::PickVictimsLocked(
    uint64_t extra) const {
  std::vector<std::shared_ptr<Collection>> victims;
  const uint64_t budget = options_.max_embedding_memory_bytes;
  if (budget == 0) return victims;
  uint64_t total = reserved_embedding_bytes_ + extra;
  for (const auto& [id, entry] : cached_embeddings_) {
    if (std::shared_ptr<Collection> c = entry.collection.lock()) {
      total += c->embedding_memory_bytes();
    }
  }
  while (total > budget && !cached_embeddings_.empty()) {
    auto oldest = cached_embeddings_.begin();
    for (auto it = cached_embeddings_.begin(); it != cached_embeddings_.end();
         ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    if (std::shared_ptr<Collection> c = oldest->second.collection.lock()) {
      total -= std::min(total, c->embedding_memory_bytes());
      spdlog::info(
          "storage: evicting the embeddings of '{}' ({} bytes) to stay within "
          "max_embedding_memory_bytes ({} bytes)",
          c->name(), c->embedding_memory_bytes(), budget);
      victims.push_back(std::move(c));
    }
    cached_embeddings_.erase(oldest);
  }
  return victims;
}

void StoreImpl::EnforceEmbeddingBudget() const {
  std::vector<std::shared_ptr<Collection>> victims;
  {
    absl::MutexLock lock(&cache_mu_);
    victims = PickVictimsLocked(0);
  }
  for (const auto& v : victims) v->DropEmbeddings();
}

void StoreImpl::TouchEmbeddings(const Collection& c) const {
  absl::MutexLock lock(&cache_mu_);
  auto it = cached_embeddings_.find(c.id());
  if (it != cached_embeddings_.end()) it->second.last_use = ++embedding_clock_;
}

void StoreImpl::ForgetEmbeddings(Collection& c) const {
  {
    absl::MutexLock lock(&cache_mu_);
    cached_embeddings_.erase(c.id());
  }
  c.DropEmbeddings();
}

absl::StatusOr<PayloadHashes> StoreImpl::ReadPayloadHashes(
    std::string_view collection, JobContext& job) {
  absl::StatusOr<std::shared_ptr<Collection>> c = Find(collection);
  if (!c.ok()) return c.status();
  PayloadHashes out;
  if (absl::Status s = (*c)->ReadPayloadHashes(db_.get(), families_, &out);
      !s.ok()) {
    return s;
  }
  if (out.missing.empty()) return out;
  job.SetPhase("hashing older payloads");
  job.SetTotal(static_cast<int64_t>(out.missing.size()), "documents");
  constexpr size_t kChunk = 1024;
  const std::string what =
      absl::StrFormat("storing payload hashes of collection '%s'", collection);
  for (size_t i = 0; i < out.missing.size(); i += kChunk) {
    if (job.Cancelled()) return absl::CancelledError("cancelled");
    const std::span<const uint32_t> chunk =
        std::span<const uint32_t>(out.missing)
            .subspan(i, std::min(kChunk, out.missing.size() - i));
    absl::MutexLock write_lock(&(*c)->write_mu());
    if ((*c)->dropped()) {
      return absl::NotFoundError(
          absl::StrFormat("collection '%s' not found", collection));
    }
    rocksdb::WriteBatch batch;
    if (absl::Status s = (*c)->PrepareHashBackfill(db_.get(), families_, chunk,
                                                   &batch, &out);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Commit(&batch, options_.sync_writes, what); !s.ok()) {
      return s;
    }
    out.backfilled += static_cast<int64_t>(batch.Count());
    job.SetDone(static_cast<int64_t>(i + chunk.size()));
  }
  out.missing.clear();
  return out;
}

StoreStats StoreImpl::GetStats() const {
  StoreStats st;
  if (closed_.load()) return st;
  auto property = [&](const char* name) {
    uint64_t v = 0;
    db_->GetAggregatedIntProperty(name, &v);
    return v;
  };
  st.live_sst_bytes = property("rocksdb.live-sst-files-size");
  st.estimated_num_keys = property("rocksdb.estimate-num-keys");
  st.pending_compaction_bytes =
      property("rocksdb.estimate-pending-compaction-bytes");
  st.memtable_bytes = property("rocksdb.cur-size-all-mem-tables");
  // Database-wide properties (the aggregated form would count them once per
  // column family).
  auto db_property = [&](const char* name) {
    uint64_t v = 0;
    db_->GetIntProperty(name, &v);
    return v;
  };
  st.background_errors = db_property("rocksdb.background-errors");
  st.immutable_memtables = property("rocksdb.num-immutable-mem-table");
  st.running_compactions = db_property("rocksdb.num-running-compactions");
  st.running_flushes = db_property("rocksdb.num-running-flushes");
  st.write_stopped = db_property("rocksdb.is-write-stopped");
  st.delayed_write_rate = db_property("rocksdb.actual-delayed-write-rate");
  st.block_cache_usage_bytes = block_cache_->GetUsage();
  st.block_cache_capacity_bytes = block_cache_->GetCapacity();
  st.block_cache_hits = statistics_->getTickerCount(rocksdb::BLOCK_CACHE_HIT);
  st.block_cache_misses =
      statistics_->getTickerCount(rocksdb::BLOCK_CACHE_MISS);
  st.write_stall_micros = statistics_->getTickerCount(rocksdb::STALL_MICROS);
  st.bytes_written = statistics_->getTickerCount(rocksdb::BYTES_WRITTEN);
  st.bytes_read = statistics_->getTickerCount(rocksdb::BYTES_READ);
  st.compaction_read_bytes =
      statistics_->getTickerCount(rocksdb::COMPACT_READ_BYTES);
  st.compaction_write_bytes =
      statistics_->getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
  st.flush_write_bytes =
      statistics_->getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
  st.wal_syncs = statistics_->getTickerCount(rocksdb::WAL_FILE_SYNCED);
  st.embedding_memory_budget_bytes = options_.max_embedding_memory_bytes;
  absl::MutexLock lock(&cache_mu_);
  for (const auto& [id, entry] : cached_embeddings_) {
    if (std::shared_ptr<Collection> c = entry.collection.lock()) {
      st.embedding_memory_bytes += c->embedding_memory_bytes();
      ++st.embedding_matrices;
    }
  }
  return st;
}

absl::Status StoreImpl::CreateCheckpoint(const std::string& dir) const {
  if (closed_.load()) return absl::FailedPreconditionError("store is closed");
  std::error_code ec;
  if (dir.empty() || std::filesystem::exists(dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dir: '%s' is empty or exists already", dir));
  }
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocksDb(s, "starting a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: flush first, so the copy needs no WAL replay.
  return FromRocksDb(checkpoint->CreateCheckpoint(dir, 0),
                     "writing checkpoint " + dir);
}

absl::Status StoreImpl::Compact() {
  if (closed_.load()) return absl::FailedPreconditionError("store is closed");
  rocksdb::CompactRangeOptions options;
  options.bottommost_level_compaction =
      rocksdb::BottommostLevelCompaction::kForce;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    rocksdb::Status s = db_->CompactRange(options, h, nullptr, nullptr);
    if (!s.ok()) return FromRocksDb(s, "compacting " + h->GetName());
  }
  return absl::OkStatus();
}

absl::Status StoreImpl::Close() {
  if (closed_.exchange(true) || db_ == nullptr) return absl::OkStatus();
  absl::Status result;
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = db_->Flush(flush, handles_);
  if (!s.ok()) result = FromRocksDb(s, "flushing memtables");
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    db_->DestroyColumnFamilyHandle(h);
  }
  handles_.clear();
  s = db_->Close();
  if (!s.ok() && result.ok()) result = FromRocksDb(s, "closing the database");
  db_.reset();
  {
    absl::MutexLock lock(&mu_);
    collections_.clear();
  }
  return result;
}

}  // namespace internal
}  // namespace winnow::storage
