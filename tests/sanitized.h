// How much of its repetition a long test runs in a sanitizer build.
//
// ASan and TSan run the engine several times slower, and the sanitizer
// stage has a budget (scripts/sanitizers.sh, docs/architecture.md "Build
// time"). A test whose size is its point (large enough that a pass splits
// across threads, selection/parallel.h) keeps its size in a sanitizer build
// and repeats over fewer seeds, counts or strategies there; the normal build
// (scripts/test.sh) runs every repetition, so each property keeps its full
// strength there and the sanitizers still see every code path once.
// CMakeLists.txt defines WINNOW_SANITIZED in the sanitizer builds.
#ifndef WINNOW_TESTS_SANITIZED_H_
#define WINNOW_TESTS_SANITIZED_H_

#include <cstddef>
#include <initializer_list>
#include <vector>

namespace winnow::testing {

#ifdef WINNOW_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// The values a test repeats over: all of them, or in a sanitizer build the
// first `sanitized` of them.
template <typename T>
std::vector<T> Repeat(std::initializer_list<T> all, size_t sanitized = 1) {
  std::vector<T> values(all);
  if (kSanitized && values.size() > sanitized) values.resize(sanitized);
  return values;
}

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SANITIZED_H_
