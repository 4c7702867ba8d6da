#include "server/histogram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace winnow::server {
namespace {

class HistogramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // 6 documents; quality 0..4 and one null.
    lengths_ = {10, 20, 30, 40, 50, 60};
    quality_ = {0, 1, 2, 3, 4, NAN};
    live_ = Bitmap(6, true);
    columns_.num_rows = 6;
    columns_.live = &live_;
    columns_.length = lengths_;
    columns_.scores.emplace("quality", quality_);
  }
  std::vector<uint32_t> lengths_;
  std::vector<float> quality_;
  Bitmap live_;
  ColumnSet columns_;
};

TEST_F(HistogramTest, EqualWidthBinsOverTheMatchingRange) {
  winnow::v1::HistogramSpec spec;
  spec.set_column("quality");
  spec.set_bin_count(4);
  spec.add_percentiles(50);
  winnow::v1::Histogram h;
  ASSERT_TRUE(
      ComputeHistogram(spec, columns_, live_, "histograms[0]", &h).ok());
  EXPECT_EQ(h.null_count(), 1);
  ASSERT_EQ(h.bin_edges_size(), 5);
  EXPECT_EQ(h.bin_edges(0), 0);
  EXPECT_EQ(h.bin_edges(4), 4);
  // numpy.histogram([0,1,2,3,4], bins=4) -> [1, 1, 1, 2]
  EXPECT_EQ(std::vector<int64_t>(h.bin_counts().begin(), h.bin_counts().end()),
            (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(h.min_value(), 0);
  EXPECT_EQ(h.max_value(), 4);
  EXPECT_EQ(h.mean(), 2);
  ASSERT_EQ(h.percentile_values_size(), 1);
  EXPECT_EQ(h.percentile_values(0), 2);
}

TEST_F(HistogramTest, BoundsCountUnderAndOverflow) {
  winnow::v1::HistogramSpec spec;
  spec.set_column("length");
  spec.set_bin_count(2);
  spec.set_lower_bound(15);
  spec.set_upper_bound(45);
  winnow::v1::Histogram h;
  ASSERT_TRUE(
      ComputeHistogram(spec, columns_, live_, "histograms[0]", &h).ok());
  EXPECT_EQ(h.underflow_count(), 1);  // 10
  EXPECT_EQ(h.overflow_count(), 2);   // 50, 60
  // Edges 15, 30, 45: [15, 30) holds 20; [30, 45] holds 30 and 40.
  EXPECT_EQ(h.bin_counts(0), 1);
  EXPECT_EQ(h.bin_counts(1), 2);
}

TEST_F(HistogramTest, OnlyMatchesCount) {
  Bitmap matches(6);
  matches.Set(4);
  winnow::v1::HistogramSpec spec;
  spec.set_column("quality");
  winnow::v1::Histogram h;
  ASSERT_TRUE(
      ComputeHistogram(spec, columns_, matches, "histograms[0]", &h).ok());
  // One value: the range is widened by 0.5 each side, as numpy does.
  EXPECT_EQ(h.bin_edges(0), 3.5);
  EXPECT_EQ(h.bin_edges(10), 4.5);
  int64_t total = 0;
  for (int64_t c : h.bin_counts()) total += c;
  EXPECT_EQ(total, 1);
}

TEST_F(HistogramTest, UnknownColumnIsInvalid) {
  winnow::v1::HistogramSpec spec;
  spec.set_column("qualty");
  winnow::v1::Histogram h;
  absl::Status s = ComputeHistogram(spec, columns_, live_, "histograms[2]", &h);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("histograms[2].column"), std::string::npos);
}

}  // namespace
}  // namespace winnow::server
