#include "server/validation.h"

#include <gtest/gtest.h>

#include <string>

namespace winnow::server {
namespace {

using winnow::v1::SampleRequest;

SampleRequest GoodSample() {
  SampleRequest r;
  r.set_collection("c");
  r.set_world_size(1);
  r.set_batch_size(8);
  return r;
}

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::string& substring) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(substring), std::string::npos)
      << "'" << s.message() << "' lacks '" << substring << "'";
}

TEST(SampleValidationTest, DefaultsResolve) {
  absl::StatusOr<SampleParams> p = ValidateSampleRequest(GoodSample());
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->world_size, 1u);
  EXPECT_EQ(p->max_batches, 0u);
  EXPECT_EQ(p->view, winnow::v1::RESULT_VIEW_IDS);
}

TEST(SampleValidationTest, ResumingNeedsNoPlanFields) {
  // With a cursor or a plan_id the plan fields (collection and batching
  // included) may be left empty; the plan supplies them.
  SampleRequest r;
  r.set_world_size(2);
  r.set_rank(1);
  r.set_cursor("token");
  EXPECT_TRUE(ValidateSampleRequest(r).ok());
  r.clear_cursor();
  r.set_plan_id("p1");
  EXPECT_TRUE(ValidateSampleRequest(r).ok());
  r.clear_plan_id();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "collection");
}

TEST(SampleValidationTest, TokenBudgetReplacesBatchSize) {
  SampleRequest r = GoodSample();
  r.mutable_token_budget()->set_max_tokens(4096);
  EXPECT_TRUE(ValidateSampleRequest(r).ok());
}

TEST(SampleValidationTest, WorldSizeZeroIsInvalid) {
  SampleRequest r = GoodSample();
  r.set_world_size(0);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "world_size must be >= 1");
}

TEST(SampleValidationTest, RankOutsideWorldIsInvalid) {
  SampleRequest r = GoodSample();
  r.set_world_size(2);
  r.set_rank(2);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument,
              "rank must be in [0, world_size)");
  r.set_rank(-1);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "rank");
  r.set_rank(1);
  EXPECT_TRUE(ValidateSampleRequest(r).ok());
}

TEST(SampleValidationTest, BatchSizeIsRequiredAndPositive) {
  SampleRequest r = GoodSample();
  r.clear_batching();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "batch_size must be >= 1");
  r.set_batch_size(0);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "batch_size must be >= 1");
}

TEST(SampleValidationTest, NegativeCountsAreInvalid) {
  SampleRequest r = GoodSample();
  r.set_num_epochs(-1);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "num_epochs");
  r = GoodSample();
  r.set_max_batches(-1);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "max_batches");
  r = GoodSample();
  r.set_samples_per_epoch(-1);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "samples_per_epoch");
}

TEST(SampleValidationTest, MissingCollectionIsInvalid) {
  SampleRequest r = GoodSample();
  r.clear_collection();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "collection");
}

TEST(SampleValidationTest, UnknownViewIsInvalid) {
  SampleRequest r = GoodSample();
  r.set_view(static_cast<winnow::v1::ResultView>(99));
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "view");
}

TEST(FilterValidationTest, DefaultsResolve) {
  winnow::v1::FilterRequest r;
  r.set_collection("c");
  absl::StatusOr<FilterParams> p = ValidateFilterRequest(r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->batch_size, kDefaultFilterBatch);
  EXPECT_EQ(p->max_results, 0u);
  EXPECT_EQ(p->view, winnow::v1::RESULT_VIEW_IDS);
}

TEST(FilterValidationTest, BadValuesNameTheirField) {
  winnow::v1::FilterRequest r;
  r.set_collection("c");
  r.set_batch_size(-1);
  ExpectError(ValidateFilterRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "batch_size");
  r.set_batch_size(10);
  r.set_max_results(-3);
  ExpectError(ValidateFilterRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "max_results");
  r.set_max_results(0);
  r.mutable_read_mask()->add_paths("bogus");
  ExpectError(ValidateFilterRequest(r).status(),
              absl::StatusCode::kInvalidArgument,
              "read_mask: unknown path 'bogus'");
}

TEST(ReadMaskTest, EmptyMeansAllButEmbedding) {
  google::protobuf::FieldMask mask;
  absl::StatusOr<DocumentMask> m = ParseReadMask(mask);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->payload && m->scores && m->attributes && m->domain &&
              m->length);
  EXPECT_FALSE(m->embedding);
}

TEST(ReadMaskTest, NamedPathsOnly) {
  google::protobuf::FieldMask mask;
  mask.add_paths("embedding");
  mask.add_paths("id");
  absl::StatusOr<DocumentMask> m = ParseReadMask(mask);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->embedding);
  EXPECT_FALSE(m->payload || m->scores || m->attributes || m->domain ||
               m->length);
}

TEST(CountValidationTest, HistogramSpecsAreChecked) {
  winnow::v1::CountRequest r;
  r.set_collection("c");
  EXPECT_TRUE(ValidateCountRequest(r).ok());
  auto* h = r.add_histograms();
  ExpectError(ValidateCountRequest(r), absl::StatusCode::kInvalidArgument,
              "histograms[0].column");
  h->set_column("quality");
  h->set_bin_count(20000);
  ExpectError(ValidateCountRequest(r), absl::StatusCode::kInvalidArgument,
              "histograms[0].bin_count");
  h->set_bin_count(0);
  h->add_percentiles(101);
  ExpectError(ValidateCountRequest(r), absl::StatusCode::kInvalidArgument,
              "histograms[0].percentiles[0]");
  h->clear_percentiles();
  h->set_lower_bound(2);
  h->set_upper_bound(1);
  ExpectError(ValidateCountRequest(r), absl::StatusCode::kInvalidArgument,
              "lower_bound");
}

}  // namespace
}  // namespace winnow::server
