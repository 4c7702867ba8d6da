// Sampler microbenchmarks on the comparison bench's workload (1M rows):
//  - weighted top-100k, w = quality^2: weights, keys, selection and sort of
//    the first 100k positions;
//  - uniform top-100k;
//  - the first global batch of 1,024 from a fresh 1M-candidate plan.
// Id hashes are a stored column (storage keeps IdHash beside each id), so
// they are computed once outside the timed region.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <bit>
#include <numeric>
#include <random>

#include "bench/engine/workload.h"
#include "selection/det_math.h"
#include "selection/hash.h"
#include "selection/sampler.h"
#include "selection/weights.h"

namespace winnow::bench {
namespace {

struct SamplerFixture {
  Workload w = MakeWorkload(1'000'000);
  std::vector<uint32_t> ordinals;
  std::vector<uint64_t> id_hashes;

  SamplerFixture() {
    ordinals.resize(w.n);
    std::iota(ordinals.begin(), ordinals.end(), 0u);
    for (const std::string& id : w.ids) id_hashes.push_back(IdHash(id));
  }

  Candidates View(std::span<const double> weights) const {
    Candidates c;
    c.ordinals = ordinals;
    c.id_hashes = id_hashes;
    c.weights = weights;
    c.doc_id = [this](uint32_t o) -> std::string_view { return w.ids[o]; };
    return c;
  }
};

const SamplerFixture& Fixture() {
  static const SamplerFixture* f = new SamplerFixture();
  return *f;
}

void BM_WeightedTop100k(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  for (auto _ : state) {
    absl::StatusOr<Weights> weights =
        ComputeWeights(f.w.quality, {WeightFunction::kPower, 2.0, 1.0});
    KeyedOrder order(f.View(weights->values), seed++, 0);
    std::vector<uint32_t> out;
    out.reserve(100'000);
    order.Get(0, 100'000, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 100'000);
}
BENCHMARK(BM_WeightedTop100k)->Unit(benchmark::kMillisecond);

// What a short plan's freeze runs (KeyedPrefix): the same first 100k
// positions without holding every key.
void KeyedPrefix100k(benchmark::State& state, bool weighted) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  const WeightSpec spec{WeightFunction::kPower, 2.0, 1.0};
  const WeightScale scale = *ResolveWeightScale(f.w.quality, spec);
  KeyedSource source;
  source.size = f.w.n;
  source.weighted = weighted;
  source.fill = [&](size_t begin, size_t n, uint64_t* hashes, double* w) {
    std::copy_n(f.id_hashes.data() + begin, n, hashes);
    if (w != nullptr) {
      ApplyWeights(scale, std::span<const float>(f.w.quality).subspan(begin, n),
                   w);
    }
  };
  for (auto _ : state) {
    std::vector<uint32_t> out = KeyedPrefix(source, seed++, 0, 100'000);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 100'000);
}
void BM_WeightedKeyedPrefix100k(benchmark::State& state) {
  KeyedPrefix100k(state, true);
}
BENCHMARK(BM_WeightedKeyedPrefix100k)->Unit(benchmark::kMillisecond);
void BM_UniformKeyedPrefix100k(benchmark::State& state) {
  KeyedPrefix100k(state, false);
}
BENCHMARK(BM_UniformKeyedPrefix100k)->Unit(benchmark::kMillisecond);

// The sort of a short plan's run: the 108k smallest keys of a weighted
// (power 2) or uniform order over 1M, by key then doc id.
void SortRun(benchmark::State& state, bool weighted) {
  const SamplerFixture& f = Fixture();
  absl::StatusOr<Weights> w =
      ComputeWeights(f.w.quality, {WeightFunction::kPower, 2.0, 1.0});
  const uint64_t ek = EpochKey(1, 0);
  std::vector<KeyedEntry> all;
  for (uint32_t i = 0; i < f.w.n; ++i) {
    const uint64_t draw = DocDraw(ek, f.id_hashes[i]);
    const uint64_t key =
        weighted ? std::bit_cast<uint64_t>(-DetLog2(UnitFromDraw(draw)) /
                                           w->values[i])
                 : ((uint64_t{1} << 52) - 1) - (draw >> 12);
    if (!weighted || w->values[i] > 0) all.push_back({key, i});
  }
  std::nth_element(all.begin(), all.begin() + 108'000, all.end(),
                   [](const KeyedEntry& a, const KeyedEntry& b) {
                     return a.key < b.key;
                   });
  all.resize(108'000);
  std::mt19937_64 rng(1);
  std::shuffle(all.begin(), all.end(), rng);
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<KeyedEntry> v = all;
    state.ResumeTiming();
    SortKeyedEntries(v, weighted, {});
    benchmark::DoNotOptimize(v.data());
  }
}
void BM_SortRunWeighted(benchmark::State& state) { SortRun(state, true); }
BENCHMARK(BM_SortRunWeighted)->Unit(benchmark::kMicrosecond);
void BM_SortRunUniform(benchmark::State& state) { SortRun(state, false); }
BENCHMARK(BM_SortRunUniform)->Unit(benchmark::kMicrosecond);

void BM_WeightedKeysOnly(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  absl::StatusOr<Weights> weights =
      ComputeWeights(f.w.quality, {WeightFunction::kPower, 2.0, 1.0});
  uint64_t seed = 1;
  for (auto _ : state) {
    KeyedOrder order(f.View(weights->values), seed++, 0);
    benchmark::DoNotOptimize(order.size());
  }
}
BENCHMARK(BM_WeightedKeysOnly)->Unit(benchmark::kMillisecond);

void BM_UniformTop100k(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  for (auto _ : state) {
    KeyedOrder order(f.View({}), seed++, 0);
    std::vector<uint32_t> out;
    out.reserve(100'000);
    order.Get(0, 100'000, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 100'000);
}
BENCHMARK(BM_UniformTop100k)->Unit(benchmark::kMillisecond);

void BM_WeightedFirstBatch1024(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  for (auto _ : state) {
    absl::StatusOr<Weights> weights =
        ComputeWeights(f.w.quality, {WeightFunction::kPower, 2.0, 1.0});
    KeyedOrder order(f.View(weights->values), seed++, 0);
    std::vector<uint32_t> out;
    order.Get(0, 1024, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WeightedFirstBatch1024)->Unit(benchmark::kMillisecond);

void BM_UniformFirstBatch1024(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  for (auto _ : state) {
    KeyedOrder order(f.View({}), seed++, 0);
    std::vector<uint32_t> out;
    order.Get(0, 1024, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_UniformFirstBatch1024)->Unit(benchmark::kMillisecond);

// A whole epoch read in batches of 1,024, as one generator serving all ranks.
void BM_UniformEpochInBatches(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  uint64_t seed = 1;
  for (auto _ : state) {
    KeyedOrder order(f.View({}), seed++, 0);
    std::vector<uint32_t> out;
    for (uint64_t p = 0; p < order.size(); p += 1024) {
      out.clear();
      order.Get(p, p + 1024, &out);
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 1'000'000);
}
BENCHMARK(BM_UniformEpochInBatches)->Unit(benchmark::kMillisecond);

// Resume: the batch at position 500k from a fresh generator.
void BM_WeightedResumeMidEpoch(benchmark::State& state) {
  const SamplerFixture& f = Fixture();
  absl::StatusOr<Weights> weights =
      ComputeWeights(f.w.quality, {WeightFunction::kPower, 2.0, 1.0});
  uint64_t seed = 1;
  for (auto _ : state) {
    KeyedOrder order(f.View(weights->values), seed++, 0);
    std::vector<uint32_t> out;
    order.Get(500'000, 501'024, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WeightedResumeMidEpoch)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace winnow::bench
