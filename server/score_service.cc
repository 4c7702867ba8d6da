#include "server/score_service.h"

#include <cmath>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/batch_ack_reactor.h"
#include "server/convert.h"
#include "server/unary.h"
#include "server/validation.h"

namespace winnow::server {
namespace {

using winnow::v1::PutScoresRequest;
using winnow::v1::PutScoresResponse;

// Fills `response` from the columns of one snapshot, so every value comes
// from the same committed state.
absl::Status ReadScores(const storage::ColumnsSnapshot& snapshot,
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

  auto add = [&](uint32_t ordinal) {
    const uint32_t index = static_cast<uint32_t>(response->ids_size());
    response->add_ids(std::string(snapshot.id(ordinal)));
    response->add_ordinals(ordinal);
    for (size_t c = 0; c < spans.size(); ++c) {
      winnow::v1::ScoreColumn* column = response->mutable_scores(int(c));
      float value = ordinal < spans[c].size() ? spans[c][ordinal] : NAN;
      if (std::isnan(value)) {
        column->add_values(0.0f);
        column->add_null_indexes(index);
      } else {
        column->add_values(value);
      }
    }
  };
  auto live = [&](uint32_t ordinal) {
    return ordinal < snapshot.num_rows() && columns.live->Get(ordinal);
  };
  for (int i = 0; i < request.ids_size(); ++i) {
    const std::string& id = request.ids(i);
    std::optional<uint32_t> ordinal = snapshot.FindId(id);
    if (ordinal && live(*ordinal)) {
      add(*ordinal);
    } else if (request.allow_missing()) {
      response->add_missing_ids(id);
    } else {
      return absl::NotFoundError(
          absl::StrCat("ids[", i, "]: no live document '", id, "'"));
    }
  }
  for (int i = 0; i < request.ordinals_size(); ++i) {
    uint64_t ordinal = request.ordinals(i);
    if (ordinal <= UINT32_MAX && live(static_cast<uint32_t>(ordinal))) {
      add(static_cast<uint32_t>(ordinal));
    } else if (request.allow_missing()) {
      response->add_missing_ordinals(ordinal);
    } else {
      return absl::NotFoundError(
          absl::StrCat("ordinals[", i, "]: no live document ", ordinal));
    }
  }
  return absl::OkStatus();
}

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

grpc::ServerUnaryReactor* ScoreServiceImpl::GetScores(
    grpc::CallbackServerContext* context,
    const winnow::v1::GetScoresRequest* request,
    winnow::v1::GetScoresResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.ScoreService/GetScores", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        if (absl::Status s = RequireCollection(request->collection());
            !s.ok()) {
          return s;
        }
        if (request->ids_size() > 0 && request->ordinals_size() > 0) {
          return absl::InvalidArgumentError(
              "ids and ordinals: set ids or ordinals, not both");
        }
        absl::StatusOr<storage::ColumnsSnapshot> snapshot =
            env_.store->ReadColumns(request->collection());
        if (!snapshot.ok()) return snapshot.status();
        return ReadScores(*snapshot, *request, response);
      });
}

}  // namespace winnow::server
