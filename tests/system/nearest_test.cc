// SelectionService.Nearest through a real winnowd: the answers equal a
// brute force over what was written (both metrics, both dtypes, with and
// without a filter, from vectors and from ids, single and batched), and
// every bad input gets its status and a message naming the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::ExpectError;
using testing::TempDir;
using testing::WinnowdProcess;

constexpr int kDim = 8;
constexpr int kDocs = 600;

// Values k/4 for small integers k: exact in float16, so both dtypes hold
// exactly what was sent, and many documents tie.
float Cell(int doc, int d) {
  return static_cast<float>(((doc * 7 + d * 3 + doc * d) % 9) - 4) / 4.0f;
}

std::string IdOf(int doc) {
  // Ids that do not sort like ordinals.
  return "doc-" + std::to_string((doc * 37) % 1009);
}

class NearestSystemTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = WinnowdProcess::Start(dir_->path() + "/data", 0, {}).release();
    ASSERT_NE(server_, nullptr);
    client_ = new Client(*Client::Connect(server_->target()));
    for (const auto& [name, dtype] :
         std::vector<std::pair<std::string, v1::EmbeddingDtype>>{
             {"f32", v1::EMBEDDING_DTYPE_FLOAT32},
             {"f16", v1::EMBEDDING_DTYPE_FLOAT16}}) {
      v1::CreateCollectionRequest req;
      req.mutable_collection()->set_name(name);
      req.mutable_collection()->set_embedding_dimension(kDim);
      req.mutable_collection()->set_embedding_dtype(dtype);
      ASSERT_TRUE(client_->CreateCollection(req).ok());
      // A batch gives every document an embedding or none.
      v1::UpsertDocumentsRequest docs, bare;
      for (int i = 0; i < kDocs; ++i) {
        v1::Document* d =
            i % 11 == 0 ? bare.add_documents() : docs.add_documents();
        d->set_id(IdOf(i));
        d->set_domain(i % 3 == 0 ? "code" : "web");
        d->set_length(10);
        (*d->mutable_scores())["quality"] = static_cast<float>(i % 10) / 10;
        if (i % 11 == 0) continue;  // no embedding
        for (int k = 0; k < kDim; ++k) d->add_embedding(Cell(i, k));
      }
      WriterOptions opts;
      opts.max_reconnect_attempts = 0;
      DocumentWriter w = client_->UpsertDocuments(name, opts);
      for (v1::UpsertDocumentsRequest* batch : {&docs, &bare}) {
        const absl::Status written = w.Write(std::move(*batch));
        ASSERT_TRUE(written.ok()) << written;
      }
      const absl::Status closed = w.Close();
      ASSERT_TRUE(closed.ok()) << closed;
      v1::DeleteDocumentsRequest del;
      del.set_collection(name);
      for (int i = 1; i < kDocs; i += 13) del.add_ids(IdOf(i));
      ASSERT_TRUE(client_->DeleteDocuments(del).ok());
    }
    v1::CreateCollectionRequest plain;
    plain.mutable_collection()->set_name("plain");
    ASSERT_TRUE(client_->CreateCollection(plain).ok());
  }
  static void TearDownTestSuite() {
    delete client_;
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->Wait(), 0) << server_->Log();
    delete server_;
    delete dir_;
  }

  static bool Candidate(int doc, bool filtered) {
    if (doc % 11 == 0 || doc % 13 == 1) return false;  // no embedding; deleted
    return !filtered || doc % 10 >= 6;                 // quality > 0.5
  }

  struct Expected {
    std::string id;
    double similarity;
  };

  // Brute force in double, ordered by similarity then id.
  static std::vector<Expected> Reference(const std::vector<float>& q,
                                         bool cosine, bool filtered, int k,
                                         int exclude) {
    double qn = 0;
    for (float v : q) qn += double{v} * v;
    qn = std::sqrt(qn);
    std::vector<Expected> all;
    for (int i = 0; i < kDocs; ++i) {
      if (!Candidate(i, filtered) || i == exclude) continue;
      double dot = 0, rn = 0;
      for (int d = 0; d < kDim; ++d) {
        dot += double{q[d]} * Cell(i, d);
        rn += double{Cell(i, d)} * Cell(i, d);
      }
      rn = std::sqrt(rn);
      double s = dot;
      if (cosine) s = qn * rn > 0 ? dot / (qn * rn) : 0.0;
      all.push_back({IdOf(i), s});
    }
    std::sort(all.begin(), all.end(), [](const Expected& a, const Expected& b) {
      if (a.similarity != b.similarity) return a.similarity > b.similarity;
      return a.id < b.id;
    });
    if (static_cast<int>(all.size()) > k) all.resize(k);
    return all;
  }

  // The same ids in the same order (two whose exact similarities differ by
  // less than float rounding may swap), similarities within tolerance.
  static void ExpectMatches(const v1::NearestResult& got,
                            const std::vector<Expected>& want) {
    ASSERT_EQ(got.neighbors_size(), static_cast<int>(want.size()));
    std::map<std::string, double> exact;
    for (const Expected& e : want) exact[e.id] = e.similarity;
    for (int r = 0; r < got.neighbors_size(); ++r) {
      const v1::Neighbor& n = got.neighbors(r);
      EXPECT_NEAR(n.similarity(), want[r].similarity, 1e-5) << "rank " << r;
      if (n.id() != want[r].id) {
        auto it = exact.find(n.id());
        ASSERT_NE(it, exact.end()) << "rank " << r << ": " << n.id();
        EXPECT_NEAR(it->second, want[r].similarity, 1e-6)
            << "rank " << r << ": " << n.id() << " vs " << want[r].id;
      }
    }
  }

  static v1::NearestRequest Good() {
    v1::NearestRequest r;
    r.set_collection("f32");
    r.set_k(5);
    for (int d = 0; d < kDim; ++d) r.add_query_vectors(Cell(3, d));
    return r;
  }

  static TempDir* dir_;
  static WinnowdProcess* server_;
  static Client* client_;
};

TempDir* NearestSystemTest::dir_ = nullptr;
WinnowdProcess* NearestSystemTest::server_ = nullptr;
Client* NearestSystemTest::client_ = nullptr;

TEST_F(NearestSystemTest, EqualsBruteForce) {
  // Query vectors (some not stored anywhere) then query ids.
  const int num_vectors_per_request[] = {2, 20};  // scan, and sgemm
  const std::vector<int> query_docs = {2, 45, 80};
  for (const std::string collection : {"f32", "f16"}) {
    for (bool cosine : {true, false}) {
      for (bool filtered : {false, true}) {
        for (int num_vectors : num_vectors_per_request) {
          SCOPED_TRACE(collection + (cosine ? " cosine" : " dot") +
                       (filtered ? " filtered " : " all ") +
                       std::to_string(num_vectors));
          v1::NearestRequest req;
          req.set_collection(collection);
          req.set_k(25);
          req.set_metric(cosine ? v1::SIMILARITY_METRIC_COSINE
                                : v1::SIMILARITY_METRIC_DOT_PRODUCT);
          if (filtered) req.set_filter("quality > 0.5");
          std::vector<std::vector<float>> queries;
          for (int q = 0; q < num_vectors; ++q) {
            std::vector<float> v(kDim);
            for (int d = 0; d < kDim; ++d) {
              v[d] = static_cast<float>(((q * 5 + d * d) % 7) - 3) / 2.0f;
            }
            queries.push_back(v);
            for (float x : v) req.add_query_vectors(x);
          }
          for (int doc : query_docs) {
            req.add_query_ids(IdOf(doc));
            std::vector<float> v(kDim);
            for (int d = 0; d < kDim; ++d) v[d] = Cell(doc, d);
            queries.push_back(v);
          }
          absl::StatusOr<v1::NearestResponse> resp = client_->Nearest(req);
          ASSERT_TRUE(resp.ok()) << resp.status();
          ASSERT_EQ(resp->results_size(), static_cast<int>(queries.size()));
          for (size_t q = 0; q < queries.size(); ++q) {
            const bool by_id = q >= static_cast<size_t>(num_vectors);
            const int exclude = by_id ? query_docs[q - num_vectors] : -1;
            EXPECT_EQ(resp->results(q).query_id(),
                      by_id ? IdOf(exclude) : std::string());
            ExpectMatches(resp->results(q),
                          Reference(queries[q], cosine, filtered, 25, exclude));
          }
        }
      }
    }
  }
}

TEST_F(NearestSystemTest, IncludeSelfMakesTheQueryDocumentItsNearest) {
  v1::NearestRequest req;
  req.set_collection("f32");
  req.set_k(3);
  req.add_query_ids(IdOf(45));
  req.set_include_self(true);
  absl::StatusOr<v1::NearestResponse> with_self = client_->Nearest(req);
  ASSERT_TRUE(with_self.ok()) << with_self.status();
  ASSERT_EQ(with_self->results(0).neighbors_size(), 3);
  // Cosine 1 with itself; documents with the same direction tie with it.
  EXPECT_FLOAT_EQ(with_self->results(0).neighbors(0).similarity(), 1.0f);
  bool found = false;
  for (const v1::Neighbor& n : with_self->results(0).neighbors()) {
    found |= n.id() == IdOf(45);
  }
  std::vector<float> q(kDim);
  for (int d = 0; d < kDim; ++d) q[d] = Cell(45, d);
  const auto want = Reference(q, true, false, 3, -1);
  EXPECT_EQ(found, std::any_of(want.begin(), want.end(),
                               [](const auto& e) { return e.id == IdOf(45); }));
  ExpectMatches(with_self->results(0), want);

  req.set_include_self(false);
  absl::StatusOr<v1::NearestResponse> without = client_->Nearest(req);
  ASSERT_TRUE(without.ok()) << without.status();
  for (const v1::Neighbor& n : without->results(0).neighbors()) {
    EXPECT_NE(n.id(), IdOf(45));
  }
  ExpectMatches(without->results(0), Reference(q, true, false, 3, 45));
}

TEST_F(NearestSystemTest, KAboveTheCandidatesAndAFilterMatchingNothing) {
  v1::NearestRequest req = Good();
  req.set_k(10000);
  req.set_filter("quality > 0.5 and domain == \"code\"");
  absl::StatusOr<v1::NearestResponse> resp = client_->Nearest(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  int expected = 0;
  for (int i = 0; i < kDocs; ++i) {
    expected += Candidate(i, true) && i % 3 == 0;
  }
  EXPECT_EQ(resp->results(0).neighbors_size(), expected);

  req.set_filter("quality > 5");
  req.add_query_ids(IdOf(2));
  resp = client_->Nearest(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->results_size(), 2);
  EXPECT_EQ(resp->results(0).neighbors_size(), 0);
  EXPECT_EQ(resp->results(1).neighbors_size(), 0);
  EXPECT_EQ(resp->results(1).query_id(), IdOf(2));
}

TEST_F(NearestSystemTest, BadInputNamesTheField) {
  using absl::StatusCode;
  auto call = [](const v1::NearestRequest& r) {
    return client_->Nearest(r).status();
  };
  v1::NearestRequest r = Good();
  r.add_query_vectors(1.0f);  // 9 floats, dimension 8
  ExpectError(call(r), StatusCode::kInvalidArgument, "query_vectors");

  for (int k : {0, -3, 10001}) {
    r = Good();
    r.set_k(k);
    ExpectError(call(r), StatusCode::kInvalidArgument, "k");
  }
  r = Good();
  r.clear_query_vectors();
  ExpectError(call(r), StatusCode::kInvalidArgument, "no queries");

  r = Good();
  for (int q = 0; q < 1001; ++q) {
    for (int d = 0; d < kDim; ++d) r.add_query_vectors(0.5f);
  }
  r.set_k(1);
  ExpectError(call(r), StatusCode::kInvalidArgument, "at most 1000");

  r = Good();
  r.set_k(200);
  for (int q = 0; q < 600; ++q) {
    for (int d = 0; d < kDim; ++d) r.add_query_vectors(0.5f);
  }
  ExpectError(call(r), StatusCode::kInvalidArgument, "k:");

  for (float bad : {NAN, INFINITY, -INFINITY}) {
    r = Good();
    r.set_query_vectors(3, bad);
    ExpectError(call(r), StatusCode::kInvalidArgument, "query_vectors[3]");
  }

  r = Good();
  r.add_query_ids(IdOf(2));
  r.add_query_ids("never-written");
  ExpectError(call(r), StatusCode::kNotFound, "query_ids[1]");
  r.set_query_ids(1, IdOf(1));  // deleted
  ExpectError(call(r), StatusCode::kNotFound, "query_ids[1]");
  r.set_query_ids(1, IdOf(22));  // written without an embedding
  ExpectError(call(r), StatusCode::kInvalidArgument, "query_ids[1]");

  r = Good();
  r.set_metric(static_cast<v1::SimilarityMetric>(7));
  ExpectError(call(r), StatusCode::kInvalidArgument, "metric");

  r = Good();
  r.set_filter("quality >");
  ExpectError(call(r), StatusCode::kInvalidArgument, "filter");

  r = Good();
  r.set_collection("plain");
  EXPECT_EQ(call(r).code(), StatusCode::kFailedPrecondition) << call(r);
  r.set_collection("absent");
  ExpectError(call(r), StatusCode::kNotFound, "absent");
}

}  // namespace
}  // namespace winnow
