// ScoreService (proto/winnow/v1/score.proto): PutScores and ReportTraining,
// bidirectional streams of durable, acknowledged messages
// (batch_ack_reactor.h); GetScores, the one method served on gRPC's
// completion-queue API (get_scores_pollers.h runs its calls and this
// class's ReadScores answers them); and GetScoresStream, many lookups on one
// stream; and ComputeScores, which validates its request and starts the
// scorer's job (ScorerRegistry, operations.h) as an operation; a scorer
// kind not built yet answers UNIMPLEMENTED naming it. ReportTraining's
// statistics live in storage (Store::ReportTraining, docs/feedback.md); this
// adapter converts, times and counts.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// service holds no mutable state of its own.
#ifndef WINNOW_SERVER_SCORE_SERVICE_H_
#define WINNOW_SERVER_SCORE_SERVICE_H_

#include "server/get_scores_pollers.h"
#include "server/service_env.h"
#include "winnow/v1/score.grpc.pb.h"

namespace winnow::server {

class ScoreServiceImpl final : public ScoreServiceBase {
 public:
  explicit ScoreServiceImpl(ServiceEnv& env) : env_(env) {}

  grpc::ServerBidiReactor<winnow::v1::PutScoresRequest,
                          winnow::v1::PutScoresResponse>*
  PutScores(grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<winnow::v1::GetScoresStreamRequest,
                          winnow::v1::GetScoresStreamResponse>*
  GetScoresStream(grpc::CallbackServerContext* context) override;
  grpc::ServerBidiReactor<winnow::v1::ReportTrainingRequest,
                          winnow::v1::ReportTrainingResponse>*
  ReportTraining(grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* ComputeScores(
      grpc::CallbackServerContext* context,
      const winnow::v1::ComputeScoresRequest* request,
      winnow::v1::ComputeScoresResponse* response) override;

  // Answers one authorized GetScores request (a call's, or one lookup of
  // a GetScoresStream).
  absl::Status ReadScores(const winnow::v1::GetScoresRequest& request,
                          winnow::v1::GetScoresResponse* response);

 private:
  absl::Status StartComputeScores(
      const winnow::v1::ComputeScoresRequest& request,
      winnow::v1::ComputeScoresResponse* response);

  ServiceEnv& env_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SCORE_SERVICE_H_
