// CollectionService (proto/winnow/v1/collection.proto): create, get, list
// and delete collections. Each handler validates, calls storage::Store and
// converts; see the .proto for the status codes.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// service holds no mutable state of its own.
#ifndef WINNOW_SERVER_COLLECTION_SERVICE_H_
#define WINNOW_SERVER_COLLECTION_SERVICE_H_

#include "server/service_env.h"
#include "winnow/v1/collection.grpc.pb.h"

namespace winnow::server {

class CollectionServiceImpl final
    : public winnow::v1::CollectionService::CallbackService {
 public:
  explicit CollectionServiceImpl(ServiceEnv& env) : env_(env) {}

  grpc::ServerUnaryReactor* CreateCollection(
      grpc::CallbackServerContext* context,
      const winnow::v1::CreateCollectionRequest* request,
      winnow::v1::CreateCollectionResponse* response) override;
  grpc::ServerUnaryReactor* GetCollection(
      grpc::CallbackServerContext* context,
      const winnow::v1::GetCollectionRequest* request,
      winnow::v1::GetCollectionResponse* response) override;
  grpc::ServerUnaryReactor* ListCollections(
      grpc::CallbackServerContext* context,
      const winnow::v1::ListCollectionsRequest* request,
      winnow::v1::ListCollectionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteCollection(
      grpc::CallbackServerContext* context,
      const winnow::v1::DeleteCollectionRequest* request,
      winnow::v1::DeleteCollectionResponse* response) override;

 private:
  // CollectionStats.plan_count: the collection's live sampling plans.
  void SetPlanCount(winnow::v1::Collection* collection) const;

  ServiceEnv& env_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_COLLECTION_SERVICE_H_
