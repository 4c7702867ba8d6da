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

#include "server/metrics.h"
#include "server/options.h"
#include "server/plans.h"
#include "server/workers.h"
#include "storage/store.h"

namespace winnow::server {

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

  bool Stopping() const {
    return SteadyNanos() >= stop_at_ns.load(std::memory_order_acquire);
  }
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SERVICE_ENV_H_
