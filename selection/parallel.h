// Splits a loop over [0, n) into contiguous chunks run on up to
// kMaxThreads threads (the calling thread runs the first chunk). For the
// engine's data-parallel passes whose result does not depend on the split:
// each index is computed alone and written to its own slot.
#ifndef WINNOW_SELECTION_PARALLEL_H_
#define WINNOW_SELECTION_PARALLEL_H_

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace winnow {

// Below this many items a pass runs on the calling thread: starting a
// thread costs tens of microseconds.
inline constexpr size_t kParallelMinItems = size_t{1} << 16;
inline constexpr unsigned kMaxThreads = 4;

// Calls fn(begin, end) over disjoint chunks that cover [0, n).
template <typename Fn>
void ParallelChunks(size_t n, const Fn& fn) {
  const unsigned threads = std::min<unsigned>(
      kMaxThreads, std::max(1u, std::thread::hardware_concurrency()));
  const size_t chunks =
      std::min<size_t>(threads, std::max<size_t>(1, n / kParallelMinItems));
  if (chunks <= 1) {
    fn(size_t{0}, n);
    return;
  }
  std::vector<std::thread> helpers;
  helpers.reserve(chunks - 1);
  const size_t per = (n + chunks - 1) / chunks;
  for (size_t c = 1; c < chunks; ++c) {
    const size_t begin = std::min(n, c * per);
    const size_t end = std::min(n, begin + per);
    helpers.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  fn(size_t{0}, std::min(n, per));
  for (std::thread& t : helpers) t.join();
}

}  // namespace winnow

#endif  // WINNOW_SELECTION_PARALLEL_H_
