// The training statistics of one document recomputed from its whole report
// log by their definitions (docs/feedback.md), for the selection, storage
// and crash tests to compare the O(1) accumulator against.
#ifndef WINNOW_TESTS_FEEDBACK_REFERENCE_H_
#define WINNOW_TESTS_FEEDBACK_REFERENCE_H_

#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

namespace winnow::testing {

struct ReferenceStats {
  float first = 0;  // loss at the lowest step; ties: the later arrival
  float last = 0;   // loss at the highest step; ties: the later arrival
  double ema = 0;   // sum w_i l_i / sum w_i, w_i = 0.5^((S - s_i) / h)
  size_t count = 0;
};

// `reports`: (step, loss) in arrival order, at least one.
inline ReferenceStats Reference(
    const std::vector<std::pair<int64_t, float>>& reports, double h) {
  ReferenceStats r;
  int64_t lo = reports[0].first, hi = reports[0].first;
  r.first = r.last = reports[0].second;
  for (const auto& [step, loss] : reports) {
    if (step <= lo) lo = step, r.first = loss;
    if (step >= hi) hi = step, r.last = loss;
  }
  long double sw = 0, swl = 0;
  for (const auto& [step, loss] : reports) {
    const long double w =
        std::pow(0.5L, static_cast<long double>(hi - step) / h);
    sw += w;
    swl += w * loss;
  }
  r.ema = static_cast<double>(swl / sw);
  r.count = reports.size();
  return r;
}

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_FEEDBACK_REFERENCE_H_
