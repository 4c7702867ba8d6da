// Training feedback statistics (selection/feedback.h): the O(1) update
// against the formula recomputed from every report, whatever the arrival
// order; the tie rules; the record and state codecs; request validation.
#include "selection/feedback.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "tests/feedback_reference.h"

namespace winnow {
namespace {

struct Report {
  int64_t step;
  float loss;
};

// loss_ema straight from its definition (tests/feedback_reference.h).
double ReferenceEma(const std::vector<Report>& reports, double h) {
  std::vector<std::pair<int64_t, float>> log;
  for (const Report& r : reports) log.emplace_back(r.step, r.loss);
  return testing::Reference(log, h).ema;
}

LossState Fold(const std::vector<Report>& reports, double h) {
  LossState s;
  for (const Report& r : reports) UpdateLossState(s, r.step, r.loss, h);
  return s;
}

TEST(FeedbackTest, EmaMatchesTheFormulaWhateverTheArrivalOrder) {
  for (uint64_t seed : {1, 2, 3, 4, 5, 6, 7, 8}) {
    std::mt19937_64 rng(seed);
    const double h = std::vector<double>{1, 10, 100, 1000, 7.5}[seed % 5];
    std::vector<Report> reports;
    const int n = 1 + static_cast<int>(rng() % 300);
    for (int i = 0; i < n; ++i) {
      reports.push_back(
          {static_cast<int64_t>(rng() % 5000),
           std::uniform_real_distribution<float>(0.0f, 12.0f)(rng)});
    }
    const double want = ReferenceEma(reports, h);
    for (int perm = 0; perm < 5; ++perm) {
      std::shuffle(reports.begin(), reports.end(), rng);
      const LossState s = Fold(reports, h);
      const double got = s.sum_wl / s.sum_w;
      EXPECT_NEAR(got, want, 1e-6 * std::abs(want) + 1e-12)
          << "seed " << seed << " permutation " << perm;
      EXPECT_EQ(s.count, static_cast<uint32_t>(n));
      EXPECT_NEAR(FeedbackValues(s, NAN)[kLossEma], want,
                  1e-6 * std::abs(want) + 1e-6);
    }
  }
}

TEST(FeedbackTest, EmaHalvesTheWeightEveryHalfLife) {
  // Two reports h steps apart: weights 1 and 1/2.
  LossState s;
  UpdateLossState(s, 100, 3.0f, 50);
  UpdateLossState(s, 150, 6.0f, 50);
  EXPECT_NEAR(s.sum_wl / s.sum_w, (0.5 * 3 + 1 * 6) / 1.5, 1e-12);
  // Arriving the other way round changes nothing.
  LossState t;
  UpdateLossState(t, 150, 6.0f, 50);
  UpdateLossState(t, 100, 3.0f, 50);
  EXPECT_NEAR(t.sum_wl / t.sum_w, (0.5 * 3 + 1 * 6) / 1.5, 1e-12);
}

TEST(FeedbackTest, FirstAndLastGoByStepWithTiesToTheLaterArrival) {
  LossState s;
  UpdateLossState(s, 10, 1.0f, 1000);
  UpdateLossState(s, 5, 2.0f, 1000);   // lower step: new first
  UpdateLossState(s, 20, 3.0f, 1000);  // higher step: new last
  UpdateLossState(s, 12, 9.0f, 1000);  // neither
  EXPECT_EQ(s.first_loss, 2.0f);
  EXPECT_EQ(s.last_loss, 3.0f);
  UpdateLossState(s, 5, 4.0f, 1000);   // tie on first: the later wins
  UpdateLossState(s, 20, 5.0f, 1000);  // tie on last: the later wins
  EXPECT_EQ(s.first_loss, 4.0f);
  EXPECT_EQ(s.last_loss, 5.0f);
  EXPECT_EQ(s.count, 6u);
  const auto v = FeedbackValues(s, 1.5f);
  EXPECT_EQ(v[kLossFirst], 4.0f);
  EXPECT_EQ(v[kLossLast], 5.0f);
  EXPECT_EQ(v[kLossCount], 6.0f);
  EXPECT_EQ(v[kLearnability], 4.0f - 5.0f);
  EXPECT_EQ(v[kReducibleLoss], 5.0f - 1.5f);
  EXPECT_TRUE(std::isnan(FeedbackValues(s, NAN)[kReducibleLoss]));
  for (float x : FeedbackValues(LossState{}, 1.0f)) EXPECT_TRUE(std::isnan(x));
}

TEST(FeedbackTest, FarOlderReportsUnderflowWithoutNaN) {
  LossState s;
  UpdateLossState(s, 0, 1.0f, 1);
  UpdateLossState(s, 100000, 2.0f, 1);  // the first weighs 2^-100000 = 0
  UpdateLossState(s, 3, 7.0f, 1);
  EXPECT_EQ(s.sum_wl / s.sum_w, 2.0);
}

TEST(FeedbackTest, ReservedNames) {
  for (const char* name : kFeedbackColumnNames) {
    EXPECT_TRUE(IsFeedbackColumnName(name)) << name;
  }
  EXPECT_FALSE(IsFeedbackColumnName("irreducible"));
  EXPECT_FALSE(IsFeedbackColumnName("loss"));
}

TEST(FeedbackTest, RecordRoundTripsAndRejectsTruncation) {
  FeedbackRecord r;
  r.stream_id = "run/rank-3";
  r.sequence = 42;
  r.plan_id = "p1";
  r.ordinals = {3, 1, 4, 1};
  r.losses = {0.5f, 1.5f, 2.5f, 3.5f};
  r.steps = {7, 8, 9, 10};
  r.domain_losses = {{"web", 0.25}, {"code", 0.0}};
  const std::string bytes = EncodeFeedbackRecord(r);
  FeedbackRecord d;
  ASSERT_TRUE(DecodeFeedbackRecord(bytes, &d));
  EXPECT_EQ(d.stream_id, r.stream_id);
  EXPECT_EQ(d.sequence, r.sequence);
  EXPECT_EQ(d.plan_id, r.plan_id);
  EXPECT_EQ(d.ordinals, r.ordinals);
  EXPECT_EQ(d.losses, r.losses);
  EXPECT_EQ(d.steps, r.steps);
  ASSERT_EQ(d.domain_losses.size(), 2u);
  EXPECT_EQ(d.domain_losses[0].domain, "web");
  EXPECT_EQ(d.domain_losses[0].excess_loss, 0.25);
  EXPECT_EQ(d.step(2), 9);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeFeedbackRecord(bytes.substr(0, cut), &d)) << cut;
  }
  EXPECT_FALSE(DecodeFeedbackRecord(bytes + "x", &d));
}

TEST(FeedbackTest, StateBlockRoundTripsSparsely) {
  std::vector<LossState> states(4096);
  UpdateLossState(states[0], 1, 2.0f, 10);
  UpdateLossState(states[4095], 3, 4.0f, 10);
  UpdateLossState(states[4095], 1, 5.0f, 10);
  const std::string bytes = EncodeLossStateBlock(states);
  EXPECT_LT(bytes.size(), 200u);  // two documents, not 4,096
  std::vector<LossState> back(4096);
  ASSERT_TRUE(DecodeLossStateBlock(bytes, back));
  for (size_t i : {size_t{0}, size_t{4095}}) {
    EXPECT_EQ(back[i].count, states[i].count);
    EXPECT_EQ(back[i].first_step, states[i].first_step);
    EXPECT_EQ(back[i].last_loss, states[i].last_loss);
    EXPECT_EQ(back[i].sum_w, states[i].sum_w);
    EXPECT_EQ(back[i].sum_wl, states[i].sum_wl);
  }
  EXPECT_EQ(back[1].count, 0u);
  std::vector<LossState> small(100);
  EXPECT_FALSE(DecodeLossStateBlock(bytes, small));  // offset 4095 too far
  EXPECT_FALSE(DecodeLossStateBlock(bytes.substr(0, 7), back));
}

// A valid request to break one field at a time.
struct Request {
  std::vector<float> losses = {1.0f, 2.0f, 3.0f};
  std::vector<int64_t> steps = {5};
  std::vector<DomainLossValue> domains;
  FeedbackRequestView View() const {
    FeedbackRequestView v;
    v.stream_id = "s";
    v.num_ids = 3;
    v.losses = losses;
    v.steps = steps;
    v.domain_losses = domains;
    return v;
  }
};

void ExpectInvalid(const FeedbackRequestView& v, const std::string& field) {
  absl::Status s = ValidateFeedbackRequest(v);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_EQ(s.message().rfind(field, 0), 0u) << s << " should name " << field;
}

TEST(FeedbackTest, ValidationNamesTheFieldAndIndex) {
  Request ok;
  EXPECT_TRUE(ValidateFeedbackRequest(ok.View()).ok());
  {
    FeedbackRequestView v = ok.View();
    v.stream_id = "";
    ExpectInvalid(v, "stream_id:");
  }
  {
    FeedbackRequestView v = ok.View();
    v.num_ordinals = 3;
    ExpectInvalid(v, "ids, ordinals:");
  }
  for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                    std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity(), -0.5f}) {
    Request r;
    r.losses[2] = bad;
    ExpectInvalid(r.View(), "losses[2]:");
  }
  {
    Request r;
    r.losses.pop_back();
    ExpectInvalid(r.View(), "losses:");
  }
  {
    Request r;
    r.steps = {1, 2};
    ExpectInvalid(r.View(), "steps:");
  }
  {
    Request r;
    r.steps = {1, -2, 3};
    ExpectInvalid(r.View(), "steps[1]:");
  }
  {
    Request r;
    r.domains = {{"web", 0.1}};
    ExpectInvalid(r.View(), "plan_id:");
    FeedbackRequestView v = r.View();
    v.plan_id = "p";
    EXPECT_TRUE(ValidateFeedbackRequest(v).ok());
    r.steps = {1, 2, 3};
    v = r.View();
    v.plan_id = "p";
    ExpectInvalid(v, "steps:");
  }
  {
    Request r;
    r.domains = {{"web", 0.1}, {"", 0.2}};
    FeedbackRequestView v = r.View();
    v.plan_id = "p";
    ExpectInvalid(v, "domain_losses[1].domain:");
    r.domains = {{"web", NAN}};
    v = r.View();
    v.plan_id = "p";
    ExpectInvalid(v, "domain_losses[0].excess_loss:");
  }
}

}  // namespace
}  // namespace winnow
