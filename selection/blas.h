// What the OpenBLAS-linked engine code (nearest.cc, kmeans.cc,
// semdedup.cc; the winnow_nearest library) shares about threads. Each of
// them splits its rows over the cores itself, so OpenBLAS must add no
// threads of its own, and a job's threads start with OnThreads.
#ifndef WINNOW_SELECTION_BLAS_H_
#define WINNOW_SELECTION_BLAS_H_

#include <cblas.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace winnow {

// Makes OpenBLAS run each call on the calling thread (once per process).
inline void SingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Runs fn(t) for t in [0, threads) on that many threads, the calling
// thread being t = 0, and returns when all are done.
template <typename Fn>
void OnThreads(int threads, const Fn& fn) {
  std::vector<std::thread> helpers;
  helpers.reserve(static_cast<size_t>(std::max(0, threads - 1)));
  for (int t = 1; t < threads; ++t) helpers.emplace_back([&fn, t] { fn(t); });
  fn(0);
  for (std::thread& h : helpers) h.join();
}

}  // namespace winnow

#endif  // WINNOW_SELECTION_BLAS_H_
