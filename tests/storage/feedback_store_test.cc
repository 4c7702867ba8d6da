// Training feedback in the store (Store::ReportTraining, docs/feedback.md):
// the statistic columns against a reference recomputed from the whole
// report log (out-of-order steps, resends, unknown ids), through reopen,
// checkpoints and replay; resend dedup across restarts and its idle expiry;
// bad input; reserved names; domain losses; concurrent reporters and
// readers (run under TSan by scripts/sanitizers.sh).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "rocksdb/db.h"
#include "selection/feedback.h"
#include "storage/format.h"
#include "storage/store.h"
#include "tests/feedback_reference.h"
#include "tests/storage/model.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::DocBatchBuilder;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestDoc;
using testing::TestOptions;

std::string Id(int i) { return "doc-" + std::to_string(i); }

void AddDocs(Store& store, const std::string& collection, int n,
             const std::map<int, float>& irreducible = {}) {
  std::vector<TestDoc> docs;
  for (int i = 0; i < n; ++i) {
    TestDoc d{.id = Id(i), .domain = i % 2 ? "web" : "code", .length = 10};
    if (auto it = irreducible.find(i); it != irreducible.end()) {
      d.scores["irreducible"] = it->second;
    }
    docs.push_back(d);
  }
  DocBatchBuilder b(docs, {"irreducible"}, {});
  ASSERT_TRUE(store.UpsertDocuments(collection, b.batch()).ok());
}

// One message in owned form.
struct Message {
  std::string stream;
  uint64_t sequence = 0;
  std::vector<std::string> ids;
  std::vector<float> losses;
  std::vector<int64_t> steps;
};

absl::StatusOr<ReportResult> Send(Store& store, const std::string& collection,
                                  const Message& m) {
  TrainingReport r;
  r.stream_id = m.stream;
  r.sequence = m.sequence;
  r.ids.assign(m.ids.begin(), m.ids.end());
  r.losses = m.losses;
  r.steps = m.steps;
  return store.ReportTraining(collection, r);
}

// The reference: every applied report of each document, in arrival order,
// and the six values recomputed from them by definition.
class ReferenceLog {
 public:
  explicit ReferenceLog(double half_life) : h_(half_life) {}

  void Apply(const Message& m, int num_docs) {
    for (size_t i = 0; i < m.ids.size(); ++i) {
      const int doc = std::stoi(m.ids[i].substr(4));
      if (doc >= num_docs) continue;  // unknown: skipped
      log_[doc].push_back(
          {m.steps.size() == 1 ? m.steps[0] : m.steps[i], m.losses[i]});
    }
  }

  // NaN where null.
  std::array<double, kNumFeedbackColumns> Values(int doc,
                                                 float irreducible) const {
    std::array<double, kNumFeedbackColumns> v;
    v.fill(NAN);
    auto it = log_.find(doc);
    if (it == log_.end()) return v;
    const ::winnow::testing::ReferenceStats r =
        ::winnow::testing::Reference(it->second, h_);
    const double first = r.first, last = r.last;
    v[kLossFirst] = first;
    v[kLossLast] = last;
    v[kLossEma] = r.ema;
    v[kLossCount] = static_cast<double>(r.count);
    v[kLearnability] = static_cast<float>(first) - static_cast<float>(last);
    v[kReducibleLoss] =
        std::isnan(irreducible) ? NAN : static_cast<float>(last) - irreducible;
    return v;
  }

 private:
  double h_;
  std::map<int, std::vector<std::pair<int64_t, float>>> log_;
};

void ExpectMatches(Store& store, const std::string& collection,
                   const ReferenceLog& ref, int num_docs,
                   const std::map<int, float>& irreducible,
                   const std::string& when) {
  absl::StatusOr<ColumnsSnapshot> snap = store.ReadColumns(collection);
  ASSERT_TRUE(snap.ok()) << snap.status();
  const ColumnSet& cs = snap->columns();
  for (int c = 0; c < kNumFeedbackColumns; ++c) {
    ASSERT_TRUE(cs.scores.contains(kFeedbackColumnNames[c]))
        << kFeedbackColumnNames[c] << " " << when;
  }
  for (int doc = 0; doc < num_docs; ++doc) {
    const uint32_t o = *snap->FindId(Id(doc));
    auto irr = irreducible.find(doc);
    const auto want =
        ref.Values(doc, irr == irreducible.end() ? NAN : irr->second);
    for (int c = 0; c < kNumFeedbackColumns; ++c) {
      const float got = cs.scores.find(kFeedbackColumnNames[c])->second[o];
      if (std::isnan(want[c])) {
        EXPECT_TRUE(std::isnan(got))
            << kFeedbackColumnNames[c] << " of " << Id(doc) << " " << when;
      } else {
        EXPECT_NEAR(got, want[c], 1e-6 * std::abs(want[c]) + 1e-6)
            << kFeedbackColumnNames[c] << " of " << Id(doc) << " " << when;
      }
    }
  }
}

// Random messages: out-of-order steps, a step per sample or one for all,
// unknown ids, repeated documents, and resends of earlier messages (some
// after a reopen), against the reference; then reopen (replay) and again
// with a checkpoint every few messages.
TEST(FeedbackStoreTest, StatisticsMatchAReferenceOverTheWholeLog) {
  for (uint64_t seed : {11, 22, 33, 44}) {
    for (uint64_t checkpoint_every : {uint64_t{1} << 40, uint64_t{50}}) {
      TempDir dir;
      StoreOptions options = TestOptions(dir.path());
      options.feedback_checkpoint_reports = checkpoint_every;
      std::mt19937_64 rng(seed);
      const double h = 20.0 + static_cast<double>(rng() % 200);
      const int num_docs = 300;
      std::map<int, float> irreducible;
      for (int i = 0; i < num_docs; i += 3) irreducible[i] = 0.25f * (i % 7);
      ReferenceLog ref(h);
      std::vector<Message> sent;
      std::map<std::string, uint64_t> next_seq;
      std::unique_ptr<Store> store = OpenOrDie(options);
      CollectionSpec spec{"c"};
      spec.loss_ema_half_life_steps = h;
      ASSERT_TRUE(store->CreateCollection(spec).ok());
      AddDocs(*store, "c", num_docs, irreducible);
      for (int k = 0; k < 120; ++k) {
        if (k == 60) {  // a restart halfway: replay, then more reports
          store.reset();
          store = OpenOrDie(options);
        }
        if (!sent.empty() && rng() % 4 == 0) {
          const Message& m = sent[rng() % sent.size()];
          absl::StatusOr<ReportResult> r = Send(*store, "c", m);
          ASSERT_TRUE(r.ok()) << r.status();
          EXPECT_TRUE(r->duplicate);
          continue;
        }
        Message m;
        m.stream = "run/rank-" + std::to_string(rng() % 3);
        m.sequence = ++next_seq[m.stream];
        const int n = 1 + static_cast<int>(rng() % 40);
        for (int i = 0; i < n; ++i) {
          m.ids.push_back(Id(static_cast<int>(rng() % (num_docs + 20))));
          m.losses.push_back(std::uniform_real_distribution<float>(0, 10)(rng));
        }
        if (rng() % 2) {
          m.steps.push_back(static_cast<int64_t>(rng() % 1000));
        } else {
          for (int i = 0; i < n; ++i) {
            m.steps.push_back(static_cast<int64_t>(rng() % 1000));
          }
        }
        absl::StatusOr<ReportResult> r = Send(*store, "c", m);
        ASSERT_TRUE(r.ok()) << r.status();
        EXPECT_FALSE(r->duplicate);
        int known = 0;
        for (const std::string& id : m.ids) {
          known += std::stoi(id.substr(4)) < num_docs;
        }
        EXPECT_EQ(r->num_applied, static_cast<uint64_t>(known));
        EXPECT_EQ(r->num_skipped, m.ids.size() - known);
        ref.Apply(m, num_docs);
        sent.push_back(m);
      }
      const std::string when = "seed " + std::to_string(seed) +
                               " checkpoint every " +
                               std::to_string(checkpoint_every);
      ExpectMatches(*store, "c", ref, num_docs, irreducible, when);
      store.reset();
      store = OpenOrDie(options);
      ExpectMatches(*store, "c", ref, num_docs, irreducible,
                    when + " after reopen");
      // The stats count the values like any score's.
      absl::StatusOr<CollectionInfo> info = store->GetCollection("c");
      ASSERT_TRUE(info.ok());
      for (const ScoreInfo& s : info->scores) {
        if (s.name == "loss_count") {
          int with = 0;
          for (int d = 0; d < num_docs; ++d) {
            with += !std::isnan(ref.Values(d, NAN)[kLossCount]);
          }
          EXPECT_EQ(s.num_values, static_cast<uint64_t>(with));
        }
      }
    }
  }
}

TEST(FeedbackStoreTest, CheckpointThenReportsThenReopenReplaysOnlyTheRest) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.feedback_checkpoint_reports = uint64_t{1} << 40;  // by hand only
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  AddDocs(*store, "c", 5000);  // two blocks
  ASSERT_TRUE(
      Send(*store, "c", {"s", 1, {Id(1), Id(4500)}, {1, 2}, {10}}).ok());
  ASSERT_TRUE(store->CheckpointFeedback("c").ok());
  ASSERT_TRUE(Send(*store, "c", {"s", 2, {Id(1)}, {3}, {20}}).ok());
  // Closing writes no checkpoint: the reopen replays the second message
  // on top of the checkpointed states (the process tests kill -9 instead).
  store.reset();
  store = OpenOrDie(options);
  GetDocumentsOptions o;
  o.score_names = {"loss_count", "loss_first", "loss_last"};
  const std::string_view ids[] = {"doc-1", "doc-4500", "doc-2"};
  absl::StatusOr<GetDocumentsResult> docs =
      store->GetDocuments("c", ids, {}, o);
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs->documents[0].scores.at("loss_count"), 2.0f);
  EXPECT_EQ(docs->documents[0].scores.at("loss_first"), 1.0f);
  EXPECT_EQ(docs->documents[0].scores.at("loss_last"), 3.0f);
  EXPECT_EQ(docs->documents[1].scores.at("loss_count"), 1.0f);
  EXPECT_TRUE(docs->documents[2].scores.empty());
  // The resend of the checkpointed message is still known.
  absl::StatusOr<ReportResult> r =
      Send(*store, "c", {"s", 1, {Id(1), Id(4500)}, {1, 2}, {10}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->duplicate);
}

TEST(FeedbackStoreTest, ResendsApplyOnceAcrossRestartsUntilIdleExpiry) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    AddDocs(*store, "c", 3);
    absl::StatusOr<ReportResult> r =
        Send(*store, "c", {"s", 7, {Id(0)}, {1}, {1}});
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->duplicate);
    EXPECT_EQ(r->num_applied, 1u);
    r = Send(*store, "c", {"s", 7, {Id(0)}, {1}, {1}});
    EXPECT_TRUE(r->duplicate);
    EXPECT_EQ(r->num_applied, 0u);
    r = Send(*store, "c", {"s", 3, {Id(0)}, {1}, {1}});  // below the mark
    EXPECT_TRUE(r->duplicate);
    r = Send(*store, "c", {"other", 1, {Id(0)}, {1}, {1}});  // own stream
    EXPECT_FALSE(r->duplicate);
  }
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    absl::StatusOr<ReportResult> r =
        Send(*store, "c", {"s", 7, {Id(0)}, {1}, {1}});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->duplicate);
    r = Send(*store, "c", {"s", 8, {Id(0)}, {1}, {1}});
    EXPECT_FALSE(r->duplicate);
  }
  options.feedback_stream_idle_seconds = 0;  // every mark is idle at once
  std::unique_ptr<Store> store = OpenOrDie(options);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  absl::StatusOr<ReportResult> r =
      Send(*store, "c", {"s", 8, {Id(0)}, {1}, {1}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
  GetDocumentsOptions o;
  o.score_names = {"loss_count"};
  const std::string_view ids[] = {"doc-0"};
  EXPECT_EQ(store->GetDocuments("c", ids, {}, o)
                ->documents[0]
                .scores.at("loss_count"),
            4.0f);  // seq 7, "other" 1, seq 8, and seq 8 again
}

TEST(FeedbackStoreTest, BadMessagesApplyNothing) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  AddDocs(*store, "c", 3);
  struct Case {
    Message m;
    std::string field;
  };
  const float nan = NAN, inf = INFINITY;
  const std::vector<Case> cases = {
      {{"s", 1, {Id(0), Id(1)}, {1, nan}, {1}}, "losses[1]:"},
      {{"s", 1, {Id(0), Id(1)}, {inf, 1}, {1}}, "losses[0]:"},
      {{"s", 1, {Id(0), Id(1)}, {1, -1}, {1}}, "losses[1]:"},
      {{"s", 1, {Id(0), Id(1)}, {1}, {1}}, "losses:"},
      {{"s", 1, {Id(0), Id(1)}, {1, 2}, {1, 2, 3}}, "steps:"},
      {{"s", 1, {Id(0), Id(1)}, {1, 2}, {}}, "steps:"},
      {{"s", 1, {Id(0)}, {1}, {-4}}, "steps[0]:"},
      {{"", 1, {Id(0)}, {1}, {1}}, "stream_id:"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ReportResult> r = Send(*store, "c", c.m);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(r.status().message().rfind(c.field, 0), 0u) << r.status();
  }
  // Both ids and ordinals.
  TrainingReport both;
  both.stream_id = "s";
  const std::string_view one[] = {"doc-0"};
  both.ids.assign(std::begin(one), std::end(one));
  const uint64_t ordinals[] = {1};
  both.ordinals = ordinals;
  const float losses[] = {1, 2};
  both.losses = losses;
  const int64_t steps[] = {1};
  both.steps = steps;
  EXPECT_EQ(store->ReportTraining("c", both).status().code(),
            absl::StatusCode::kInvalidArgument);
  // An unknown collection.
  absl::StatusOr<ReportResult> r =
      Send(*store, "nope", {"s", 1, {Id(0)}, {1}, {1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("collection:", 0), 0u) << r.status();
  // Domain losses need a plan and exactly one step.
  TrainingReport d;
  d.stream_id = "s";
  d.domain_losses = {{"web", 0.5}};
  EXPECT_EQ(
      store->ReportTraining("c", d).status().message().rfind("plan_id:", 0),
      0u);
  // Nothing of any of them was applied: no statistic column, and the
  // stream's first sequence is still new.
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  EXPECT_FALSE(snap->columns().scores.contains("loss_count"));
  snap = absl::FailedPreconditionError("released");
  r = Send(*store, "c", {"s", 1, {Id(0)}, {1}, {1}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->duplicate);
}

TEST(FeedbackStoreTest, ReservedNamesAreRefusedToScoreWriters) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  AddDocs(*store, "c", 2);
  for (const char* name : kFeedbackColumnNames) {
    const float values[] = {1, 2};
    ScoreBatch b;
    b.ids = {"doc-0", "doc-1"};
    b.scores.push_back({name, values, {}});
    absl::StatusOr<PutScoresResult> r = store->PutScores("c", b);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(r.status().message().rfind("scores[0].name:", 0), 0u)
        << r.status();
    TestDoc doc{.id = "x"};
    doc.scores[name] = 1;
    DocBatchBuilder u({doc}, {name}, {});
    EXPECT_EQ(store->UpsertDocuments("c", u.batch()).status().code(),
              absl::StatusCode::kInvalidArgument)
        << name;
  }
}

// A data directory from before feedback, with a user score "loss_ema":
// the score stays, and ReportTraining is FAILED_PRECONDITION naming it.
TEST(FeedbackStoreTest, AUserScoreUnderAReservedNameBlocksReports) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c"}).ok());
    AddDocs(*store, "c", 2);  // score id 0 is "irreducible"
  }
  {
    // Add a score name the way an older server could have: id 1.
    rocksdb::DBOptions db_options;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}},
        {internal::kMetaFamily, {}},
        {internal::kBlocksFamily, {}},
        {internal::kDocsFamily, {}},
        {internal::kPlansFamily, {}},
        {internal::kEmbeddingsFamily, {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(db_options, options.data_dir, families,
                                  &handles, &raw)
                    .ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    ASSERT_TRUE(db->Put({}, handles[1],
                        internal::CollectionMetaKey(
                            1, internal::MetaKind::kScoreName, 1),
                        "loss_ema")
                    .ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  absl::StatusOr<ReportResult> r =
      Send(*store, "c", {"s", 1, {Id(0)}, {1}, {1}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("'loss_ema'"), std::string::npos)
      << r.status();
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  EXPECT_TRUE(snap->columns().scores.contains("loss_ema"));
  EXPECT_FALSE(snap->columns().scores.contains("loss_count"));
}

TEST(FeedbackStoreTest, StatisticsFollowIrreducibleReplacesAndDeletes) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  AddDocs(*store, "c", 3, {{0, 1.0f}});
  ASSERT_TRUE(Send(*store, "c", {"s", 1, {Id(0), Id(1)}, {4, 5}, {1, 2}}).ok());
  GetDocumentsOptions o;
  o.score_names = {"reducible_loss", "loss_last"};
  const std::string_view ids[] = {"doc-0", "doc-1"};
  auto read = [&]() { return *store->GetDocuments("c", ids, {}, o); };
  EXPECT_EQ(read().documents[0].scores.at("reducible_loss"), 3.0f);
  EXPECT_FALSE(read().documents[1].scores.contains("reducible_loss"));
  // irreducible set later: reducible_loss follows.
  const float values[] = {2.5f};
  ScoreBatch b;
  b.ids = {"doc-1"};
  b.scores.push_back({"irreducible", values, {}});
  ASSERT_TRUE(store->PutScores("c", b).ok());
  EXPECT_EQ(read().documents[1].scores.at("reducible_loss"), 2.5f);
  // A replace keeps the statistics (irreducible not given: null).
  DocBatchBuilder u({TestDoc{.id = "doc-1"}}, {"irreducible"}, {});
  ASSERT_TRUE(store->UpsertDocuments("c", u.batch()).ok());
  EXPECT_EQ(read().documents[1].scores.at("loss_last"), 5.0f);
  EXPECT_FALSE(read().documents[1].scores.contains("reducible_loss"));
  // A deleted document is skipped.
  const std::string_view del[] = {"doc-0"};
  ASSERT_TRUE(store->DeleteDocuments("c", del).ok());
  absl::StatusOr<ReportResult> r =
      Send(*store, "c", {"s", 2, {Id(0), Id(1)}, {1, 1}, {3}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->num_applied, 1u);
  EXPECT_EQ(r->num_skipped, 1u);
  store.reset();
  store = OpenOrDie(options);
  EXPECT_EQ(read().documents[1].scores.at("loss_last"), 1.0f);
  EXPECT_FALSE(read().documents[1].scores.contains("reducible_loss"));
}

TEST(FeedbackStoreTest, HalfLifeIsValidatedKeptAndUsed) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  std::unique_ptr<Store> store = OpenOrDie(options);
  for (double bad :
       {-1.0, static_cast<double>(NAN), static_cast<double>(INFINITY)}) {
    CollectionSpec spec{"bad"};
    spec.loss_ema_half_life_steps = bad;
    absl::Status s = store->CreateCollection(spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().rfind("loss_ema_half_life_steps:", 0), 0u) << s;
  }
  CollectionSpec spec{"c"};
  spec.loss_ema_half_life_steps = 10;
  ASSERT_TRUE(store->CreateCollection(spec).ok());
  ASSERT_TRUE(store->CreateCollection({"d"}).ok());
  EXPECT_EQ(store->GetCollection("d")->loss_ema_half_life_steps, 1000.0);
  AddDocs(*store, "c", 1);
  ASSERT_TRUE(
      Send(*store, "c", {"s", 1, {Id(0), Id(0)}, {2, 8}, {0, 10}}).ok());
  store.reset();
  store = OpenOrDie(options);
  EXPECT_EQ(store->GetCollection("c")->loss_ema_half_life_steps, 10.0);
  GetDocumentsOptions o;
  o.score_names = {"loss_ema"};
  const std::string_view ids[] = {"doc-0"};
  // Weights 1/2 (step 0) and 1 (step 10).
  EXPECT_NEAR(
      store->GetDocuments("c", ids, {}, o)->documents[0].scores.at("loss_ema"),
      (0.5 * 2 + 8) / 1.5, 1e-6);
}

TEST(FeedbackStoreTest, DomainLossesAreStoredPerPlan) {
  TempDir dir;
  std::unique_ptr<Store> store = OpenOrDie(TestOptions(dir.path()));
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  const int64_t step[] = {4};
  TrainingReport r;
  r.stream_id = "s";
  r.sequence = 1;
  r.plan_id = "p1";
  r.steps = step;
  r.domain_losses = {{"web", 0.5}, {"code", 0.25}};
  ASSERT_TRUE(store->ReportTraining("c", r).ok());
  r.sequence = 2;
  r.domain_losses = {{"web", 0.75}};
  ASSERT_TRUE(store->ReportTraining("c", r).ok());
  absl::StatusOr<std::vector<StoredDomainLoss>> d =
      store->GetDomainLosses("c", "p1");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].domain, "code");
  EXPECT_EQ((*d)[0].excess_loss, 0.25);  // absent from the second: kept
  EXPECT_EQ((*d)[1].domain, "web");
  EXPECT_EQ((*d)[1].excess_loss, 0.75);
  EXPECT_EQ((*d)[1].step, 4);
  EXPECT_TRUE(store->GetDomainLosses("c", "p2")->empty());
  // Deleting the collection drops them with the rest.
  ASSERT_TRUE(store->DeleteCollection("c").ok());
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  EXPECT_TRUE(store->GetDomainLosses("c", "p1")->empty());
}

// Reporters on several streams and readers at once: every report lands
// once, readers see whole messages only (loss_count sums to a multiple of
// the message size). Part of the TSan set (scripts/sanitizers.sh).
TEST(FeedbackStoreTest, ConcurrentReportersAndReaders) {
  TempDir dir;
  StoreOptions options = TestOptions(dir.path());
  options.sync_writes = false;
  options.feedback_checkpoint_reports = 500;
  std::unique_ptr<Store> store = OpenOrDie(options);
  ASSERT_TRUE(store->CreateCollection({"c"}).ok());
  const int num_docs = 64;
  AddDocs(*store, "c", num_docs);
  constexpr int kReporters = 4, kMessages = 40, kPerMessage = 16;
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kReporters; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 1; k <= kMessages; ++k) {
        Message m;
        m.stream = "rank-" + std::to_string(t);
        m.sequence = static_cast<uint64_t>(k);
        for (int i = 0; i < kPerMessage; ++i) {
          m.ids.push_back(Id((t * 7 + k * 3 + i) % num_docs));
          m.losses.push_back(static_cast<float>(i));
        }
        m.steps = {k};
        EXPECT_TRUE(Send(*store, "c", m).ok());
        if (k % 5 == 0) {
          EXPECT_TRUE(Send(*store, "c", m)->duplicate);
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!done.load()) {
        absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
        auto it = snap->columns().scores.find("loss_count");
        if (it == snap->columns().scores.end()) continue;
        double total = 0;
        for (float v : it->second) total += std::isnan(v) ? 0 : v;
        if (std::fmod(total, kPerMessage) != 0) bad_reads.fetch_add(1);
      }
    });
  }
  for (int t = 0; t < kReporters; ++t) threads[t].join();
  done.store(true);
  for (size_t t = kReporters; t < threads.size(); ++t) threads[t].join();
  EXPECT_EQ(bad_reads.load(), 0);
  absl::StatusOr<ColumnsSnapshot> snap = store->ReadColumns("c");
  double total = 0;
  for (float v : snap->columns().scores.find("loss_count")->second) {
    total += std::isnan(v) ? 0 : v;
  }
  EXPECT_EQ(total, kReporters * kMessages * kPerMessage);
}

}  // namespace
}  // namespace winnow::storage
