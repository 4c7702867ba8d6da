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
  EXPECT_EQ(p->kind, SampleParams::Kind::kUniform);
  EXPECT_TRUE(p->drop_last);  // unset means true
  EXPECT_EQ(p->batch_size, 8u);
  EXPECT_EQ(p->num_epochs, 0u);
  EXPECT_EQ(p->view, winnow::v1::RESULT_VIEW_IDS);
}

TEST(SampleValidationTest, DropLastFalseIsKept) {
  SampleRequest r = GoodSample();
  r.set_drop_last(false);
  absl::StatusOr<SampleParams> p = ValidateSampleRequest(r);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->drop_last);
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

TEST(SampleValidationTest, PlansAndCursorsAreNotImplementedYet) {
  SampleRequest r = GoodSample();
  r.set_cursor("abc");
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "cursor");
  r = GoodSample();
  r.set_plan_id("p1");
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "plan_id");
  r = GoodSample();
  r.mutable_token_budget()->set_max_tokens(4096);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "token_budget");
}

TEST(SampleValidationTest, OtherStrategiesAreNotImplementedYet) {
  SampleRequest r = GoodSample();
  r.mutable_strategy()->mutable_top_k()->set_score("q");
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "top_k");
  r = GoodSample();
  r.mutable_strategy()->mutable_mixture();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "mixture");
  r = GoodSample();
  r.mutable_strategy()->mutable_weighted_with_replacement();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "weighted_with_replacement");
}

TEST(SampleValidationTest, WeightedNeedsAScoreAndAValidFunction) {
  SampleRequest r = GoodSample();
  r.mutable_strategy()->mutable_weighted();
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument,
              "strategy.weighted.score must not be empty");
  auto* w = r.mutable_strategy()->mutable_weighted();
  w->set_score("quality");
  w->set_weight_function(winnow::v1::WEIGHT_FUNCTION_SOFTMAX);
  w->set_temperature(0);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kInvalidArgument, "temperature");
  w->set_temperature(0.5);
  absl::StatusOr<SampleParams> p = ValidateSampleRequest(r);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->kind, SampleParams::Kind::kWeighted);
  EXPECT_EQ(p->score, "quality");
  EXPECT_EQ(p->weight_spec.function, WeightFunction::kSoftmax);
  EXPECT_EQ(p->weight_spec.temperature, 0.5);
}

TEST(SampleValidationTest, PowerUsesAlphaDefaultOne) {
  SampleRequest r = GoodSample();
  auto* w = r.mutable_strategy()->mutable_weighted();
  w->set_score("q");
  w->set_weight_function(winnow::v1::WEIGHT_FUNCTION_POWER);
  absl::StatusOr<SampleParams> p = ValidateSampleRequest(r);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->weight_spec.function, WeightFunction::kPower);
  EXPECT_EQ(p->weight_spec.alpha, 1.0);
  w->set_alpha(2);
  EXPECT_EQ(ValidateSampleRequest(r)->weight_spec.alpha, 2.0);
}

TEST(SampleValidationTest, LiveWeightsAreNotImplementedYet) {
  SampleRequest r = GoodSample();
  auto* w = r.mutable_strategy()->mutable_weighted();
  w->set_score("q");
  w->set_update(winnow::v1::WEIGHT_UPDATE_LIVE);
  ExpectError(ValidateSampleRequest(r).status(),
              absl::StatusCode::kUnimplemented, "update");
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
