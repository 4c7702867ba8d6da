// GetScoresPollers: ScoreService.GetScores served on gRPC's completion-queue
// (async) API, on threads that each poll their own queue. Every other RPC
// uses the callback API (docs/architecture.md, "Threads"); this method is
// the one exception, for point lookups.
//
// Why: gRPC 1.51's callback server hands each call between threads (the
// thread that reads the socket is rarely the one that runs the reaction),
// and on this project's VMs a thread wake-up costs tens of microseconds, as
// much as the rest of a one-id lookup (docs/benchmarks.md, "GetScores one
// id per call"). A thread blocked in its own queue's Next() is one of
// gRPC's pollers: it often reads the request itself, runs the lookup and
// writes the answer without waking another thread.
//
// Each call keeps what RpcScope and RunUnary (unary.h) give other RPCs: the
// request id, RED metrics and the log line (RpcScope), UNAVAILABLE while the
// server drains, authentication and the role table (AuthorizeCall), the
// running-call count that shutdown waits for, the skip of work whose client
// has gone (cancelled, or past its deadline), and the server's message-size
// limit (gRPC applies it before a call reaches a queue). A request naming
// at most `inline_max_ids` documents runs on the polling thread; a larger
// one runs on the worker pool (workers.h), so that it does not hold up the
// small calls queued behind it.
//
//   GetScoresPollers pollers(service, env, handler, options);
//   pollers.AddQueues(builder);       // before builder.BuildAndStart()
//   pollers.Start();                  // after it
//   ...
//   grpc_server->Shutdown(deadline);  // the calls end
//   workers->Join();                  // the large calls have answered
//   pollers.Shutdown();               // queues shut down and drained
//
// Thread safety: AddQueues, Start and Shutdown are called once each, in
// that order, by the server's owner; the handler runs on the polling
// threads and the workers, concurrently.
#ifndef WINNOW_SERVER_GET_SCORES_POLLERS_H_
#define WINNOW_SERVER_GET_SCORES_POLLERS_H_

#include <grpcpp/server_builder.h>

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/rpc_scope.h"
#include "server/service_env.h"
#include "winnow/v1/score.grpc.pb.h"

namespace winnow::server {

// ScoreService with GetScores on the async API and the rest on callbacks.
// The async marking comes first (innermost): it only drops the method's
// handler when the method is still synchronous, and gRPC serves a method
// with a handler on its callback path.
using ScoreServiceBase = winnow::v1::ScoreService::WithCallbackMethod_PutScores<
    winnow::v1::ScoreService::WithAsyncMethod_GetScores<
        winnow::v1::ScoreService::WithCallbackMethod_ComputeScores<
            winnow::v1::ScoreService::WithCallbackMethod_ReportTraining<
                winnow::v1::ScoreService::WithCallbackMethod_GetScoresStream<
                    winnow::v1::ScoreService::Service>>>>>;

class GetScoresPollers {
 public:
  // Fills the response, or returns the error; runs on a polling thread or
  // a worker. The call is already authorized.
  using Handler =
      std::function<absl::Status(const winnow::v1::GetScoresRequest&,
                                 winnow::v1::GetScoresResponse*, RpcScope&)>;

  struct Options {
    // Polling threads, each with its own completion queue.
    int threads = 1;
    // Requests naming at most this many ids and ordinals run on the polling
    // thread; larger ones on the workers (docs/benchmarks.md measures it).
    int inline_max_ids = 1024;
  };

  GetScoresPollers(ScoreServiceBase* service, ServiceEnv& env, Handler handler,
                   Options options);
  ~GetScoresPollers();  // Shuts the queues down if Shutdown() was not called.

  GetScoresPollers(const GetScoresPollers&) = delete;
  GetScoresPollers& operator=(const GetScoresPollers&) = delete;

  void AddQueues(grpc::ServerBuilder& builder);
  // Requests the first calls and starts the polling threads.
  void Start();
  // After the gRPC server's Shutdown and the workers' Join: shuts the
  // queues down, drains them and joins the threads.
  void Shutdown();

 private:
  class Call;

  // Asks gRPC for the next call on `cq` (unless the queues are stopping).
  void RequestCall(grpc::ServerCompletionQueue* cq);
  void Poll(grpc::ServerCompletionQueue* cq);
  // Runs one event of `cq`; `ok` is gRPC's.
  void Dispatch(grpc::ServerCompletionQueue* cq, void* tag, bool ok);
  void Handle(Call* call);
  absl::Status Run(Call* call);
  // Records the outcome in the call's scope and sends it.
  static void Answer(Call* call, const absl::Status& status);

  ScoreServiceBase* service_;
  ServiceEnv& env_;
  Handler handler_;
  Options options_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  bool shut_down_ = false;
  // Held while a call is requested, so that no request reaches a queue
  // after it is shut down.
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_GET_SCORES_POLLERS_H_
