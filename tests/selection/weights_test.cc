#include "selection/weights.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "selection/det_math.h"

namespace winnow {
namespace {

// Candidates the weights keep (weight > 0).
size_t Included(const Weights& w) {
  return static_cast<size_t>(std::count_if(w.values.begin(), w.values.end(),
                                           [](double x) { return x > 0; }));
}

TEST(DetMathTest, Log2MatchesLibmClosely) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200000; ++i) {
    double x =
        std::ldexp(1.0 + (rng() >> 11) * 0x1p-53, int(rng() % 200) - 150);
    double want = std::log2(x);
    EXPECT_NEAR(DetLog2(x), want, 1e-15 * std::max(1.0, std::fabs(want))) << x;
  }
  EXPECT_EQ(DetLog2(1.0), 0.0);
  EXPECT_EQ(DetLog2(0.5), -1.0);
}

TEST(DetMathTest, Exp2MatchesLibmClosely) {
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> d(-1000, 1000);
  for (int i = 0; i < 200000; ++i) {
    double x = d(rng);
    double want = std::exp2(x);
    EXPECT_NEAR(DetExp2(x) / want, 1.0, 1e-14) << x;
  }
  EXPECT_EQ(DetExp2(-2000), 0.0);
  EXPECT_TRUE(std::isinf(DetExp2(2000)));
}

TEST(WeightsTest, RawIsProportionalToScoreAndExcludesNonPositiveAndNull) {
  std::vector<float> s = {2.0f, 0.0f, -1.0f, NAN, 4.0f, 1.0f};
  absl::StatusOr<Weights> w = ComputeWeights(s, {});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Included(*w), 3u);
  EXPECT_DOUBLE_EQ(w->values[0], 0.5);
  EXPECT_EQ(w->values[1], 0.0);
  EXPECT_EQ(w->values[2], 0.0);
  EXPECT_EQ(w->values[3], 0.0);
  EXPECT_DOUBLE_EQ(w->values[4], 1.0);
  EXPECT_DOUBLE_EQ(w->values[5], 0.25);
}

TEST(WeightsTest, PowerMatchesPowRatios) {
  std::vector<float> s = {0.1f, 0.25f, 0.5f, 0.9f, 0.0f};
  for (double alpha : {2.0, 0.5, 3.7, -1.5}) {
    absl::StatusOr<Weights> w =
        ComputeWeights(s, {WeightFunction::kPower, alpha, 1.0});
    ASSERT_TRUE(w.ok());
    EXPECT_EQ(Included(*w), 4u);
    EXPECT_EQ(w->values[4], 0.0);
    double max_w = 0;
    for (double x : w->values) max_w = std::max(max_w, x);
    EXPECT_DOUBLE_EQ(max_w, 1.0);
    for (int i = 0; i < 4; ++i) {
      double want =
          std::pow(double(s[i]), alpha) / std::pow(double(s[0]), alpha);
      EXPECT_NEAR(w->values[i] / w->values[0], want, 1e-12 * want) << alpha;
    }
  }
}

TEST(WeightsTest, SoftmaxMatchesExpRatiosWithoutOverflow) {
  std::vector<float> s = {1000.0f, 999.0f, -5.0f, NAN};
  absl::StatusOr<Weights> w =
      ComputeWeights(s, {WeightFunction::kSoftmax, 1.0, 2.0});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(Included(*w), 3u);  // softmax keeps negative scores; only null goes
  EXPECT_DOUBLE_EQ(w->values[0], 1.0);
  EXPECT_NEAR(w->values[1], std::exp(-0.5), 1e-15);
  EXPECT_GT(w->values[2], 0.0);  // underflowed to the smallest positive
  EXPECT_EQ(w->values[3], 0.0);
}

TEST(WeightsTest, InvalidSpecNamesTheParameter) {
  auto t = ComputeWeights({}, {WeightFunction::kSoftmax, 1.0, 0.0});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(t.status().message().find("temperature"), std::string::npos);
  auto a = ComputeWeights({}, {WeightFunction::kPower, INFINITY, 1.0});
  EXPECT_NE(a.status().message().find("alpha"), std::string::npos);
}

}  // namespace
}  // namespace winnow
