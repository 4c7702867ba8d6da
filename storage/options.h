// StoreOptions: how a Store is opened (docs/operations.md, "Durability").
//
// A plain struct; each field's default is in its declaration. The server's
// config file and flags map onto these fields one to one.
#ifndef WINNOW_STORAGE_OPTIONS_H_
#define WINNOW_STORAGE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "storage/disk_quota.h"
#include "storage/power_loss_model.h"

namespace winnow::storage {

struct StoreOptions {
  // ---- Behaviour ----

  // Directory of the RocksDB database. Created (with its parents) when
  // missing. Required.
  std::string data_dir;

  // When true, every write's WAL is fsynced before the write returns, so an
  // acknowledged write survives kill -9 and power loss. When
  // false, writes return once they reach the OS: they survive kill -9 but
  // not a power failure. Open logs a warning when false.
  bool sync_writes = true;

  // Longest document id, in bytes. Longer ids are INVALID_ARGUMENT.
  uint32_t max_id_bytes = 512;

  // Largest payload of one document, in bytes. Larger payloads are
  // INVALID_ARGUMENT.
  uint64_t max_payload_bytes = uint64_t{8} << 20;

  // How long a ReportTraining stream's high-water mark (the last sequence
  // applied for its stream_id) is kept after the stream's last message, in
  // seconds. A resend older than that is applied again (docs/feedback.md).
  int64_t feedback_stream_idle_seconds = 7 * 24 * 3600;

  // ---- Performance ----

  // Training reports applied to a collection between two checkpoints of its
  // loss statistics (docs/feedback.md): the reports since the last
  // checkpoint are replayed from the log at Open.
  uint64_t feedback_checkpoint_reports = uint64_t{1} << 22;

  // Size of the block cache shared by every column family, in bytes.
  size_t block_cache_bytes = size_t{64} << 20;

  // Size of one memtable of each column family, in bytes. Large values keep
  // bulk ingest from stalling on flushes.
  size_t write_buffer_bytes = size_t{64} << 20;

  // Memory all collections' embedding matrices may take together, in bytes
  // (docs/operations.md, "Memory"). A matrix loads on first use (Nearest,
  // the scorers, GetDocuments of embeddings); past the budget the least
  // recently used collection's matrix is evicted, and a collection whose
  // matrix alone exceeds it is RESOURCE_EXHAUSTED. 0 = no limit. The default,
  // 8 GiB, leaves a 24 GiB machine room for as much in plans
  // (max_plan_memory_bytes), the columns, RocksDB and the page cache.
  uint64_t max_embedding_memory_bytes = uint64_t{8} << 30;

  // RocksDB background flush and compaction threads.
  int max_background_jobs = 2;

  // ---- Test hooks ----

  // When set, the database's files may hold at most this many bytes
  // written by this Store; a write past it fails as on a full disk
  // (RESOURCE_EXHAUSTED) until the quota is raised. See disk_quota.h.
  std::shared_ptr<DiskQuota> disk_quota;

  // When set, the Store opens RocksDB through a file system that reports
  // what is durable to this model and fails every write while its power is
  // off, so that a test can cut the power and drop everything not synced
  // (power_loss_model.h). The model's root must hold data_dir.
  std::shared_ptr<PowerLossModel> power_loss;
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_OPTIONS_H_
