// Format migrations (docs/architecture.md, "Format migrations"): the ordered
// chain of steps that Store::Open runs to bring a data directory written by
// an earlier release up to kFormatVersion (format.h). Internal to storage/.
//
// Each step turns format N into N + 1 and is crash-safe in one of two ways:
//  - Atomic (the usual case): the step puts all its changes into `batch`,
//    and MigrateFormat commits that batch together with the version bump as
//    one synced RocksDB write across column families. A crash leaves the
//    directory wholly at N or wholly at N + 1.
//  - Idempotent (for a change too large for one batch): the step writes
//    through ctx.db itself, such that running it again from the start over
//    a partly written result is harmless, and leaves in `batch` only what
//    must land with the bump (such as deleting the old copies). A crash
//    before the bump leaves format N, and the next open runs the step again.
//    Writes the step makes without sync become durable with the bump's WAL
//    sync (one WAL, written in order); a step that bypasses the WAL (an SST
//    ingestion) must make them durable itself.
// Steps run before any collection is loaded, with every column family of
// the current format open (Open creates the missing ones), and may read
// anything through ctx.db.
//
// Adding the step from format N to N + 1:
//  1. In format.h, set kFormatVersion to N + 1 and describe the change in
//     its comment and in the layout comments.
//  2. Write the step (a function with Migration::Run's signature) in
//     migrations.cc and append {N, "what it does", Step} to kMigrations.
//     A new column family needs only its descriptor in StoreImpl::Init.
//  3. Test that a format-N directory opens, migrates and reads back
//     (tests/storage/store_migration_test.cc, which also crash-tests every
//     step of the chain).
#ifndef WINNOW_STORAGE_MIGRATIONS_H_
#define WINNOW_STORAGE_MIGRATIONS_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/collection.h"

namespace winnow::storage::internal {

struct MigrationContext {
  rocksdb::DB* db = nullptr;
  Families families;
};

struct Migration {
  // The step converts format from_version into from_version + 1.
  uint32_t from_version = 0;
  // What it does, for the log ("move plans to the plans family").
  const char* description = "";
  // Puts the step's changes into `batch` (see the file comment) and a
  // one-line account of what it moved into `summary` ("13 plans, 46
  // entries, 0.0 MiB").
  absl::Status (*run)(const MigrationContext& ctx, rocksdb::WriteBatch* batch,
                      std::string* summary) = nullptr;
};

// The chain, ordered by from_version: one step for each format from 1 to
// kFormatVersion - 1.
std::span<const Migration> FormatMigrations();

// Runs the steps from format `version` (1 <= version < kFormatVersion) up
// to kFormatVersion, each committed with its version bump as one synced
// write, logging each step and its duration. Errors name `data_dir` and the
// step; a failed step leaves the directory at the format before it.
absl::Status MigrateFormat(const MigrationContext& ctx, uint32_t version,
                           const std::string& data_dir);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_MIGRATIONS_H_
