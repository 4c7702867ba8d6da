// Server: winnowd's parts wired together (TF Serving's model_servers/server.h
// shape): the store, the worker pool, the gRPC services with health checking
// and reflection, and the graceful shutdown on SIGTERM/SIGINT.
//
//   winnow::server::Server server;
//   absl::Status s = server.BuildAndStart(options);
//   if (!s.ok()) ...
//   s = server.WaitForTermination();
//
// SIGHUP reloads the token file (ReloadTokens).
//
// Shutdown (docs/operations.md), on the first SIGTERM or SIGINT or
// RequestShutdown():
//  1. health checking reports NOT_SERVING and new RPCs get UNAVAILABLE;
//  2. gRPC stops accepting calls and running ones drain until the deadline
//     (shutdown_grace_seconds); shortly before it, streams end with
//     UNAVAILABLE at their next step, and gRPC cancels whatever remains at
//     the deadline;
//  3. the worker pool finishes, and the store is flushed and closed.
// A second signal while draining ends the streams at once.
//
// Thread safety: BuildAndStart and WaitForTermination are called once each,
// by the owning thread, in that order. RequestShutdown may be called from
// any thread, any number of times.
#ifndef WINNOW_SERVER_SERVER_H_
#define WINNOW_SERVER_SERVER_H_

#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/options.h"

namespace winnow::server {

class ScorerRegistry;

class Server {
 public:
  using Options = ServerOptions;

  Server();
  // Shuts down (as RequestShutdown, then WaitForTermination) if still
  // running.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves /metrics on options.metrics_listen (unless empty), opens the
  // store in options.data_dir, starts gRPC on options.listen, starts
  // handling SIGTERM and SIGINT, and then prints
  // "winnowd serving metrics on http://HOST:PORT/metrics" (with metrics on)
  // and "winnowd listening on HOST:PORT" (the bound ports, also for port 0)
  // on stdout. Errors: INVALID_ARGUMENT for bad options, the store's error
  // if it cannot be opened, UNAVAILABLE if an address cannot be bound.
  absl::Status BuildAndStart(const Options& options);

  // The bound address, as printed; valid after BuildAndStart succeeded.
  const std::string& address() const { return address_; }
  int port() const { return port_; }
  // The bound metrics address HOST:PORT; empty with metrics off.
  const std::string& metrics_address() const { return metrics_address_; }

  // ComputeScores' scorers (operations.h); valid after BuildAndStart
  // succeeded. For tests that run a scorer of their own: register before
  // the first ComputeScores call (the registry is not locked).
  ScorerRegistry* scorers();

  // Reads the token file again (on SIGHUP); on an error, logs it and keeps
  // the tokens loaded before. OK and nothing to do without a token file.
  absl::Status ReloadTokens();

  // Begins the shutdown sequence; returns at once.
  void RequestShutdown(std::string_view reason) ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until the shutdown sequence has finished; returns the status of
  // closing the store.
  absl::Status WaitForTermination() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Impl;

  // Runs the shutdown sequence (on its own thread).
  void Shutdown(std::string reason) ABSL_LOCKS_EXCLUDED(mu_);

  std::unique_ptr<Impl> impl_;
  std::string address_;
  int port_ = 0;
  std::string metrics_address_;

  absl::Mutex mu_;
  absl::CondVar done_cv_;  // shutdown_done_ became true
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);
  std::thread shutdown_thread_ ABSL_GUARDED_BY(mu_);
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SERVER_H_
