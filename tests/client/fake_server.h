// A small in-process stand-in for winnowd, for the client's tests: a real
// gRPC server on a loopback port whose services keep documents in a map and
// misbehave on request (end a stream, stall, restart). It implements only
// what the client tests need; whole-system tests use the real server.
#ifndef WINNOW_TESTS_CLIENT_FAKE_SERVER_H_
#define WINNOW_TESTS_CLIENT_FAKE_SERVER_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "winnow/v1/admin.grpc.pb.h"
#include "winnow/v1/collection.grpc.pb.h"
#include "winnow/v1/document.grpc.pb.h"
#include "winnow/v1/operation.grpc.pb.h"
#include "winnow/v1/score.grpc.pb.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::fake {

// State shared by the fake's services, surviving a restart.
struct FakeState {
  absl::Mutex mu;
  // Collections: name -> embedding dimension.
  std::map<std::string, int> collections ABSL_GUARDED_BY(mu);
  // Stored documents by (collection, id), replaced in place by an upsert.
  std::map<std::pair<std::string, std::string>, v1::Document> documents
      ABSL_GUARDED_BY(mu);
  // Upsert batches received on any stream, counted from 1; and the
  // sequences each stream received.
  int batches_received ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::vector<uint64_t>> streams ABSL_GUARDED_BY(mu);
  // Misbehaviour, by batch number: apply the batch, then end the stream
  // with UNAVAILABLE before acknowledging it.
  std::set<int> break_after_apply ABSL_GUARDED_BY(mu);
  // Never acknowledge the batch; hold the stream until it is cancelled.
  std::set<int> stall_on ABSL_GUARDED_BY(mu);
  // Called (without the lock) after a batch is applied, before its ack.
  std::function<void(int batch)> on_batch;
  // The last authorization metadata seen.
  std::string authorization ABSL_GUARDED_BY(mu);
  // How long ListCollections waits before answering.
  absl::Duration list_delay ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  // Ids that Filter streams, and per-message batch size; Count returns
  // their number.
  std::vector<std::string> filter_ids ABSL_GUARDED_BY(mu);
  // Batches of ids that Sample streams.
  std::vector<std::vector<std::string>> sample_batches ABSL_GUARDED_BY(mu);
  // The embeddings upserted, by (collection, id).
  std::map<std::pair<std::string, std::string>, std::vector<float>> embeddings
      ABSL_GUARDED_BY(mu);

  // Nearest: the requests received and the response to give.
  std::vector<v1::NearestRequest> nearest_requests ABSL_GUARDED_BY(mu);
  v1::NearestResponse nearest_response ABSL_GUARDED_BY(mu);
  // Long jobs: one scripted operation. ComputeScores and Backup record
  // their request and answer updates[0]; WaitOperation streams the updates
  // in order, `update_delay` apart, then holds the stream open until it is
  // cancelled when `hold` is set; GetOperation answers the last update.
  std::vector<v1::ComputeScoresRequest> compute_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::BackupRequest> backup_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::Operation> updates ABSL_GUARDED_BY(mu);
  absl::Duration update_delay ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  bool hold ABSL_GUARDED_BY(mu) = false;
  int waits ABSL_GUARDED_BY(mu) = 0;
  // CancelOperation's ids; ListOperations's requests and answer.
  std::vector<std::string> cancelled ABSL_GUARDED_BY(mu);
  std::vector<v1::ListOperationsRequest> list_requests ABSL_GUARDED_BY(mu);
  std::vector<v1::Operation> listed ABSL_GUARDED_BY(mu);

  int64_t DocumentCount(const std::string& collection) {
    absl::MutexLock lock(&mu);
    int64_t n = 0;
    for (const auto& [key, doc] : documents) n += key.first == collection;
    return n;
  }
};

namespace internal {

inline void RecordAuth(FakeState* state, grpc::ServerContext* context) {
  auto it = context->client_metadata().find("authorization");
  absl::MutexLock lock(&state->mu);
  state->authorization =
      it == context->client_metadata().end()
          ? ""
          : std::string(it->second.data(), it->second.size());
}

class Collections final : public v1::CollectionService::Service {
 public:
  explicit Collections(FakeState* state) : state_(state) {}

  grpc::Status CreateCollection(
      grpc::ServerContext* context, const v1::CreateCollectionRequest* request,
      v1::CreateCollectionResponse* response) override {
    RecordAuth(state_, context);
    absl::MutexLock lock(&state_->mu);
    const std::string& name = request->collection().name();
    if (state_->collections.count(name)) {
      return grpc::Status(grpc::StatusCode::ALREADY_EXISTS,
                          absl::StrCat("collection '", name, "' exists"));
    }
    state_->collections[name] = request->collection().embedding_dimension();
    *response->mutable_collection() = request->collection();
    return grpc::Status::OK;
  }

  grpc::Status GetCollection(grpc::ServerContext* context,
                             const v1::GetCollectionRequest* request,
                             v1::GetCollectionResponse* response) override {
    RecordAuth(state_, context);
    absl::MutexLock lock(&state_->mu);
    auto it = state_->collections.find(request->name());
    if (it == state_->collections.end()) {
      return grpc::Status(
          grpc::StatusCode::NOT_FOUND,
          absl::StrCat("collection '", request->name(), "' not found"));
    }
    response->mutable_collection()->set_name(it->first);
    response->mutable_collection()->set_embedding_dimension(it->second);
    return grpc::Status::OK;
  }

  grpc::Status ListCollections(grpc::ServerContext* context,
                               const v1::ListCollectionsRequest* request,
                               v1::ListCollectionsResponse* response) override {
    RecordAuth(state_, context);
    absl::Duration delay;
    {
      absl::MutexLock lock(&state_->mu);
      delay = state_->list_delay;
    }
    const absl::Time until = absl::Now() + delay;
    while (absl::Now() < until && !context->IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    absl::MutexLock lock(&state_->mu);
    // Pages of one collection, to exercise paging.
    auto it = state_->collections.upper_bound(request->page_token());
    if (it == state_->collections.end()) return grpc::Status::OK;
    v1::Collection* c = response->add_collections();
    c->set_name(it->first);
    c->set_embedding_dimension(it->second);
    int64_t n = 0;
    for (const auto& [key, doc] : state_->documents)
      n += key.first == it->first;
    c->mutable_stats()->set_document_count(n);
    if (std::next(it) != state_->collections.end()) {
      response->set_next_page_token(it->first);
    }
    return grpc::Status::OK;
  }

  grpc::Status DeleteCollection(
      grpc::ServerContext* context, const v1::DeleteCollectionRequest* request,
      v1::DeleteCollectionResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    const bool found = state_->collections.erase(request->name()) > 0;
    if (!found && !request->allow_missing()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such collection");
    }
    response->set_deleted(found);
    return grpc::Status::OK;
  }

 private:
  FakeState* state_;
};

class Documents final : public v1::DocumentService::Service {
 public:
  explicit Documents(FakeState* state) : state_(state) {}

  grpc::Status UpsertDocuments(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::UpsertDocumentsResponse,
                               v1::UpsertDocumentsRequest>* stream) override {
    RecordAuth(state_, context);
    {
      absl::MutexLock lock(&state_->mu);
      state_->streams.emplace_back();
    }
    const size_t stream_index = [&] {
      absl::MutexLock lock(&state_->mu);
      return state_->streams.size() - 1;
    }();
    v1::UpsertDocumentsRequest request;
    while (stream->Read(&request)) {
      int batch;
      bool stall, fail;
      int64_t count = request.columns().ids_size();
      {
        absl::MutexLock lock(&state_->mu);
        batch = ++state_->batches_received;
        state_->streams[stream_index].push_back(request.sequence());
        stall = state_->stall_on.count(batch) > 0;
        fail = state_->break_after_apply.count(batch) > 0;
        if (!stall) {
          const v1::DocumentColumns& c = request.columns();
          for (int i = 0; i < c.ids_size(); ++i) {
            v1::Document& doc =
                state_->documents[{request.collection(), c.ids(i)}];
            doc.Clear();
            doc.set_id(c.ids(i));
            if (c.domains_size() == 1) doc.set_domain(c.domains(0));
            if (c.domains_size() > 1) doc.set_domain(c.domains(i));
            if (c.lengths_size() > 0) doc.set_length(c.lengths(i));
            const int dim = state_->collections[request.collection()];
            if (c.embeddings_size() > 0 && dim > 0) {
              state_->embeddings[{request.collection(), c.ids(i)}].assign(
                  c.embeddings().begin() + i * dim,
                  c.embeddings().begin() + (i + 1) * dim);
            }
          }
        }
      }
      if (stall) {
        while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      }
      if (state_->on_batch) state_->on_batch(batch);
      if (fail) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "restarting");
      }
      v1::UpsertDocumentsResponse ack;
      ack.set_sequence(request.sequence());
      ack.set_document_count(count);
      if (!stream->Write(ack)) break;
    }
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    return grpc::Status::OK;
  }

 private:
  FakeState* state_;
};

class Selection final : public v1::SelectionService::Service {
 public:
  explicit Selection(FakeState* state) : state_(state) {}

  grpc::Status Filter(grpc::ServerContext* context,
                      const v1::FilterRequest* request,
                      grpc::ServerWriter<v1::FilterResponse>* writer) override {
    std::vector<std::string> ids;
    {
      absl::MutexLock lock(&state_->mu);
      ids = state_->filter_ids;
    }
    if (request->max_results() > 0 &&
        ids.size() > static_cast<size_t>(request->max_results())) {
      ids.resize(request->max_results());
    }
    const size_t batch = request->batch_size() > 0 ? request->batch_size() : 2;
    size_t i = 0;
    do {
      v1::FilterResponse response;
      response.set_total_count(static_cast<int64_t>(ids.size()));
      std::vector<v1::ScoreColumn*> columns;
      for (const std::string& name : request->score_names()) {
        columns.push_back(response.add_scores());
        columns.back()->set_name(name);
      }
      for (size_t end = std::min(ids.size(), i + batch); i < end; ++i) {
        const int row = response.ids_size();
        response.add_ids(ids[i]);
        // Score k of id i is i + k / 10, null for every third id.
        for (size_t k = 0; k < columns.size(); ++k) {
          columns[k]->add_values(static_cast<float>(i) + k / 10.0f);
          if (i % 3 == 2) columns[k]->add_null_indexes(row);
        }
      }
      if (!writer->Write(response)) break;
    } while (i < ids.size());
    return grpc::Status::OK;
  }

  grpc::Status Count(grpc::ServerContext* context,
                     const v1::CountRequest* request,
                     v1::CountResponse* response) override {
    if (request->filter() == "bad") {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "filter: syntax error at 1:1");
    }
    absl::MutexLock lock(&state_->mu);
    response->set_count(static_cast<int64_t>(state_->filter_ids.size()));
    return grpc::Status::OK;
  }

  grpc::Status Sample(grpc::ServerContext* context,
                      const v1::SampleRequest* request,
                      grpc::ServerWriter<v1::SampleResponse>* writer) override {
    std::vector<std::vector<std::string>> batches;
    {
      absl::MutexLock lock(&state_->mu);
      batches = state_->sample_batches;
    }
    for (size_t b = request->rank(); b < batches.size();
         b += std::max(1, request->world_size())) {
      v1::SampleResponse response;
      response.set_plan_id("plan-1");
      response.set_cursor(absl::StrCat("cursor-", b + 1));
      response.mutable_batch()->set_global_batch_index(static_cast<int64_t>(b));
      for (const std::string& id : batches[b]) {
        response.mutable_batch()->add_ids(id);
      }
      if (!writer->Write(response)) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status Nearest(grpc::ServerContext* context,
                       const v1::NearestRequest* request,
                       v1::NearestResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    state_->nearest_requests.push_back(*request);
    *response = state_->nearest_response;
    return grpc::Status::OK;
  }

 private:
  FakeState* state_;
};

// The first scripted update, or FAILED_PRECONDITION without a script.
inline grpc::Status FirstUpdate(FakeState* state, v1::Operation* op)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
  if (state->updates.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no script");
  }
  *op = state->updates.front();
  return grpc::Status::OK;
}

class Scores final : public v1::ScoreService::Service {
 public:
  explicit Scores(FakeState* state) : state_(state) {}

  grpc::Status ComputeScores(grpc::ServerContext* context,
                             const v1::ComputeScoresRequest* request,
                             v1::ComputeScoresResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    state_->compute_requests.push_back(*request);
    return FirstUpdate(state_, response->mutable_operation());
  }

 private:
  FakeState* state_;
};

class Admin final : public v1::AdminService::Service {
 public:
  explicit Admin(FakeState* state) : state_(state) {}

  grpc::Status Backup(grpc::ServerContext* context,
                      const v1::BackupRequest* request,
                      v1::BackupResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    state_->backup_requests.push_back(*request);
    return FirstUpdate(state_, response->mutable_operation());
  }

 private:
  FakeState* state_;
};

class Operations final : public v1::OperationService::Service {
 public:
  explicit Operations(FakeState* state) : state_(state) {}

  grpc::Status GetOperation(grpc::ServerContext* context,
                            const v1::GetOperationRequest* request,
                            v1::GetOperationResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    if (state_->updates.empty() ||
        state_->updates.back().operation_id() != request->operation_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such operation");
    }
    *response->mutable_operation() = state_->updates.back();
    return grpc::Status::OK;
  }

  grpc::Status ListOperations(grpc::ServerContext* context,
                              const v1::ListOperationsRequest* request,
                              v1::ListOperationsResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    state_->list_requests.push_back(*request);
    // One operation per page, to exercise paging.
    const size_t next =
        request->page_token().empty() ? 0 : std::stoul(request->page_token());
    if (next < state_->listed.size()) {
      *response->add_operations() = state_->listed[next];
    }
    if (next + 1 < state_->listed.size()) {
      response->set_next_page_token(std::to_string(next + 1));
    }
    return grpc::Status::OK;
  }

  grpc::Status CancelOperation(grpc::ServerContext* context,
                               const v1::CancelOperationRequest* request,
                               v1::CancelOperationResponse* response) override {
    absl::MutexLock lock(&state_->mu);
    state_->cancelled.push_back(request->operation_id());
    v1::Operation* op = response->mutable_operation();
    op->set_operation_id(request->operation_id());
    op->set_state(v1::OPERATION_STATE_RUNNING);
    op->set_cancel_requested(true);
    return grpc::Status::OK;
  }

  grpc::Status WaitOperation(
      grpc::ServerContext* context, const v1::WaitOperationRequest* request,
      grpc::ServerWriter<v1::WaitOperationResponse>* writer) override {
    std::vector<v1::Operation> updates;
    absl::Duration delay;
    bool hold;
    {
      absl::MutexLock lock(&state_->mu);
      ++state_->waits;
      updates = state_->updates;
      delay = state_->update_delay;
      hold = state_->hold;
    }
    if (updates.empty() ||
        updates.front().operation_id() != request->operation_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such operation");
    }
    for (const v1::Operation& op : updates) {
      v1::WaitOperationResponse response;
      *response.mutable_operation() = op;
      if (!writer->Write(response)) return grpc::Status::OK;
      absl::SleepFor(delay);
    }
    while (hold && !context->IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return grpc::Status::OK;
  }

 private:
  FakeState* state_;
};

}  // namespace internal

// The server: Start() binds 127.0.0.1 (port 0 picks a free one), Stop()
// shuts it down; Start() again on the same port is a restart.
class FakeServer {
 public:
  explicit FakeServer(FakeState* state) : state_(state) {}
  ~FakeServer() { Stop(); }

  void Start(int port = 0) {
    collections_ = std::make_unique<internal::Collections>(state_);
    documents_ = std::make_unique<internal::Documents>(state_);
    selection_ = std::make_unique<internal::Selection>(state_);
    scores_ = std::make_unique<internal::Scores>(state_);
    admin_ = std::make_unique<internal::Admin>(state_);
    operations_ = std::make_unique<internal::Operations>(state_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             credentials_ != nullptr
                                 ? credentials_
                                 : grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(collections_.get());
    builder.RegisterService(documents_.get());
    builder.RegisterService(selection_.get());
    builder.RegisterService(scores_.get());
    builder.RegisterService(admin_.get());
    builder.RegisterService(operations_.get());
    server_ = builder.BuildAndStart();
  }

  // Ends every call within `grace` and closes the port.
  void Stop(absl::Duration grace = absl::Milliseconds(100)) {
    if (server_ == nullptr) return;
    server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
    server_->Wait();
    server_.reset();
  }

  // Credentials of the next Start(); plaintext by default.
  void set_credentials(std::shared_ptr<grpc::ServerCredentials> credentials) {
    credentials_ = std::move(credentials);
  }

  int port() const { return port_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  FakeState* state_;
  int port_ = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<internal::Collections> collections_;
  std::unique_ptr<internal::Documents> documents_;
  std::unique_ptr<internal::Selection> selection_;
  std::unique_ptr<internal::Scores> scores_;
  std::unique_ptr<internal::Admin> admin_;
  std::unique_ptr<internal::Operations> operations_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace winnow::fake

#endif  // WINNOW_TESTS_CLIENT_FAKE_SERVER_H_
