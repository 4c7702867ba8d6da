#include "selection/served_mixture.h"

#include <cmath>

namespace winnow {

ServedMixture::ServedMixture(MixtureSpec spec, uint64_t samples_per_epoch)
    : spec_(std::move(spec)),
      samples_per_epoch_(samples_per_epoch),
      counts_(spec_.weights.size(), 0) {}

void ServedMixture::Add(uint64_t epoch, std::span<const uint32_t> items,
                        std::span<const uint16_t> domains) {
  if (epoch < epoch_) return;
  if (epoch > epoch_) {
    epoch_ = epoch;
    total_ = 0;
    counts_.assign(counts_.size(), 0);
  }
  for (uint32_t i : items) {
    if (i < domains.size() && domains[i] < counts_.size()) {
      ++counts_[domains[i]];
      ++total_;
    }
  }
}

double ServedMixture::Drift() const {
  if (total_ == 0 || counts_.empty()) return 0;
  // The weights in force at the latest served sample of the epoch.
  const uint64_t sample = epoch_ * samples_per_epoch_ + total_ - 1;
  const std::vector<double>* target = &spec_.weights;
  for (const MixtureSpec::Step& step : spec_.steps) {
    if (step.start_sample <= sample) target = &step.weights;
  }
  double sum = 0;
  for (double w : *target) sum += w;
  if (!(sum > 0)) return 0;
  double drift = 0;
  for (size_t d = 0; d < counts_.size(); ++d) {
    const double served =
        static_cast<double>(counts_[d]) / static_cast<double>(total_);
    const double want = d < target->size() ? (*target)[d] / sum : 0;
    drift += std::fabs(served - want);
  }
  return drift;
}

}  // namespace winnow
