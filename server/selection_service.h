// SelectionService (proto/winnow/v1/selection.proto): Filter and Sample as
// server streams (filter_stream.h, sample_stream.h), and Count, Nearest
// (nearest.h), ListPlans and DeletePlan as unary calls (plans.h holds the
// plans).
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// service holds no mutable state of its own.
#ifndef WINNOW_SERVER_SELECTION_SERVICE_H_
#define WINNOW_SERVER_SELECTION_SERVICE_H_

#include "server/service_env.h"
#include "winnow/v1/selection.grpc.pb.h"

namespace winnow::server {

class SelectionServiceImpl final
    : public winnow::v1::SelectionService::CallbackService {
 public:
  explicit SelectionServiceImpl(ServiceEnv& env) : env_(env) {}

  grpc::ServerWriteReactor<winnow::v1::FilterResponse>* Filter(
      grpc::CallbackServerContext* context,
      const winnow::v1::FilterRequest* request) override;
  grpc::ServerUnaryReactor* Count(grpc::CallbackServerContext* context,
                                  const winnow::v1::CountRequest* request,
                                  winnow::v1::CountResponse* response) override;
  grpc::ServerUnaryReactor* Nearest(
      grpc::CallbackServerContext* context,
      const winnow::v1::NearestRequest* request,
      winnow::v1::NearestResponse* response) override;
  grpc::ServerWriteReactor<winnow::v1::SampleResponse>* Sample(
      grpc::CallbackServerContext* context,
      const winnow::v1::SampleRequest* request) override;
  grpc::ServerUnaryReactor* ListPlans(
      grpc::CallbackServerContext* context,
      const winnow::v1::ListPlansRequest* request,
      winnow::v1::ListPlansResponse* response) override;
  grpc::ServerUnaryReactor* DeletePlan(
      grpc::CallbackServerContext* context,
      const winnow::v1::DeletePlanRequest* request,
      winnow::v1::DeletePlanResponse* response) override;

 private:
  ServiceEnv& env_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SELECTION_SERVICE_H_
