// The comparison bench's workload (docs/benchmarks.md), generated in
// memory with a fixed seed, for the engine microbenchmarks.
//
//   id          doc-%07d (0-based)
//   domain      d0..d7, p(c) proportional to 1/(c+1)
//   length      lognormal, median 600, sigma 1, rounded, clipped to 16..32768
//   quality     beta(2, 5)
//   perplexity  lognormal, median 20, sigma 0.5
//   edu         uniform(0, 5)
#ifndef WINNOW_BENCH_ENGINE_WORKLOAD_H_
#define WINNOW_BENCH_ENGINE_WORKLOAD_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "selection/bitmap.h"
#include "selection/columns.h"

namespace winnow::bench {

struct Workload {
  uint32_t n = 0;
  std::vector<std::string> ids;
  std::vector<uint32_t> domain;
  std::vector<std::string> domain_names;
  std::vector<uint32_t> length;
  std::vector<float> quality;
  std::vector<float> perplexity;
  std::vector<float> edu;
  Bitmap live;

  // Spans over this workload's arrays; valid while the Workload lives.
  ColumnSet Columns() const {
    ColumnSet c;
    c.num_rows = n;
    c.live = &live;
    c.length = length;
    c.domain = domain;
    c.domain_names = domain_names;
    c.scores.emplace("quality", quality);
    c.scores.emplace("perplexity", perplexity);
    c.scores.emplace("edu", edu);
    return c;
  }
};

inline Workload MakeWorkload(uint32_t n, uint64_t seed = 42) {
  Workload w;
  w.n = n;
  std::mt19937_64 rng(seed);
  for (int d = 0; d < 8; ++d) w.domain_names.push_back("d" + std::to_string(d));
  std::vector<double> zipf;
  for (int d = 0; d < 8; ++d) zipf.push_back(1.0 / (d + 1));
  std::discrete_distribution<uint32_t> domain_dist(zipf.begin(), zipf.end());
  std::lognormal_distribution<double> length_dist(std::log(600.0), 1.0);
  std::gamma_distribution<double> g2(2.0, 1.0), g5(5.0, 1.0);
  std::lognormal_distribution<double> ppl_dist(std::log(20.0), 0.5);
  std::uniform_real_distribution<double> edu_dist(0.0, 5.0);
  w.ids.reserve(n);
  char buf[32];
  for (uint32_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof(buf), "doc-%07u", i);
    w.ids.emplace_back(buf);
    w.domain.push_back(domain_dist(rng));
    double len = std::round(length_dist(rng));
    w.length.push_back(static_cast<uint32_t>(std::clamp(len, 16.0, 32768.0)));
    double a = g2(rng), b = g5(rng);
    w.quality.push_back(static_cast<float>(a / (a + b)));
    w.perplexity.push_back(static_cast<float>(ppl_dist(rng)));
    w.edu.push_back(static_cast<float>(edu_dist(rng)));
  }
  w.live = Bitmap(n, true);
  return w;
}

}  // namespace winnow::bench

#endif  // WINNOW_BENCH_ENGINE_WORKLOAD_H_
