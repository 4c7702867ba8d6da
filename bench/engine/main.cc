// Engine microbenchmarks. Run: build/bench/engine_bench
//
// Like winnowd, the benchmark keeps freed memory mapped: on these VMs a
// fresh page costs microseconds to fault in, which would otherwise dominate
// every per-plan allocation of keys and scratch arrays.
#include <benchmark/benchmark.h>
#include <malloc.h>

int main(int argc, char** argv) {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
