// Metrics: every Prometheus metric winnowd exports, declared in one place
// (docs/operations.md, "Metrics"; metrics.cc has the list with names, types,
// labels and help), and the /metrics endpoint on its own port
// (--metrics-listen).
//
//   Metrics metrics;
//   absl::Status s = metrics.Listen("127.0.0.1:0");   // then metrics.address()
//   metrics.StartStorageRefresh(store, std::chrono::seconds(5));
//   Metrics::Rpc* rpc = metrics.ForMethod("winnow.v1.X/Y", RpcType::kUnary);
//
// Four groups:
//  - gRPC RED metrics (grpc_server_*), recorded by RpcScope for every RPC of
//    Winnow's services (not the standard health and reflection services);
//  - data-plane metrics (winnow_*), recorded through the Record*/Set*
//    methods below by the code that owns each feature;
//  - storage metrics (winnow_rocksdb_*, winnow_documents), refreshed from
//    Store::GetStats() and Store::ListCollections() by a Boost.Asio
//    steady_timer on the Metrics object's own thread;
//  - process metrics (process_*), read from /proc/self at each scrape.
//
// Thread safety: every method may be called from any thread, except
// Listen, StartStorageRefresh and StopStorageRefresh, which the owner calls
// from one thread. StopStorageRefresh (or destruction) must come before the
// store is closed.
#ifndef WINNOW_SERVER_METRICS_H_
#define WINNOW_SERVER_METRICS_H_

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace prometheus {
class Counter;
class Exposer;
class Histogram;
class Registry;
}  // namespace prometheus

namespace winnow::storage {
class Store;
}  // namespace winnow::storage

namespace winnow::server {

// The grpc_type label.
enum class RpcType { kUnary, kClientStream, kServerStream, kBidiStream };

// "unary", "client_stream", "server_stream" or "bidi_stream".
std::string_view RpcTypeName(RpcType type);

// The grpc_code label: the Go names of the codes ("OK", "InvalidArgument",
// "Unavailable", ...), as the de-facto gRPC exporters write them.
std::string_view GrpcCodeLabel(grpc::StatusCode code);

class Metrics {
 public:
  // The series of one RPC method, resolved once (ForMethod). Cheap to use.
  class Rpc {
   public:
    void Started();
    void MessageReceived();
    void MessageSent();
    // grpc_server_handled_total{grpc_code} and grpc_server_handling_seconds.
    void Handled(grpc::StatusCode code, double seconds);

   private:
    friend class Metrics;
    Metrics* metrics_ = nullptr;
    std::string service_;
    std::string method_;
    RpcType type_ = RpcType::kUnary;
    prometheus::Counter* started_ = nullptr;
    prometheus::Counter* received_ = nullptr;
    prometheus::Counter* sent_ = nullptr;
    prometheus::Histogram* handling_ = nullptr;
    // Created on first use, one per code.
    std::array<std::atomic<prometheus::Counter*>, 17> handled_{};
  };

  // Declares every metric; serves nothing until Listen.
  Metrics();
  // Stops the storage refresh and the endpoint.
  ~Metrics();

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves /metrics on `address` (HOST:PORT; port 0 picks a free port).
  // UNAVAILABLE naming metrics_listen if it cannot be bound. Call once.
  absl::Status Listen(const std::string& address);
  // The bound HOST:PORT (with the chosen port); empty before Listen.
  const std::string& address() const { return address_; }

  // Refreshes the storage metrics from `store` now and then every
  // `interval`, on a steady_timer of its own thread, until
  // StopStorageRefresh. `store` must stay open until then.
  void StartStorageRefresh(const storage::Store* store,
                           std::chrono::milliseconds interval);
  // Stops the refresh and waits for a running one; idempotent.
  void StopStorageRefresh();
  // One refresh, on the calling thread (tests; StartStorageRefresh runs it
  // too).
  void RefreshStorage(const storage::Store& store);

  // The series of `full_method` ("winnow.v1.Service/Method"), created on the
  // first call. The pointer stays valid for the life of this object.
  Rpc* ForMethod(std::string_view full_method, RpcType type);

  // ---- Data plane. Called by the feature that owns each. ----

  // Served documents per domain in one Sample batch, added to
  // winnow_samples_served_total{collection,domain}, and the batch's share
  // of padding (repeated or filler slots; 0 for none) observed in
  // winnow_sample_batch_padding_ratio.
  struct DomainCount {
    std::string domain;
    uint64_t count = 0;
  };
  void RecordSampleBatch(std::string_view collection,
                         std::span<const DomainCount> served,
                         double padding_ratio);
  // The target share of each domain of the collection's mixture plan
  // (winnow_mixture_target_share{collection,domain}), for the dashboard's
  // served-against-target panel; domains not given are removed.
  void SetMixtureTarget(
      std::string_view collection,
      std::span<const std::pair<std::string_view, double>> shares);
  // winnow_served_mixture_drift{collection,plan}: the L1 distance between
  // a mixture plan's served domain shares in its current epoch and its
  // target shares (selection/served_mixture.h).
  void SetServedMixtureDrift(std::string_view collection, std::string_view plan,
                             double drift);
  // Drops a deleted or expired plan's series.
  void ForgetPlan(std::string_view collection, std::string_view plan);
  // Drops the collection's data-plane series (the collection was deleted).
  void ForgetCollection(std::string_view collection);
  // winnow_plans and winnow_plan_memory_bytes: the live plans now.
  void SetPlans(int64_t count, int64_t memory_bytes);
  // One ReportTraining message applied: `reports` per-sample reports into
  // winnow_feedback_reports_total{collection}, and its apply time into
  // winnow_feedback_report_seconds.
  void RecordFeedbackReports(std::string_view collection, uint64_t reports,
                             double seconds);
  // A long operation (type "scorer", "backup", ...) started or ended:
  // winnow_operations_running{type}; and, at its end, its run time in
  // winnow_operation_seconds{type,state} (state "succeeded", "failed" or
  // "cancelled").
  void OperationStarted(std::string_view type);
  void OperationEnded(std::string_view type, std::string_view state,
                      double seconds);

  // The text exposition of every metric, as /metrics serves it.
  std::string Render() const;

 private:
  struct Families;
  class ProcessCollector;
  class StorageRefresher;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<Families> families_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::string address_;
  std::unique_ptr<StorageRefresher> refresher_;

  absl::Mutex rpc_mu_;
  // By method.
  absl::flat_hash_map<std::string, std::unique_ptr<Rpc>> rpcs_
      ABSL_GUARDED_BY(rpc_mu_);

  // Labelled gauge series to remove when their subject goes away.
  absl::Mutex series_mu_;
  // winnow_documents's collections.
  absl::flat_hash_set<std::string> documents_names_ ABSL_GUARDED_BY(series_mu_);
  // winnow_mixture_target_share's domains, per collection.
  absl::flat_hash_map<std::string, std::set<std::string>> target_domains_
      ABSL_GUARDED_BY(series_mu_);
  // winnow_served_mixture_drift's plans, per collection.
  absl::flat_hash_map<std::string, std::set<std::string>> drift_plans_
      ABSL_GUARDED_BY(series_mu_);
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_METRICS_H_
