#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/admin_service.h"
#include "server/auth.h"
#include "server/backups.h"
#include "server/collection_service.h"
#include "server/dedup_jobs.h"
#include "server/document_service.h"
#include "server/exact_dedup_job.h"
#include "server/get_scores_pollers.h"
#include "server/kmeans_job.h"
#include "server/metrics.h"
#include "server/operation_service.h"
#include "server/operations.h"
#include "server/plans.h"
#include "server/score_service.h"
#include "server/selection_service.h"
#include "server/service_env.h"
#include "server/target_similarity_job.h"
#include "server/transport.h"
#include "server/workers.h"
#include "storage/store.h"

namespace winnow::server {
namespace {

// The services whose health is reported by name (and "" for the server).
constexpr const char* kServiceNames[] = {
    "winnow.v1.CollectionService", "winnow.v1.DocumentService",
    "winnow.v1.ScoreService",      "winnow.v1.SelectionService",
    "winnow.v1.AdminService",      "winnow.v1.OperationService"};

// How often the storage metrics are read from RocksDB.
constexpr std::chrono::seconds kStorageMetricsInterval(5);

}  // namespace

struct Server::Impl {
  Options options;
  std::unique_ptr<storage::Store> store;
  // After the store: destroyed first, stopping its storage refresh.
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<Workers> workers;
  std::unique_ptr<PlanRegistry> plans;
  std::unique_ptr<TokenStore> tokens;  // null without a token file
  // After the store and the metrics: destroyed first, joining its threads.
  std::unique_ptr<OperationManager> operations;
  std::unique_ptr<ScorerRegistry> scorers;
  ServiceEnv env;
  std::unique_ptr<CollectionServiceImpl> collections;
  std::unique_ptr<DocumentServiceImpl> documents;
  std::unique_ptr<ScoreServiceImpl> scores;
  // ScoreService.GetScores's completion queues and polling threads.
  std::unique_ptr<GetScoresPollers> get_scores;
  std::unique_ptr<SelectionServiceImpl> selection;
  std::unique_ptr<BackupManager> backups;
  std::unique_ptr<AdminServiceImpl> admin;
  std::unique_ptr<OperationServiceImpl> operation_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<grpc::Server> health_server;  // --health-listen, or null

  // Signals are handled on a small Asio thread (docs/architecture.md).
  boost::asio::io_context io;
  std::optional<
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      io_work;
  std::optional<boost::asio::signal_set> signals;
  std::thread io_thread;

  // The steps of BuildAndStart, in order. Each failing step leaves what it
  // opened closed.
  // The token file and the TLS credentials.
  absl::Status LoadSecurity(
      std::shared_ptr<grpc::ServerCredentials>* credentials);
  // --restore-from, the store, the plan registry and the operations.
  absl::Status OpenStorage();
  absl::Status StartOperations();
  // The workers, the services and their shared environment.
  void MakeServices(absl::Time start_time);
  // The gRPC server (and the plaintext health server), serving.
  absl::Status StartGrpc(
      const std::shared_ptr<grpc::ServerCredentials>& credentials, int* port,
      int* health_port);
  void LogStart(const std::string& address, const std::string& metrics_address,
                int health_port) const;
};

Server::Server() : impl_(std::make_unique<Impl>()) {}

Server::~Server() {
  bool running;
  {
    absl::MutexLock lock(&mu_);
    running = impl_->grpc_server != nullptr && !shutdown_done_;
  }
  if (running) {
    RequestShutdown("server destroyed");
    (void)WaitForTermination();
  } else if (impl_->io_thread.joinable()) {
    impl_->io.stop();
    impl_->io_thread.join();
  }
}

absl::Status Server::Impl::LoadSecurity(
    std::shared_ptr<grpc::ServerCredentials>* credentials) {
  if (!options.tokens.empty()) {
    absl::StatusOr<std::unique_ptr<TokenStore>> opened =
        TokenStore::Open(options.tokens);
    if (!opened.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens: ", opened.status().message()));
    }
    tokens = *std::move(opened);
    if (tokens->size() == 0) {
      spdlog::warn("tokens: '{}' holds no token; every call will be refused",
                   options.tokens);
    }
  }
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> made =
      MakeServerCredentials(options);
  if (!made.ok()) return made.status();
  *credentials = *std::move(made);
  return absl::OkStatus();
}

absl::Status Server::Impl::OpenStorage() {
  // --restore-from: copy the backup into the (empty) data dir first; a
  // restore cut short leaves a marker that keeps the server from serving a
  // partial database.
  if (!options.restore_from.empty()) {
    if (absl::Status s = RestoreBackup(options.restore_from, options.data_dir);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckRestoreFinished(options.data_dir); !s.ok()) {
    return s;
  }
  storage::StoreOptions store_options;
  store_options.data_dir = options.data_dir;
  store_options.sync_writes = options.sync_writes;
  store_options.feedback_stream_idle_seconds =
      options.feedback_stream_idle_seconds;
  store_options.feedback_checkpoint_reports =
      static_cast<uint64_t>(options.feedback_checkpoint_reports);
  store_options.max_embedding_memory_bytes =
      static_cast<uint64_t>(options.max_embedding_memory_bytes);
  // With sync_writes=false, Store::Open logs the durability warning.
  absl::StatusOr<std::unique_ptr<storage::Store>> opened =
      storage::Store::Open(store_options);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(),
                        absl::StrCat("opening data_dir '", options.data_dir,
                                     "': ", opened.status().message()));
  }
  store = *std::move(opened);
  PlanOptions plan_options;
  plan_options.ttl_seconds = options.plan_ttl_seconds;
  plan_options.checkpoint_every =
      static_cast<uint64_t>(options.plan_checkpoint_batches);
  plan_options.max_plan_memory_bytes = options.max_plan_memory_bytes;
  plan_options.max_plans_per_token = options.max_plans_per_token;
  plans = std::make_unique<PlanRegistry>(store.get(), plan_options);
  if (absl::Status s = plans->Init(); !s.ok()) {
    plans.reset();
    (void)store->Close();
    return absl::Status(s.code(),
                        absl::StrCat("loading sampling plans: ", s.message()));
  }
  if (absl::Status s = StartOperations(); !s.ok()) {
    plans.reset();
    (void)store->Close();
    return s;
  }
  return absl::OkStatus();
}

absl::Status Server::Impl::StartOperations() {
  OperationOptions op_options;
  op_options.threads = static_cast<int>(options.operation_threads);
  op_options.max_queued = options.max_queued_operations;
  op_options.nice = static_cast<int>(options.operation_nice);
  op_options.retention = absl::Seconds(options.operation_retention_seconds);
  operations = std::make_unique<OperationManager>(store.get(), op_options,
                                                  metrics.get());
  if (absl::Status s = operations->Init(); !s.ok()) {
    operations.reset();
    return absl::Status(s.code(),
                        absl::StrCat("loading operations: ", s.message()));
  }
  // ComputeScores' scorers register here (ScorerRegistry::Register).
  scorers = std::make_unique<ScorerRegistry>();
  RegisterExactDedup(*store, *scorers);
  RegisterKMeans(*store, *scorers);
  RegisterDedupScorers(*store, *scorers);
  RegisterTargetSimilarity(*store, *scorers);
  return absl::OkStatus();
}

void Server::Impl::MakeServices(absl::Time start_time) {
  workers =
      std::make_unique<Workers>(static_cast<size_t>(options.worker_threads));
  env.store = store.get();
  env.workers = workers.get();
  env.options = &options;
  env.plans = plans.get();
  if (Metrics* m = metrics.get()) {
    plans->set_on_change(
        [m](int64_t count, int64_t bytes) { m->SetPlans(count, bytes); });
    plans->set_on_delete(
        [m](const std::string& collection, const std::string& plan) {
          m->ForgetPlan(collection, plan);
        });
    plans->NotifyChange();
  }
  env.tokens = tokens.get();
  env.metrics = metrics.get();
  env.operations = operations.get();
  env.scorers = scorers.get();  // read-only from here on
  collections = std::make_unique<CollectionServiceImpl>(env);
  documents = std::make_unique<DocumentServiceImpl>(env);
  scores = std::make_unique<ScoreServiceImpl>(env);
  // One polling thread per two cores: on this project's 2-core VMs a
  // second poller only adds hand-offs between them (docs/benchmarks.md).
  GetScoresPollers::Options poller_options;
  poller_options.threads =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
  get_scores = std::make_unique<GetScoresPollers>(
      scores.get(), env,
      [scores = scores.get()](const winnow::v1::GetScoresRequest& request,
                              winnow::v1::GetScoresResponse* response,
                              RpcScope& scope) {
        scope.Note("collection", request.collection());
        return scores->ReadScores(request, response);
      },
      poller_options);
  selection = std::make_unique<SelectionServiceImpl>(env);
  backups = std::make_unique<BackupManager>(
      store.get(),
      options.backup_dir.empty() ? DefaultBackupDir(options.data_dir)
                                 : options.backup_dir,
      options.backup_keep, ServerVersion());
  admin = std::make_unique<AdminServiceImpl>(env, backups.get(),
                                             operations.get(), start_time);
  operation_service =
      std::make_unique<OperationServiceImpl>(env, operations.get());
}

absl::Status Server::Impl::StartGrpc(
    const std::shared_ptr<grpc::ServerCredentials>& credentials, int* port,
    int* health_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, port);
  // gRPC sets SO_REUSEPORT by default, which would let a second winnowd
  // bind the same port and take half the connections; fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A request over the limit is refused by gRPC with RESOURCE_EXHAUSTED.
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(collections.get());
  builder.RegisterService(documents.get());
  builder.RegisterService(scores.get());
  builder.RegisterService(selection.get());
  builder.RegisterService(admin.get());
  builder.RegisterService(operation_service.get());
  get_scores->AddQueues(builder);
  grpc_server = builder.BuildAndStart();
  if (grpc_server == nullptr || *port == 0) {
    if (grpc_server != nullptr) grpc_server->Shutdown();
    grpc_server.reset();
    get_scores->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("listen: cannot bind '", options.listen, "'"));
  }
  if (!options.health_listen.empty()) {
    absl::StatusOr<std::unique_ptr<grpc::Server>> health =
        StartHealthServer(options.health_listen, health_port);
    if (!health.ok()) {
      grpc_server->Shutdown();
      grpc_server.reset();
      get_scores->Shutdown();
      return health.status();
    }
    health_server = *std::move(health);
  }
  get_scores->Start();
  for (grpc::Server* server : {grpc_server.get(), health_server.get()}) {
    grpc::HealthCheckServiceInterface* health =
        server != nullptr ? server->GetHealthCheckService() : nullptr;
    if (health == nullptr) continue;
    health->SetServingStatus(true);
    for (const char* name : kServiceNames) {
      health->SetServingStatus(name, true);
    }
  }
  return absl::OkStatus();
}

void Server::Impl::LogStart(const std::string& address,
                            const std::string& metrics_address,
                            int health_port) const {
  spdlog::info(
      "start listen={} metrics_listen={} data_dir={} sync_writes={} "
      "max_message_bytes={} max_concurrent_streams={} workers={} "
      "shutdown_grace_seconds={}",
      address, metrics_address, options.data_dir, options.sync_writes,
      options.max_message_bytes, options.max_concurrent_streams,
      workers->size(), options.shutdown_grace_seconds);
  spdlog::info("security tls={} mtls={} tokens={} health_listen={}",
               options.tls_cert.empty() ? "off" : "on",
               options.tls_client_ca.empty() ? "off" : "on",
               tokens ? absl::StrCat(tokens->size()) : "off",
               options.health_listen.empty()
                   ? "off"
                   : absl::StrCat(options.health_listen.substr(
                                      0, options.health_listen.rfind(':')),
                                  ":", health_port));
  // Before the "listening on" line, so that whoever waits for that line
  // finds this one too.
  if (!metrics_address.empty()) {
    std::printf("winnowd serving metrics on http://%s/metrics\n",
                metrics_address.c_str());
  }
  std::printf("winnowd listening on %s\n", address.c_str());
  std::fflush(stdout);
}

absl::Status Server::BuildAndStart(const Options& options) {
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  Impl& impl = *impl_;
  impl.options = options;
  const absl::Time start_time = absl::Now();

  // Security first: a bad token file or certificate stops the server before
  // it opens the store.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (absl::Status s = impl.LoadSecurity(&credentials); !s.ok()) return s;
  // Metrics next: a port that cannot be bound fails the start cheaply.
  if (!options.metrics_listen.empty()) {
    impl.metrics = std::make_unique<Metrics>();
    if (absl::Status s = impl.metrics->Listen(options.metrics_listen);
        !s.ok()) {
      impl.metrics.reset();
      return s;
    }
  }
  if (absl::Status s = impl.OpenStorage(); !s.ok()) {
    impl.metrics.reset();
    return s;
  }
  impl.MakeServices(start_time);
  int selected_port = 0;
  int health_port = 0;
  if (absl::Status s =
          impl.StartGrpc(credentials, &selected_port, &health_port);
      !s.ok()) {
    impl.workers->Join();
    impl.operations.reset();
    impl.plans.reset();
    impl.metrics.reset();
    (void)impl.store->Close();
    return s;
  }

  impl.io_work.emplace(impl.io.get_executor());
  impl.signals.emplace(impl.io, SIGINT, SIGTERM, SIGHUP);
  // Re-armed after each signal, so a second one is seen too.
  struct Waiter {
    Server* server;
    void operator()(const boost::system::error_code& error, int signo) const {
      if (error) return;  // cancelled at shutdown
      if (signo == SIGHUP) {
        (void)server->ReloadTokens();
      } else {
        server->RequestShutdown(signo == SIGTERM ? "SIGTERM" : "SIGINT");
      }
      server->impl_->signals->async_wait(*this);
    }
  };
  impl.signals->async_wait(Waiter{this});
  impl.io_thread = std::thread([&io = impl.io] { io.run(); });
  if (impl.metrics != nullptr) {
    impl.metrics->StartStorageRefresh(impl.store.get(),
                                      kStorageMetricsInterval);
    metrics_address_ = impl.metrics->address();
  }
  address_ = absl::StrCat(options.listen.substr(0, options.listen.rfind(':')),
                          ":", selected_port);
  port_ = selected_port;
  impl.LogStart(address_, metrics_address_, health_port);
  return absl::OkStatus();
}

ScorerRegistry* Server::scorers() { return impl_->scorers.get(); }

absl::Status Server::ReloadTokens() {
  TokenStore* tokens = impl_->tokens.get();
  if (tokens == nullptr) {
    spdlog::info("SIGHUP: no token file configured; nothing to reload");
    return absl::OkStatus();
  }
  const size_t before = tokens->size();
  absl::Status s = tokens->Reload();
  if (s.ok()) {
    spdlog::info("tokens: reloaded '{}': {} tokens (was {})", tokens->path(),
                 tokens->size(), before);
  } else {
    spdlog::error(
        "tokens: reload failed, keeping the {} tokens loaded before: {}",
        before, s.ToString());
  }
  return s;
}

void Server::RequestShutdown(std::string_view reason) {
  absl::MutexLock lock(&mu_);
  if (shutdown_started_) {
    if (!shutdown_done_) {
      spdlog::warn("shutdown: {} again; ending streams now", reason);
      impl_->env.stop_at_ns.store(SteadyNanos(), std::memory_order_release);
    }
    return;
  }
  shutdown_started_ = true;
  shutdown_thread_ = std::thread(&Server::Shutdown, this, std::string(reason));
}

void Server::Shutdown(std::string reason) {
  Impl& impl = *impl_;
  const auto grace = std::chrono::seconds(impl.options.shutdown_grace_seconds);
  spdlog::info("shutdown: begins reason={} grace_seconds={}", reason,
               impl.options.shutdown_grace_seconds);
  impl.env.draining.store(true, std::memory_order_release);
  for (grpc::Server* server :
       {impl.grpc_server.get(), impl.health_server.get()}) {
    grpc::HealthCheckServiceInterface* health =
        server != nullptr ? server->GetHealthCheckService() : nullptr;
    if (health != nullptr) health->Shutdown();  // NOT_SERVING, for good
  }
  // Running jobs are told to stop (they end FAILED, UNAVAILABLE) and the
  // job threads joined, so that no job outlives the store.
  impl.operations->Shutdown();
  // Streams end themselves a little before gRPC would cancel them, so
  // their clients see UNAVAILABLE (retry) rather than CANCELLED.
  const auto margin = std::min<std::chrono::nanoseconds>(
      std::chrono::seconds(1), std::chrono::nanoseconds(grace) / 4);
  impl.env.stop_at_ns.store(
      SteadyNanos() + std::chrono::nanoseconds(grace - margin).count(),
      std::memory_order_release);
  // Wait for the running calls here: new ones are refused (draining).
  // gRPC's Shutdown would wait for them too, but also for every client
  // connection to close after its GOAWAY, and an idle client only reads
  // the GOAWAY when gRPC's backup poller next runs (every 5 s). Once no
  // call runs, Shutdown gets a short deadline, after which it closes the
  // idle connections itself.
  // Streams end themselves once env.Stopping() (near the deadline, or at
  // a second signal).
  const auto begin = std::chrono::steady_clock::now();
  while (impl.env.calls_in_flight.load() > 0 && !impl.env.Stopping()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const auto now = std::chrono::steady_clock::now();
  auto left = begin + grace - now;
  if (impl.env.calls_in_flight.load() == 0) {
    left = std::min<std::chrono::steady_clock::duration>(
        left, std::chrono::milliseconds(500));
  }
  spdlog::info(
      "shutdown: {} calls running after {:.0f} ms; closing connections",
      impl.env.calls_in_flight.load(),
      std::chrono::duration<double, std::milli>(now - begin).count());
  // Refuses new calls at once; waits for running ones until the deadline,
  // then cancels them and waits for their reactors to finish.
  impl.grpc_server->Shutdown(std::chrono::system_clock::now() + left);
  // The health port answered NOT_SERVING while the main port drained.
  // (Its Watch streams are cancelled at once.)
  if (impl.health_server) {
    impl.health_server->Shutdown(std::chrono::system_clock::now());
  }
  impl.operation_service->Stop();  // every WaitOperation stream has ended
  impl.workers->Join();
  // After the workers: a large GetScores answers from a worker, through
  // its completion queue.
  impl.get_scores->Shutdown();
  impl.plans.reset();  // stops plan expiry before the store closes
  if (impl.metrics != nullptr) impl.metrics->StopStorageRefresh();
  absl::Status closed = impl.store->Close();
  if (closed.ok()) {
    spdlog::info("shutdown: done; store closed");
  } else {
    spdlog::error("shutdown: closing the store failed: {}", closed.ToString());
  }
  absl::MutexLock lock(&mu_);
  close_status_ = closed;
  shutdown_done_ = true;
  done_cv_.SignalAll();
}

absl::Status Server::WaitForTermination() {
  std::thread shutdown_thread;
  {
    absl::MutexLock lock(&mu_);
    while (!shutdown_done_) done_cv_.Wait(&mu_);
    shutdown_thread = std::move(shutdown_thread_);
  }
  if (shutdown_thread.joinable()) shutdown_thread.join();
  Impl& impl = *impl_;
  if (impl.signals) {
    boost::system::error_code ignored;
    impl.signals->cancel(ignored);
  }
  impl.io_work.reset();
  impl.io.stop();
  if (impl.io_thread.joinable()) impl.io_thread.join();
  absl::MutexLock lock(&mu_);
  return close_status_;
}

}  // namespace winnow::server
