// Shared fixtures for the sampler tests: synthetic candidate sets and a
// brute-force reference of the keyed order.
#ifndef WINNOW_TESTS_SELECTION_SAMPLER_TEST_UTIL_H_
#define WINNOW_TESTS_SELECTION_SAMPLER_TEST_UTIL_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "selection/det_math.h"
#include "selection/hash.h"
#include "selection/sampler.h"

namespace winnow::testing {

// n documents "doc-<i>" with ordinals 3*i + 1 (so ordinals differ from
// indices), their id hashes and optional weights.
struct CandidateSet {
  std::vector<std::string> ids;  // by index
  std::vector<uint32_t> ordinals;
  std::vector<uint64_t> id_hashes;
  std::vector<double> weights;  // empty = uniform

  static CandidateSet Make(size_t n) {
    CandidateSet c;
    for (size_t i = 0; i < n; ++i) {
      c.ids.push_back("doc-" + std::to_string(i));
      c.ordinals.push_back(static_cast<uint32_t>(3 * i + 1));
      c.id_hashes.push_back(IdHash(c.ids.back()));
    }
    return c;
  }

  std::string_view IdOf(uint32_t ordinal) const { return ids[(ordinal - 1) / 3]; }

  Candidates View() const {
    Candidates v;
    v.ordinals = ordinals;
    v.id_hashes = id_hashes;
    v.weights = weights;
    v.doc_id = [this](uint32_t ord) { return IdOf(ord); };
    return v;
  }
};

// The keyed order by the definition: every key computed the plain way, one
// full sort, ties by doc id.
inline std::vector<uint32_t> ReferenceOrder(const CandidateSet& c, uint64_t seed,
                                            uint64_t epoch) {
  struct Row {
    uint64_t draw;
    double key;  // descending
    uint32_t ordinal;
    std::string_view id;
  };
  const uint64_t ek = EpochKey(seed, epoch);
  std::vector<Row> rows;
  for (size_t i = 0; i < c.ordinals.size(); ++i) {
    uint64_t draw = DocDraw(ek, c.id_hashes[i]);
    double key;
    if (c.weights.empty()) {
      key = static_cast<double>(draw >> 12);  // u descending
    } else {
      double w = c.weights[i];
      if (!(w > 0)) continue;
      key = DetLog2(UnitFromDraw(draw)) / w;
    }
    rows.push_back({draw, key, c.ordinals[i], c.IdOf(c.ordinals[i])});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.key != b.key) return a.key > b.key;
    return a.id < b.id;
  });
  std::vector<uint32_t> out;
  for (const Row& r : rows) out.push_back(r.ordinal);
  return out;
}

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SELECTION_SAMPLER_TEST_UTIL_H_
