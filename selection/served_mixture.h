// ServedMixture: what a mixture plan has served in its current epoch, and
// how far that is from the mixture it should serve.
//
// The drift is the L1 distance between the served domain shares of the
// epoch so far and the target shares: the plan's weights in force at the
// latest served sample (a schedule step switches them), normalized. It is
// the value of the winnow_served_mixture_drift metric
// (docs/operations.md "Metrics"). A plan's ranks read its batches in any
// order; counts restart when a batch of a later epoch is served, and
// batches of an earlier epoch (a rank behind the others) are not counted.
//
// Thread-compatible: the caller serializes calls.
#ifndef WINNOW_SELECTION_SERVED_MIXTURE_H_
#define WINNOW_SELECTION_SERVED_MIXTURE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "selection/plan_sampler.h"

namespace winnow {

class ServedMixture {
 public:
  // `spec`: the plan's mixture (initial weights per plan domain and the
  // schedule); `samples_per_epoch` places an epoch on the schedule.
  ServedMixture(MixtureSpec spec, uint64_t samples_per_epoch);

  // Counts the samples of one served batch of epoch `epoch`; `domains`
  // maps a candidate index to its plan domain (FrozenCandidates::domains).
  void Add(uint64_t epoch, std::span<const uint32_t> items,
           std::span<const uint16_t> domains);

  // The drift of the current epoch; 0 before anything is served.
  double Drift() const;

 private:
  MixtureSpec spec_;
  uint64_t samples_per_epoch_;
  uint64_t epoch_ = 0;
  uint64_t total_ = 0;
  std::vector<uint64_t> counts_;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_SERVED_MIXTURE_H_
