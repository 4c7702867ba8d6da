// The kmeans scorer through a real winnowd (docs/algorithms.md, "k-means"):
// ComputeScores, WaitOperation, then GetScores shows clusters and
// distances that agree with centroids recomputed here from the embeddings;
// every bad input gets its status and names its field; a cancelled job and
// a job killed with the process leave no score; a score name held by a
// running job is refused.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
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

constexpr int kDim = 8;
constexpr int kDocs = 2400;
constexpr int kGroups = 6;

// Ids that do not sort like ordinals (distinct below 100,003).
std::string IdOf(int doc) {
  return "doc-" + std::to_string((doc * 37) % 100003);
}

bool HasEmbedding(int doc) { return doc % 17 != 0; }
bool Deleted(int doc) { return doc % 19 == 5; }
float Quality(int doc) { return static_cast<float>(doc % 10) / 10; }
// The request's filter below: quality > 0.25.
bool Matches(int doc) { return Quality(doc) > 0.25f; }

// Writes `docs` documents to `collection`, each with embedding `cell(i)`
// unless has(i) is false.
template <typename CellFn, typename HasFn>
void Write(const Client& client, const std::string& collection, int docs,
           const CellFn& cells, const HasFn& has) {
  v1::UpsertDocumentsRequest with, without;
  for (int i = 0; i < docs; ++i) {
    v1::Document* d = has(i) ? with.add_documents() : without.add_documents();
    d->set_id(IdOf(i));
    d->set_length(10);
    (*d->mutable_scores())["quality"] = Quality(i);
    if (!has(i)) continue;
    const std::vector<float> v = cells(i);
    for (float x : v) d->add_embedding(x);
  }
  WriterOptions opts;
  opts.max_reconnect_attempts = 0;
  DocumentWriter w = client.UpsertDocuments(collection, opts);
  for (v1::UpsertDocumentsRequest* batch : {&with, &without}) {
    if (batch->documents_size() == 0) continue;
    const absl::Status written = w.Write(std::move(*batch));
    ASSERT_TRUE(written.ok()) << written;
  }
  const absl::Status closed = w.Close();
  ASSERT_TRUE(closed.ok()) << closed;
}

absl::Status CreateWithEmbeddings(const Client& client, const std::string& name,
                                  int dim) {
  v1::CreateCollectionRequest req;
  req.mutable_collection()->set_name(name);
  req.mutable_collection()->set_embedding_dimension(dim);
  return client.CreateCollection(req).status();
}

// A new collection of `docs` documents with standard normal embeddings.
void WriteGaussian(const Client& client, const std::string& collection,
                   int docs, int dim, uint32_t seed) {
  ASSERT_TRUE(CreateWithEmbeddings(client, collection, dim).ok());
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss;
  Write(
      client, collection, docs,
      [&](int) {
        std::vector<float> v(dim);
        for (float& x : v) x = gauss(rng);
        return v;
      },
      [](int) { return true; });
}

class KMeansSystemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = WinnowdProcess::Start(dir_->path() + "/data", 0, {}).release();
    ASSERT_NE(server_, nullptr);
    client_ = new Client(*Client::Connect(server_->target()));
    // Planted groups: a random direction each, members near it at random
    // lengths (the scorer works on unit rows).
    std::mt19937 rng(20261205);
    std::normal_distribution<float> gauss;
    std::vector<std::vector<float>> centers(kGroups, std::vector<float>(kDim));
    for (auto& c : centers) {
      for (float& v : c) v = gauss(rng);
    }
    cells_ = new std::vector<std::vector<float>>(kDocs);
    group_ = new std::vector<int>(kDocs);
    for (int i = 0; i < kDocs; ++i) {
      const int g = static_cast<int>(rng() % kGroups);
      (*group_)[i] = g;
      const float scale = 0.5f + static_cast<float>(rng() % 100) / 20;
      for (int d = 0; d < kDim; ++d) {
        (*cells_)[i].push_back(scale * (centers[g][d] + 0.08f * gauss(rng)));
      }
    }
    ASSERT_TRUE(CreateWithEmbeddings(*client_, "km", kDim).ok());
    Write(
        *client_, "km", kDocs, [](int i) { return (*cells_)[i]; },
        HasEmbedding);
    v1::DeleteDocumentsRequest del;
    del.set_collection("km");
    for (int i = 0; i < kDocs; ++i) {
      if (Deleted(i)) del.add_ids(IdOf(i));
    }
    ASSERT_TRUE(client_->DeleteDocuments(del).ok());
    ASSERT_TRUE(testing::Create(*client_, "plain").ok());
    // A collection on which a job runs long: 30,000 random rows, k = 300
    // and a million iterations (until cancelled).
    WriteGaussian(*client_, "big", 30000, 32, 11);
  }
  static void TearDownTestSuite() {
    delete client_;
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->Wait(), 0) << server_->Log();
    delete server_;
    delete dir_;
    delete cells_;
    delete group_;
  }

  static v1::ComputeScoresRequest Request(const std::string& collection,
                                          int k) {
    v1::ComputeScoresRequest req;
    req.set_collection(collection);
    v1::KMeansScorer* km = req.mutable_scorer()->mutable_kmeans();
    km->set_cluster_count(k);
    km->set_seed(7);
    return req;
  }

  // A job that runs until cancelled, on "big".
  static v1::ComputeScoresRequest LongRequest() {
    v1::ComputeScoresRequest req = Request("big", 300);
    req.mutable_scorer()->mutable_kmeans()->set_max_iterations(1000000);
    req.mutable_scorer()->mutable_kmeans()->set_init(v1::CENTROID_INIT_RANDOM);
    return req;
  }

  static TempDir* dir_;
  static WinnowdProcess* server_;
  static Client* client_;
  static std::vector<std::vector<float>>* cells_;
  static std::vector<int>* group_;
};

TempDir* KMeansSystemTest::dir_ = nullptr;
WinnowdProcess* KMeansSystemTest::server_ = nullptr;
Client* KMeansSystemTest::client_ = nullptr;
std::vector<std::vector<float>>* KMeansSystemTest::cells_ = nullptr;
std::vector<int>* KMeansSystemTest::group_ = nullptr;

TEST_F(KMeansSystemTest, ScoresAgreeWithCentroidsRecomputedFromMembers) {
  for (const auto init :
       {v1::CENTROID_INIT_KMEANS_PLUS_PLUS, v1::CENTROID_INIT_RANDOM}) {
    SCOPED_TRACE(static_cast<int>(init));
    v1::ComputeScoresRequest req = Request("km", kGroups);
    req.set_filter("quality > 0.25");
    v1::KMeansScorer* km = req.mutable_scorer()->mutable_kmeans();
    km->set_init(init);
    km->set_max_iterations(40);
    km->set_tolerance(1e-9);
    const std::string cluster =
        init == v1::CENTROID_INIT_RANDOM ? "c_rand" : "cluster";
    const std::string distance =
        init == v1::CENTROID_INIT_RANDOM ? "d_rand" : "centroid_distance";
    if (init == v1::CENTROID_INIT_RANDOM) {
      km->set_cluster_score(cluster);
      km->set_distance_score(distance);
    }
    absl::StatusOr<v1::ComputeScoresResponse> started =
        client_->ComputeScores(req);
    ASSERT_TRUE(started.ok()) << started.status();
    const v1::Operation op =
        WaitDone(*client_, started->operation().operation_id());
    ASSERT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED)
        << op.ShortDebugString();
    const v1::ComputeScoresResult& result = op.compute_scores_result();
    ASSERT_EQ(result.score_names_size(), 2);
    EXPECT_EQ(result.score_names(0), cluster);
    EXPECT_EQ(result.score_names(1), distance);

    // Every document's scores.
    v1::GetScoresRequest get;
    get.set_collection("km");
    get.add_score_names(cluster);
    get.add_score_names(distance);
    get.set_allow_missing(true);
    for (int i = 0; i < kDocs; ++i) get.add_ids(IdOf(i));
    absl::StatusOr<v1::GetScoresResponse> got = client_->GetScores(get);
    ASSERT_TRUE(got.ok()) << got.status();
    std::map<std::string, int> doc_of;
    for (int i = 0; i < kDocs; ++i) doc_of[IdOf(i)] = i;
    std::map<int, std::pair<int, float>> scored;  // doc -> (cluster, dist)
    const v1::ScoreColumn& cc = got->scores(0);
    const v1::ScoreColumn& dc = got->scores(1);
    std::set<int> null_c(cc.null_indexes().begin(), cc.null_indexes().end());
    std::set<int> null_d(dc.null_indexes().begin(), dc.null_indexes().end());
    for (int r = 0; r < got->ids_size(); ++r) {
      const int doc = doc_of.at(got->ids(r));
      EXPECT_FALSE(Deleted(doc));
      const bool want = HasEmbedding(doc) && Matches(doc);
      EXPECT_EQ(null_c.count(r) == 0, want) << "doc " << doc;
      EXPECT_EQ(null_d.count(r) == 0, want) << "doc " << doc;
      if (!want || null_c.count(r) != 0) continue;
      const float c = cc.values(r);
      ASSERT_EQ(c, std::floor(c));
      ASSERT_GE(c, 0);
      ASSERT_LT(c, kGroups);
      scored[doc] = {static_cast<int>(c), dc.values(r)};
    }
    EXPECT_EQ(static_cast<int64_t>(scored.size()), result.document_count());

    // Centroids: the normalized means of each cluster's unit rows.
    std::vector<std::vector<double>> sum(kGroups, std::vector<double>(kDim));
    std::vector<int64_t> size(kGroups, 0);
    auto unit = [](const std::vector<float>& v) {
      double n = 0;
      for (float x : v) n += double{x} * x;
      std::vector<double> u;
      for (float x : v) u.push_back(x / std::sqrt(n));
      return u;
    };
    for (const auto& [doc, cd] : scored) {
      const std::vector<double> u = unit((*cells_)[doc]);
      for (int d = 0; d < kDim; ++d) sum[cd.first][d] += u[d];
      ++size[cd.first];
    }
    double total = 0;
    std::map<int, int> group_to_cluster;
    for (const auto& [doc, cd] : scored) {
      const std::vector<double> u = unit((*cells_)[doc]);
      double dot = 0, norm = 0;
      for (int d = 0; d < kDim; ++d) {
        dot += u[d] * sum[cd.first][d];
        norm += sum[cd.first][d] * sum[cd.first][d];
      }
      const double want = 1 - dot / std::sqrt(norm);
      EXPECT_NEAR(cd.second, want, 2e-6) << "doc " << doc;
      total += cd.second;
      // The planted groups, up to the labels (k-means++ finds them; a
      // random start may put two centroids in one group).
      auto [it, fresh] = group_to_cluster.emplace((*group_)[doc], cd.first);
      if (init == v1::CENTROID_INIT_KMEANS_PLUS_PLUS) {
        EXPECT_EQ(it->second, cd.first) << "doc " << doc;
      }
    }
    if (init == v1::CENTROID_INIT_KMEANS_PLUS_PLUS) {
      EXPECT_EQ(group_to_cluster.size(), static_cast<size_t>(kGroups));
    }
    ASSERT_TRUE(result.has_kmeans());
    EXPECT_GE(result.kmeans().iteration_count(), 2);
    EXPECT_LT(result.kmeans().iteration_count(), 40);
    EXPECT_NEAR(result.kmeans().mean_distance(),
                total / static_cast<double>(scored.size()), 1e-9);
    EXPECT_EQ(result.kmeans().min_cluster_size(),
              *std::min_element(size.begin(), size.end()));
    EXPECT_EQ(result.kmeans().max_cluster_size(),
              *std::max_element(size.begin(), size.end()));
  }
}

TEST_F(KMeansSystemTest, BadInputNamesTheField) {
  auto refused = [](const v1::ComputeScoresRequest& req) {
    return client_->ComputeScores(req).status();
  };
  v1::ComputeScoresRequest req = Request("km", 0);
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.cluster_count");
  req = Request("km", -3);
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.cluster_count");
  // More clusters than documents with an embedding (live, matching).
  int with_embedding = 0, matching = 0;
  for (int i = 0; i < kDocs; ++i) {
    if (!HasEmbedding(i) || Deleted(i)) continue;
    ++with_embedding;
    if (Matches(i)) ++matching;
  }
  req = Request("km", with_embedding + 1);
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.cluster_count");
  // Among the documents that match the filter fewer have an embedding than
  // ComputeScores can count without loading the matrix: the job checks
  // again and fails, naming the field.
  req = Request("km", matching + 1);
  req.set_filter("quality > 0.25");
  absl::StatusOr<v1::ComputeScoresResponse> started =
      client_->ComputeScores(req);
  ASSERT_TRUE(started.ok()) << started.status();
  const v1::Operation failed =
      WaitDone(*client_, started->operation().operation_id());
  EXPECT_EQ(failed.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(failed.error().code(),
            static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_NE(failed.error().message().find("scorer.kmeans.cluster_count"),
            std::string::npos)
      << failed.error().message();
  // One fewer runs.
  req = Request("km", matching);
  req.set_filter("quality > 0.25");
  req.mutable_scorer()->mutable_kmeans()->set_cluster_score("every_doc");
  req.mutable_scorer()->mutable_kmeans()->set_distance_score("every_dist");
  started = client_->ComputeScores(req);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(WaitDone(*client_, started->operation().operation_id()).state(),
            v1::OPERATION_STATE_SUCCEEDED);
  // More clusters than the documents the filter matches at all is refused
  // at once.
  int matching_all = 0;
  for (int i = 0; i < kDocs; ++i) matching_all += !Deleted(i) && Matches(i);
  req = Request("km", matching_all + 1);
  req.set_filter("quality > 0.25");
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.cluster_count");
  req = Request("km", 3);
  req.mutable_scorer()->mutable_kmeans()->set_max_iterations(-1);
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.max_iterations");
  for (const double bad : {-0.1, std::numeric_limits<double>::quiet_NaN(),
                           std::numeric_limits<double>::infinity()}) {
    req = Request("km", 3);
    req.mutable_scorer()->mutable_kmeans()->set_tolerance(bad);
    ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
                "scorer.kmeans.tolerance");
  }
  for (const int64_t bad : {-1, 2}) {
    req = Request("km", 3);
    req.mutable_scorer()->mutable_kmeans()->set_training_sample_count(bad);
    ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
                "scorer.kmeans.training_sample_count");
  }
  req = Request("km", 3);
  req.mutable_scorer()->mutable_kmeans()->set_cluster_score("domain");
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.cluster_score");
  req = Request("km", 3);
  req.mutable_scorer()->mutable_kmeans()->set_distance_score("Bad-Name");
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument,
              "scorer.kmeans.distance_score");
  req = Request("km", 3);
  req.mutable_scorer()->mutable_kmeans()->set_cluster_score("same");
  req.mutable_scorer()->mutable_kmeans()->set_distance_score("same");
  ExpectError(refused(req), absl::StatusCode::kInvalidArgument, "same");
  // A collection without embeddings.
  req = Request("plain", 1);
  ExpectError(refused(req), absl::StatusCode::kFailedPrecondition, "plain");
  req = Request("missing", 1);
  ExpectError(refused(req), absl::StatusCode::kNotFound, "missing");
}

TEST_F(KMeansSystemTest, CancelLeavesNoScoreAndANameInUseIsRefused) {
  v1::ComputeScoresRequest req = LongRequest();
  req.mutable_scorer()->mutable_kmeans()->set_cluster_score("long_cluster");
  req.mutable_scorer()->mutable_kmeans()->set_distance_score("long_distance");
  absl::StatusOr<v1::ComputeScoresResponse> started =
      client_->ComputeScores(req);
  ASSERT_TRUE(started.ok()) << started.status();
  const std::string id = started->operation().operation_id();
  ASSERT_TRUE(WaitRunning(*client_, id, /*min_items_done=*/1));
  // A second job writing one of its columns is refused, naming it.
  v1::ComputeScoresRequest second = Request("big", 3);
  second.mutable_scorer()->mutable_kmeans()->set_distance_score(
      "long_distance");
  ExpectError(client_->ComputeScores(second).status(),
              absl::StatusCode::kFailedPrecondition, "long_distance");

  v1::CancelOperationRequest cancel;
  cancel.set_operation_id(id);
  ASSERT_TRUE(client_->CancelOperation(cancel).ok());
  const v1::Operation op = WaitDone(*client_, id);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_CANCELLED) << op.ShortDebugString();
  const std::set<std::string> columns = ScoreColumns(*client_, "big", IdOf(1));
  EXPECT_EQ(columns.count("long_cluster"), 0u);
  EXPECT_EQ(columns.count("long_distance"), 0u);
  // Once it is done the names are free again.
  second = Request("big", 3);
  second.mutable_scorer()->mutable_kmeans()->set_distance_score(
      "long_distance");
  second.mutable_scorer()->mutable_kmeans()->set_max_iterations(2);
  started = client_->ComputeScores(second);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(WaitDone(*client_, started->operation().operation_id()).state(),
            v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(ScoreColumns(*client_, "big", IdOf(1)).count("long_distance"), 1u);
}

TEST(KMeansRestartTest, SigkillMidJobThenRestartShowsFailedAndNoScores) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::string id;
  {
    auto server = WinnowdProcess::Start(data, 0, {});
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    WriteGaussian(*client, "big", 20000, 16, 3);
    v1::ComputeScoresRequest req;
    req.set_collection("big");
    v1::KMeansScorer* km = req.mutable_scorer()->mutable_kmeans();
    km->set_cluster_count(200);
    km->set_max_iterations(1000000);
    absl::StatusOr<v1::ComputeScoresResponse> started =
        client->ComputeScores(req);
    ASSERT_TRUE(started.ok()) << started.status();
    id = started->operation().operation_id();
    ASSERT_TRUE(WaitRunning(*client, id, /*min_items_done=*/1));
    server->Signal(SIGKILL);
    server->Wait();
  }
  auto server = WinnowdProcess::Start(data, 0, {});
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ExpectInterruptedByRestart(*client, id);
  const std::set<std::string> columns = ScoreColumns(*client, "big", IdOf(1));
  EXPECT_EQ(columns.count("cluster"), 0u);
  EXPECT_EQ(columns.count("centroid_distance"), 0u);
  EXPECT_EQ(columns.count("quality"), 1u);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
}  // namespace winnow
