// ServedMixture (selection/served_mixture.h): the drift of what a mixture
// plan served in its current epoch from its target shares.
#include "selection/served_mixture.h"

#include <gtest/gtest.h>

#include <vector>

namespace winnow {
namespace {

MixtureSpec Spec(std::vector<double> weights) {
  MixtureSpec spec;
  spec.weights = std::move(weights);
  return spec;
}

TEST(ServedMixtureTest, DriftIsTheL1DistanceOfShares) {
  // Candidates 0..9: domain 0 for 0..2, domain 1 for the rest.
  const std::vector<uint16_t> domains = {0, 0, 0, 1, 1, 1, 1, 1, 1, 1};
  ServedMixture m(Spec({1, 1}), 100);
  EXPECT_EQ(m.Drift(), 0.0);  // nothing served yet
  const std::vector<uint32_t> batch = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  m.Add(0, batch, domains);
  // Served 30/70 against a 50/50 target.
  EXPECT_DOUBLE_EQ(m.Drift(), 0.4);
  const std::vector<uint32_t> more = {0, 1, 2, 0};
  m.Add(0, more, domains);  // 7/7 now
  EXPECT_DOUBLE_EQ(m.Drift(), 0.0);
  // Disjoint mixtures give 2.
  ServedMixture only_first(Spec({1, 0}), 100);
  const std::vector<uint32_t> second = {5, 6};
  only_first.Add(0, second, domains);
  EXPECT_DOUBLE_EQ(only_first.Drift(), 2.0);
}

TEST(ServedMixtureTest, ALaterEpochRestartsAndAnEarlierOneIsIgnored) {
  const std::vector<uint16_t> domains = {0, 1};
  ServedMixture m(Spec({1, 1}), 10);
  const std::vector<uint32_t> zero = {0, 0, 0};
  const std::vector<uint32_t> one = {1};
  m.Add(0, zero, domains);
  EXPECT_DOUBLE_EQ(m.Drift(), 1.0);
  m.Add(1, one, domains);
  EXPECT_DOUBLE_EQ(m.Drift(), 1.0);  // epoch 1: only domain 1 so far
  m.Add(0, zero, domains);           // a rank behind: not counted
  m.Add(1, std::vector<uint32_t>{0}, domains);
  EXPECT_DOUBLE_EQ(m.Drift(), 0.0);
}

TEST(ServedMixtureTest, TheTargetFollowsTheSchedule) {
  MixtureSpec spec = Spec({1, 0});
  spec.steps.push_back({15, {0, 1}});  // from sample 15 on, domain 1 only
  const std::vector<uint16_t> domains = {0, 1};
  ServedMixture m(spec, 10);
  m.Add(1, std::vector<uint32_t>{1, 1, 1, 1, 1}, domains);  // samples 10..14
  EXPECT_DOUBLE_EQ(m.Drift(), 2.0);             // the target is still domain 0
  m.Add(1, std::vector<uint32_t>{1}, domains);  // sample 15: domain 1 now
  EXPECT_DOUBLE_EQ(m.Drift(), 0.0);
}

}  // namespace
}  // namespace winnow
