// Whole-system tests of the sampling guarantees (docs/sampling.md): plans
// shared by every rank, signed cursors, exact resume after a SIGKILL with
// another world size, every strategy, token budgets, and plans that stay stable
// under writes. A real winnowd, a real RocksDB in a temp dir, the real client.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kDocs = 6000;

// Documents s-0000..: 4 domains of unequal size, lengths 16..4000, quality
// in (0, 1), an integer cluster 0..39.
v1::UpsertDocumentsRequest CorpusBatch(int begin, int end, uint64_t seed) {
  static const char* kDomains[] = {"web",  "web",  "web",   "wiki",
                                   "wiki", "code", "books", "web"};
  std::mt19937_64 rng(seed + begin);
  v1::UpsertDocumentsRequest req;
  v1::DocumentColumns* cols = req.mutable_columns();
  v1::ScoreColumn* q = cols->add_scores();
  q->set_name("quality");
  v1::ScoreColumn* cl = cols->add_scores();
  cl->set_name("cluster");
  char id[32];
  for (int i = begin; i < end; ++i) {
    snprintf(id, sizeof(id), "s-%05d", i);
    cols->add_ids(id);
    cols->add_domains(kDomains[rng() % 8]);
    cols->add_lengths(16 + static_cast<int64_t>(rng() % 3985));
    q->add_values(static_cast<float>((rng() % 9999 + 1) / 10000.0));
    cl->add_values(static_cast<float>(rng() % 40));
  }
  return req;
}

absl::Status LoadCorpus(const Client& client, const std::string& name) {
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name(name);
  if (absl::Status s = client.CreateCollection(create).status(); !s.ok()) {
    return s;
  }
  DocumentWriter w = client.UpsertDocuments(name);
  for (int b = 0; b < kDocs; b += 1000) {
    if (absl::Status s = w.Write(CorpusBatch(b, b + 1000, 1)); !s.ok())
      return s;
  }
  return w.Close();
}

struct Served {
  int64_t epoch;
  int64_t index;
  std::vector<std::string> ids;
  std::string cursor;
  std::string plan_id;
};

// One rank's stream: every batch with its position and cursor.
std::vector<Served> Read(const Client& client, v1::SampleRequest req, int rank,
                         int world, absl::Status* status) {
  req.set_rank(rank);
  req.set_world_size(world);
  SampleReader reader = client.Sample(req);
  std::vector<Served> out;
  v1::SampleResponse resp;
  while (reader.Next(&resp)) {
    out.push_back({resp.batch().epoch(),
                   resp.batch().global_batch_index(),
                   {resp.batch().ids().begin(), resp.batch().ids().end()},
                   resp.cursor(),
                   resp.plan_id()});
  }
  *status = reader.Finish();
  return out;
}

struct StrategyCase {
  std::string name;
  v1::SampleRequest request;
};

std::vector<StrategyCase> Strategies() {
  std::vector<StrategyCase> cases;
  auto base = [](const std::string& run) {
    v1::SampleRequest r;
    r.set_collection("docs");
    r.set_seed(11);
    r.set_run_id(run);
    r.set_num_epochs(2);
    r.set_batch_size(50);
    return r;
  };
  cases.push_back({"uniform", base("uniform")});
  {
    v1::SampleRequest r = base("weighted_bucketed");
    auto* w = r.mutable_strategy()->mutable_weighted();
    w->set_score("quality");
    w->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
    w->set_alpha(2);
    r.mutable_token_budget()->set_max_tokens(16384);
    r.mutable_token_budget()->set_bucket_count(8);
    r.set_filter("length < 3000");
    cases.push_back({"weighted_bucketed", r});
  }
  {
    v1::SampleRequest r = base("mixture");
    r.set_samples_per_epoch(2500);
    auto* m = r.mutable_strategy()->mutable_mixture();
    for (auto [d, w] : std::vector<std::pair<const char*, double>>{
             {"web", 0.4}, {"wiki", 0.2}, {"code", 0.2}, {"books", 0.2}}) {
      auto* dw = m->add_domain_weights();
      dw->set_domain(d);
      dw->set_weight(w);
    }
    cases.push_back({"mixture", r});
  }
  {
    v1::SampleRequest r = base("with_replacement");
    r.set_samples_per_epoch(3000);
    r.mutable_strategy()->mutable_weighted_with_replacement()->set_score(
        "quality");
    cases.push_back({"with_replacement", r});
  }
  {
    v1::SampleRequest r = base("folding");
    r.mutable_strategy()->mutable_ordered()->set_score("quality");
    r.mutable_strategy()->mutable_ordered()->set_direction(
        v1::ORDER_DIRECTION_FOLDING);
    cases.push_back({"folding", r});
  }
  {
    v1::SampleRequest r = base("top_k");
    r.mutable_strategy()->mutable_top_k()->set_score("quality");
    r.mutable_strategy()->mutable_top_k()->set_fraction(0.5);
    r.mutable_strategy()->mutable_top_k()->set_shuffle(true);
    cases.push_back({"top_k", r});
  }
  {
    v1::SampleRequest r = base("cluster_balanced");
    r.mutable_strategy()->mutable_cluster_balanced()->set_budget(2000);
    cases.push_back({"cluster_balanced", r});
  }
  // Short plans (one epoch, samples_per_epoch at most half the
  // candidates): the plan keeps only its run of samples.
  {
    v1::SampleRequest r = base("uniform_short");
    r.set_num_epochs(1);
    r.set_samples_per_epoch(2000);
    cases.push_back({"uniform_short", r});
  }
  {
    v1::SampleRequest r = base("weighted_short");
    r.set_num_epochs(1);
    r.set_samples_per_epoch(1234);
    r.set_drop_last(false);
    r.set_filter("length < 3000");
    auto* w = r.mutable_strategy()->mutable_weighted();
    w->set_score("quality");
    w->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
    w->set_alpha(2);
    cases.push_back({"weighted_short", r});
  }
  {
    v1::SampleRequest r = base("repetition_budget");
    r.set_num_epochs(0);
    r.mutable_strategy()->mutable_repetition_budget()->set_score("quality");
    r.mutable_strategy()->mutable_repetition_budget()->set_sample_budget(9000);
    cases.push_back({"repetition_budget", r});
  }
  return cases;
}

// The guarantee trainers live on: a run read by 3 ranks, stopped after k
// batches per rank, the server SIGKILLed, then resumed from the cursor by
// 2 ranks, serves exactly the batches of the single-rank run at the same
// (epoch, global batch) positions, each once, and loses only what
// drop_last drops at the end of an epoch.
TEST(SamplingSystemTest, ExactResumeAfterSigkillWithAnotherWorldSize) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::vector<StrategyCase> cases = Strategies();
  std::map<std::string,
           std::map<std::pair<int64_t, int64_t>, std::vector<std::string>>>
      reference;
  std::map<std::string, std::string> resume_cursor;
  std::map<std::string, std::set<std::pair<int64_t, int64_t>>> before;
  {
    auto server = WinnowdProcess::Start(data);
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE(LoadCorpus(*client, "docs").ok());
    for (const StrategyCase& c : cases) {
      absl::Status status;
      std::vector<Served> all = Read(*client, c.request, 0, 1, &status);
      ASSERT_TRUE(status.ok()) << c.name << ": " << status;
      ASSERT_GT(all.size(), 8u) << c.name;
      for (const Served& s : all) {
        reference[c.name][{s.epoch, s.index}] = s.ids;
      }
      // Three ranks, 3 batches each; every rank's cursor after its i-th
      // batch is the same.
      v1::SampleRequest three = c.request;
      three.set_max_batches(3);
      std::vector<std::vector<Served>> ranks;
      for (int r = 0; r < 3; ++r) {
        ranks.push_back(Read(*client, three, r, 3, &status));
        ASSERT_TRUE(status.ok()) << c.name << ": " << status;
        ASSERT_EQ(ranks.back().size(), 3u) << c.name;
      }
      for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(ranks[0][i].cursor, ranks[1][i].cursor) << c.name;
        EXPECT_EQ(ranks[0][i].cursor, ranks[2][i].cursor) << c.name;
        for (int r = 0; r < 3; ++r) {
          const Served& s = ranks[r][i];
          EXPECT_EQ(s.plan_id, all[0].plan_id) << c.name;  // one shared plan
          EXPECT_EQ(s.index, 3 * i + r) << c.name;
          EXPECT_EQ(s.ids, (reference[c.name][{s.epoch, s.index}])) << c.name;
          before[c.name].insert({s.epoch, s.index});
        }
      }
      resume_cursor[c.name] = ranks[0][2].cursor;
    }
    server->Signal(SIGKILL);
    server->Wait();
  }
  auto server = WinnowdProcess::Start(data);
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  for (const StrategyCase& c : cases) {
    v1::SampleRequest resume;
    resume.set_cursor(resume_cursor[c.name]);
    std::map<std::pair<int64_t, int64_t>, int> seen;
    for (int r = 0; r < 2; ++r) {
      absl::Status status;
      for (const Served& s : Read(*client, resume, r, 2, &status)) {
        ++seen[{s.epoch, s.index}];
        EXPECT_EQ(s.ids, (reference[c.name][{s.epoch, s.index}]))
            << c.name << " epoch " << s.epoch << " batch " << s.index;
      }
      ASSERT_TRUE(status.ok()) << c.name << ": " << status;
    }
    // Each position once, none before the cursor, and every position of
    // the reference after it except at most one dropped batch per epoch.
    std::map<int64_t, int> missing;
    for (const auto& [pos, ids] : reference[c.name]) {
      if (before[c.name].count(pos)) {
        EXPECT_EQ(seen.count(pos), 0u) << c.name;
      } else if (!seen.count(pos)) {
        ++missing[pos.first];
      }
    }
    for (const auto& [pos, n] : seen) EXPECT_EQ(n, 1) << c.name;
    for (const auto& [epoch, n] : missing) {
      EXPECT_LE(n, 1) << c.name << " epoch " << epoch;
    }
  }
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

// A real winnowd with the corpus loaded as "docs"; it must stop cleanly.
class SamplingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = WinnowdProcess::Start(dir_.path() + "/data", 0, ServerArgs());
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server_->target());
    ASSERT_TRUE(client.ok());
    client_.emplace(*std::move(client));
    ASSERT_TRUE(LoadCorpus(*client_, "docs").ok());
  }
  void TearDown() override {
    if (server_ == nullptr) return;
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->Wait(), 0) << server_->Log();
  }
  virtual std::vector<std::string> ServerArgs() const { return {}; }

  TempDir dir_;
  std::unique_ptr<WinnowdProcess> server_;
  std::optional<Client> client_;
};

// Plans expire after 1 s unused; plans may hold 1 byte in all.
class SamplingLimitsTest : public SamplingTest {
 protected:
  std::vector<std::string> ServerArgs() const override {
    return {"--plan-ttl-seconds=1", "--max-plan-memory-bytes=1"};
  }
};

// Every batch of a stream, in whichever view it comes, as column vectors.
struct Columns {
  std::vector<std::string> ids;
  std::vector<uint64_t> ordinals;
  std::vector<int64_t> lengths;
  std::vector<std::string> domains;
  std::string plan_id;
  int64_t candidate_count = 0;
  int64_t memory_bytes = 0;
};

void Append(const v1::PackedDocuments& p, Columns* out) {
  PackedIds ids(p);
  for (size_t i = 0; i < ids.size(); ++i) out->ids.emplace_back(ids[i]);
  out->ordinals.insert(out->ordinals.end(), p.ordinals().begin(),
                       p.ordinals().end());
  out->lengths.insert(out->lengths.end(), p.lengths().begin(),
                      p.lengths().end());
  for (uint32_t code : p.domain_codes()) {
    ASSERT_LT(code, static_cast<uint32_t>(p.domain_names_size()));
    out->domains.push_back(p.domain_names(static_cast<int>(code)));
  }
}

Columns ReadColumns(const Client& client, const v1::SampleRequest& req) {
  Columns out;
  SampleReader reader = client.Sample(req);
  v1::SampleResponse resp;
  while (reader.Next(&resp)) {
    const v1::SampleBatch& b = resp.batch();
    if (resp.has_plan()) {
      out.candidate_count = resp.plan().candidate_count();
      out.memory_bytes = resp.plan().memory_bytes();
    }
    out.plan_id = resp.plan_id();
    out.ids.insert(out.ids.end(), b.ids().begin(), b.ids().end());
    out.ordinals.insert(out.ordinals.end(), b.ordinals().begin(),
                        b.ordinals().end());
    out.lengths.insert(out.lengths.end(), b.lengths().begin(),
                       b.lengths().end());
    out.domains.insert(out.domains.end(), b.domains().begin(),
                       b.domains().end());
    Append(b.packed(), &out);
  }
  const absl::Status status = reader.Finish();
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

// A short plan keeps only its run, yet serves exactly the first
// samples_per_epoch samples of the full keyed order: the same batches as
// epoch 0 of the same plan with two epochs (which keeps every candidate).
// Its packed view carries the same ids, ordinals, lengths and domains as
// the IDS and ORDINALS views.
TEST_F(SamplingTest, ShortPlansServeTheFullOrdersFirstSamplesInEveryView) {
  for (const bool weighted : {false, true}) {
    for (const uint64_t seed : {3, 4}) {
      const std::string name =
          absl::StrCat(weighted ? "weighted" : "uniform", seed);
      v1::SampleRequest full;
      full.set_collection("docs");
      full.set_seed(seed);
      full.set_run_id("full-" + name);
      full.set_num_epochs(2);
      full.set_samples_per_epoch(1500);
      full.set_batch_size(64);
      full.set_drop_last(false);
      full.set_world_size(1);
      full.set_view(v1::RESULT_VIEW_IDS);
      if (weighted) {
        full.set_filter("domain != \"code\"");
        auto* w = full.mutable_strategy()->mutable_weighted();
        w->set_score("quality");
        w->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
        w->set_alpha(3);
      }
      v1::SampleRequest first_epoch = full;
      first_epoch.set_max_batches(24);  // ceil(1500 / 64): all of epoch 0
      const Columns want = ReadColumns(*client_, first_epoch);
      ASSERT_EQ(want.ids.size(), 1500u) << name;

      v1::SampleRequest short_plan = full;
      short_plan.set_run_id("short-" + name);
      short_plan.set_num_epochs(1);
      const Columns got = ReadColumns(*client_, short_plan);
      EXPECT_EQ(got.ids, want.ids) << name;
      EXPECT_EQ(got.lengths, want.lengths) << name;
      EXPECT_EQ(got.domains, want.domains) << name;
      EXPECT_EQ(got.candidate_count, want.candidate_count) << name;
      // It holds its 1,500 samples, not every candidate.
      EXPECT_GT(got.memory_bytes, 0) << name;
      EXPECT_LT(got.memory_bytes * 2, want.memory_bytes) << name;

      v1::SampleRequest by_id;
      by_id.set_plan_id(got.plan_id);
      by_id.set_world_size(1);
      by_id.set_view(v1::RESULT_VIEW_ORDINALS);
      const Columns ordinals = ReadColumns(*client_, by_id);
      by_id.set_view(v1::RESULT_VIEW_PACKED);
      const Columns ids_only = ReadColumns(*client_, by_id);
      EXPECT_EQ(ids_only.ids, want.ids) << name;
      EXPECT_TRUE(ids_only.ordinals.empty() && ids_only.lengths.empty() &&
                  ids_only.domains.empty())
          << name;
      by_id.mutable_packed_fields()->set_ordinals(true);
      by_id.mutable_packed_fields()->set_lengths(true);
      by_id.mutable_packed_fields()->set_domains(true);
      const Columns packed = ReadColumns(*client_, by_id);
      EXPECT_EQ(packed.ids, want.ids) << name;
      EXPECT_EQ(packed.ordinals, ordinals.ordinals) << name;
      EXPECT_EQ(packed.lengths, want.lengths) << name;
      EXPECT_EQ(packed.domains, want.domains) << name;
    }
  }
}

// Filter's packed view, over several messages (offsets restart at 0 in
// each), carries what the IDS, ORDINALS and FULL views do.
TEST_F(SamplingTest, FilterPackedViewMatchesTheOtherViews) {
  auto read = [&](v1::ResultView view, bool all_fields) {
    v1::FilterRequest req;
    req.set_collection("docs");
    req.set_filter("quality > 0.3");
    req.set_batch_size(700);
    req.set_view(view);
    if (view == v1::RESULT_VIEW_FULL) {
      req.mutable_read_mask()->add_paths("domain");
      req.mutable_read_mask()->add_paths("length");
    }
    if (all_fields) {
      req.mutable_packed_fields()->set_ordinals(true);
      req.mutable_packed_fields()->set_lengths(true);
      req.mutable_packed_fields()->set_domains(true);
    }
    Columns out;
    FilterReader reader = client_->Filter(req);
    v1::FilterResponse resp;
    int messages = 0;
    while (reader.Next(&resp)) {
      ++messages;
      out.ids.insert(out.ids.end(), resp.ids().begin(), resp.ids().end());
      out.ordinals.insert(out.ordinals.end(), resp.ordinals().begin(),
                          resp.ordinals().end());
      for (const v1::Document& d : resp.documents()) {
        out.ids.push_back(d.id());
        out.lengths.push_back(d.length());
        out.domains.push_back(d.domain());
      }
      Append(resp.packed(), &out);
    }
    EXPECT_TRUE(reader.Finish().ok());
    EXPECT_GT(messages, 3);
    return out;
  };
  const Columns ids = read(v1::RESULT_VIEW_IDS, false);
  const Columns ordinals = read(v1::RESULT_VIEW_ORDINALS, false);
  const Columns full = read(v1::RESULT_VIEW_FULL, false);
  const Columns packed_ids = read(v1::RESULT_VIEW_PACKED, false);
  const Columns packed = read(v1::RESULT_VIEW_PACKED, true);
  ASSERT_GT(ids.ids.size(), 3000u);
  EXPECT_EQ(packed_ids.ids, ids.ids);
  EXPECT_TRUE(packed_ids.ordinals.empty() && packed_ids.domains.empty());
  EXPECT_EQ(packed.ids, ids.ids);
  EXPECT_EQ(packed.ordinals, ordinals.ordinals);
  EXPECT_EQ(packed.lengths, full.lengths);
  EXPECT_EQ(packed.domains, full.domains);
}

TEST_F(SamplingTest, CursorsAndPlansAnswerBadInputWithTheRightStatus) {
  v1::CreateCollectionRequest other;
  other.mutable_collection()->set_name("other");
  ASSERT_TRUE(client_->CreateCollection(other).ok());

  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(10);
  req.set_max_batches(1);
  absl::Status status;
  std::vector<Served> one = Read(*client_, req, 0, 1, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(one.size(), 1u);
  const std::string cursor = one[0].cursor;

  v1::SampleRequest resume;
  resume.set_max_batches(1);
  // A flipped character anywhere is refused, never trusted.
  for (size_t at : {size_t{0}, cursor.size() / 2, cursor.size() - 2}) {
    std::string bad = cursor;
    bad[at] = bad[at] == 'A' ? 'B' : 'A';
    resume.set_cursor(bad);
    Read(*client_, resume, 0, 1, &status);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << at;
    EXPECT_NE(status.message().find("cursor"), std::string::npos) << status;
  }
  resume.set_cursor("not a cursor!");
  Read(*client_, resume, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  // From another collection.
  resume.set_cursor(cursor);
  resume.set_collection("other");
  Read(*client_, resume, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  // Plan fields that differ from the cursor's plan.
  resume.set_collection("docs");
  resume.set_seed(99);
  Read(*client_, resume, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  resume.clear_seed();
  EXPECT_EQ(Read(*client_, resume, 0, 1, &status).size(), 1u);
  EXPECT_TRUE(status.ok()) << status;
  // rank >= world_size.
  Read(*client_, resume, 2, 2, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);

  // ListPlans shows the plan with its memory; DeletePlan drops it, and its
  // cursor is FAILED_PRECONDITION from then on.
  v1::ListPlansRequest list;
  list.set_collection("docs");
  absl::StatusOr<v1::ListPlansResponse> plans = client_->ListPlans(list);
  ASSERT_TRUE(plans.ok());
  ASSERT_EQ(plans->plans_size(), 1);
  EXPECT_EQ(plans->plans(0).plan_id(), one[0].plan_id);
  EXPECT_EQ(plans->plans(0).candidate_count(), kDocs);
  EXPECT_GT(plans->plans(0).memory_bytes(), 0);
  EXPECT_GT(plans->total_memory_bytes(), 0);
  v1::DeletePlanRequest del;
  del.set_plan_id(one[0].plan_id);
  absl::StatusOr<v1::DeletePlanResponse> deleted = client_->DeletePlan(del);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(deleted->deleted());
  Read(*client_, resume, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(client_->DeletePlan(del).status().code(),
            absl::StatusCode::kNotFound);
  del.set_allow_missing(true);
  deleted = client_->DeletePlan(del);
  ASSERT_TRUE(deleted.ok());
  EXPECT_FALSE(deleted->deleted());
  v1::SampleRequest by_id;
  by_id.set_plan_id(one[0].plan_id);
  Read(*client_, by_id, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);

  // Strategy errors name their field.
  v1::SampleRequest bad = req;
  bad.mutable_strategy()->mutable_weighted()->set_score("qualty");
  Read(*client_, bad, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("strategy.weighted.score"), std::string::npos)
      << status;
  bad = req;
  auto* dw = bad.mutable_strategy()->mutable_mixture()->add_domain_weights();
  dw->set_domain("nope");
  dw->set_weight(1);
  bad.set_samples_per_epoch(100);
  Read(*client_, bad, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("domain_weights[0].domain"),
            std::string::npos)
      << status;
  bad = req;
  bad.mutable_strategy()->mutable_weighted_with_replacement();
  Read(*client_, bad, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("samples_per_epoch"), std::string::npos)
      << status;
  bad = req;
  bad.mutable_token_budget()->set_bucket_count(4);  // no max_tokens, no sizes
  Read(*client_, bad, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("token_budget.max_tokens"), std::string::npos)
      << status;
}

TEST_F(SamplingTest, ConcurrentFirstRequestsShareOnePlanAndRunsDoNot) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(100);
  req.set_max_batches(1);
  req.set_run_id("run-a");
  std::vector<std::string> ids(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      absl::Status status;
      std::vector<Served> got = Read(*client_, req, t % 4, 4, &status);
      if (status.ok() && !got.empty()) ids[t] = got[0].plan_id;
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::string& id : ids) EXPECT_EQ(id, ids[0]);
  ASSERT_FALSE(ids[0].empty());
  // A new run_id freezes a new plan over the current data.
  {
    DocumentWriter w = client_->UpsertDocuments("docs");
    ASSERT_TRUE(w.Write(CorpusBatch(kDocs, kDocs + 500, 1)).ok());
    ASSERT_TRUE(w.Close().ok());
  }
  req.set_run_id("run-b");
  absl::Status status;
  std::vector<Served> b = Read(*client_, req, 0, 1, &status);
  ASSERT_TRUE(status.ok());
  EXPECT_NE(b[0].plan_id, ids[0]);
  absl::StatusOr<v1::ListPlansResponse> plans =
      client_->ListPlans(v1::ListPlansRequest());
  ASSERT_TRUE(plans.ok());
  ASSERT_EQ(plans->plans_size(), 2);
  std::map<std::string, int64_t> candidates;
  for (const v1::Plan& p : plans->plans()) {
    candidates[p.run_id()] = p.candidate_count();
  }
  EXPECT_EQ(candidates["run-a"], kDocs);
  EXPECT_EQ(candidates["run-b"], kDocs + 500);
}

TEST_F(SamplingTest, PlansServeFrozenSlotsAfterDeletesAndReplaces) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(200);
  req.set_num_epochs(1);
  req.set_seed(3);
  req.add_score_names("quality");
  req.set_world_size(1);
  absl::Status status;
  // The first batch only: the plan is frozen now.
  v1::SampleRequest first = req;
  first.set_max_batches(1);
  std::vector<Served> head = Read(*client_, first, 0, 1, &status);
  ASSERT_TRUE(status.ok());
  const std::string deleted_id = head[0].ids[5];
  const std::string replaced_id = head[0].ids[7];
  v1::DeleteDocumentsRequest del;
  del.set_collection("docs");
  del.add_ids(deleted_id);
  ASSERT_TRUE(client_->DeleteDocuments(del).ok());
  {
    DocumentWriter w = client_->UpsertDocuments("docs");
    v1::UpsertDocumentsRequest up;
    v1::Document* d = up.add_documents();
    d->set_id(replaced_id);
    d->set_length(7);
    (*d->mutable_scores())["quality"] = 0.5f;
    ASSERT_TRUE(w.Write(up).ok());
    ASSERT_TRUE(w.Write(CorpusBatch(kDocs, kDocs + 100, 2)).ok());  // new docs
    ASSERT_TRUE(w.Close().ok());
  }
  SampleReader reader = client_->Sample(req);
  v1::SampleResponse resp;
  ASSERT_TRUE(reader.Next(&resp)) << reader.Finish();
  const v1::SampleBatch& b = resp.batch();
  EXPECT_EQ(std::vector<std::string>(b.ids().begin(), b.ids().end()),
            head[0].ids);  // positions never shift
  EXPECT_EQ(std::vector<uint32_t>(b.deleted_indexes().begin(),
                                  b.deleted_indexes().end()),
            std::vector<uint32_t>{5});
  EXPECT_EQ(std::vector<uint32_t>(b.modified_indexes().begin(),
                                  b.modified_indexes().end()),
            std::vector<uint32_t>{7});
  EXPECT_NE(b.lengths(7), 7);  // the frozen length, not the new one
  EXPECT_FLOAT_EQ(b.scores(0).values(7), 0.5f);  // the current score
  int64_t served = b.ids_size();
  std::set<std::string> all(b.ids().begin(), b.ids().end());
  while (reader.Next(&resp)) {
    served += resp.batch().ids_size();
    all.insert(resp.batch().ids().begin(), resp.batch().ids().end());
  }
  ASSERT_TRUE(reader.Finish().ok());
  EXPECT_EQ(served, kDocs);  // the new documents join later plans only
  EXPECT_EQ(all.size(), static_cast<size_t>(kDocs));
}

// A delete alone after the freeze (no other write) is marked in its slot in
// the packed view, also after a restart: the stream skips the per-document
// check only while the collection has published no write since the freeze.
TEST_F(SamplingTest, PackedViewMarksALoneDeleteAfterTheFreezeAcrossARestart) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(500);
  req.set_num_epochs(1);
  req.set_seed(11);
  req.set_world_size(1);
  req.set_view(v1::RESULT_VIEW_PACKED);
  // Every batch of the plan, as (ids, deleted indexes, modified indexes).
  struct Marked {
    std::vector<std::string> ids;
    std::vector<uint32_t> deleted;
    std::vector<uint32_t> modified;
  };
  std::string plan_id;
  auto read = [&](const v1::SampleRequest& r) {
    std::vector<Marked> batches;
    SampleReader reader = client_->Sample(r);
    v1::SampleResponse resp;
    while (reader.Next(&resp)) {
      const v1::SampleBatch& b = resp.batch();
      const PackedIds ids(b.packed());
      Marked m;
      for (size_t i = 0; i < ids.size(); ++i) m.ids.emplace_back(ids[i]);
      m.deleted.assign(b.deleted_indexes().begin(), b.deleted_indexes().end());
      m.modified.assign(b.modified_indexes().begin(),
                        b.modified_indexes().end());
      batches.push_back(std::move(m));
      plan_id = resp.plan_id();
    }
    EXPECT_TRUE(reader.Finish().ok());
    return batches;
  };
  const std::vector<Marked> before = read(req);  // freezes the plan
  ASSERT_EQ(before.size(), static_cast<size_t>(kDocs / 500));
  for (const Marked& m : before) {
    EXPECT_TRUE(m.deleted.empty());
    EXPECT_TRUE(m.modified.empty());
  }
  v1::DeleteDocumentsRequest del;
  del.set_collection("docs");
  del.add_ids(before[3].ids[42]);
  ASSERT_TRUE(client_->DeleteDocuments(del).ok());

  v1::SampleRequest by_id;
  by_id.set_plan_id(plan_id);
  by_id.set_world_size(1);
  by_id.set_view(v1::RESULT_VIEW_PACKED);
  for (int restarted = 0; restarted < 2; ++restarted) {
    SCOPED_TRACE(restarted ? "after a restart" : "before a restart");
    const std::vector<Marked> after = read(by_id);
    ASSERT_EQ(after.size(), before.size());
    for (size_t j = 0; j < after.size(); ++j) {
      EXPECT_EQ(after[j].ids, before[j].ids);  // slots never shift
      EXPECT_EQ(after[j].deleted,
                j == 3 ? std::vector<uint32_t>{42} : std::vector<uint32_t>{});
      EXPECT_TRUE(after[j].modified.empty());
    }
    if (restarted) break;
    server_->Signal(SIGTERM);
    ASSERT_EQ(server_->Wait(), 0) << server_->Log();
    server_ = WinnowdProcess::Start(dir_.path() + "/data", 0, ServerArgs());
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server_->target());
    ASSERT_TRUE(client.ok());
    client_.emplace(*std::move(client));
  }
}

// SIGTERM while a trainer's client stays connected, idle after its streams:
// the server drains what runs and closes the idle connection itself rather
// than waiting for the client to notice the GOAWAY (gRPC's backup poller
// reads it only every 5 s).
TEST_F(SamplingTest, AnIdleConnectedClientDoesNotHoldShutdown) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(100);
  req.set_num_epochs(1);
  absl::Status status;
  std::vector<Served> served = Read(*client_, req, 0, 2, &status);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_FALSE(served.empty());
  const auto start = std::chrono::steady_clock::now();
  server_->Signal(SIGTERM);
  EXPECT_EQ(server_->Wait(), 0) << server_->Log();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_LT(seconds, 4.0) << server_->Log();
  server_.reset();  // stopped; TearDown has nothing left to stop
}

TEST_F(SamplingTest, TokenBudgetBatchesReportPaddingAndStayUnderBudget) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_num_epochs(1);
  req.set_drop_last(false);
  req.mutable_token_budget()->set_max_tokens(3000);
  req.set_world_size(1);
  SampleReader reader = client_->Sample(req);
  v1::SampleResponse resp;
  std::set<std::string> seen;
  int over = 0;
  double padded = 0, tokens = 0;
  while (reader.Next(&resp)) {
    const v1::SampleBatch& b = resp.batch();
    if (resp.has_plan()) {
      // The resolved default: 30 buckets of about equal tokens.
      EXPECT_EQ(resp.plan().token_budget().bucket_count(), 30);
      EXPECT_GT(resp.plan().token_budget().bucket_edges_size(), 20);
    }
    ASSERT_TRUE(b.has_bucket_index());
    int64_t longest = 0;
    for (int64_t l : b.lengths()) longest = std::max(longest, l);
    EXPECT_EQ(b.padded_token_count(), longest * b.ids_size());
    if (b.over_budget()) {
      ++over;
      EXPECT_EQ(b.ids_size(), 1);
    } else {
      EXPECT_LE(b.padded_token_count(), 3000);
    }
    EXPECT_NEAR(b.padding_ratio(),
                1.0 - double(b.token_count()) / b.padded_token_count(), 1e-12);
    padded += b.padded_token_count();
    tokens += b.token_count();
    for (const std::string& id : b.ids()) EXPECT_TRUE(seen.insert(id).second);
  }
  absl::Status finished = reader.Finish();
  ASSERT_TRUE(finished.ok()) << finished;
  EXPECT_EQ(seen.size(), static_cast<size_t>(kDocs));
  EXPECT_GT(over, 0);  // lengths reach 4000 > 3000
  EXPECT_LT(1 - tokens / padded, 0.2);
}

TEST_F(SamplingLimitsTest, IdlePlansExpireAndPlanMemoryIsBounded) {
  v1::SampleRequest req;
  req.set_collection("docs");
  req.set_batch_size(10);
  req.set_max_batches(1);
  req.set_run_id("first");
  absl::Status status;
  std::vector<Served> first = Read(*client_, req, 0, 1, &status);
  ASSERT_TRUE(status.ok()) << status;
  // The first plan holds more than the 1-byte budget: a second is refused.
  req.set_run_id("second");
  Read(*client_, req, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_NE(status.message().find("max_plan_memory_bytes"), std::string::npos)
      << status;
  // Unused for its 1 s TTL, the plan is deleted; its cursor is refused.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  absl::StatusOr<v1::ListPlansResponse> plans =
      client_->ListPlans(v1::ListPlansRequest());
  ASSERT_TRUE(plans.ok());
  EXPECT_EQ(plans->plans_size(), 0);
  v1::SampleRequest resume;
  resume.set_cursor(first[0].cursor);
  Read(*client_, resume, 0, 1, &status);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  // With the memory released, a new plan fits again.
  Read(*client_, req, 0, 1, &status);
  EXPECT_TRUE(status.ok()) << status;
}

}  // namespace
}  // namespace winnow
