// Helpers shared by the comparison bench's native clients
// (bench_client.cc, nearest_client.cc): the workload's files and ids, the
// JSON line each operation prints, and the warm-up + timed repetitions.
#ifndef WINNOW_BENCH_COMPARE_BENCH_UTIL_H_
#define WINNOW_BENCH_COMPARE_BENCH_UTIL_H_

#include <errno.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace winnow_bench {

using Clock = std::chrono::steady_clock;

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, what.c_str());
  std::exit(1);
}

inline void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}

template <typename T>
std::vector<T> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                          std::istreambuf_iterator<char>());
  std::vector<T> out(bytes.size() / sizeof(T));
  std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

inline std::string Id(uint32_t ordinal) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "doc-%07u", ordinal);
  return buf;
}

// The protocol's filter (about 5.4% of the documents).
constexpr char kFilter[] =
    "quality > 0.5 and domain in (\"d0\", \"d1\") and length < 2048";

inline double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline void Print(const std::string& op, const std::vector<double>& seconds,
                  int64_t result) {
  std::printf("{\"op\": \"%s\", \"seconds\": [", op.c_str());
  for (size_t i = 0; i < seconds.size(); ++i) {
    std::printf("%s%.6f", i ? ", " : "", seconds[i]);
  }
  std::printf("], \"result\": %" PRId64 "}\n", result);
  std::fflush(stdout);
}

// Runs `body` args.warmup + args.reps times and prints the timed ones.
// `body` gets the repetition number (warm-ups negative) and returns the
// operation's result count, which must be the same on every repetition.
// `cleanup`, if given, runs after each repetition's clock stops.
template <typename Args>
void Repeat(const Args& args, const std::string& op,
            const std::function<int64_t(int)>& body,
            const std::function<void()>& cleanup = nullptr) {
  std::vector<double> seconds;
  int64_t result = -1;
  for (int r = -args.warmup; r < args.reps; ++r) {
    const Clock::time_point start = Clock::now();
    const int64_t got = body(r);
    const double s = Seconds(start);
    if (cleanup) cleanup();
    if (r < 0) continue;
    seconds.push_back(s);
    result = got;
  }
  Print(op, seconds, result);
}

}  // namespace winnow_bench

#endif  // WINNOW_BENCH_COMPARE_BENCH_UTIL_H_
