#include "server/operation_service.h"

#include <algorithm>
#include <atomic>
#include <list>
#include <string>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/rpc_scope.h"
#include "server/status_util.h"
#include "server/unary.h"

namespace winnow::server {

using winnow::v1::Operation;

namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;
constexpr char kPageTokenPrefix[] = "ops1:";
constexpr absl::Duration kPumpTick = absl::Milliseconds(50);
constexpr absl::Duration kMaxUpdateInterval = absl::Hours(1);

bool Visible(const Principal& principal, const Operation& op) {
  if (op.collection().empty()) return !principal.limited();
  return principal.MaySee(op.collection());
}

std::string EncodePageToken(const std::string& last_id) {
  return absl::WebSafeBase64Escape(absl::StrCat(kPageTokenPrefix, last_id));
}

absl::StatusOr<std::string> DecodePageToken(const std::string& token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) ||
      !absl::StartsWith(raw, kPageTokenPrefix)) {
    return absl::InvalidArgumentError(
        "page_token: not a token from a ListOperationsResponse");
  }
  return raw.substr(sizeof(kPageTokenPrefix) - 1);
}

bool Matches(const winnow::v1::ListOperationsRequest& request,
             const Operation& op) {
  if (!request.collection().empty() && op.collection() != request.collection())
    return false;
  if (request.states_size() > 0 &&
      std::find(request.states().begin(), request.states().end(), op.state()) ==
          request.states().end())
    return false;
  if (request.kinds_size() > 0 &&
      std::find(request.kinds().begin(), request.kinds().end(), op.kind()) ==
          request.kinds().end())
    return false;
  return true;
}

absl::StatusOr<absl::Duration> UpdateInterval(
    const winnow::v1::WaitOperationRequest& request) {
  if (!request.has_update_interval()) return absl::Seconds(1);
  const auto& d = request.update_interval();
  const absl::Duration interval =
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999 ||
      interval > kMaxUpdateInterval) {
    return absl::InvalidArgumentError(
        absl::StrCat("update_interval: must be in [0, 1 h], got ", d.seconds(),
                     " s and ", d.nanos(), " ns"));
  }
  return interval;
}

}  // namespace

absl::StatusOr<Operation> FindVisibleOperation(
    const OperationManager& operations, const Principal& principal,
    const std::string& id) {
  if (id.empty()) {
    return absl::InvalidArgumentError("operation_id: must be set");
  }
  absl::StatusOr<Operation> op = operations.Get(id);
  if (!op.ok()) return op.status();
  if (!Visible(principal, *op)) {
    return absl::NotFoundError(
        absl::StrCat("operation_id: no operation '", id, "'"));
  }
  return op;
}

// One WaitOperation stream. Created on a gRPC thread, then driven by the
// pump thread only; gRPC's callbacks set atomics.
class WaitReactor final
    : public grpc::ServerWriteReactor<winnow::v1::WaitOperationResponse> {
 public:
  WaitReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
              OperationManager* operations, WaitPump* pump,
              const winnow::v1::WaitOperationRequest& request);

  void OnWriteDone(bool ok) override {
    if (!ok) client_gone_.store(true);
    scope_.MessageSent();
    write_pending_.store(false);
  }
  void OnCancel() override { client_gone_.store(true); }
  void OnDone() override;

  // One look at the stream, on the pump thread; true once it may be
  // deleted.
  bool Tick();

 private:
  void End(const absl::Status& status) {
    finished_ = true;
    Finish(scope_.Done(ToGrpcStatus(status)));
  }
  absl::Status Open(grpc::CallbackServerContext* context,
                    const winnow::v1::WaitOperationRequest& request);

  ServiceEnv& env_;
  OperationManager* const operations_;
  RpcScope scope_;
  std::string id_;
  absl::Duration interval_;
  bool holds_stream_ = false;
  std::atomic<bool> write_pending_{false};
  std::atomic<bool> client_gone_{false};
  std::atomic<bool> done_{false};
  std::atomic<bool> registered_{false};
  // Pump thread only.
  bool finished_ = false;
  bool final_sent_ = false;
  bool sent_any_ = false;
  absl::Time last_sent_ = absl::InfinitePast();
  std::string last_update_;
  winnow::v1::WaitOperationResponse response_;
};

class WaitPump {
 public:
  WaitPump() : thread_([this] { Run(); }) {}
  ~WaitPump() { Stop(); }

  void Add(WaitReactor* reactor) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    added_.push_back(reactor);
    wake_.Signal();
  }

  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
      wake_.Signal();
    }
    thread_.join();
  }

 private:
  void Run() {
    std::list<WaitReactor*> live;
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (live.empty() && added_.empty() && !stop_) wake_.Wait(&mu_);
        if (!live.empty() && added_.empty() && !stop_) {
          wake_.WaitWithTimeout(&mu_, kPumpTick);
        }
        live.splice(live.end(), added_);
        if (stop_) break;
      }
      for (auto it = live.begin(); it != live.end();) {
        if ((*it)->Tick()) {
          delete *it;
          it = live.erase(it);
        } else {
          ++it;
        }
      }
    }
    // The gRPC server has shut down: every stream is done.
    for (WaitReactor* r : live) {
      if (r->Tick()) delete r;
    }
  }

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::list<WaitReactor*> added_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

WaitReactor::WaitReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
                         OperationManager* operations, WaitPump* pump,
                         const winnow::v1::WaitOperationRequest& request)
    : env_(env),
      operations_(operations),
      scope_(context, "winnow.v1.OperationService/WaitOperation",
             RpcType::kServerStream, env) {
  if (absl::Status s = Open(context, request); !s.ok()) {
    End(s);
    return;
  }
  registered_.store(true);
  pump->Add(this);  // the last touch of `this` on this thread
}

absl::Status WaitReactor::Open(
    grpc::CallbackServerContext* context,
    const winnow::v1::WaitOperationRequest& request) {
  if (env_.draining.load(std::memory_order_acquire)) {
    return ShuttingDownError();
  }
  if (absl::Status s =
          AuthorizeCall(context, env_, scope_,
                        "winnow.v1.OperationService/WaitOperation", &request);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<absl::Duration> interval = UpdateInterval(request);
  if (!interval.ok()) return interval.status();
  interval_ = *interval;
  absl::StatusOr<Operation> op = FindVisibleOperation(
      *operations_, scope_.principal(), request.operation_id());
  if (!op.ok()) return op.status();
  id_ = request.operation_id();
  scope_.Note("operation_id", id_);
  if (absl::Status s = env_.OpenStream(); !s.ok()) return s;
  holds_stream_ = true;
  return absl::OkStatus();
}

void WaitReactor::OnDone() {
  if (holds_stream_) env_.CloseStream();
  if (registered_.load()) {
    done_.store(true);  // the pump deletes it
  } else {
    delete this;
  }
}

bool WaitReactor::Tick() {
  if (done_.load()) return true;
  if (finished_ || write_pending_.load()) return false;
  if (client_gone_.load()) {
    End(absl::CancelledError("cancelled by the client"));
  } else if (final_sent_) {
    End(absl::OkStatus());
  } else if (env_.Stopping()) {
    End(absl::UnavailableError("server is shutting down"));
  } else if (absl::StatusOr<Operation> op = operations_->Get(id_); !op.ok()) {
    End(op.status());
  } else {
    const absl::Time now = absl::Now();
    const std::string update = op->update_time().SerializeAsString();
    if (!sent_any_ || op->done() ||
        (update != last_update_ && now - last_sent_ >= interval_)) {
      sent_any_ = true;
      final_sent_ = op->done();
      last_sent_ = now;
      last_update_ = update;
      *response_.mutable_operation() = *std::move(op);
      write_pending_.store(true);
      StartWrite(&response_);
    }
  }
  return false;
}

OperationServiceImpl::OperationServiceImpl(ServiceEnv& env,
                                           OperationManager* operations)
    : env_(env), operations_(operations), pump_(std::make_unique<WaitPump>()) {}

OperationServiceImpl::~OperationServiceImpl() { Stop(); }

void OperationServiceImpl::Stop() { pump_->Stop(); }

grpc::ServerUnaryReactor* OperationServiceImpl::GetOperation(
    grpc::CallbackServerContext* context,
    const winnow::v1::GetOperationRequest* request,
    winnow::v1::GetOperationResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.OperationService/GetOperation", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("operation_id", request->operation_id());
        absl::StatusOr<Operation> op = FindVisibleOperation(
            *operations_, scope.principal(), request->operation_id());
        if (!op.ok()) return op.status();
        *response->mutable_operation() = *std::move(op);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OperationServiceImpl::ListOperations(
    grpc::CallbackServerContext* context,
    const winnow::v1::ListOperationsRequest* request,
    winnow::v1::ListOperationsResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.OperationService/ListOperations", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "page_size: must be >= 0, got ", request->page_size()));
        }
        const int page_size =
            request->page_size() == 0
                ? kDefaultPageSize
                : std::min(request->page_size(), kMaxPageSize);
        std::string after;  // the last id of the previous page
        if (!request->page_token().empty()) {
          absl::StatusOr<std::string> last =
              DecodePageToken(request->page_token());
          if (!last.ok()) return last.status();
          after = *std::move(last);
        }
        // Newest first by id (ids sort by creation time), so that a page
        // token holds up while operations come and go.
        for (Operation& op : operations_->List()) {
          if (!after.empty() && op.operation_id() >= after) continue;
          if (!Visible(scope.principal(), op) || !Matches(*request, op)) {
            continue;
          }
          if (response->operations_size() == page_size) {
            response->set_next_page_token(EncodePageToken(
                response->operations(page_size - 1).operation_id()));
            break;
          }
          *response->add_operations() = std::move(op);
        }
        scope.Note("operations", response->operations_size());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* OperationServiceImpl::CancelOperation(
    grpc::CallbackServerContext* context,
    const winnow::v1::CancelOperationRequest* request,
    winnow::v1::CancelOperationResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.OperationService/CancelOperation", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("operation_id", request->operation_id());
        absl::StatusOr<Operation> op = FindVisibleOperation(
            *operations_, scope.principal(), request->operation_id());
        if (!op.ok()) return op.status();
        absl::StatusOr<Operation> after =
            operations_->Cancel(request->operation_id());
        if (!after.ok()) return after.status();
        *response->mutable_operation() = *std::move(after);
        return absl::OkStatus();
      });
}

grpc::ServerWriteReactor<winnow::v1::WaitOperationResponse>*
OperationServiceImpl::WaitOperation(
    grpc::CallbackServerContext* context,
    const winnow::v1::WaitOperationRequest* request) {
  return new WaitReactor(context, env_, operations_, pump_.get(), *request);
}

}  // namespace winnow::server
