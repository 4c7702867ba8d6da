#include "server/options.h"

#include <algorithm>
#include <array>
#include <climits>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

using O = ServerOptions;

constexpr std::array kFields = {
    OptionField{"data_dir", &O::data_dir,
                "Directory of the RocksDB database (created if missing)"},
    OptionField{"listen", &O::listen,
                "gRPC address HOST:PORT (port 0 picks a free port)"},
    OptionField{"metrics_listen", &O::metrics_listen,
                "Prometheus /metrics address HOST:PORT"},
    OptionField{"health_listen", &O::health_listen,
                "Plaintext HOST:PORT serving only grpc.health.v1.Health "
                "(for probes when TLS is on); empty for none"},
    OptionField{"tls_cert", &O::tls_cert,
                "PEM certificate chain of the server; with --tls-key turns "
                "TLS on"},
    OptionField{"tls_key", &O::tls_key, "PEM private key of --tls-cert"},
    OptionField{"tls_client_ca", &O::tls_client_ca,
                "PEM CA bundle that client certificates must verify against "
                "(turns on mutual TLS)"},
    OptionField{"tls_refresh_seconds", &O::tls_refresh_seconds,
                "Seconds between checks of the TLS files for a rotated "
                "certificate"},
    OptionField{"tokens", &O::tokens,
                "Token file (role=... sha256=... lines); every RPC but "
                "health and reflection then needs a bearer token; reloaded "
                "on SIGHUP"},
    OptionField{"sync_writes", &O::sync_writes,
                "Sync the WAL before acknowledging a write (false trades "
                "power-loss durability for speed)"},
    OptionField{"shutdown_grace_seconds", &O::shutdown_grace_seconds,
                "Seconds in-flight RPCs may take to finish on SIGTERM"},
    OptionField{"log_level", &O::log_level,
                "trace, debug, info, warn, error, critical or off"},
    OptionField{"backup_dir", &O::backup_dir,
                "Directory of backups (default: <data_dir>-backups)"},
    OptionField{"backup_keep", &O::backup_keep,
                "Backups to keep, newest first; 0 keeps all"},
    OptionField{"restore_from", &O::restore_from,
                "Restore this backup into the empty data_dir, then start"},
    OptionField{"backup_wait_seconds", &O::backup_wait_seconds,
                "Seconds Backup waits for its operation before answering "
                "with it still running"},
    OptionField{"operation_threads", &O::operation_threads,
                "Threads running long operations (scorers, backups)"},
    OptionField{"max_queued_operations", &O::max_queued_operations,
                "Operations that may wait for a thread; one more is "
                "RESOURCE_EXHAUSTED"},
    OptionField{"operation_nice", &O::operation_nice,
                "nice value (0-19) of the operation threads"},
    OptionField{"operation_retention_seconds", &O::operation_retention_seconds,
                "Seconds a finished operation's record is kept"},
    OptionField{"max_message_bytes", &O::max_message_bytes,
                "Largest gRPC message accepted or sent, in bytes"},
    OptionField{"plan_ttl_seconds", &O::plan_ttl_seconds,
                "Delete a plan unused for this many seconds"},
    OptionField{"plan_checkpoint_batches", &O::plan_checkpoint_batches,
                "Global batches between a plan's durable sampler checkpoints"},
    OptionField{"max_plan_memory_bytes", &O::max_plan_memory_bytes,
                "Memory all sampling plans may hold (0 = no limit)"},
    OptionField{"max_plans_per_token", &O::max_plans_per_token,
                "Live plans one token may own (0 = no limit)"},
    OptionField{"max_embedding_memory_bytes", &O::max_embedding_memory_bytes,
                "Memory all embedding matrices may hold; the least recently "
                "used is evicted past it (0 = no limit)"},
    OptionField{"feedback_stream_idle_seconds",
                &O::feedback_stream_idle_seconds,
                "Seconds a ReportTraining stream's resend mark is kept after "
                "its last message"},
    OptionField{"feedback_checkpoint_reports", &O::feedback_checkpoint_reports,
                "Training reports between two checkpoints of a collection's "
                "loss statistics (a restart replays at most this many)"},
    OptionField{"max_concurrent_streams", &O::max_concurrent_streams,
                "Most streams open at once; one more is RESOURCE_EXHAUSTED"},
    OptionField{"worker_threads", &O::worker_threads,
                "Request worker threads; 0 means 2 per CPU core, at least 4"},
};

absl::Status CheckHostPort(std::string_view key, const std::string& value,
                           bool allow_empty) {
  if (value.empty() && allow_empty) return absl::OkStatus();
  size_t colon = value.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(value).substr(colon + 1), &port) ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(key), ": expected HOST:PORT, got '", value, "'"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOperationOptions(const ServerOptions& options) {
  if (options.backup_wait_seconds < 0 || options.backup_wait_seconds > 3600) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup_wait_seconds: must be in [0, 3600], got ",
                     options.backup_wait_seconds));
  }
  if (options.operation_threads < 1 || options.operation_threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation_threads: must be in [1, 64], got ",
                     options.operation_threads));
  }
  if (options.max_queued_operations < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_queued_operations: must be >= 0, got ",
                     options.max_queued_operations));
  }
  if (options.operation_nice < 0 || options.operation_nice > 19) {
    return absl::InvalidArgumentError(absl::StrCat(
        "operation_nice: must be in [0, 19], got ", options.operation_nice));
  }
  if (options.operation_retention_seconds < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation_retention_seconds: must be >= 1, got ",
                     options.operation_retention_seconds));
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const OptionField> OptionFields() { return kFields; }

std::string FlagName(std::string_view key) {
  std::string flag = absl::StrCat("--", std::string(key));
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

absl::Status ValidateOptions(const ServerOptions& options) {
  if (options.data_dir.empty()) {
    return absl::InvalidArgumentError("data_dir: must not be empty");
  }
  if (absl::Status s = CheckHostPort("listen", options.listen, false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckHostPort("metrics_listen", options.metrics_listen, true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckHostPort("health_listen", options.health_listen, true);
      !s.ok()) {
    return s;
  }
  if (!options.tls_cert.empty() && options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "tls_key: must be set when tls_cert is (TLS needs both)");
  }
  if (options.tls_cert.empty() && !options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "tls_cert: must be set when tls_key is (TLS needs both)");
  }
  if (!options.tls_client_ca.empty() && options.tls_cert.empty()) {
    return absl::InvalidArgumentError(
        "tls_client_ca: needs tls_cert and tls_key (mutual TLS is on top of "
        "TLS)");
  }
  if (options.tls_refresh_seconds < 1 || options.tls_refresh_seconds > 86400) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_refresh_seconds: must be in [1, 86400], got ",
                     options.tls_refresh_seconds));
  }
  if (options.shutdown_grace_seconds < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("shutdown_grace_seconds: must be >= 0, got ",
                     options.shutdown_grace_seconds));
  }
  static constexpr std::array kLevels = {"trace", "debug",    "info", "warn",
                                         "error", "critical", "off"};
  if (std::find(kLevels.begin(), kLevels.end(),
                absl::AsciiStrToLower(options.log_level)) == kLevels.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log_level: expected one of trace, debug, info, warn, error, "
        "critical, off; got '",
        options.log_level, "'"));
  }
  if (options.backup_keep < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "backup_keep: must be >= 0 (0 keeps all), got ", options.backup_keep));
  }
  if (absl::Status s = ValidateOperationOptions(options); !s.ok()) return s;
  // gRPC takes the limit as an int.
  if (options.max_message_bytes < 1024 || options.max_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_message_bytes: must be in [1024, ", INT_MAX,
                     "], got ", options.max_message_bytes));
  }
  if (options.plan_ttl_seconds < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "plan_ttl_seconds: must be >= 1, got ", options.plan_ttl_seconds));
  }
  if (options.plan_checkpoint_batches < 1 ||
      options.plan_checkpoint_batches > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("plan_checkpoint_batches: must be in [1, 1000000], got ",
                     options.plan_checkpoint_batches));
  }
  if (options.feedback_stream_idle_seconds < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("feedback_stream_idle_seconds: must be >= 1, got ",
                     options.feedback_stream_idle_seconds));
  }
  if (options.feedback_checkpoint_reports < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("feedback_checkpoint_reports: must be >= 1, got ",
                     options.feedback_checkpoint_reports));
  }
  if (options.max_plan_memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_plan_memory_bytes: must be >= 0, got ",
                     options.max_plan_memory_bytes));
  }
  if (options.max_embedding_memory_bytes < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_embedding_memory_bytes: must be >= 0, got ",
                     options.max_embedding_memory_bytes));
  }
  if (options.max_plans_per_token < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_plans_per_token: must be >= 0, got ",
                     options.max_plans_per_token));
  }
  if (options.max_concurrent_streams < 1 ||
      options.max_concurrent_streams > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_concurrent_streams: must be in [1, 1000000], got ",
                     options.max_concurrent_streams));
  }
  if (options.worker_threads < 0 || options.worker_threads > 1024) {
    return absl::InvalidArgumentError(absl::StrCat(
        "worker_threads: must be in [0, 1024], got ", options.worker_threads));
  }
  return absl::OkStatus();
}

}  // namespace winnow::server
