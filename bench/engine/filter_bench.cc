// Filter microbenchmarks on the comparison bench's workload (1M rows):
//  - the protocol filter `quality > 0.5 and domain in ("d0","d1") and
//    length < 2048` into a bitmap and a count (about 5.4% match), with the
//    bytes of the three columns it reads reported as bytes processed;
//  - the same from DRAM, caches flushed before each run;
//  - its Compile;
//  - a pct() filter, `edu > pct(edu, 90)`, evaluated and compiled (the
//    compile computes the percentile);
//  - the memory reference: one pass reading the same three columns, and a
//    256 MiB array that no cache holds. A column scan cannot beat
//    bytes / bandwidth (docs/benchmarks.md, "The protocol").
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/engine/workload.h"
#include "selection/filter/filter.h"

namespace winnow::bench {
namespace {

constexpr char kProtocolFilter[] =
    "quality > 0.5 and domain in (\"d0\",\"d1\") and length < 2048";
constexpr char kPctFilter[] = "edu > pct(edu, 90)";

struct FilterFixture {
  Workload w = MakeWorkload(1'000'000);
  std::unordered_map<std::string, uint32_t> ordinal_of;
  ColumnSet columns = w.Columns();

  FilterFixture() {
    for (uint32_t i = 0; i < w.n; ++i) ordinal_of.emplace(w.ids[i], i);
    columns.find_id = [this](std::string_view id) -> std::optional<uint32_t> {
      auto it = ordinal_of.find(std::string(id));
      if (it == ordinal_of.end()) return std::nullopt;
      return it->second;
    };
  }
};

const FilterFixture& Fixture() {
  static const FilterFixture* f = new FilterFixture();
  return *f;
}

void Evaluate(benchmark::State& state, const char* text, size_t bytes_per_row) {
  const FilterFixture& f = Fixture();
  Filter filter = Filter::Compile(text, f.columns).value();
  Bitmap out(f.w.n);
  size_t matches = 0;
  for (auto _ : state) {
    matches = filter.EvaluateInto(f.columns, &out);
    benchmark::DoNotOptimize(matches);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * f.w.n *
                          bytes_per_row);
  state.counters["matches"] = static_cast<double>(matches);
  state.counters["match_fraction"] = static_cast<double>(matches) / f.w.n;
}

void BM_FilterProtocolBitmapAndCount(benchmark::State& state) {
  // quality (4 bytes), domain (4) and length (4) per row.
  Evaluate(state, kProtocolFilter, 12);
}
BENCHMARK(BM_FilterProtocolBitmapAndCount)->Unit(benchmark::kMillisecond);

// The same with the caches flushed before each run (64 MiB read outside the
// timing), so the columns come from DRAM: the figure for a collection that
// is not hot.
void BM_FilterProtocolColdCache(benchmark::State& state) {
  const FilterFixture& f = Fixture();
  Filter filter = Filter::Compile(kProtocolFilter, f.columns).value();
  static const std::vector<uint64_t>* flush =
      new std::vector<uint64_t>(size_t{8} << 20, 1);
  Bitmap out(f.w.n);
  size_t matches = 0;
  for (auto _ : state) {
    state.PauseTiming();
    uint64_t x = 0;
    for (uint64_t v : *flush) x ^= v;
    benchmark::DoNotOptimize(x);
    state.ResumeTiming();
    matches = filter.EvaluateInto(f.columns, &out);
    benchmark::DoNotOptimize(matches);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * f.w.n *
                          12);
  state.counters["matches"] = static_cast<double>(matches);
}
BENCHMARK(BM_FilterProtocolColdCache)->Unit(benchmark::kMillisecond);

void BM_FilterProtocolCompile(benchmark::State& state) {
  const FilterFixture& f = Fixture();
  for (auto _ : state) {
    absl::StatusOr<Filter> filter = Filter::Compile(kProtocolFilter, f.columns);
    benchmark::DoNotOptimize(filter);
  }
}
BENCHMARK(BM_FilterProtocolCompile)->Unit(benchmark::kMicrosecond);

void BM_FilterPctBitmapAndCount(benchmark::State& state) {
  Evaluate(state, kPctFilter, 4);
}
BENCHMARK(BM_FilterPctBitmapAndCount)->Unit(benchmark::kMillisecond);

void BM_FilterPctCompile(benchmark::State& state) {
  const FilterFixture& f = Fixture();
  for (auto _ : state) {
    absl::StatusOr<Filter> filter = Filter::Compile(kPctFilter, f.columns);
    benchmark::DoNotOptimize(filter);
  }
}
BENCHMARK(BM_FilterPctCompile)->Unit(benchmark::kMillisecond);

void BM_FilterIdInList(benchmark::State& state) {
  Evaluate(state, "id in (\"doc-0000001\", \"doc-0500000\") or quality > 0.9",
           4);
}
BENCHMARK(BM_FilterIdInList)->Unit(benchmark::kMillisecond);

// XOR of every 8 bytes of `arrays`: a read with almost no arithmetic.
uint64_t ReadAll(const std::vector<std::span<const std::byte>>& arrays) {
  uint64_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
  for (std::span<const std::byte> a : arrays) {
    const std::byte* p = a.data();
    const size_t words = a.size() / 8;
    size_t i = 0;
    for (; i + 4 <= words; i += 4) {
      uint64_t w[4];
      std::memcpy(w, p + 8 * i, sizeof(w));
      acc0 ^= w[0];
      acc1 ^= w[1];
      acc2 ^= w[2];
      acc3 ^= w[3];
    }
    for (; i < words; ++i) {
      uint64_t w;
      std::memcpy(&w, p + 8 * i, sizeof(w));
      acc0 ^= w;
    }
  }
  return acc0 ^ acc1 ^ acc2 ^ acc3;
}

void ReportRead(benchmark::State& state,
                const std::vector<std::span<const std::byte>>& arrays) {
  size_t bytes = 0;
  for (auto a : arrays) bytes += a.size();
  for (auto _ : state) benchmark::DoNotOptimize(ReadAll(arrays));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * bytes);
}

// The same 12 MB the protocol filter reads, in the same layout.
void BM_FilterReferenceReadSameColumns(benchmark::State& state) {
  const FilterFixture& f = Fixture();
  ReportRead(state, {std::as_bytes(std::span(f.w.quality)),
                     std::as_bytes(std::span(f.w.domain)),
                     std::as_bytes(std::span(f.w.length))});
}
BENCHMARK(BM_FilterReferenceReadSameColumns)->Unit(benchmark::kMillisecond);

// 256 MiB: far past every cache, so this is DRAM bandwidth on one core.
void BM_FilterReferenceRead256MiB(benchmark::State& state) {
  static const std::vector<uint64_t>* big =
      new std::vector<uint64_t>(size_t{32} << 20, 1);
  ReportRead(state, {std::as_bytes(std::span(*big))});
}
BENCHMARK(BM_FilterReferenceRead256MiB)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace winnow::bench
