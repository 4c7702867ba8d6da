// The exact_dedup job over a real store: scores against the rule computed
// independently here, the filter, the default and custom score names, and
// a cancelled job writing nothing.
#include "server/exact_dedup_job.h"

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/server/store_fixture.h"

namespace winnow::server {
namespace {

class FakeJob : public JobContext {
 public:
  void SetPhase(std::string phase) override { phases.push_back(phase); }
  void SetTotal(int64_t, std::string) override {}
  void SetDone(int64_t) override {}
  bool Cancelled() const override { return cancelled; }
  std::vector<std::string> phases;
  bool cancelled = false;
};

class ExactDedupJobTest : public testing::StoreTest {
 protected:
  ExactDedupJobTest() : StoreTest("c") {}

  // n documents with payloads drawn from few values (-1: none) and domains
  // "a"/"b"; returns the payload value of each.
  std::vector<int> Load(uint32_t seed, int n) {
    std::mt19937 rng(seed);
    std::vector<int> value(n);
    std::vector<std::string> ids(n), payloads(n);
    storage::DocumentBatch b;
    for (int i = 0; i < n; ++i) {
      value[i] = rng() % 8 == 0 ? -1 : static_cast<int>(rng() % 40);
      ids[i] = "d" + std::to_string(i);
      payloads[i] = "text " + std::to_string(value[i]);
    }
    for (int i = 0; i < n; ++i) {
      b.ids.push_back(ids[i]);
      b.domains.push_back(i % 3 == 0 ? "a" : "b");
      b.payloads.push_back(value[i] < 0
                               ? std::nullopt
                               : std::optional<std::string_view>(payloads[i]));
    }
    EXPECT_TRUE(store_->UpsertDocuments(collection_, b).ok());
    return value;
  }

  // The score of every live document, NaN for null or missing.
  std::map<int, float> Scores(const std::string& name, int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back("d" + std::to_string(i));
    std::vector<std::string_view> views(ids.begin(), ids.end());
    storage::GetDocumentsOptions o;
    o.scores = true;
    o.allow_missing = true;
    absl::StatusOr<storage::GetDocumentsResult> r =
        store_->GetDocuments(collection_, views, {}, o);
    EXPECT_TRUE(r.ok()) << r.status();
    std::map<int, float> out;
    for (const storage::StoredDocument& d : r->documents) {
      auto it = d.scores.find(name);
      out[std::stoi(d.id.substr(1))] = it == d.scores.end() ? NAN : it->second;
    }
    return out;
  }
};

TEST_F(ExactDedupJobTest, ScoresEqualTheRuleOverTheFilteredDocuments) {
  for (uint32_t seed : {1u, 5u, 9u}) {
    SCOPED_TRACE(seed);
    ASSERT_TRUE(store_->DeleteCollection(collection_).ok());
    ASSERT_TRUE(store_->CreateCollection({collection_, 0}).ok());
    const int n = 400;
    const std::vector<int> value = Load(seed, n);
    winnow::v1::ComputeScoresRequest request;
    request.set_collection(collection_);
    request.mutable_scorer()->mutable_exact_dedup();
    const bool filtered = seed != 1;
    if (filtered) request.set_filter("domain == \"b\"");
    FakeJob job;
    absl::StatusOr<winnow::v1::ComputeScoresResult> r =
        RunExactDedup(*store_, request, job);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->score_names_size(), 1);
    EXPECT_EQ(r->score_names(0), "exact_dup");

    std::set<int> seen;
    int64_t dups = 0, scored = 0;
    const std::map<int, float> got = Scores("exact_dup", n);
    for (int i = 0; i < n; ++i) {
      const bool in = !filtered || i % 3 != 0;
      if (!in) {
        EXPECT_TRUE(std::isnan(got.at(i))) << i << " is not scored";
        continue;
      }
      ++scored;
      if (value[i] < 0) {
        EXPECT_TRUE(std::isnan(got.at(i))) << i << " has no payload";
        continue;
      }
      const float want = seen.insert(value[i]).second ? 0.0f : 1.0f;
      dups += want == 1.0f;
      EXPECT_EQ(got.at(i), want) << i;
    }
    EXPECT_EQ(r->document_count(), scored);
    EXPECT_EQ(r->exact_dedup().duplicate_count(), dups);
    EXPECT_EQ(r->exact_dedup().distinct_count(),
              static_cast<int64_t>(seen.size()));
  }
}

TEST_F(ExactDedupJobTest, WritesTheNamedScoreAndLeavesOthersAlone) {
  const std::vector<int> value = Load(3, 50);
  winnow::v1::ComputeScoresRequest request;
  request.set_collection(collection_);
  request.mutable_scorer()->mutable_exact_dedup()->set_duplicate_score("dup");
  FakeJob job;
  ASSERT_TRUE(RunExactDedup(*store_, request, job).ok());
  const std::map<int, float> dup = Scores("dup", 50);
  const std::map<int, float> def = Scores("exact_dup", 50);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(std::isnan(dup.at(i)), value[i] < 0) << i;
    EXPECT_TRUE(std::isnan(def.at(i))) << i;
  }
}

TEST_F(ExactDedupJobTest, ACancelledJobWritesNothing) {
  Load(4, 100);
  winnow::v1::ComputeScoresRequest request;
  request.set_collection(collection_);
  request.mutable_scorer()->mutable_exact_dedup();
  FakeJob job;
  job.cancelled = true;
  EXPECT_EQ(RunExactDedup(*store_, request, job).status().code(),
            absl::StatusCode::kCancelled);
  absl::StatusOr<storage::ColumnsSnapshot> snap =
      store_->ReadColumns(collection_);
  ASSERT_TRUE(snap.ok());
  EXPECT_FALSE(snap->columns().scores.contains("exact_dup"));
}

TEST_F(ExactDedupJobTest, ABadFilterOrCollectionFails) {
  winnow::v1::ComputeScoresRequest request;
  request.set_collection(collection_);
  request.mutable_scorer()->mutable_exact_dedup();
  request.set_filter("nonsense ==");
  FakeJob job;
  absl::Status s = RunExactDedup(*store_, request, job).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("filter"), std::string::npos) << s;
  request.set_collection("nope");
  request.clear_filter();
  EXPECT_EQ(RunExactDedup(*store_, request, job).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace winnow::server
