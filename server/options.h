// ServerOptions: everything winnowd can be configured with, as one plain
// struct with its defaults (docs/operations.md, "Flags and the config file").
//
// The struct maps one to one onto the TOML config file and the command
// line: each field is a TOML key of the same name and a long flag with the
// underscores turned into dashes (data_dir <-> --data-dir). OptionFields()
// is that mapping; config.h reads files and flags through it, so a new field
// needs one line there and nothing else.
//
// Thread safety: a plain value; thread-compatible.
#ifndef WINNOW_SERVER_OPTIONS_H_
#define WINNOW_SERVER_OPTIONS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"

namespace winnow::server {

struct ServerOptions {
  // ---- Binding (scripts outside the repository use these names) ----

  // Directory of the RocksDB database; created if missing.
  std::string data_dir = "./data";
  // gRPC address, HOST:PORT. Port 0 picks a free port; the chosen one is
  // printed on the startup line ("winnowd listening on HOST:PORT").
  std::string listen = "127.0.0.1:7450";
  // Prometheus /metrics address, HOST:PORT (metrics.h). Port 0 picks a free
  // port, printed on the startup line "winnowd serving metrics on
  // http://HOST:PORT/metrics". Empty turns metrics off.
  std::string metrics_listen = "127.0.0.1:9464";
  // Plaintext address, HOST:PORT, that serves only grpc.health.v1.Health,
  // for Kubernetes probes when the main port is TLS; empty (the default)
  // serves none. It reports NOT_SERVING once shutdown begins.
  std::string health_listen;

  // ---- Security (docs/operations.md, "Security") ----

  // PEM certificate chain and private key of the server: TLS is on when
  // both are set. The files are re-read when they change (checked every
  // tls_refresh_seconds), so a certificate is rotated by replacing them.
  std::string tls_cert;
  std::string tls_key;
  // PEM bundle of the CAs that sign client certificates: when set (with
  // tls_cert and tls_key), clients must present a certificate it verifies
  // (mutual TLS).
  std::string tls_client_ca;
  // How often the TLS files are checked for changes, in seconds.
  int64_t tls_refresh_seconds = 60;
  // Token file (server/auth.h has its format): when set, every RPC but
  // health checking and reflection needs an `authorization: Bearer` token
  // with the role the RPC needs. Reloaded on SIGHUP.
  std::string tokens;

  // ---- Behaviour ----

  // When true (the default), the WAL is synced before a write is
  // acknowledged, so an acknowledged batch survives kill -9 and power loss
  // (docs/operations.md, "Durability"). false trades that for throughput: an
  // acknowledged batch survives a process crash but may be lost on power
  // loss. The server logs a warning at startup when it is off.
  bool sync_writes = true;
  // On SIGTERM/SIGINT, how long in-flight RPCs and streams may take to
  // finish before they are cancelled, in seconds. Below Kubernetes' default
  // terminationGracePeriodSeconds (30) so RocksDB is closed cleanly before
  // a SIGKILL.
  int64_t shutdown_grace_seconds = 25;
  // Log level: trace, debug, info, warn, error, critical or off.
  std::string log_level = "info";

  // ---- Backups (docs/operations.md, "Backups"; server/backups.h) ----

  // Directory of AdminService.Backup's backups, one subdirectory each;
  // created when the first backup is taken. Empty means "<data_dir>-backups"
  // beside the data directory (./data -> ./data-backups): on the same file
  // system a backup hard-links the SST files instead of copying them. Copy
  // backups off the machine for safety against losing the disk.
  std::string backup_dir;
  // How many backups to keep: after each successful backup the oldest
  // beyond this many are deleted. 0 keeps every backup.
  int64_t backup_keep = 7;
  // A backup directory to restore before starting (a path ListBackups
  // reports). The data directory must be missing or empty; winnowd refuses
  // to start otherwise, so a restore never overwrites a database.
  std::string restore_from;
  // AdminService.Backup waits this long for its backup operation to end:
  // it answers with the finished operation if the backup ends in time and
  // with the running one otherwise (then follow it with OperationService).
  int64_t backup_wait_seconds = 30;

  // ---- Operations (docs/operations.md, "Operations"; server/operations.h)

  // Threads that run long jobs (scorers, backups), one job each, at a
  // lower CPU priority than serving.
  int64_t operation_threads = 1;
  // Jobs that may wait for a thread; one more is refused with
  // RESOURCE_EXHAUSTED.
  int64_t max_queued_operations = 16;
  // The nice(2) value of the job threads (0 to 19; higher is lower
  // priority). Threads a job starts (BLAS) inherit it.
  int64_t operation_nice = 10;
  // Finished operations are kept this long, in seconds (7 days), then
  // pruned (at start and hourly).
  int64_t operation_retention_seconds = int64_t{7} * 24 * 3600;

  // ---- Limits (docs/operations.md, "Limits") ----

  // Largest gRPC message accepted or sent, in bytes. A request over it is
  // refused by gRPC with RESOURCE_EXHAUSTED. 64 MiB holds 4,096 documents
  // with 1,024-d float32 embeddings.
  int64_t max_message_bytes = int64_t{64} << 20;
  // Most streams (Filter, Sample, UpsertDocuments, PutScores, ...) open at
  // once on the server; one more is refused with RESOURCE_EXHAUSTED.
  int64_t max_concurrent_streams = 1024;

  // ---- Sampling plans (docs/sampling.md, "Plans") ----

  // A plan unused for this long is deleted, in seconds (30 days).
  int64_t plan_ttl_seconds = int64_t{30} * 24 * 3600;
  // K: a plan durably checkpoints its sampler state every K global batches,
  // so a resume regenerates at most K batches.
  int64_t plan_checkpoint_batches = 64;
  // Memory all plans may hold, in bytes; a new plan past it is refused with
  // RESOURCE_EXHAUSTED. 0 = no limit.
  int64_t max_plan_memory_bytes = int64_t{8} << 30;
  // Live plans one token may own; 0 = no limit.
  int64_t max_plans_per_token = 256;

  // ---- Embeddings (docs/operations.md, "Memory") ----

  // Memory all collections' embedding matrices may take together, in
  // bytes. A matrix loads on first use; past the budget the least recently
  // used one is evicted, and a collection whose matrix alone exceeds it is
  // refused with RESOURCE_EXHAUSTED. 0 = no limit. 8 GiB (8M 256-d float32
  // embeddings) leaves a 24 GiB machine room for as much in plans, the
  // columns, RocksDB and the page cache.
  int64_t max_embedding_memory_bytes = int64_t{8} << 30;

  // ---- Training feedback (docs/feedback.md) ----

  // A ReportTraining stream's resend mark is kept this long after its last
  // message, in seconds (7 days).
  int64_t feedback_stream_idle_seconds = int64_t{7} * 24 * 3600;
  // Reports applied to a collection between two checkpoints of its loss
  // statistics; Open replays at most this many from the log.
  int64_t feedback_checkpoint_reports = int64_t{1} << 22;

  // ---- Performance ----

  // Threads that run request work (storage writes and reads, filter
  // evaluation, batch generation) off gRPC's callback threads; 0 means two
  // per CPU core and at least 4, since a durable write spends most of its
  // time waiting for an fsync rather than on a core.
  int64_t worker_threads = 0;
};

// One field of ServerOptions as it appears in the config file and on the
// command line.
struct OptionField {
  using Member = std::variant<std::string ServerOptions::*,
                              bool ServerOptions::*, int64_t ServerOptions::*>;
  // The TOML key, which is also the field's name.
  std::string_view key;
  Member member;
  // One line for --help.
  std::string_view help;
};

// Every configurable field, in declaration order.
std::span<const OptionField> OptionFields();

// The long flag for a config key: "data_dir" -> "--data-dir".
std::string FlagName(std::string_view key);

// OK, or INVALID_ARGUMENT naming the first bad field by its config key
// (for example "listen: expected HOST:PORT, got 'x'").
absl::Status ValidateOptions(const ServerOptions& options);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_OPTIONS_H_
