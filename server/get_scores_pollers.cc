#include "server/get_scores_pollers.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>

#include "server/status_util.h"
#include "server/unary.h"

namespace winnow::server {
namespace {

constexpr char kMethod[] = "winnow.v1.ScoreService/GetScores";

// Calls asked for ahead on each queue, so that a burst of calls finds one
// ready without waiting for its polling thread to ask again.
constexpr int kRequestsPerQueue = 4;

}  // namespace

// One GetScores call, from the request for it to its last event. Its three
// events (requested, finished, done) arrive on the queue it was requested
// on, so only that queue's polling thread touches `pending`. A tag is the
// Call's address with the event in its two low bits (alignas(8)).
class alignas(8) GetScoresPollers::Call {
 public:
  enum Event : uintptr_t { kRequested = 0, kFinished = 1, kDone = 2 };

  Call() : writer(&context) {}

  void* Tag(Event event) {
    return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(this) | event);
  }
  static Call* FromTag(void* tag, Event* event) {
    const auto bits = reinterpret_cast<uintptr_t>(tag);
    *event = static_cast<Event>(bits & 3);
    return reinterpret_cast<Call*>(bits & ~uintptr_t{3});
  }

  grpc::ServerContext context;
  winnow::v1::GetScoresRequest request;
  winnow::v1::GetScoresResponse response;
  grpc::ServerAsyncResponseWriter<winnow::v1::GetScoresResponse> writer;
  // From the call's arrival until its answer is sent.
  std::optional<RpcScope> scope;
  // The done event came before the answer: the client has gone.
  std::atomic<bool> gone{false};
  // Events still to come once the call has arrived: finished and done.
  int pending = 2;
};

GetScoresPollers::GetScoresPollers(ScoreServiceBase* service, ServiceEnv& env,
                                   Handler handler, Options options)
    : service_(service),
      env_(env),
      handler_(std::move(handler)),
      options_(options) {}

GetScoresPollers::~GetScoresPollers() { Shutdown(); }

void GetScoresPollers::AddQueues(grpc::ServerBuilder& builder) {
  for (int i = 0; i < options_.threads; ++i) {
    queues_.push_back(builder.AddCompletionQueue());
  }
}

void GetScoresPollers::Start() {
  for (auto& queue : queues_) {
    grpc::ServerCompletionQueue* cq = queue.get();
    for (int i = 0; i < kRequestsPerQueue; ++i) RequestCall(cq);
    threads_.emplace_back([this, cq] { Poll(cq); });
  }
}

void GetScoresPollers::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& queue : queues_) queue->Shutdown();
  if (threads_.empty()) {
    // Never started: nothing was requested, but a queue is drained before
    // it is destroyed.
    void* tag;
    bool ok;
    for (auto& queue : queues_) {
      while (queue->Next(&tag, &ok)) {
      }
    }
  }
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void GetScoresPollers::RequestCall(grpc::ServerCompletionQueue* cq) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  auto* call = new Call();
  // The done event comes once the call has arrived: when it ends, or as
  // soon as the client cancels it or its deadline passes.
  call->context.AsyncNotifyWhenDone(call->Tag(Call::kDone));
  service_->RequestGetScores(&call->context, &call->request, &call->writer, cq,
                             cq, call->Tag(Call::kRequested));
}

void GetScoresPollers::Poll(grpc::ServerCompletionQueue* cq) {
  void* tag;
  bool ok;
  // Returns false once the queue is shut down and drained.
  while (cq->Next(&tag, &ok)) Dispatch(cq, tag, ok);
}

void GetScoresPollers::Dispatch(grpc::ServerCompletionQueue* cq, void* tag,
                                bool ok) {
  Call::Event event;
  Call* call = Call::FromTag(tag, &event);
  switch (event) {
    case Call::kRequested:
      if (!ok) {
        // The server is shutting down: no call arrived, and no other event
        // of this one will come.
        delete call;
        return;
      }
      RequestCall(cq);  // the next call
      Handle(call);
      return;
    case Call::kFinished:
      call->scope.reset();  // no longer running
      break;
    case Call::kDone:
      call->gone.store(true, std::memory_order_release);
      break;
  }
  if (--call->pending == 0) delete call;
}

void GetScoresPollers::Handle(Call* call) {
  call->scope.emplace(&call->context, kMethod, RpcType::kUnary, env_);
  if (env_.draining.load(std::memory_order_acquire)) {
    Answer(call, ShuttingDownError());
    return;
  }
  if (absl::Status s = AuthorizeCall(&call->context, env_, *call->scope,
                                     kMethod, &call->request);
      !s.ok()) {
    Answer(call, s);
    return;
  }
  const int64_t documents = int64_t{call->request.ids_size()} +
                            int64_t{call->request.ordinals_size()};
  if (documents <= options_.inline_max_ids) {
    Answer(call, Run(call));
    return;
  }
  env_.workers->Post([this, call] { Answer(call, Run(call)); });
}

absl::Status GetScoresPollers::Run(Call* call) {
  if (call->gone.load(std::memory_order_acquire)) {
    return absl::CancelledError("cancelled before it ran");
  }
  if (call->context.deadline() <= std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline passed before it ran");
  }
  return handler_(call->request, &call->response, *call->scope);
}

void GetScoresPollers::Answer(Call* call, const absl::Status& status) {
  grpc::Status answer = call->scope->Done(ToGrpcStatus(status));
  // After Finish the call belongs to its queue's polling thread again.
  if (answer.ok()) {
    call->writer.Finish(call->response, answer, call->Tag(Call::kFinished));
  } else {
    call->writer.FinishWithError(answer, call->Tag(Call::kFinished));
  }
}

}  // namespace winnow::server
