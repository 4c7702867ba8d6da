// winnowctl's commands on embeddings and long jobs: flags to requests
// (nearest, compute), and waiting for operations with progress, cancel on
// interrupt and exit status, against the in-process fake server.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "client/winnowctl/commands.h"
#include "client/winnowctl/operations.h"
#include "tests/client/fake_server.h"
#include "tests/client/npy_files.h"

namespace winnow::ctl {
namespace {

using testing_npy::Float32Npy;
using testing_npy::WriteTemp;

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// --- compute: flags to the Scorer ---

TEST(ComputeRequestTest, KMeansCarriesEveryField) {
  ComputeArgs a;
  a.kind = "kmeans";
  a.collection = "web";
  a.filter = "lang == \"en\"";
  a.request_id = "r-1";
  a.kmeans = {8, 15, 42, 1e-4, "random", 1000};
  a.cluster_score = "c";
  a.distance_score = "d";
  absl::StatusOr<v1::ComputeScoresRequest> r = BuildComputeRequest(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->collection(), "web");
  EXPECT_EQ(r->filter(), "lang == \"en\"");
  EXPECT_EQ(r->request_id(), "r-1");
  const v1::KMeansScorer& k = r->scorer().kmeans();
  EXPECT_EQ(k.cluster_count(), 8);
  EXPECT_EQ(k.max_iterations(), 15);
  EXPECT_EQ(k.seed(), 42u);
  EXPECT_EQ(k.tolerance(), 1e-4);
  EXPECT_EQ(k.init(), v1::CENTROID_INIT_RANDOM);
  EXPECT_EQ(k.training_sample_count(), 1000);
  EXPECT_EQ(k.cluster_score(), "c");
  EXPECT_EQ(k.distance_score(), "d");
  a.kmeans.init = "kmeans++";
  EXPECT_EQ(BuildComputeRequest(a)->scorer().kmeans().init(),
            v1::CENTROID_INIT_KMEANS_PLUS_PLUS);
  a.kmeans = KMeansArgs();
  a.kmeans.clusters = 3;
  EXPECT_EQ(BuildComputeRequest(a)->scorer().kmeans().init(),
            v1::CENTROID_INIT_UNSPECIFIED);
}

TEST(ComputeRequestTest, SemDedupClustersFirstOnlyWithKMeansFlags) {
  ComputeArgs a;
  a.kind = "semdedup";
  a.collection = "web";
  a.epsilon = 0.07;
  a.duplicate_score = "dup";
  a.cluster_score = "c";
  a.distance_score = "d";
  absl::StatusOr<v1::ComputeScoresRequest> r = BuildComputeRequest(a);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::SemDedupScorer& s = r->scorer().semdedup();
  EXPECT_EQ(s.epsilon(), 0.07);
  EXPECT_FALSE(s.has_kmeans());
  EXPECT_EQ(s.cluster_score(), "c");
  EXPECT_EQ(s.distance_score(), "d");
  EXPECT_EQ(s.duplicate_score(), "dup");

  a.epsilon.reset();
  a.keep_ratio = 0.8;
  a.kmeans.clusters = 16;
  a.kmeans.seed = 5;
  r = BuildComputeRequest(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->scorer().semdedup().target_keep_ratio(), 0.8);
  EXPECT_EQ(r->scorer().semdedup().kmeans().cluster_count(), 16);
  EXPECT_EQ(r->scorer().semdedup().kmeans().seed(), 5u);
  // A clustering inside semdedup writes no columns (the server refuses
  // names there), and the 2nd-cluster option is off unless asked for.
  EXPECT_EQ(r->scorer().semdedup().kmeans().cluster_score(), "");
  EXPECT_EQ(r->scorer().semdedup().kmeans().distance_score(), "");
  EXPECT_FALSE(r->scorer().semdedup().compare_second_cluster());
  a.compare_second_cluster = true;
  r = BuildComputeRequest(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->scorer().semdedup().compare_second_cluster());
  ComputeArgs k;
  k.kind = "kmeans";
  k.collection = "web";
  k.compare_second_cluster = true;
  k.kmeans.clusters = 4;
  EXPECT_FALSE(BuildComputeRequest(k).ok());  // a semdedup flag
}

TEST(ComputeRequestTest, D4AndExactDedupAndTargetSimilarity) {
  ComputeArgs d4;
  d4.kind = "d4";
  d4.dedup_keep_ratio = 0.7;
  d4.total_keep_ratio = 0.5;
  d4.pruning = "global";
  d4.pruned_score = "p";
  absl::StatusOr<v1::ComputeScoresRequest> r = BuildComputeRequest(d4);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->scorer().d4().dedup_keep_ratio(), 0.7);
  EXPECT_EQ(r->scorer().d4().total_keep_ratio(), 0.5);
  EXPECT_EQ(r->scorer().d4().pruning(), v1::PROTOTYPE_PRUNING_GLOBAL);
  EXPECT_EQ(r->scorer().d4().pruned_score(), "p");
  EXPECT_FALSE(r->scorer().d4().has_kmeans());
  d4.pruning = "per-cluster";
  d4.kmeans.clusters = 4;
  d4.kmeans.iterations = 3;
  r = BuildComputeRequest(d4);
  EXPECT_EQ(r->scorer().d4().pruning(), v1::PROTOTYPE_PRUNING_PER_CLUSTER);
  EXPECT_EQ(r->scorer().d4().kmeans().max_iterations(), 3);

  ComputeArgs exact;
  exact.kind = "exact-dedup";
  exact.duplicate_score = "x";
  EXPECT_EQ(
      BuildComputeRequest(exact)->scorer().exact_dedup().duplicate_score(),
      "x");

  ComputeArgs t;
  t.kind = "target-similarity";
  t.target_ids = {"a", "b"};
  t.target_ids_file = WriteTemp("c\n\n  d  \n", ".txt");
  t.target_vectors = WriteTemp(Float32Npy(2, 2, {1, 0, 0, 1}));
  t.centroids = 2;
  t.kmeans.seed = 9;
  t.similarity_score = "sim";
  r = BuildComputeRequest(t);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::TargetSimilarityScorer& ts = r->scorer().target_similarity();
  EXPECT_EQ(
      std::vector<std::string>(ts.target_ids().begin(), ts.target_ids().end()),
      (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(std::vector<float>(ts.target_vectors().begin(),
                               ts.target_vectors().end()),
            (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(ts.centroid_count(), 2);
  EXPECT_EQ(ts.seed(), 9u);
  EXPECT_EQ(ts.similarity_score(), "sim");
}

TEST(ComputeRequestTest, BadFlagsAreUsageErrorsNamingTheFlag) {
  auto error = [](ComputeArgs a) {
    absl::StatusOr<v1::ComputeScoresRequest> r = BuildComputeRequest(a);
    EXPECT_TRUE(IsUsageError(r.status())) << r.status();
    return std::string(r.status().message());
  };
  ComputeArgs a;
  a.kind = "pagerank";
  EXPECT_TRUE(Has(error(a), "not 'pagerank'"));
  a.kind = "kmeans";
  EXPECT_EQ(error(a), "compute kmeans needs --clusters");
  a.kmeans.clusters = 2;
  a.epsilon = 0.1;
  EXPECT_TRUE(Has(error(a), "--epsilon does not apply to compute kmeans"));
  a.epsilon.reset();
  a.kmeans.init = "spectral";
  EXPECT_TRUE(Has(error(a), "--init must be kmeans++ or random"));

  ComputeArgs s;
  s.kind = "semdedup";
  s.epsilon = 0.1;
  s.keep_ratio = 0.5;
  EXPECT_EQ(error(s), "--epsilon and --keep-ratio exclude each other");
  s.keep_ratio.reset();
  s.kmeans.iterations = 4;
  EXPECT_TRUE(Has(error(s), "needs --clusters"));

  ComputeArgs d;
  d.kind = "d4";
  d.pruning = "local";
  EXPECT_TRUE(Has(error(d), "--pruning must be per-cluster or global"));
  d.pruning = "";
  d.duplicate_score = "x";
  EXPECT_TRUE(Has(error(d), "--duplicate-score does not apply to compute d4"));

  ComputeArgs t;
  t.kind = "target-similarity";
  EXPECT_TRUE(Has(error(t), "needs a target"));
  t.target_ids = {"a"};
  t.kmeans.clusters = 2;
  EXPECT_TRUE(Has(error(t), "--clusters does not apply"));

  ComputeArgs e;
  e.kind = "exact-dedup";
  e.cluster_score = "c";
  EXPECT_TRUE(Has(error(e), "--cluster-score does not apply"));
}

// --- nearest ---

TEST(NearestRequestTest, IdsVectorsAndOptions) {
  NearestArgs a;
  a.collection = "vec";
  a.ids = {"d1", "d2"};
  a.vector_file = WriteTemp(Float32Npy(1, 2, {0.5f, -1}));
  a.k = 3;
  a.filter = "length > 2";
  a.metric = "dot";
  a.include_self = true;
  absl::StatusOr<v1::NearestRequest> r = BuildNearestRequest(a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->collection(), "vec");
  EXPECT_EQ(r->query_ids_size(), 2);
  EXPECT_EQ(
      std::vector<float>(r->query_vectors().begin(), r->query_vectors().end()),
      (std::vector<float>{0.5f, -1}));
  EXPECT_EQ(r->k(), 3);
  EXPECT_EQ(r->filter(), "length > 2");
  EXPECT_EQ(r->metric(), v1::SIMILARITY_METRIC_DOT_PRODUCT);
  EXPECT_TRUE(r->include_self());
  a.metric = "cosine";
  EXPECT_EQ(BuildNearestRequest(a)->metric(), v1::SIMILARITY_METRIC_COSINE);

  NearestArgs none;
  none.collection = "vec";
  EXPECT_TRUE(IsUsageError(BuildNearestRequest(none).status()));
  a.k = 0;
  EXPECT_EQ(BuildNearestRequest(a).status().message(), "-k must be at least 1");
  a.k = 1;
  a.metric = "l2";
  EXPECT_TRUE(IsUsageError(BuildNearestRequest(a).status()));
  a.metric = "cosine";
  a.vector_file = WriteTemp("not numpy");
  EXPECT_TRUE(Has(std::string(BuildNearestRequest(a).status().message()),
                  "not a .npy file"));
}

v1::NearestResponse TwoQueries() {
  v1::NearestResponse response;
  v1::NearestResult* by_vector = response.add_results();
  v1::Neighbor* n = by_vector->add_neighbors();
  n->set_id("a");
  n->set_ordinal(0);
  n->set_similarity(0.5f);
  v1::NearestResult* by_id = response.add_results();
  by_id->set_query_id("q");
  n = by_id->add_neighbors();
  n->set_id("b");
  n->set_ordinal(7);
  n->set_similarity(1);
  n = by_id->add_neighbors();
  n->set_id("c");
  n->set_ordinal(2);
  n->set_similarity(-0.25f);
  n = by_id->add_neighbors();
  n->set_id("e");
  n->set_ordinal(3);
  n->set_similarity(0.1f);  // 0.100000001490116 as a double
  return response;
}

TEST(NearestFormatTest, TextAndJsonl) {
  EXPECT_EQ(FormatNearestText(TwoQueries()),
            "#0\ta\t0.5\nq\tb\t1\nq\tc\t-0.25\nq\te\t0.1\n");
  EXPECT_EQ(
      FormatNearestJson(TwoQueries()),
      R"({"query_row":0,"neighbors":[{"id":"a","ordinal":0,"similarity":0.5}]})"
      "\n"
      R"({"query_id":"q","neighbors":[{"id":"b","ordinal":7,"similarity":1.0},)"
      R"({"id":"c","ordinal":2,"similarity":-0.25},)"
      R"({"id":"e","ordinal":3,"similarity":0.1}]})"
      "\n");
}

// --- operations against the fake server ---

v1::Operation Op(v1::OperationState state, double fraction) {
  v1::Operation op;
  op.set_operation_id("op-7");
  op.set_kind(v1::OPERATION_KIND_COMPUTE_SCORES);
  op.set_collection("web");
  op.set_state(state);
  op.set_progress_fraction(fraction);
  op.set_done(state >= v1::OPERATION_STATE_SUCCEEDED);
  op.set_phase("hashing");
  op.set_items_done(static_cast<int64_t>(fraction * 1000));
  op.set_items_total(1000);
  op.set_item_unit("documents");
  return op;
}

v1::Operation Succeeded() {
  v1::Operation op = Op(v1::OPERATION_STATE_SUCCEEDED, 1);
  op.mutable_start_time()->set_seconds(100);
  op.mutable_end_time()->set_seconds(101);
  op.mutable_end_time()->set_nanos(500000000);
  v1::ComputeScoresResult* r = op.mutable_compute_scores_result();
  r->add_score_names("exact_dup");
  r->set_document_count(1000);
  r->mutable_exact_dedup()->set_duplicate_count(3);
  r->mutable_exact_dedup()->set_distinct_count(997);
  return op;
}

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override { server_.Start(); }

  Client MakeClient() {
    absl::StatusOr<Client> client = Client::Connect(server_.target());
    EXPECT_TRUE(client.ok());
    return *std::move(client);
  }

  void Script(std::vector<v1::Operation> updates, bool hold = false) {
    absl::MutexLock lock(&state_.mu);
    state_.updates = std::move(updates);
    state_.hold = hold;
  }

  int Waits() {
    absl::MutexLock lock(&state_.mu);
    return state_.waits;
  }

  static ComputeArgs ExactDedup() {
    ComputeArgs a;
    a.kind = "exact-dedup";
    a.collection = "web";
    return a;
  }

  fake::FakeState state_;
  fake::FakeServer server_{&state_};
};

TEST_F(JobsTest, ComputeWaitsWithProgressAndPrintsTheResult) {
  Script({Op(v1::OPERATION_STATE_PENDING, 0),
          Op(v1::OPERATION_STATE_RUNNING, 0.5), Succeeded()});
  std::ostringstream out, progress;
  WaitOptions wait;
  wait.progress = &progress;
  wait.plain_interval = absl::ZeroDuration();
  absl::Status s = RunCompute(MakeClient(), ExactDedup(), wait, out);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(out.str(),
            "operation op-7 succeeded in 1.5s\n"
            "score_names: exact_dup\n"
            "document_count: 1000\n"
            "exact_dedup.duplicate_count: 3\n"
            "exact_dedup.distinct_count: 997\n");
  EXPECT_TRUE(Has(progress.str(),
                  "operation op-7 started; Ctrl-C cancels it\n"
                  "operation op-7: pending, 0.0%, hashing, 0 "
                  "of 1,000 documents, ETA ?\n"))
      << progress.str();
  EXPECT_TRUE(Has(progress.str(),
                  "operation op-7: running, 50.0%, hashing, 500 of 1,000 "
                  "documents, ETA ?\n"));
  EXPECT_FALSE(Has(progress.str(), "\r"));
  absl::MutexLock lock(&state_.mu);
  ASSERT_EQ(state_.compute_requests.size(), 1u);
  EXPECT_TRUE(state_.compute_requests[0].scorer().has_exact_dedup());
}

TEST_F(JobsTest, ABarOnATerminal) {
  v1::Operation running = Op(v1::OPERATION_STATE_RUNNING, 0.25);
  running.mutable_eta()->set_seconds(75);
  Script({running, Succeeded()});
  std::ostringstream out, progress;
  WaitOptions wait;
  wait.progress = &progress;
  wait.progress_tty = true;
  ASSERT_TRUE(RunOpsWait(MakeClient(), "op-7", wait, out).ok());
  EXPECT_TRUE(Has(progress.str(),
                  "\r 25.0% [#####               ] hashing  "
                  "250 of 1,000 documents  ETA 1:15"))
      << progress.str();
  // The final redraw ends the bar's line.
  EXPECT_TRUE(Has(progress.str(), "\r100.0% [####################]"));
  EXPECT_EQ(progress.str().back(), '\n');
}

TEST_F(JobsTest, AFailedOperationReturnsItsError) {
  v1::Operation failed = Op(v1::OPERATION_STATE_FAILED, 0.3);
  failed.mutable_error()->set_code(9);
  failed.mutable_error()->set_message("collection 'web' has no embeddings");
  Script({Op(v1::OPERATION_STATE_RUNNING, 0.1), failed});
  std::ostringstream out;
  absl::Status s = RunCompute(MakeClient(), ExactDedup(), WaitOptions(), out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "operation op-7 failed: collection 'web' has no embeddings");
  EXPECT_EQ(out.str(), "");

  v1::Operation cancelled = Op(v1::OPERATION_STATE_CANCELLED, 0.3);
  cancelled.mutable_error()->set_code(1);
  cancelled.mutable_error()->set_message("cancelled by CancelOperation");
  EXPECT_EQ(OperationOutcome(cancelled).code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(Has(std::string(OperationOutcome(cancelled).message()),
                  "op-7 was cancelled"));
}

TEST_F(JobsTest, AnInterruptCancelsTheOperationAndNamesIt) {
  Script({Op(v1::OPERATION_STATE_RUNNING, 0.1)}, /*hold=*/true);
  std::atomic<bool> interrupted{false};
  std::thread ctrl_c([&] {
    absl::SleepFor(absl::Milliseconds(200));
    interrupted.store(true);
  });
  WaitOptions wait;
  wait.interrupted = &interrupted;
  std::ostringstream out;
  const absl::Time start = absl::Now();
  absl::Status s = RunCompute(MakeClient(), ExactDedup(), wait, out);
  ctrl_c.join();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(s.message(),
            "interrupted while waiting for operation op-7: cancel requested; "
            "follow it with `winnowctl ops wait op-7`");
  absl::MutexLock lock(&state_.mu);
  EXPECT_EQ(state_.cancelled, std::vector<std::string>{"op-7"});
}

TEST_F(JobsTest, NoWaitPrintsTheIdAndReturns) {
  Script({Op(v1::OPERATION_STATE_PENDING, 0), Succeeded()});
  std::ostringstream out;
  WaitOptions wait;
  wait.no_wait = true;
  ASSERT_TRUE(RunCompute(MakeClient(), ExactDedup(), wait, out).ok());
  EXPECT_EQ(out.str(),
            "operation op-7 pending; follow it with `winnowctl ops wait "
            "op-7`\n");
  EXPECT_EQ(Waits(), 0);
}

TEST_F(JobsTest, AServerErrorIsReturnedAsIs) {
  std::ostringstream out;  // no script: ComputeScores fails
  EXPECT_EQ(RunCompute(MakeClient(), ExactDedup(), WaitOptions(), out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RunOpsWait(MakeClient(), "op-1", WaitOptions(), out).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobsTest, BackupWaitsOnlyWhenItIsStillRunning) {
  v1::Operation done = Op(v1::OPERATION_STATE_SUCCEEDED, 1);
  done.set_kind(v1::OPERATION_KIND_BACKUP);
  done.clear_collection();
  done.mutable_backup()->set_backup_id("b-1");
  done.mutable_backup()->set_path("/var/backups/b-1");
  done.mutable_backup()->set_size_bytes(4096);
  done.mutable_backup()->set_collection_count(2);
  Script({done});
  std::ostringstream out;
  BackupArgs args;
  args.request_id = "nightly";
  ASSERT_TRUE(RunBackup(MakeClient(), args, WaitOptions(), out).ok());
  EXPECT_EQ(out.str(),
            "operation op-7 succeeded\nbackup_id: b-1\nsize_bytes: 4096\n"
            "path: /var/backups/b-1\ncollection_count: 2\n");
  EXPECT_EQ(Waits(), 0);
  {
    absl::MutexLock lock(&state_.mu);
    EXPECT_EQ(state_.backup_requests.at(0).request_id(), "nightly");
  }
  v1::Operation running = Op(v1::OPERATION_STATE_RUNNING, 0.5);
  running.set_kind(v1::OPERATION_KIND_BACKUP);
  Script({running, done});
  out.str("");
  ASSERT_TRUE(RunBackup(MakeClient(), args, WaitOptions(), out).ok());
  EXPECT_EQ(Waits(), 1);
  EXPECT_TRUE(Has(out.str(), "backup_id: b-1\n"));
}

TEST_F(JobsTest, OpsListGetCancel) {
  {
    absl::MutexLock lock(&state_.mu);
    state_.listed = {Op(v1::OPERATION_STATE_RUNNING, 0.25), Succeeded()};
    state_.listed[1].set_operation_id("op-6");
    state_.listed[1].set_phase("");
  }
  Script({Succeeded()});
  Client client = MakeClient();
  std::ostringstream out;
  OpsListArgs args;
  args.collection = "web";
  args.states = {"running", "succeeded"};
  args.kinds = {"compute-scores", "backup"};
  ASSERT_TRUE(RunOpsList(client, args, out).ok());
  EXPECT_EQ(out.str(),
            "op-7\tcompute-scores\trunning\t25.0%\tweb\thashing\n"
            "op-6\tcompute-scores\tsucceeded\t100.0%\tweb\t\n");
  {
    absl::MutexLock lock(&state_.mu);
    ASSERT_EQ(state_.list_requests.size(), 2u);  // two pages
    const v1::ListOperationsRequest& r = state_.list_requests[0];
    EXPECT_EQ(r.collection(), "web");
    ASSERT_EQ(r.states_size(), 2);
    EXPECT_EQ(r.states(0), v1::OPERATION_STATE_RUNNING);
    EXPECT_EQ(r.states(1), v1::OPERATION_STATE_SUCCEEDED);
    ASSERT_EQ(r.kinds_size(), 2);
    EXPECT_EQ(r.kinds(1), v1::OPERATION_KIND_BACKUP);
  }
  args.states = {"done"};
  EXPECT_TRUE(IsUsageError(RunOpsList(client, args, out)));
  args.states.clear();
  args.kinds = {"scores"};
  EXPECT_TRUE(IsUsageError(RunOpsList(client, args, out)));

  out.str("");
  ASSERT_TRUE(RunOpsGet(client, "op-7", out).ok());
  EXPECT_TRUE(Has(out.str(),
                  "operation_id: op-7\nkind: compute-scores\n"
                  "state: succeeded\ndone: true\n"))
      << out.str();
  EXPECT_TRUE(Has(out.str(), "start_time: 1970-01-01T00:01:40+00:00\n"));
  EXPECT_TRUE(
      Has(out.str(), "compute_scores_result.exact_dedup.duplicate_count: 3\n"));
  EXPECT_EQ(RunOpsGet(client, "op-9", out).code(), absl::StatusCode::kNotFound);

  out.str("");
  ASSERT_TRUE(RunOpsCancel(client, "op-7", out).ok());
  EXPECT_EQ(out.str(),
            "operation op-7: cancel requested (it is running until the job "
            "stops)\n");
}

TEST(FormatFieldsTest, RepeatedEnumsStatusAndDurations) {
  v1::Operation op;
  op.set_state(v1::OPERATION_STATE_FAILED);
  op.mutable_error()->set_code(3);
  op.mutable_error()->set_message("scorer.kmeans.cluster_count: must be >= 1");
  op.mutable_eta()->set_seconds(2);
  op.mutable_eta()->set_nanos(500000000);
  op.mutable_scorer()->mutable_kmeans()->set_init(
      v1::CENTROID_INIT_KMEANS_PLUS_PLUS);
  EXPECT_EQ(FormatFields(op),
            "state: failed\neta: 2.5s\n"
            "error: INVALID_ARGUMENT: scorer.kmeans.cluster_count: must be "
            ">= 1\n"
            "scorer.kmeans.init: kmeans-plus-plus\n");
  v1::Operation exact;
  exact.mutable_scorer()->mutable_exact_dedup();
  EXPECT_EQ(FormatFields(exact), "scorer.exact_dedup: {}\n");
  v1::ComputeScoresResult r;
  r.add_score_names("cluster");
  r.add_score_names("centroid_distance");
  EXPECT_EQ(FormatFields(r), "score_names: cluster,centroid_distance\n");
}

}  // namespace
}  // namespace winnow::ctl
