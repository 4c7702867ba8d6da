// The server in process, on a free loopback port, against a real store:
// the handler plumbing (reactors, acknowledgements, status mapping) that
// unit tests of the helpers cannot reach. Whole-system tests with the real
// client live in tests/system/.
#include "server/server.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "server/query.h"
#include "storage/store.h"
#include "tests/server/server_fixture.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::server {
namespace {

namespace v1 = winnow::v1;

class ServerTest : public testing::InProcessServerTest {
 protected:
  void CreateCollection(const std::string& name) {
    grpc::ClientContext context;
    v1::CreateCollectionRequest request;
    request.mutable_collection()->set_name(name);
    v1::CreateCollectionResponse response;
    ASSERT_TRUE(
        collections_->CreateCollection(&context, request, &response).ok());
  }

  // Upserts `n` documents doc-0..doc-(n-1) with quality i / n.
  void Load(const std::string& collection, int n) {
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    v1::UpsertDocumentsRequest request;
    request.set_collection(collection);
    request.set_sequence(1);
    v1::ScoreColumn* quality = request.mutable_columns()->add_scores();
    quality->set_name("quality");
    for (int i = 0; i < n; ++i) {
      request.mutable_columns()->add_ids("doc-" + std::to_string(i));
      request.mutable_columns()->add_lengths(10 + i);
      quality->add_values(static_cast<float>(i) / n);
    }
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.sequence(), 1u);
    EXPECT_EQ(ack.created_count(), n);
    ASSERT_TRUE(stream->Finish().ok());
  }

  // Upserts `n` documents, `per_batch` a request: ids of `id_bytes`
  // characters ending in their index, each with `payload_bytes` of payload.
  void LoadLarge(const std::string& collection, int n, int per_batch,
                 size_t id_bytes, size_t payload_bytes) {
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    int sequence = 0;
    for (int first = 0; first < n; first += per_batch) {
      v1::UpsertDocumentsRequest request;
      request.set_collection(collection);
      request.set_sequence(++sequence);
      for (int i = first; i < std::min(n, first + per_batch); ++i) {
        std::string id = std::to_string(i);
        id.insert(0, id_bytes - id.size(), 'x');
        v1::Document* d = request.add_documents();
        d->set_id(id);
        d->set_length(1);
        if (payload_bytes > 0) d->set_payload(std::string(payload_bytes, 'p'));
      }
      ASSERT_TRUE(stream->Write(request));
    }
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    int acked = 0;
    while (stream->Read(&ack)) ++acked;
    ASSERT_TRUE(stream->Finish().ok());
    ASSERT_EQ(acked, sequence);
  }

  std::vector<v1::SampleResponse> Sample(const v1::SampleRequest& request,
                                         grpc::Status* status) {
    grpc::ClientContext context;
    auto reader = selection_->Sample(&context, request);
    std::vector<v1::SampleResponse> out;
    v1::SampleResponse response;
    while (reader->Read(&response)) out.push_back(response);
    *status = reader->Finish();
    return out;
  }
};

TEST_F(ServerTest, UnknownCollectionIsNotFound) {
  grpc::ClientContext context;
  v1::GetCollectionRequest request;
  request.set_name("nope");
  v1::GetCollectionResponse response;
  grpc::Status status =
      collections_->GetCollection(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, UpsertAcksInOrderAndABadBatchEndsTheStreamNamingIt) {
  CreateCollection("c");
  grpc::ClientContext context;
  auto stream = documents_->UpsertDocuments(&context);
  for (uint64_t sequence : {10, 11, 12, 13}) {
    v1::UpsertDocumentsRequest request;
    request.set_collection("c");
    request.set_sequence(sequence);
    v1::Document* d = request.add_documents();
    d->set_id("doc-" + std::to_string(sequence));
    if (sequence == 12) d->set_length(-1);  // the bad batch
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::vector<uint64_t> acked;
  v1::UpsertDocumentsResponse ack;
  while (stream->Read(&ack)) acked.push_back(ack.sequence());
  grpc::Status status = stream->Finish();
  EXPECT_EQ(acked, (std::vector<uint64_t>{10, 11}));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("sequence 12"), std::string::npos)
      << status.error_message();
  EXPECT_NE(status.error_message().find("length"), std::string::npos)
      << status.error_message();

  // The acknowledged batches stayed; the bad one and the one after did not.
  grpc::ClientContext get_context;
  v1::GetCollectionRequest get;
  get.set_name("c");
  v1::GetCollectionResponse collection;
  ASSERT_TRUE(collections_->GetCollection(&get_context, get, &collection).ok());
  EXPECT_EQ(collection.collection().stats().document_count(), 2);
}

TEST_F(ServerTest, SampleRanksAreDisjointShardsOfTheGlobalSequence) {
  CreateCollection("c");
  Load("c", 100);
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(8);
  request.set_num_epochs(1);
  request.set_seed(42);
  request.set_world_size(1);
  grpc::Status status;
  std::vector<v1::SampleResponse> global = Sample(request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(global.size(), 12u);  // 100 / 8, the short batch dropped
  request.set_world_size(3);
  std::set<std::string> seen;
  size_t served = 0;
  for (int rank = 0; rank < 3; ++rank) {
    request.set_rank(rank);
    std::vector<v1::SampleResponse> mine = Sample(request, &status);
    ASSERT_TRUE(status.ok());
    ASSERT_EQ(mine.size(), 4u);  // 12 batches, whole rounds of 3
    for (const v1::SampleResponse& r : mine) {
      const v1::SampleBatch& b = r.batch();
      EXPECT_EQ(b.global_batch_index() % 3, rank);
      const v1::SampleBatch& want = global[b.global_batch_index()].batch();
      EXPECT_EQ(std::vector<std::string>(b.ids().begin(), b.ids().end()),
                std::vector<std::string>(want.ids().begin(), want.ids().end()));
      seen.insert(b.ids().begin(), b.ids().end());
      served += b.ids_size();
      // Every rank reads the one plan the first request froze.
      EXPECT_EQ(r.plan_id(), global[0].plan_id());
      EXPECT_FALSE(r.cursor().empty());
    }
  }
  EXPECT_EQ(seen.size(), served);  // disjoint
  EXPECT_EQ(served, 96u);
}

TEST_F(ServerTest, SampleValidationNamesTheField) {
  CreateCollection("c");
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(8);
  request.set_world_size(0);
  grpc::Status status;
  Sample(request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "world_size must be >= 1, got 0");
  request.set_world_size(1);
  request.set_filter("qualty > 1");
  Sample(request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("filter: ", 0), 0u)
      << status.error_message();
  request.set_filter("");
  request.set_cursor("opaque");
  Sample(request, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message().rfind("cursor: ", 0), 0u)
      << status.error_message();
}

TEST_F(ServerTest, FilterStreamsBatchesAndResumesFromNextOrdinal) {
  CreateCollection("c");
  Load("c", 50);
  auto run = [&](uint64_t start, std::vector<v1::FilterResponse>* out) {
    grpc::ClientContext context;
    v1::FilterRequest request;
    request.set_collection("c");
    request.set_filter("quality >= 0.5");
    request.set_batch_size(10);
    request.set_start_ordinal(start);
    request.add_score_names("quality");
    auto reader = selection_->Filter(&context, request);
    v1::FilterResponse response;
    while (reader->Read(&response)) out->push_back(response);
    return reader->Finish();
  };
  std::vector<v1::FilterResponse> all;
  ASSERT_TRUE(run(0, &all).ok());
  ASSERT_EQ(all.size(), 3u);  // 25 matches in batches of 10
  EXPECT_EQ(all[0].total_count(), 25);
  EXPECT_EQ(all[0].ids(0), "doc-25");
  EXPECT_EQ(all[0].scores(0).values_size(), 10);
  std::vector<v1::FilterResponse> rest;
  ASSERT_TRUE(run(all[0].next_ordinal(), &rest).ok());
  EXPECT_EQ(rest[0].ids(0), all[1].ids(0));
  EXPECT_EQ(rest[0].total_count(), 15);
}

TEST_F(ServerTest, FilterEndsWithNotFoundWhenTheCollectionIsDeleted) {
  CreateCollection("c");
  Load("c", 20000);
  for (v1::ResultView view : {v1::RESULT_VIEW_ORDINALS, v1::RESULT_VIEW_IDS}) {
    grpc::ClientContext context;
    v1::FilterRequest request;
    request.set_collection("c");
    request.set_batch_size(1);
    request.set_view(view);
    auto reader = selection_->Filter(&context, request);
    v1::FilterResponse response;
    ASSERT_TRUE(reader->Read(&response));
    {
      grpc::ClientContext delete_context;
      v1::DeleteCollectionRequest del;
      del.set_name("c");
      v1::DeleteCollectionResponse deleted;
      ASSERT_TRUE(
          collections_->DeleteCollection(&delete_context, del, &deleted).ok());
    }
    while (reader->Read(&response)) {
    }
    grpc::Status status = reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
        << status.error_message();
    EXPECT_EQ(status.error_message(),
              "collection 'c' was deleted while the stream ran");
    CreateCollection("c");
    Load("c", 20000);
  }
}

// Streams reopen the collection they froze at every message; a collection
// deleted and created again under the same name, even a larger one, is not
// that collection.
TEST(ReopenColumnsTest, ARecreatedCollectionOfTheSameNameIsGone) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("winnow-reopen-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  storage::StoreOptions options;
  options.data_dir = dir.string();
  auto store = storage::Store::Open(options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto load = [&](int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) ids.push_back("d" + std::to_string(i));
    storage::DocumentBatch batch;
    batch.ids.assign(ids.begin(), ids.end());
    ASSERT_TRUE((*store)->UpsertDocuments("c", batch).ok());
  };
  ASSERT_TRUE((*store)->CreateCollection({.name = "c"}).ok());
  load(10);
  uint32_t frozen = 0;
  {
    auto snapshot = (*store)->ReadColumns("c");
    ASSERT_TRUE(snapshot.ok());
    frozen = snapshot->collection_id();
  }
  EXPECT_TRUE(ReopenColumns(**store, "c", frozen).ok());
  ASSERT_TRUE((*store)->DeleteCollection("c").ok());
  EXPECT_EQ(ReopenColumns(**store, "c", frozen).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE((*store)->CreateCollection({.name = "c"}).ok());
  load(100);
  absl::Status gone = ReopenColumns(**store, "c", frozen).status();
  EXPECT_EQ(gone.code(), absl::StatusCode::kNotFound) << gone;
  EXPECT_EQ(gone.message(), "collection 'c' was deleted while the stream ran");
  ASSERT_TRUE((*store)->Close().ok());
  std::filesystem::remove_all(dir);
}

TEST_F(ServerTest, SampleEndsWithNotFoundWhenTheCollectionIsDeleted) {
  CreateCollection("c");
  Load("c", 20);
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(2);
  request.set_world_size(1);  // unbounded
  request.set_view(v1::RESULT_VIEW_ORDINALS);
  grpc::ClientContext context;
  auto reader = selection_->Sample(&context, request);
  v1::SampleResponse response;
  ASSERT_TRUE(reader->Read(&response));
  {
    grpc::ClientContext delete_context;
    v1::DeleteCollectionRequest del;
    del.set_name("c");
    v1::DeleteCollectionResponse deleted;
    ASSERT_TRUE(
        collections_->DeleteCollection(&delete_context, del, &deleted).ok());
  }
  while (reader->Read(&response)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND)
      << status.error_message();
  EXPECT_EQ(status.error_message(),
            "collection 'c' was deleted while the stream ran");
}

// A server whose message size limit is small enough to reach in a test.
class SmallMessageServerTest : public ServerTest {
 protected:
  static constexpr int64_t kLimit = 32 << 10;
  void Configure(ServerOptions* options) override {
    options->max_message_bytes = kLimit;
  }
};

TEST_F(SmallMessageServerTest, FilterLowersBatchesToFitTheMessageLimit) {
  // 600 ids of 200 bytes, and 20000 ordinals, each pass 32 KiB together.
  CreateCollection("ids");
  LoadLarge("ids", 600, /*per_batch=*/50, /*id_bytes=*/200,
            /*payload_bytes=*/0);
  CreateCollection("ordinals");
  LoadLarge("ordinals", 20000, /*per_batch=*/1000, /*id_bytes=*/8,
            /*payload_bytes=*/0);
  for (v1::ResultView view : {v1::RESULT_VIEW_IDS, v1::RESULT_VIEW_ORDINALS}) {
    const bool ids = view == v1::RESULT_VIEW_IDS;
    grpc::ClientContext context;
    v1::FilterRequest request;
    request.set_collection(ids ? "ids" : "ordinals");
    request.set_batch_size(100000);
    request.set_view(view);
    auto reader = selection_->Filter(&context, request);
    v1::FilterResponse response;
    int64_t results = 0;
    int messages = 0;
    uint64_t next = 0;
    while (reader->Read(&response)) {
      ++messages;
      EXPECT_LE(static_cast<int64_t>(response.ByteSizeLong()), kLimit);
      const int size = ids ? response.ids_size() : response.ordinals_size();
      results += size;
      EXPECT_GT(size, 0);
      if (!ids) {
        EXPECT_EQ(response.ordinals(0), next);  // nothing skipped
        next = response.next_ordinal();
      }
    }
    grpc::Status status = reader->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(results, ids ? 600 : 20000);
    EXPECT_GT(messages, 1);
  }
}

// GetScores is served on a completion queue; the server's message limit
// holds for it as for the callback RPCs.
TEST_F(SmallMessageServerTest, GetScoresRequestOverTheLimitIsRefused) {
  CreateCollection("c");
  Load("c", 3);
  v1::GetScoresRequest get;
  get.set_collection("c");
  get.add_ids(std::string(kLimit, 'x'));
  grpc::ClientContext context;
  v1::GetScoresResponse response;
  grpc::Status status = scores_->GetScores(&context, get, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << status.error_message();
  // The server goes on serving.
  get.clear_ids();
  get.add_ids("doc-1");
  grpc::ClientContext again;
  ASSERT_TRUE(scores_->GetScores(&again, get, &response).ok());
  EXPECT_EQ(response.ids(0), "doc-1");
}

TEST_F(SmallMessageServerTest, SampleRefusesABatchOverTheMessageLimit) {
  CreateCollection("c");
  // 40 documents of 2 KiB payload: a batch of 32 passes 32 KiB.
  LoadLarge("c", 40, /*per_batch=*/8, /*id_bytes=*/8, /*payload_bytes=*/2048);
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(32);
  request.set_num_epochs(1);
  request.set_world_size(1);
  request.set_view(v1::RESULT_VIEW_FULL);
  grpc::Status status;
  std::vector<v1::SampleResponse> served = Sample(request, &status);
  EXPECT_TRUE(served.empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message().rfind("batch 0 in the FULL view is ", 0), 0u)
      << status.error_message();
  EXPECT_NE(status.error_message().find(
                "over the 32 KiB message limit; use a smaller batch_size or "
                "token budget, a read_mask without payload, or the IDS view"),
            std::string::npos)
      << status.error_message();

  // Batches that fit are served whole.
  request.set_batch_size(8);
  served = Sample(request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(served.size(), 5u);
  for (const v1::SampleResponse& r : served) {
    EXPECT_EQ(r.batch().samples_size(), 8);
  }
}

TEST_F(ServerTest, PutScoresThenGetScores) {
  CreateCollection("c");
  Load("c", 5);
  grpc::ClientContext context;
  auto stream = scores_->PutScores(&context);
  v1::PutScoresRequest request;
  request.set_collection("c");
  request.set_sequence(1);
  request.add_ids("doc-1");
  request.add_ids("doc-2");
  v1::ScoreColumn* edu = request.add_scores();
  edu->set_name("edu");
  edu->add_values(1.5f);
  edu->add_values(0);
  edu->add_null_indexes(1);
  ASSERT_TRUE(stream->Write(request));
  stream->WritesDone();
  v1::PutScoresResponse ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.document_count(), 2);
  ASSERT_TRUE(stream->Finish().ok());

  grpc::ClientContext get_context;
  v1::GetScoresRequest get;
  get.set_collection("c");
  get.add_ids("doc-1");
  get.add_ids("doc-2");
  get.add_score_names("edu");
  v1::GetScoresResponse scores;
  ASSERT_TRUE(scores_->GetScores(&get_context, get, &scores).ok());
  ASSERT_EQ(scores.scores_size(), 1);
  EXPECT_EQ(scores.scores(0).values(0), 1.5f);
  ASSERT_EQ(scores.scores(0).null_indexes_size(), 1);
  EXPECT_EQ(scores.scores(0).null_indexes(0), 1u);
}

// GetScores runs small requests on its polling thread and large ones (over
// 1,024 ids) on the workers (get_scores_pollers.h); both answer in request
// order, with missing ids listed.
TEST_F(ServerTest, GetScoresSmallAndLargeRequestsAnswerInRequestOrder) {
  CreateCollection("c");
  Load("c", 5000);
  for (int n : {3, 4500}) {
    grpc::ClientContext context;
    v1::GetScoresRequest get;
    get.set_collection("c");
    get.set_allow_missing(true);
    // Descending ids, with an unknown one every 100.
    for (int i = 0; i < n; ++i) {
      get.add_ids(i % 100 == 1 ? "nope-" + std::to_string(i)
                               : "doc-" + std::to_string(n - 1 - i));
    }
    v1::GetScoresResponse scores;
    ASSERT_TRUE(scores_->GetScores(&context, get, &scores).ok()) << n;
    const int missing = (n + 98) / 100;
    ASSERT_EQ(scores.ids_size(), n - missing) << n;
    ASSERT_EQ(scores.missing_ids_size(), missing) << n;
    EXPECT_EQ(scores.missing_ids(0), "nope-1");
    ASSERT_EQ(scores.scores_size(), 1);
    ASSERT_EQ(scores.scores(0).values_size(), n - missing);
    int k = 0;
    for (int i = 0; i < n; ++i) {
      if (i % 100 == 1) continue;
      const int doc = n - 1 - i;
      ASSERT_EQ(scores.ids(k), "doc-" + std::to_string(doc)) << n;
      EXPECT_EQ(scores.ordinals(k), static_cast<uint64_t>(doc));
      EXPECT_EQ(scores.scores(0).values(k), static_cast<float>(doc) / 5000);
      ++k;
    }

    // Without allow_missing the first unknown id is NOT_FOUND, named.
    get.set_allow_missing(false);
    grpc::ClientContext strict;
    v1::GetScoresResponse refused;
    grpc::Status status = scores_->GetScores(&strict, get, &refused);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND) << n;
    EXPECT_EQ(status.error_message(), "ids[1]: no live document 'nope-1'");
  }
}

// GetScoresStream answers each lookup in order, echoing its sequence, small
// ones on the reading thread and large ones (over 1,024 ids) on a worker,
// with lookups sent ahead of their answers.
TEST_F(ServerTest, GetScoresStreamAnswersEachLookupInOrder) {
  CreateCollection("c");
  Load("c", 3000);
  grpc::ClientContext context;
  auto stream = scores_->GetScoresStream(&context);
  const std::vector<int> sizes = {1, 2000, 3};
  for (size_t i = 0; i < sizes.size(); ++i) {
    v1::GetScoresStreamRequest lookup;
    lookup.set_sequence(7 + i);
    lookup.mutable_request()->set_collection("c");
    for (int k = 0; k < sizes[i]; ++k) {
      lookup.mutable_request()->add_ids("doc-" + std::to_string(k + i));
    }
    ASSERT_TRUE(stream->Write(lookup));
  }
  stream->WritesDone();
  v1::GetScoresStreamResponse answer;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ASSERT_TRUE(stream->Read(&answer)) << i;
    EXPECT_EQ(answer.sequence(), 7 + i);
    ASSERT_EQ(answer.response().ids_size(), sizes[i]);
    const int last = sizes[i] - 1 + static_cast<int>(i);
    EXPECT_EQ(answer.response().ids(sizes[i] - 1),
              "doc-" + std::to_string(last));
    ASSERT_EQ(answer.response().scores_size(), 1);
    EXPECT_EQ(answer.response().scores(0).values(sizes[i] - 1),
              static_cast<float>(last) / 3000);
  }
  EXPECT_FALSE(stream->Read(&answer));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ServerTest, GetScoresStreamEndsAtAFailedLookupNamingItsSequence) {
  CreateCollection("c");
  Load("c", 5);
  grpc::ClientContext context;
  auto stream = scores_->GetScoresStream(&context);
  v1::GetScoresStreamRequest lookup;
  lookup.set_sequence(1);
  lookup.mutable_request()->set_collection("c");
  lookup.mutable_request()->add_ids("doc-1");
  ASSERT_TRUE(stream->Write(lookup));
  v1::GetScoresStreamResponse answer;
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(answer.sequence(), 1u);
  lookup.set_sequence(2);
  lookup.mutable_request()->set_ids(0, "nope");
  stream->Write(lookup);
  EXPECT_FALSE(stream->Read(&answer));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            "sequence 2: ids[0]: no live document 'nope'");
}

// Every scorer kind of the contract has a scorer registered: none answers
// UNIMPLEMENTED (on a collection without embeddings, the embedding scorers
// refuse with FAILED_PRECONDITION or INVALID_ARGUMENT instead).
TEST_F(ServerTest, EveryScorerKindIsServed) {
  CreateCollection("c");
  const google::protobuf::OneofDescriptor* kinds =
      v1::Scorer::descriptor()->FindOneofByName("kind");
  ASSERT_NE(kinds, nullptr);
  ASSERT_EQ(kinds->field_count(), 5);
  for (int i = 0; i < kinds->field_count(); ++i) {
    grpc::ClientContext context;
    v1::ComputeScoresRequest request;
    request.set_collection("c");
    v1::Scorer* scorer = request.mutable_scorer();
    scorer->GetReflection()->MutableMessage(scorer, kinds->field(i));
    v1::ComputeScoresResponse response;
    grpc::Status status = scores_->ComputeScores(&context, request, &response);
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNIMPLEMENTED)
        << kinds->field(i)->name() << ": " << status.error_message();
  }
}

TEST_F(ServerTest, ManyBatchesInFlightAreAckedInOrderUpToTheBadOne) {
  CreateCollection("c");
  grpc::ClientContext context;
  auto stream = documents_->UpsertDocuments(&context);
  constexpr int kBatches = 40, kBad = 23, kDocs = 50;
  for (int b = 1; b <= kBatches; ++b) {
    v1::UpsertDocumentsRequest request;
    request.set_collection("c");
    request.set_sequence(b);
    for (int i = 0; i < kDocs; ++i) {
      request.mutable_columns()->add_ids(std::to_string(b) + "-" +
                                         std::to_string(i));
      request.mutable_columns()->add_lengths(b == kBad && i == 7 ? -1 : 1);
    }
    if (!stream->Write(request)) break;  // the server may end it early
  }
  stream->WritesDone();
  std::vector<uint64_t> acked;
  v1::UpsertDocumentsResponse ack;
  while (stream->Read(&ack)) acked.push_back(ack.sequence());
  grpc::Status status = stream->Finish();
  std::vector<uint64_t> want;
  for (int b = 1; b < kBad; ++b) want.push_back(b);
  EXPECT_EQ(acked, want);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("sequence 23: columns.lengths[7]"),
            std::string::npos)
      << status.error_message();
  grpc::ClientContext count_context;
  v1::CountRequest count;
  count.set_collection("c");
  v1::CountResponse counted;
  ASSERT_TRUE(selection_->Count(&count_context, count, &counted).ok());
  EXPECT_EQ(counted.count(), (kBad - 1) * kDocs);
}

TEST_F(ServerTest, CountStatisticsAreNumpysAndExactForLengths) {
  // Issue 10's lengths, which float32 statistics got wrong (a max of
  // 4294967296, percentiles 16777216 and 4294967296, a mean of
  // 727012712.5).
  CreateCollection("c");
  const std::vector<int64_t> lengths = {16777217,   16777219, 33554435,
                                        4294967295, 100,      7};
  const std::vector<float> quality = {0.1f, 0.7f, 0.2f, 0.3f, 0.9f, 0.35f};
  {
    grpc::ClientContext context;
    auto stream = documents_->UpsertDocuments(&context);
    v1::UpsertDocumentsRequest request;
    request.set_collection("c");
    request.set_sequence(1);
    v1::ScoreColumn* scores = request.mutable_columns()->add_scores();
    scores->set_name("quality");
    for (size_t i = 0; i < lengths.size(); ++i) {
      request.mutable_columns()->add_ids("doc-" + std::to_string(i));
      request.mutable_columns()->add_lengths(lengths[i]);
      scores->add_values(quality[i]);
    }
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::UpsertDocumentsResponse ack;
    ASSERT_TRUE(stream->Read(&ack));
    ASSERT_TRUE(stream->Finish().ok());
  }
  grpc::ClientContext context;
  v1::CountRequest count;
  count.set_collection("c");
  for (const char* column : {"length", "quality"}) {
    v1::HistogramSpec* spec = count.add_histograms();
    spec->set_column(column);
    spec->set_bin_count(4);
    for (double p : {0.0, 40.0, 50.0, 100.0}) spec->add_percentiles(p);
  }
  v1::CountResponse counted;
  grpc::Status status = selection_->Count(&context, count, &counted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(counted.token_count(), 4362076273);
  ASSERT_EQ(counted.histograms_size(), 2);
  auto values = [](const auto& field) {
    return std::vector<double>(field.begin(), field.end());
  };
  // numpy, on np.array(lengths): max 4294967295; percentiles 7, 16777217,
  // 16777218, 4294967295; mean 727012712.1666666 (= 4362076273 / 6);
  // histogram(bins=4) counts [5, 0, 0, 1].
  const v1::Histogram& length = counted.histograms(0);
  EXPECT_EQ(length.min_value(), 7);
  EXPECT_EQ(length.max_value(), 4294967295.0);
  EXPECT_EQ(length.mean(), 4362076273.0 / 6);
  EXPECT_NEAR(length.mean(), 727012712.1667, 1e-4);
  EXPECT_EQ(values(length.percentile_values()),
            (std::vector<double>{7, 16777217, 16777218, 4294967295.0}));
  EXPECT_EQ(std::vector<int64_t>(length.bin_counts().begin(),
                                 length.bin_counts().end()),
            (std::vector<int64_t>{5, 0, 0, 1}));
  // numpy, on np.array(quality, dtype=np.float32).astype(np.float64): mean
  // 0.42499999577800435; percentiles 0.10000000149011612,
  // 0.30000001192092896, 0.32500000298023224, 0.8999999761581421;
  // histogram(bins=4) counts [2, 2, 0, 2].
  const v1::Histogram& q = counted.histograms(1);
  EXPECT_EQ(q.mean(), 0.42499999577800435);
  EXPECT_EQ(values(q.percentile_values()),
            (std::vector<double>{0.10000000149011612, 0.30000001192092896,
                                 0.32500000298023224, 0.8999999761581421}));
  EXPECT_EQ(std::vector<int64_t>(q.bin_counts().begin(), q.bin_counts().end()),
            (std::vector<int64_t>{2, 2, 0, 2}));
}

TEST_F(ServerTest, CancellingAnUnboundedSampleStreamEndsIt) {
  CreateCollection("c");
  Load("c", 20);
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(4);
  request.set_world_size(1);  // num_epochs 0: unbounded
  grpc::ClientContext context;
  auto reader = selection_->Sample(&context, request);
  v1::SampleResponse response;
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(response.batch().epoch(), 2);  // 5 batches per epoch
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(ServerTest, DeadlineEndsAnUnboundedSampleStream) {
  CreateCollection("c");
  Load("c", 20);
  v1::SampleRequest request;
  request.set_collection("c");
  request.set_batch_size(4);
  request.set_world_size(1);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(300));
  auto reader = selection_->Sample(&context, request);
  v1::SampleResponse response;
  int64_t read = 0;
  while (reader->Read(&response)) ++read;
  EXPECT_GT(read, 0);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(ServerTest, AfterShutdownNewRpcsAreUnavailable) {
  server_.RequestShutdown("test");
  ASSERT_TRUE(server_.WaitForTermination().ok());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::ListCollectionsRequest request;
  v1::ListCollectionsResponse response;
  EXPECT_EQ(
      collections_->ListCollections(&context, request, &response).error_code(),
      grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace winnow::server
