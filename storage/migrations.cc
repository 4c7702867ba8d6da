#include "storage/migrations.h"

#include <chrono>
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

// The chain. Append the next step here (see migrations.h).
constexpr Migration kMigrations[] = {
    {1, "move plans from the meta family to the plans family",
     MovePlansToPlansFamily},
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
