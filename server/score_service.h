// ScoreService (proto/winnow/v1/score.proto): PutScores, a bidirectional
// stream of durable, acknowledged batches (batch_ack_reactor.h), and
// GetScores, the one method served on gRPC's completion-queue API
// (get_scores_pollers.h runs its calls and this class's ReadScores answers
// them), and GetScoresStream, many lookups on one stream. ComputeScores and
// ReportTraining are not served yet and answer UNIMPLEMENTED (the generated
// CallbackService's default).
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

  // Answers one authorized GetScores request (a call's, or one lookup of
  // a GetScoresStream).
  absl::Status ReadScores(const winnow::v1::GetScoresRequest& request,
                          winnow::v1::GetScoresResponse* response);

 private:
  ServiceEnv& env_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SCORE_SERVICE_H_
