// The semdedup and d4 scorers through a real winnowd (docs/algorithms.md,
// "SemDeDup" and "D4"): ComputeScores, WaitOperation, then GetScores shows
// duplicate flags equal to the rule computed here over the stored clusters,
// planted pairs found with the 2nd-cluster option, keep ratios reached;
// every bad input gets its status and names its field; a cancelled job and
// a job killed with the process leave no score; a score name held by a
// running job is refused.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::ExpectError;
using testing::ExpectInterruptedByRestart;
using testing::ScoreColumns;
using testing::TempDir;
using testing::WaitDone;
using testing::WaitRunning;
using testing::WinnowdProcess;

constexpr int kDim = 32;
constexpr int kDocs = 1500;
constexpr int kGroups = 6;
// Documents kDocs - kPairs .. kDocs - 1 are near-duplicates of documents
// 0, 7, 14, ...
constexpr int kPairs = 100;

std::string IdOf(int doc) { return "d" + std::to_string(doc); }
int SourceOf(int dup) { return 7 * (dup - (kDocs - kPairs)); }
bool HasEmbedding(int doc) { return doc % 31 != 3; }
bool Deleted(int doc) { return doc % 29 == 4; }
// A document with no stored cluster (its cluster score is left out).
bool Unclustered(int doc) { return doc % 23 == 2; }

struct Corpus {
  std::vector<std::vector<float>> cells;
  std::vector<int> group;
  std::vector<std::vector<double>> centers;  // unit
};

Corpus MakeCorpus() {
  std::mt19937 rng(20261206);
  std::normal_distribution<double> gauss;
  Corpus c;
  c.centers.assign(kGroups, std::vector<double>(kDim));
  for (auto& center : c.centers) {
    double norm = 0;
    for (double& v : center) {
      v = gauss(rng);
      norm += v * v;
    }
    for (double& v : center) v /= std::sqrt(norm);
  }
  for (int i = 0; i < kDocs; ++i) {
    std::vector<float> v(kDim);
    int g;
    if (i < kDocs - kPairs) {
      g = static_cast<int>(rng() % kGroups);
      for (int d = 0; d < kDim; ++d) {
        v[d] = static_cast<float>(c.centers[g][d] + 0.25 * gauss(rng));
      }
    } else {
      g = c.group[SourceOf(i)];
      for (int d = 0; d < kDim; ++d) {
        v[d] = static_cast<float>(c.cells[SourceOf(i)][d] + 0.01 * gauss(rng));
      }
    }
    c.cells.push_back(v);
    c.group.push_back(g);
  }
  return c;
}

double Cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t d = 0; d < a.size(); ++d) {
    dot += double{a[d]} * b[d];
    na += double{a[d]} * a[d];
    nb += double{b[d]} * b[d];
  }
  return dot / std::sqrt(na * nb);
}

double Distance(const Corpus& c, int doc) {
  const std::vector<float> center(c.centers[c.group[doc]].begin(),
                                  c.centers[c.group[doc]].end());
  return static_cast<float>(1 - Cosine(c.cells[doc], center));
}

absl::Status Load(const Client& client, const std::string& collection,
                  const Corpus& c) {
  v1::CreateCollectionRequest create;
  create.mutable_collection()->set_name(collection);
  create.mutable_collection()->set_embedding_dimension(kDim);
  if (absl::Status s = client.CreateCollection(create).status(); !s.ok()) {
    return s;
  }
  // A batch gives an embedding for every document or for none.
  v1::UpsertDocumentsRequest with, without;
  for (int i = 0; i < static_cast<int>(c.cells.size()); ++i) {
    v1::Document* d =
        HasEmbedding(i) ? with.add_documents() : without.add_documents();
    d->set_id(IdOf(i));
    d->set_length(10);
    if (!Unclustered(i)) {
      (*d->mutable_scores())["cluster"] = static_cast<float>(c.group[i]);
      (*d->mutable_scores())["centroid_distance"] =
          static_cast<float>(Distance(c, i));
    }
    if (HasEmbedding(i)) {
      for (const float x : c.cells[i]) d->add_embedding(x);
    }
  }
  WriterOptions opts;
  opts.max_reconnect_attempts = 0;
  DocumentWriter w = client.UpsertDocuments(collection, opts);
  for (v1::UpsertDocumentsRequest* batch : {&with, &without}) {
    if (absl::Status s = w.Write(std::move(*batch)); !s.ok()) return s;
  }
  if (absl::Status s = w.Close(); !s.ok()) return s;
  v1::DeleteDocumentsRequest del;
  del.set_collection(collection);
  for (int i = 0; i < static_cast<int>(c.cells.size()); ++i) {
    if (Deleted(i)) del.add_ids(IdOf(i));
  }
  return client.DeleteDocuments(del).status();
}

// Runs `req` to its end; the operation.
v1::Operation RunToEnd(const Client& client,
                       const v1::ComputeScoresRequest& req) {
  absl::StatusOr<v1::ComputeScoresResponse> started = client.ComputeScores(req);
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return {};
  return WaitDone(client, started->operation().operation_id());
}

// Score `name` of documents 0 .. n-1: doc -> value; NaN for null, absent
// for deleted documents.
std::map<int, float> Scores(const Client& client, const std::string& coll,
                            const std::string& name, int n) {
  v1::GetScoresRequest get;
  get.set_collection(coll);
  get.add_score_names(name);
  get.set_allow_missing(true);
  for (int i = 0; i < n; ++i) get.add_ids(IdOf(i));
  absl::StatusOr<v1::GetScoresResponse> got = client.GetScores(get);
  EXPECT_TRUE(got.ok()) << got.status();
  std::map<int, float> out;
  if (!got.ok() || got->scores_size() != 1) return out;
  const v1::ScoreColumn& col = got->scores(0);
  const std::set<int> nulls(col.null_indexes().begin(),
                            col.null_indexes().end());
  for (int r = 0; r < got->ids_size(); ++r) {
    out[std::stoi(got->ids(r).substr(1))] =
        nulls.contains(r) ? std::numeric_limits<float>::quiet_NaN()
                          : col.values(r);
  }
  return out;
}

class DedupSystemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = WinnowdProcess::Start(dir_->path() + "/data", 0, {}).release();
    ASSERT_NE(server_, nullptr);
    client_ = new Client(*Client::Connect(server_->target()));
    corpus_ = new Corpus(MakeCorpus());
    const absl::Status loaded = Load(*client_, "dd", *corpus_);
    ASSERT_TRUE(loaded.ok()) << loaded;
    ASSERT_TRUE(testing::Create(*client_, "plain").ok());
    // A collection on which a job runs until cancelled: 20,000 random rows
    // with k-means of a million iterations first.
    std::mt19937 rng(5);
    std::normal_distribution<float> gauss;
    Corpus big;
    for (int i = 0; i < 20000; ++i) {
      std::vector<float> v(kDim);
      for (float& x : v) x = gauss(rng);
      big.cells.push_back(v);
    }
    big.group.assign(big.cells.size(), 0);
    big.centers.assign(1, std::vector<double>(kDim, 1.0 / std::sqrt(kDim)));
    ASSERT_TRUE(Load(*client_, "big", big).ok());
  }
  static void TearDownTestSuite() {
    delete client_;
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->Wait(), 0) << server_->Log();
    delete server_;
    delete dir_;
    delete corpus_;
  }

  static v1::ComputeScoresRequest SemDedup(const std::string& coll) {
    v1::ComputeScoresRequest req;
    req.set_collection(coll);
    req.mutable_scorer()->mutable_semdedup();
    return req;
  }
  static v1::ComputeScoresRequest D4(const std::string& coll) {
    v1::ComputeScoresRequest req;
    req.set_collection(coll);
    req.mutable_scorer()->mutable_d4()->set_total_keep_ratio(0.5);
    return req;
  }
  // A job that runs until cancelled.
  static v1::ComputeScoresRequest Long(const std::string& score) {
    v1::ComputeScoresRequest req = SemDedup("big");
    v1::KMeansScorer* km =
        req.mutable_scorer()->mutable_semdedup()->mutable_kmeans();
    km->set_cluster_count(200);
    km->set_max_iterations(1000000);
    km->set_init(v1::CENTROID_INIT_RANDOM);
    req.mutable_scorer()->mutable_semdedup()->set_duplicate_score(score);
    return req;
  }

  static TempDir* dir_;
  static WinnowdProcess* server_;
  static Client* client_;
  static Corpus* corpus_;
};

TempDir* DedupSystemTest::dir_ = nullptr;
WinnowdProcess* DedupSystemTest::server_ = nullptr;
Client* DedupSystemTest::client_ = nullptr;
Corpus* DedupSystemTest::corpus_ = nullptr;

TEST_F(DedupSystemTest, SemDedupOnStoredClustersEqualsTheRule) {
  const v1::Operation op = RunToEnd(*client_, SemDedup("dd"));
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED) << op.ShortDebugString();
  EXPECT_EQ(op.progress_fraction(), 1.0);
  const v1::ComputeScoresResult& result = op.compute_scores_result();
  ASSERT_EQ(result.score_names_size(), 1);
  EXPECT_EQ(result.score_names(0), "semdedup_dup");

  // The rule over the live documents with an embedding and a cluster.
  const Corpus& c = *corpus_;
  std::vector<int> members;
  for (int i = 0; i < kDocs; ++i) {
    if (HasEmbedding(i) && !Deleted(i) && !Unclustered(i)) {
      members.push_back(i);
    }
  }
  std::map<int, double> m;
  for (const int j : members) {
    m[j] = -2;
    const float dj = static_cast<float>(Distance(c, j));
    for (const int i : members) {
      const float di = static_cast<float>(Distance(c, i));
      const bool earlier = di != dj ? di > dj : i < j;
      if (i == j || c.group[i] != c.group[j] || !earlier) continue;
      m[j] = std::max(m[j], Cosine(c.cells[i], c.cells[j]));
    }
  }
  const std::map<int, float> got =
      Scores(*client_, "dd", "semdedup_dup", kDocs);
  int64_t dups = 0;
  for (int i = 0; i < kDocs; ++i) {
    if (Deleted(i)) {
      EXPECT_FALSE(got.contains(i)) << i;
      continue;
    }
    ASSERT_TRUE(got.contains(i)) << i;
    if (!m.contains(i)) {
      EXPECT_TRUE(std::isnan(got.at(i))) << i;
      continue;
    }
    const float want = m[i] > 0.95 ? 1.0f : 0.0f;
    dups += want == 1.0f;
    EXPECT_EQ(got.at(i), want) << i << " M " << m[i];
  }
  // Most planted pairs have both members scored, and are found.
  EXPECT_GE(dups, kPairs / 2);
  EXPECT_EQ(result.document_count(), static_cast<int64_t>(members.size()));
  ASSERT_TRUE(result.has_semdedup());
  EXPECT_EQ(result.semdedup().epsilon(), 0.05);
  EXPECT_EQ(result.semdedup().duplicate_count(), dups);
  EXPECT_DOUBLE_EQ(result.semdedup().keep_ratio(),
                   1.0 - static_cast<double>(dups) / members.size());
}

TEST_F(DedupSystemTest, SemDedupWithKMeansFindsThePlantedPairs) {
  v1::ComputeScoresRequest req = SemDedup("dd");
  v1::SemDedupScorer* s = req.mutable_scorer()->mutable_semdedup();
  s->mutable_kmeans()->set_cluster_count(12);
  s->mutable_kmeans()->set_seed(3);
  s->set_compare_second_cluster(true);
  s->set_duplicate_score("dup2");
  const v1::Operation op = RunToEnd(*client_, req);
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED) << op.ShortDebugString();
  const std::map<int, float> got = Scores(*client_, "dd", "dup2", kDocs);
  int pairs = 0, found = 0, marked = 0;
  for (const auto& [doc, v] : got) marked += v == 1.0f;
  for (int dup = kDocs - kPairs; dup < kDocs; ++dup) {
    const int src = SourceOf(dup);
    if (!got.contains(dup) || !got.contains(src) || std::isnan(got.at(dup)) ||
        std::isnan(got.at(src))) {
      continue;
    }
    ++pairs;
    found += (got.at(dup) == 1.0f) != (got.at(src) == 1.0f);
  }
  ASSERT_GT(pairs, kPairs / 2);
  EXPECT_EQ(found, pairs);
  EXPECT_EQ(marked, found);
  EXPECT_EQ(op.compute_scores_result().semdedup().duplicate_count(), marked);
}

TEST_F(DedupSystemTest, TargetKeepRatioAndD4ReachTheirRatios) {
  v1::ComputeScoresRequest req = SemDedup("dd");
  req.mutable_scorer()->mutable_semdedup()->set_target_keep_ratio(0.8);
  req.mutable_scorer()->mutable_semdedup()->set_duplicate_score("dup80");
  v1::Operation op = RunToEnd(*client_, req);
  ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED) << op.ShortDebugString();
  const v1::SemDedupResult& sr = op.compute_scores_result().semdedup();
  EXPECT_GT(sr.epsilon(), 0.05);
  EXPECT_LT(sr.epsilon(), 1);
  EXPECT_GE(sr.keep_ratio(), 0.8);
  EXPECT_LE(sr.keep_ratio(), 0.81);

  for (const auto pruning :
       {v1::PROTOTYPE_PRUNING_PER_CLUSTER, v1::PROTOTYPE_PRUNING_GLOBAL}) {
    SCOPED_TRACE(static_cast<int>(pruning));
    req = D4("dd");
    v1::D4Scorer* d4 = req.mutable_scorer()->mutable_d4();
    d4->set_dedup_keep_ratio(0.9);
    d4->set_total_keep_ratio(0.6);
    d4->set_pruning(pruning);
    d4->set_pruned_score("d4_" + std::to_string(static_cast<int>(pruning)));
    op = RunToEnd(*client_, req);
    ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED)
        << op.ShortDebugString();
    const std::map<int, float> got =
        Scores(*client_, "dd", d4->pruned_score(), kDocs);
    int scored = 0, kept = 0;
    for (const auto& [doc, v] : got) {
      if (std::isnan(v)) continue;
      ++scored;
      kept += v == 0.0f;
      EXPECT_TRUE(v == 0.0f || v == 1.0f) << doc;
    }
    EXPECT_EQ(scored, op.compute_scores_result().document_count());
    EXPECT_NEAR(kept, 0.6 * scored, 0.01 * scored);
    const v1::D4Result& r = op.compute_scores_result().d4();
    EXPECT_EQ(r.pruned_count(), scored - kept);
    EXPECT_DOUBLE_EQ(r.keep_ratio(), static_cast<double>(kept) / scored);
    EXPECT_GT(r.epsilon(), 0);
  }
}

TEST_F(DedupSystemTest, BadInputNamesTheField) {
  auto refused = [](const v1::ComputeScoresRequest& req) {
    return client_->ComputeScores(req).status();
  };
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  v1::ComputeScoresRequest req;
  for (const double bad :
       {0.0, 1.0, -0.5, 2.0, std::numeric_limits<double>::quiet_NaN()}) {
    req = SemDedup("dd");
    req.mutable_scorer()->mutable_semdedup()->set_epsilon(bad);
    ExpectError(refused(req), invalid, "scorer.semdedup.epsilon");
    req = SemDedup("dd");
    if (bad != 1.0) {
      req.mutable_scorer()->mutable_semdedup()->set_target_keep_ratio(bad);
      ExpectError(refused(req), invalid, "scorer.semdedup.target_keep_ratio");
    }
    req = D4("dd");
    if (bad != 1.0 && bad != 0.0) {
      req.mutable_scorer()->mutable_d4()->set_dedup_keep_ratio(bad);
      ExpectError(refused(req), invalid, "scorer.d4.dedup_keep_ratio");
    }
    req = D4("dd");
    if (bad != 1.0) {
      req.mutable_scorer()->mutable_d4()->set_total_keep_ratio(bad);
      ExpectError(refused(req), invalid, "scorer.d4.total_keep_ratio");
    }
  }
  // total_keep_ratio above dedup_keep_ratio (default 0.75).
  req = D4("dd");
  req.mutable_scorer()->mutable_d4()->set_total_keep_ratio(0.8);
  ExpectError(refused(req), invalid, "scorer.d4.total_keep_ratio");
  req = SemDedup("dd");
  req.mutable_scorer()->mutable_semdedup()->set_compare_second_cluster(true);
  ExpectError(refused(req), invalid, "scorer.semdedup.compare_second_cluster");
  req = SemDedup("dd");
  req.mutable_scorer()->mutable_semdedup()->set_duplicate_score("domain");
  ExpectError(refused(req), invalid, "scorer.semdedup.duplicate_score");
  req = D4("dd");
  req.mutable_scorer()->mutable_d4()->set_pruned_score("Bad-Name");
  ExpectError(refused(req), invalid, "scorer.d4.pruned_score");
  req = SemDedup("dd");
  req.mutable_scorer()->mutable_semdedup()->mutable_kmeans()->set_cluster_count(
      -1);
  ExpectError(refused(req), invalid, "scorer.semdedup.kmeans.cluster_count");
  req = D4("dd");
  req.mutable_scorer()->mutable_d4()->mutable_kmeans()->set_cluster_count(
      kDocs + 1);
  ExpectError(refused(req), invalid, "scorer.d4.kmeans.cluster_count");
  // No stored clusters under that name.
  req = SemDedup("dd");
  req.mutable_scorer()->mutable_semdedup()->set_cluster_score("nothing");
  ExpectError(refused(req), absl::StatusCode::kFailedPrecondition,
              "scorer.semdedup.cluster_score");
  // A collection without embeddings, and one that does not exist.
  ExpectError(refused(SemDedup("plain")), absl::StatusCode::kFailedPrecondition,
              "plain");
  ExpectError(refused(D4("plain")), absl::StatusCode::kFailedPrecondition,
              "plain");
  ExpectError(refused(D4("missing")), absl::StatusCode::kNotFound, "missing");
}

TEST_F(DedupSystemTest, CancelLeavesNoScoreAndANameInUseIsRefused) {
  absl::StatusOr<v1::ComputeScoresResponse> started =
      client_->ComputeScores(Long("held"));
  ASSERT_TRUE(started.ok()) << started.status();
  const std::string id = started->operation().operation_id();
  ASSERT_TRUE(WaitRunning(*client_, id));
  v1::ComputeScoresRequest second = D4("big");
  second.mutable_scorer()->mutable_d4()->set_pruned_score("held");
  ExpectError(client_->ComputeScores(second).status(),
              absl::StatusCode::kFailedPrecondition, "held");
  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(id);
  ASSERT_TRUE(client_->CancelOperation(cancel).ok());
  const v1::Operation op = WaitDone(*client_, id);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CANCELLED) << op.ShortDebugString();
  EXPECT_FALSE(ScoreColumns(*client_, "big", IdOf(0)).contains("held"));
}

TEST(DedupRestartTest, SigkillDuringAJobLeavesNoScore) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::string id;
  {
    auto server = WinnowdProcess::Start(data, 0, {});
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    Corpus c = MakeCorpus();
    const absl::Status loaded = Load(*client, "dd", c);
    ASSERT_TRUE(loaded.ok()) << loaded;
    v1::ComputeScoresRequest req;
    req.set_collection("dd");
    v1::D4Scorer* d4 = req.mutable_scorer()->mutable_d4();
    d4->set_total_keep_ratio(0.5);
    d4->set_pruned_score("killed");
    d4->mutable_kmeans()->set_cluster_count(40);
    d4->mutable_kmeans()->set_max_iterations(1000000);
    absl::StatusOr<v1::ComputeScoresResponse> started =
        client->ComputeScores(req);
    ASSERT_TRUE(started.ok()) << started.status();
    id = started->operation().operation_id();
    ASSERT_TRUE(WaitRunning(*client, id));
    server->Signal(SIGKILL);
    server->Wait();
  }
  auto server = WinnowdProcess::Start(data, 0, {});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ExpectInterruptedByRestart(*client, id);
  EXPECT_FALSE(ScoreColumns(*client, "dd", IdOf(0)).contains("killed"));
  EXPECT_TRUE(ScoreColumns(*client, "dd", IdOf(0)).contains("cluster"));
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
}  // namespace winnow
