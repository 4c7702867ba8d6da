#include "storage/migrations.h"

#include <chrono>
#include <cstring>
#include <iterator>
#include <memory>
#include <string_view>

#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"
#include "storage/format.h"
#include "storage/status.h"

namespace winnow::storage::internal {
namespace {

// 1 -> 2: every "plan/<id>/<entry>" of the meta family becomes
// "<id>" (marker) and "<id>\0<entry>" in the plans family, in the bump's
// batch (atomic). The batch holds every format 1 plan in memory once, for
// the length of the open: plans live until deleted or idle for the TTL, so
// a store holds those of its recent runs.
absl::Status MovePlansToPlansFamily(const MigrationContext& ctx,
                                    rocksdb::WriteBatch* batch,
                                    std::string* summary) {
  const std::string_view prefix = kFormat1PlanPrefix;
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      ctx.db->NewIterator(read, ctx.families.meta));
  uint64_t plans = 0, entries = 0, bytes = 0;
  std::string last_plan;
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Valid() &&
       it->key().starts_with(rocksdb::Slice(prefix.data(), prefix.size()));
       it->Next()) {
    std::string_view rest(it->key().data(), it->key().size());
    rest.remove_prefix(prefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 ||
        rest.substr(0, slash).find('\0') != std::string_view::npos) {
      return absl::DataLossError(
          absl::StrFormat("format 1 plan key \"%s\" is not plan/<id>/<entry>",
                          Escape(it->key().ToStringView())));
    }
    const std::string_view plan = rest.substr(0, slash);
    rocksdb::Status s;
    if (plans == 0 || plan != last_plan) {
      last_plan = std::string(plan);
      ++plans;
      s = batch->Put(ctx.families.plans,
                     rocksdb::Slice(plan.data(), plan.size()),
                     rocksdb::Slice());
    }
    if (s.ok()) {
      s = batch->Put(ctx.families.plans,
                     PlanEntryKey(plan, rest.substr(slash + 1)), it->value());
    }
    if (!s.ok()) return FromRocksDb(s, "copying a plan entry");
    ++entries;
    bytes += it->value().size();
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "reading format 1 plans");
  }
  // "plan0" is the first key after every "plan/..." ('0' follows '/').
  std::string end(prefix);
  end.back() = '/' + 1;
  rocksdb::Status s = batch->DeleteRange(
      ctx.families.meta, rocksdb::Slice(prefix.data(), prefix.size()), end);
  if (!s.ok()) return FromRocksDb(s, "deleting format 1 plans");
  *summary = absl::StrFormat("%d plans, %d entries, %.1f MiB", plans, entries,
                             static_cast<double>(bytes) / (1 << 20));
  return absl::OkStatus();
}

// 2 -> 3: every collection's per-document embedding keys of the docs
// family (be32(collection) 'E' be32(ordinal), one row each) become blocks
// of kBlockSize rows in the embeddings family. Idempotent: the blocks are
// written block by block through ctx.db (a collection's embeddings can
// exceed memory), each rebuilt whole from the docs keys, which stay until
// the bump's batch deletes them (one DeleteRange per collection); a crash
// before the bump leaves format 2 and the next open writes the same
// blocks again. The blocks become durable with the bump's WAL sync.
absl::Status MoveEmbeddingsToBlocks(const MigrationContext& ctx,
                                    rocksdb::WriteBatch* batch,
                                    std::string* summary) {
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  read.readahead_size = size_t{2} << 20;
  std::unique_ptr<rocksdb::Iterator> records(
      ctx.db->NewIterator(read, ctx.families.meta));
  const std::string tag(1, kCollectionRecordTag);
  uint64_t collections = 0, rows = 0, blocks = 0, bytes = 0;
  for (records->Seek(tag); records->Valid() && records->key().starts_with(tag);
       records->Next()) {
    const std::string name(records->key().data() + 1,
                           records->key().size() - 1);
    CollectionRecord r;
    if (!DecodeCollectionRecord(records->value().ToStringView(), &r)) {
      return absl::DataLossError("bad record of collection '" + name + "'");
    }
    if (r.embedding_dimension == 0) continue;
    ++collections;
    const size_t row_bytes =
        size_t{r.embedding_dimension} *
        (r.embedding_type == static_cast<uint8_t>(EmbeddingType::kFloat16) ? 2
                                                                           : 4);
    const std::string lower =
        DocKey(r.id, DocField::kEmbedding, 0).substr(0, 5);
    std::string upper = lower;
    upper.back() = static_cast<char>(DocField::kEmbedding) + 1;
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions scan = read;
    scan.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(
        ctx.db->NewIterator(scan, ctx.families.docs));
    std::string block;
    uint32_t current = UINT32_MAX;
    auto flush = [&]() -> rocksdb::Status {
      if (current == UINT32_MAX) return rocksdb::Status::OK();
      ++blocks;
      return ctx.db->Put(rocksdb::WriteOptions(), ctx.families.embeddings,
                         EmbeddingBlockKey(r.id, current), block);
    };
    for (it->Seek(lower); it->Valid(); it->Next()) {
      if (it->key().size() != 9 || it->value().size() != row_bytes) {
        return absl::DataLossError(absl::StrFormat(
            "collection '%s': embedding key \"%s\" holds %d bytes, want %d",
            name, Escape(it->key().ToStringView()), it->value().size(),
            row_bytes));
      }
      const uint32_t o = GetBig32(it->key().data() + 5);
      const uint32_t b = o >> kBlockShift;
      if (b != current) {
        if (rocksdb::Status s = flush(); !s.ok()) {
          return FromRocksDb(s, "writing an embedding block");
        }
        current = b;
        block.clear();
      }
      const size_t offset = size_t{o - (b << kBlockShift)} * row_bytes;
      if (block.size() < offset + row_bytes) block.resize(offset + row_bytes);
      std::memcpy(block.data() + offset, it->value().data(), row_bytes);
      ++rows;
      bytes += row_bytes;
    }
    if (!it->status().ok()) {
      return FromRocksDb(it->status(), "reading format 2 embeddings");
    }
    if (rocksdb::Status s = flush(); !s.ok()) {
      return FromRocksDb(s, "writing an embedding block");
    }
    if (rocksdb::Status s = batch->DeleteRange(ctx.families.docs, lower, upper);
        !s.ok()) {
      return FromRocksDb(s, "deleting format 2 embeddings");
    }
  }
  if (!records->status().ok()) {
    return FromRocksDb(records->status(), "listing collections");
  }
  *summary = absl::StrFormat(
      "%d collections, %d embeddings in %d blocks, %.1f MiB", collections, rows,
      blocks, static_cast<double>(bytes) / (1 << 20));
  return absl::OkStatus();
}

// The chain. Append the next step here (see migrations.h).
constexpr Migration kMigrations[] = {
    {1, "move plans from the meta family to the plans family",
     MovePlansToPlansFamily},
    {2,
     "move embeddings from per-document keys to blocks of the embeddings "
     "family",
     MoveEmbeddingsToBlocks},
};

static_assert(std::size(kMigrations) == kFormatVersion - 1,
              "one migration step per format before kFormatVersion");

}  // namespace

std::span<const Migration> FormatMigrations() { return kMigrations; }

absl::Status MigrateFormat(const MigrationContext& ctx, uint32_t version,
                           const std::string& data_dir) {
  for (uint32_t v = version; v < kFormatVersion; ++v) {
    const Migration* step = nullptr;
    for (const Migration& m : kMigrations) {
      if (m.from_version == v) step = &m;
    }
    if (step == nullptr) {
      return absl::InternalError(absl::StrFormat(
          "data_dir: '%s': no migration from storage format %d", data_dir, v));
    }
    spdlog::info("storage: migrating {} from format {} to {}: {}", data_dir, v,
                 v + 1, step->description);
    const auto start = std::chrono::steady_clock::now();
    auto failed = [&](const absl::Status& s) {
      return absl::Status(
          s.code(), absl::StrFormat("data_dir: '%s': migrating storage format "
                                    "%d to %d (%s): %s",
                                    data_dir, v, v + 1, step->description,
                                    std::string(s.message())));
    };
    rocksdb::WriteBatch batch;
    std::string summary;
    if (absl::Status s = step->run(ctx, &batch, &summary); !s.ok()) {
      return failed(s);
    }
    std::string bumped;
    PutFixed<uint32_t>(&bumped, v + 1);
    rocksdb::Status s = batch.Put(ctx.families.meta, kFormatVersionKey, bumped);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    if (s.ok()) s = ctx.db->Write(sync, &batch);
    if (!s.ok()) return failed(FromRocksDb(s, "committing the step"));
    spdlog::info("storage: migrated {} to format {} in {} ms ({})", data_dir,
                 v + 1,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count(),
                 summary);
  }
  return absl::OkStatus();
}

}  // namespace winnow::storage::internal
