// winnow_bench_echo: the transport's floor for bench/compare's
// "GetScores 1 id/call" row. A bare gRPC server that serves
// ScoreService.GetScores by echoing the request's ids back, with no store,
// no auth, no metrics and no logging, so that winnow_bench_client's
// get_single (the same client, messages and channel) times gRPC alone.
//
//   winnow_bench_echo --api callback|async [--listen 127.0.0.1:0]
//
// --api callback serves it the way winnowd serves its other RPCs (the
// callback API, answered inline); --api async the way winnowd serves
// GetScores (one thread polling its own completion queue,
// server/get_scores_pollers.h). Prints "echo listening on HOST:PORT" once
// serving, and runs until SIGTERM or SIGINT.
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "winnow/v1/score.grpc.pb.h"

namespace {

namespace v1 = winnow::v1;

void Echo(const v1::GetScoresRequest& request,
          v1::GetScoresResponse* response) {
  *response->mutable_ids() = request.ids();
}

class CallbackEcho final : public v1::ScoreService::CallbackService {
  grpc::ServerUnaryReactor* GetScores(
      grpc::CallbackServerContext* context, const v1::GetScoresRequest* request,
      v1::GetScoresResponse* response) override {
    Echo(*request, response);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One call of the async echo; the tag's low bit says which event.
struct AsyncCall {
  grpc::ServerContext context;
  v1::GetScoresRequest request;
  v1::GetScoresResponse response;
  grpc::ServerAsyncResponseWriter<v1::GetScoresResponse> writer{&context};
};

void RequestCall(v1::ScoreService::AsyncService* service,
                 grpc::ServerCompletionQueue* cq) {
  auto* call = new AsyncCall();
  service->RequestGetScores(&call->context, &call->request, &call->writer, cq,
                            cq, call);
}

void PollAsync(v1::ScoreService::AsyncService* service,
               grpc::ServerCompletionQueue* cq) {
  void* tag;
  bool ok;
  while (cq->Next(&tag, &ok)) {
    const auto bits = reinterpret_cast<uintptr_t>(tag);
    auto* call = reinterpret_cast<AsyncCall*>(bits & ~uintptr_t{1});
    if ((bits & 1) != 0 || !ok) {  // finished, or shutting down
      delete call;
      continue;
    }
    RequestCall(service, cq);
    Echo(call->request, &call->response);
    call->writer.Finish(call->response, grpc::Status::OK,
                        reinterpret_cast<void*>(bits | 1));
  }
}

std::atomic<bool> stop{false};

}  // namespace

int main(int argc, char** argv) {
  std::string api;
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--api") {
      api = argv[i + 1];
    } else if (flag == "--listen") {
      listen = argv[i + 1];
    } else {
      std::fprintf(stderr, "winnow_bench_echo: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (api != "callback" && api != "async") {
    std::fprintf(stderr,
                 "usage: winnow_bench_echo --api callback|async "
                 "[--listen HOST:PORT]\n");
    return 2;
  }
  CallbackEcho callback_service;
  v1::ScoreService::AsyncService async_service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::ServerCompletionQueue> cq;
  if (api == "callback") {
    builder.RegisterService(&callback_service);
  } else {
    builder.RegisterService(&async_service);
    cq = builder.AddCompletionQueue();
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "winnow_bench_echo: cannot listen on %s\n",
                 listen.c_str());
    return 1;
  }
  std::thread poller;
  if (cq != nullptr) {
    for (int i = 0; i < 4; ++i) RequestCall(&async_service, cq.get());
    poller = std::thread(PollAsync, &async_service, cq.get());
  }
  std::printf("echo listening on %s:%d\n",
              listen.substr(0, listen.rfind(':')).c_str(), port);
  std::fflush(stdout);

  signal(SIGTERM, [](int) { stop = true; });
  signal(SIGINT, [](int) { stop = true; });
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server->Shutdown(std::chrono::system_clock::now());
  if (cq != nullptr) {
    cq->Shutdown();
    poller.join();
  }
  return 0;
}
