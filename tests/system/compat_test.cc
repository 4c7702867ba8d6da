// Plans and backups written by an earlier release keep serving identical
// sequences (docs/sampling.md "Compatibility").
//
// tests/fixtures/compat_v1 holds a backup taken by release 6787f3f with 13
// plans (every strategy, token budgets, filters, drop_last false, an empty
// run_id; documents deleted and replaced after the freeze) and every batch
// each plan served then (capture.py there wrote both). Each test restores
// the backup into a fresh data directory with `winnowd --restore-from` and
// reads the plans through the real client.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow::testing {
namespace {

using nlohmann::json;

struct Served {
  std::vector<v1::SampleResponse> responses;
  absl::Status status;
};

Served ReadAll(const Client& client, const v1::SampleRequest& request) {
  Served out;
  SampleReader reader = client.Sample(request);
  v1::SampleResponse response;
  while (reader.Next(&response)) out.responses.push_back(response);
  out.status = reader.Finish();
  return out;
}

// The recorded batch `b` equals the served one.
void ExpectBatch(const json& b, const v1::SampleBatch& got,
                 const std::string& where) {
  EXPECT_EQ(got.epoch(), b["epoch"].get<int64_t>()) << where;
  EXPECT_EQ(got.global_batch_index(), b["global_batch_index"].get<int64_t>())
      << where;
  EXPECT_EQ(std::vector<std::string>(got.ids().begin(), got.ids().end()),
            b["ids"].get<std::vector<std::string>>())
      << where;
  EXPECT_EQ(std::vector<int64_t>(got.lengths().begin(), got.lengths().end()),
            b["lengths"].get<std::vector<int64_t>>())
      << where;
  EXPECT_EQ(std::vector<uint32_t>(got.deleted_indexes().begin(),
                                  got.deleted_indexes().end()),
            b["deleted_indexes"].get<std::vector<uint32_t>>())
      << where;
  EXPECT_EQ(std::vector<uint32_t>(got.modified_indexes().begin(),
                                  got.modified_indexes().end()),
            b["modified_indexes"].get<std::vector<uint32_t>>())
      << where;
}

class CompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ifstream in(std::string(WINNOW_FIXTURES_DIR) +
                     "/compat_v1/expected.json");
    ASSERT_TRUE(in.good());
    expected_ = json::parse(in);
    server_ = WinnowdProcess::Start(
        dir_.path() + "/data", 0,
        {"--restore-from",
         std::string(WINNOW_FIXTURES_DIR) + "/compat_v1/backup"});
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server_->target());
    ASSERT_TRUE(client.ok()) << client.status();
    client_.emplace(*std::move(client));
  }

  // The plan's creating request, as recorded.
  static v1::SampleRequest RequestOf(const json& plan) {
    v1::SampleRequest request;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    plan["request"].dump(), &request)
                    .ok());
    return request;
  }

  TempDir dir_;
  json expected_;
  std::unique_ptr<WinnowdProcess> server_;
  std::optional<Client> client_;
};

TEST_F(CompatTest, EveryPlanOfTheEarlierReleaseServesItsRecordedBatches) {
  ASSERT_EQ(expected_["plans"].size(), 13u);
  for (const json& plan : expected_["plans"]) {
    const std::string id = plan["plan_id"];
    v1::SampleRequest request;
    request.set_plan_id(id);
    request.set_world_size(1);
    Served served = ReadAll(*client_, request);
    ASSERT_TRUE(served.status.ok()) << id << ": " << served.status;
    const json& batches = plan["batches"];
    ASSERT_EQ(served.responses.size(), batches.size()) << id;
    for (size_t i = 0; i < batches.size(); ++i) {
      EXPECT_EQ(served.responses[i].plan_id(), id);
      ExpectBatch(batches[i], served.responses[i].batch(),
                  id + " batch " + std::to_string(i));
    }
    const v1::Plan& described = served.responses[0].plan();
    EXPECT_EQ(described.candidate_count(),
              std::stoll(plan["plan"]["candidateCount"].get<std::string>()))
        << id;
    EXPECT_FALSE(described.strategy_summary().empty()) << id;
    if (described.strategy().has_mixture()) {
      double total = 0;
      for (const v1::DomainWeight& w : described.domain_weights()) {
        total += w.weight();
      }
      EXPECT_NEAR(total, 1.0, 1e-12) << id << ": shares, not raw weights";
    }
  }
}

TEST_F(CompatTest, RecordedCursorsResumeExactlyOnAnyWorldSize) {
  for (const json& plan : expected_["plans"]) {
    const std::string id = plan["plan_id"];
    const json& batches = plan["batches"];
    const size_t from = plan["cursor_resumes_at"];
    // World size 1 continues with exactly the recorded tail.
    v1::SampleRequest request;
    request.set_cursor(plan["cursor"].get<std::string>());
    request.set_world_size(1);
    Served one = ReadAll(*client_, request);
    ASSERT_TRUE(one.status.ok()) << id << ": " << one.status;
    ASSERT_EQ(one.responses.size(), batches.size() - from) << id;
    for (size_t i = 0; i < one.responses.size(); ++i) {
      ExpectBatch(batches[from + i], one.responses[i].batch(),
                  id + " resumed batch " + std::to_string(i));
    }
    // Three ranks deal the same batches among themselves.
    std::map<std::pair<int64_t, int64_t>, const json*> recorded;
    for (size_t i = from; i < batches.size(); ++i) {
      recorded[{batches[i]["epoch"], batches[i]["global_batch_index"]}] =
          &batches[i];
    }
    size_t dealt = 0;
    for (int rank = 0; rank < 3; ++rank) {
      request.set_world_size(3);
      request.set_rank(rank);
      Served part = ReadAll(*client_, request);
      ASSERT_TRUE(part.status.ok()) << id << ": " << part.status;
      for (const v1::SampleResponse& r : part.responses) {
        auto it =
            recorded.find({r.batch().epoch(), r.batch().global_batch_index()});
        ASSERT_NE(it, recorded.end()) << id << " rank " << rank;
        ExpectBatch(*it->second, r.batch(),
                    id + " rank " + std::to_string(rank));
        ++dealt;
      }
    }
    // drop_last drops at most two batches per epoch on three ranks.
    std::set<int64_t> epochs;
    for (const auto& [at, batch] : recorded) epochs.insert(at.first);
    EXPECT_LE(dealt, recorded.size()) << id;
    EXPECT_GE(dealt + 2 * epochs.size(), recorded.size()) << id;
  }
}

TEST_F(CompatTest, TheSameRequestFindsTheRecordedPlan) {
  for (const json& plan : expected_["plans"]) {
    v1::SampleRequest request = RequestOf(plan);
    request.set_max_batches(1);
    Served served = ReadAll(*client_, request);
    ASSERT_TRUE(served.status.ok()) << served.status;
    ASSERT_EQ(served.responses.size(), 1u);
    EXPECT_EQ(served.responses[0].plan_id(),
              plan["plan_id"].get<std::string>());
    ExpectBatch(plan["batches"][0], served.responses[0].batch(),
                plan["plan_id"].get<std::string>());
  }
}

}  // namespace
}  // namespace winnow::testing
