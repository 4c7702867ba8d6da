// Workers: the thread pool that runs request work off gRPC's callback
// threads (Boost.Asio runs everything outside the gRPC threads;
// docs/architecture.md, "Threads").
//
// gRPC's callback reactions must not block, but a durable write waits for
// an fsync and a filter over millions of rows takes milliseconds. Handlers
// therefore Post() that work here and start their next gRPC operation from
// the worker when it is done.
//
// Thread safety: Post() may be called from any thread, concurrently.
// Join() must be called once, by the owner, after the last Post().
#ifndef WINNOW_SERVER_WORKERS_H_
#define WINNOW_SERVER_WORKERS_H_

#include <cstddef>
#include <functional>
#include <memory>

namespace winnow::server {

class Workers {
 public:
  // `threads` == 0 means two per CPU core, at least 4.
  explicit Workers(size_t threads);
  ~Workers();  // Joins.

  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs `task` on a worker thread, soon. Tasks posted before Join() all
  // run; a task must not throw.
  void Post(std::function<void()> task);

  // Waits for every posted task to finish and stops the threads.
  void Join();

  size_t size() const { return threads_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t threads_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_WORKERS_H_
