#include "server/score_service.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "server/batch_ack_reactor.h"
#include "server/convert.h"
#include "server/metrics.h"
#include "server/operations.h"
#include "server/query.h"
#include "server/unary.h"
#include "server/validation.h"

namespace winnow::server {
namespace {

using winnow::v1::PutScoresRequest;
using winnow::v1::PutScoresResponse;

// Fills `response` from the columns of one snapshot, so every value comes
// from the same committed state.
absl::Status FillScores(const storage::ColumnsSnapshot& snapshot,
                        const winnow::v1::GetScoresRequest& request,
                        winnow::v1::GetScoresResponse* response) {
  const ColumnSet& columns = snapshot.columns();
  std::vector<std::span<const float>> spans;
  if (request.score_names_size() == 0) {
    for (const auto& [name, span] : columns.scores) {
      response->add_scores()->set_name(name);
      spans.push_back(span);
    }
  } else {
    for (int i = 0; i < request.score_names_size(); ++i) {
      const std::string& name = request.score_names(i);
      auto it = columns.scores.find(name);
      if (it == columns.scores.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("score_names[", i, "]: unknown score '", name, "'"));
      }
      response->add_scores()->set_name(name);
      spans.push_back(it->second);
    }
  }

  auto live = [&](uint32_t ordinal) {
    return ordinal < snapshot.num_rows() && columns.live->Get(ordinal);
  };
  // First the documents, in request order, then each output column in one
  // tight pass: a gather loop with independent loads lets the CPU overlap
  // the cache misses of random ordinals, which interleaving them with
  // message building does not (docs/benchmarks.md).
  std::vector<uint32_t> found;
  found.reserve(static_cast<size_t>(request.ids_size()) +
                static_cast<size_t>(request.ordinals_size()));
  if (request.ids_size() > 0) {
    std::vector<std::string_view> ids(request.ids().begin(),
                                      request.ids().end());
    std::vector<uint32_t> ordinals(ids.size());
    snapshot.FindIds(ids, ordinals);
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint32_t ordinal = ordinals[i];
      if (ordinal != storage::ColumnsSnapshot::kNoOrdinal && live(ordinal)) {
        found.push_back(ordinal);
      } else if (request.allow_missing()) {
        response->add_missing_ids(request.ids(static_cast<int>(i)));
      } else {
        return absl::NotFoundError(
            absl::StrCat("ids[", i, "]: no live document '",
                         request.ids(static_cast<int>(i)), "'"));
      }
    }
  }
  for (int i = 0; i < request.ordinals_size(); ++i) {
    uint64_t ordinal = request.ordinals(i);
    if (ordinal <= UINT32_MAX && live(static_cast<uint32_t>(ordinal))) {
      found.push_back(static_cast<uint32_t>(ordinal));
    } else if (request.allow_missing()) {
      response->add_missing_ordinals(ordinal);
    } else {
      return absl::NotFoundError(
          absl::StrCat("ordinals[", i, "]: no live document ", ordinal));
    }
  }

  const int count = static_cast<int>(found.size());
  response->mutable_ids()->Reserve(count);
  for (uint32_t ordinal : found) {
    response->add_ids(std::string(snapshot.id(ordinal)));
  }
  response->mutable_ordinals()->Assign(found.begin(), found.end());
  for (size_t c = 0; c < spans.size(); ++c) {
    winnow::v1::ScoreColumn* column = response->mutable_scores(int(c));
    google::protobuf::RepeatedField<float>* values = column->mutable_values();
    values->Resize(count, 0.0f);
    float* out = values->mutable_data();
    const std::span<const float> span = spans[c];
    for (int i = 0; i < count; ++i) {
      const uint32_t ordinal = found[static_cast<size_t>(i)];
      out[i] = ordinal < span.size() ? span[ordinal] : NAN;
    }
    for (int i = 0; i < count; ++i) {
      if (std::isnan(out[i])) {
        out[i] = 0.0f;
        column->add_null_indexes(static_cast<uint32_t>(i));
      }
    }
  }
  return absl::OkStatus();
}

// GetScoresStream (score.proto): one lookup per message, answered in order
// by one response echoing its sequence. Like GetScores, a small lookup runs
// on the thread that read it and a large one (over kStreamInlineMaxIds) on
// a worker. One read or write is outstanding at a time: the next message is
// read once the previous answer is written, and gRPC's flow control holds
// the lookups a client sends ahead. A failed lookup ends the stream with its
// error, prefixed "sequence N: ".
class GetScoresStreamReactor final
    : public grpc::ServerBidiReactor<winnow::v1::GetScoresStreamRequest,
                                     winnow::v1::GetScoresStreamResponse> {
 public:
  static constexpr char kMethod[] = "winnow.v1.ScoreService/GetScoresStream";
  // As GetScoresPollers::Options::inline_max_ids.
  static constexpr int kStreamInlineMaxIds = 1024;

  GetScoresStreamReactor(grpc::CallbackServerContext* context, ServiceEnv& env,
                         ScoreServiceImpl* service)
      : env_(env),
        service_(service),
        scope_(context, kMethod, RpcType::kBidiStream, env) {
    absl::Status s;
    if (env_.draining.load(std::memory_order_acquire)) {
      s = ShuttingDownError();
    } else {
      // The role now; each lookup's collection as it comes.
      s = AuthorizeCall(context, env_, scope_, kMethod, nullptr);
      if (s.ok()) s = env_.OpenStream();
      holds_stream_ = s.ok();
    }
    if (!s.ok()) {
      Finish(scope_.Done(ToGrpcStatus(s)));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The client half-closed (every answer is written), or it has gone.
      Finish(scope_.Done(grpc::Status::OK));
      return;
    }
    scope_.MessageReceived();
    const winnow::v1::GetScoresRequest& get = request_.request();
    if (get.ids_size() + get.ordinals_size() > kStreamInlineMaxIds) {
      env_.workers->Post([this] { Answer(); });
    } else {
      Answer();
    }
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(scope_.Done(
          grpc::Status(grpc::StatusCode::CANCELLED, "the client has gone")));
      return;
    }
    scope_.MessageSent();
    StartRead(&request_);
  }

  void OnDone() override {
    if (holds_stream_) env_.CloseStream();
    delete this;
  }

 private:
  // Answers the lookup in request_, or ends the stream with its error.
  void Answer() {
    absl::Status s;
    if (env_.Stopping()) {
      s = ShuttingDownError();
    } else {
      s = AuthorizeMessage(scope_.principal(), kMethod, request_);
    }
    response_.Clear();
    if (s.ok()) {
      s = service_->ReadScores(request_.request(),
                               response_.mutable_response());
    }
    if (!s.ok()) {
      scope_.Note("collection", request_.request().collection());
      Finish(scope_.Done(ToGrpcStatus(absl::Status(
          s.code(),
          absl::StrCat("sequence ", request_.sequence(), ": ", s.message())))));
      return;
    }
    response_.set_sequence(request_.sequence());
    StartWrite(&response_);
  }

  ServiceEnv& env_;
  ScoreServiceImpl* service_;
  RpcScope scope_;
  bool holds_stream_ = false;
  winnow::v1::GetScoresStreamRequest request_;
  winnow::v1::GetScoresStreamResponse response_;
};

}  // namespace

grpc::ServerBidiReactor<PutScoresRequest, PutScoresResponse>*
ScoreServiceImpl::PutScores(grpc::CallbackServerContext* context) {
  using Reactor = BatchAckReactor<PutScoresRequest, PutScoresResponse>;
  storage::Store* store = env_.store;
  return new Reactor(
      context, env_, "winnow.v1.ScoreService/PutScores",
      [store](const PutScoresRequest& request)
          -> absl::StatusOr<Reactor::Finisher> {
        if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
          return s;
        }
        absl::StatusOr<storage::ScoreBatch> batch = ToScoreBatch(request);
        if (!batch.ok()) return batch.status();
        // Durable when PutScores returns; the finisher only fills the ack.
        absl::StatusOr<storage::PutScoresResult> result =
            store->PutScores(request.collection(), *batch);
        if (!result.ok()) return result.status();
        return [result = *result](PutScoresResponse* ack) -> absl::Status {
          ack->set_document_count(static_cast<int64_t>(result.num_documents));
          ack->set_missing_count(static_cast<int64_t>(result.num_missing));
          return absl::OkStatus();
        };
      });
}

grpc::ServerBidiReactor<winnow::v1::GetScoresStreamRequest,
                        winnow::v1::GetScoresStreamResponse>*
ScoreServiceImpl::GetScoresStream(grpc::CallbackServerContext* context) {
  return new GetScoresStreamReactor(context, env_, this);
}

grpc::ServerBidiReactor<winnow::v1::ReportTrainingRequest,
                        winnow::v1::ReportTrainingResponse>*
ScoreServiceImpl::ReportTraining(grpc::CallbackServerContext* context) {
  using winnow::v1::ReportTrainingRequest;
  using winnow::v1::ReportTrainingResponse;
  using Reactor =
      BatchAckReactor<ReportTrainingRequest, ReportTrainingResponse>;
  storage::Store* store = env_.store;
  Metrics* metrics = env_.metrics;
  return new Reactor(
      context, env_, "winnow.v1.ScoreService/ReportTraining",
      [store, metrics](const ReportTrainingRequest& request)
          -> absl::StatusOr<Reactor::Finisher> {
        const auto start = std::chrono::steady_clock::now();
        if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
          return s;
        }
        const storage::TrainingReport report = ToTrainingReport(request);
        // Durable and visible when ReportTraining returns.
        absl::StatusOr<storage::ReportResult> result =
            store->ReportTraining(request.collection(), report);
        if (!result.ok()) return result.status();
        if (metrics != nullptr && !result->duplicate) {
          metrics->RecordFeedbackReports(
              request.collection(), result->num_applied,
              std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                            start)
                  .count());
        }
        return [result = *result, stream_id = request.stream_id()](
                   ReportTrainingResponse* ack) -> absl::Status {
          ack->set_stream_id(stream_id);
          ack->set_duplicate(result.duplicate);
          ack->set_applied_count(static_cast<int64_t>(result.num_applied));
          ack->set_skipped_count(static_cast<int64_t>(result.num_skipped));
          return absl::OkStatus();
        };
      });
}

absl::Status ScoreServiceImpl::ReadScores(
    const winnow::v1::GetScoresRequest& request,
    winnow::v1::GetScoresResponse* response) {
  if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
    return s;
  }
  if (request.ids_size() > 0 && request.ordinals_size() > 0) {
    return absl::InvalidArgumentError(
        "ids and ordinals: set ids or ordinals, not both");
  }
  absl::StatusOr<storage::ColumnsSnapshot> snapshot =
      env_.store->ReadColumns(request.collection());
  if (!snapshot.ok()) return snapshot.status();
  return FillScores(*snapshot, request, response);
}

grpc::ServerUnaryReactor* ScoreServiceImpl::ComputeScores(
    grpc::CallbackServerContext* context,
    const winnow::v1::ComputeScoresRequest* request,
    winnow::v1::ComputeScoresResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.ScoreService/ComputeScores", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        absl::Status s = StartComputeScores(*request, response);
        if (s.ok()) {
          scope.Note("operation_id", response->operation().operation_id());
        }
        return s;
      });
}

absl::Status ScoreServiceImpl::StartComputeScores(
    const winnow::v1::ComputeScoresRequest& request,
    winnow::v1::ComputeScoresResponse* response) {
  if (request.collection().empty()) {
    return absl::InvalidArgumentError("collection: must be set");
  }
  if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok()) {
    return s;
  }
  const auto kind = request.scorer().kind_case();
  if (kind == winnow::v1::Scorer::KIND_NOT_SET) {
    return absl::InvalidArgumentError(
        "scorer: must be set (kmeans, semdedup, d4, target_similarity or "
        "exact_dedup)");
  }
  {
    absl::StatusOr<storage::ColumnsSnapshot> snapshot =
        env_.store->ReadColumns(request.collection());
    if (!snapshot.ok()) return snapshot.status();
    if (!request.filter().empty()) {
      absl::StatusOr<Filter> filter =
          CompileFilter(request.filter(), snapshot->columns());
      if (!filter.ok()) return filter.status();
    }
  }
  const ScorerFactory* factory =
      env_.scorers == nullptr ? nullptr : env_.scorers->Find(kind);
  if (factory == nullptr || env_.operations == nullptr) {
    const std::string name = winnow::v1::Scorer::descriptor()
                                 ->FindFieldByNumber(static_cast<int>(kind))
                                 ->name();
    return absl::UnimplementedError(
        absl::StrCat("scorer: the '", name, "' scorer is not implemented yet"));
  }
  absl::StatusOr<JobSpec> spec = (*factory)(request);
  if (!spec.ok()) return spec.status();
  spec->kind = winnow::v1::OPERATION_KIND_COMPUTE_SCORES;
  spec->collection = request.collection();
  spec->request_id = request.request_id();
  spec->scorer = request.scorer();
  absl::StatusOr<winnow::v1::Operation> op =
      env_.operations->Start(*std::move(spec));
  if (!op.ok()) return op.status();
  *response->mutable_operation() = *std::move(op);
  return absl::OkStatus();
}

}  // namespace winnow::server
