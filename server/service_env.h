// ServiceEnv: what every service handler shares, owned by Server.
//
// Thread safety: the pointers are set before the gRPC server starts and
// constant afterwards; the flags are atomics, set once by the shutdown
// sequence and read by any thread.
#ifndef WINNOW_SERVER_SERVICE_ENV_H_
#define WINNOW_SERVER_SERVICE_ENV_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/plans.h"
#include "server/workers.h"
#include "storage/store.h"

namespace winnow::server {

class OperationManager;
class ScorerRegistry;

inline int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct ServiceEnv {
  storage::Store* store = nullptr;
  Workers* workers = nullptr;
  const ServerOptions* options = nullptr;
  PlanRegistry* plans = nullptr;
  // Long jobs (operations.h) and ComputeScores' scorers.
  OperationManager* operations = nullptr;
  const ScorerRegistry* scorers = nullptr;
  // The token file's tokens; null when tokens are off (auth.h).
  const TokenStore* tokens = nullptr;

  // Streams open now, against options->max_concurrent_streams.
  std::atomic<int64_t> open_streams{0};
  // Calls of any kind running now (RpcScope counts them); shutdown waits
  // for them before it closes client connections.
  std::atomic<int64_t> calls_in_flight{0};
  // Null when metrics are off (an empty metrics_listen).
  Metrics* metrics = nullptr;

  // Shutdown has begun: new RPCs are answered UNAVAILABLE while gRPC stops
  // accepting them; RPCs already running go on (they drain).
  std::atomic<bool> draining{false};
  // When the drain deadline is close, streams end at their next step with
  // UNAVAILABLE instead of being cancelled by gRPC, so a client sees a
  // status it knows to retry. Nanoseconds on the steady clock; never until
  // shutdown sets it.
  std::atomic<int64_t> stop_at_ns{INT64_MAX};

  // Counts one more open stream, or RESOURCE_EXHAUSTED naming the limit
  // when max_concurrent_streams are open. Each OK is matched by one
  // CloseStream().
  absl::Status OpenStream() {
    const int64_t limit = options->max_concurrent_streams;
    if (open_streams.fetch_add(1, std::memory_order_acq_rel) >= limit) {
      open_streams.fetch_sub(1, std::memory_order_acq_rel);
      return absl::ResourceExhaustedError(
          absl::StrCat("too many concurrent streams: the server's limit "
                       "max_concurrent_streams is ",
                       limit, "; retry when a stream ends"));
    }
    return absl::OkStatus();
  }
  void CloseStream() { open_streams.fetch_sub(1, std::memory_order_acq_rel); }

  bool Stopping() const {
    return SteadyNanos() >= stop_at_ns.load(std::memory_order_acquire);
  }
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SERVICE_ENV_H_
