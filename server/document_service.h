// DocumentService (proto/winnow/v1/document.proto): bulk upsert as a
// bidirectional stream of durable, acknowledged batches; read and delete by
// id. See the .proto and batch_ack_reactor.h for the stream's semantics.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// service holds no mutable state of its own.
#ifndef WINNOW_SERVER_DOCUMENT_SERVICE_H_
#define WINNOW_SERVER_DOCUMENT_SERVICE_H_

#include "server/service_env.h"
#include "winnow/v1/document.grpc.pb.h"

namespace winnow::server {

class DocumentServiceImpl final
    : public winnow::v1::DocumentService::CallbackService {
 public:
  explicit DocumentServiceImpl(ServiceEnv& env) : env_(env) {}

  grpc::ServerBidiReactor<winnow::v1::UpsertDocumentsRequest,
                          winnow::v1::UpsertDocumentsResponse>*
  UpsertDocuments(grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* GetDocuments(
      grpc::CallbackServerContext* context,
      const winnow::v1::GetDocumentsRequest* request,
      winnow::v1::GetDocumentsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteDocuments(
      grpc::CallbackServerContext* context,
      const winnow::v1::DeleteDocumentsRequest* request,
      winnow::v1::DeleteDocumentsResponse* response) override;

 private:
  ServiceEnv& env_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_DOCUMENT_SERVICE_H_
