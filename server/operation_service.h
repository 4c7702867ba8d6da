// OperationService (proto/winnow/v1/operation.proto): reads, lists,
// cancels and follows the long jobs of OperationManager (operations.h).
//
// Scope (docs/operations.md, "Operations"): a token limited to some
// collections sees and cancels only the operations on those collections;
// another operation's id answers NOT_FOUND, as an unknown one does.
// Server-wide operations (backups, which have no collection) are visible
// only to tokens with no collection limit, as Backup itself needs one.
//
// WaitOperation's streams are paced by one thread (the wait pump) rather
// than by the request workers: it checks each open stream every 50 ms and
// writes when the stream's previous write is done and the operation has
// changed since the last message and update_interval has passed, or at
// once when it is done. So a thousand waiters hold no worker thread.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// pump's list is guarded by its mutex, and each stream's state is touched
// by the pump thread only (the gRPC callbacks set atomics).
#ifndef WINNOW_SERVER_OPERATION_SERVICE_H_
#define WINNOW_SERVER_OPERATION_SERVICE_H_

#include <memory>

#include "server/operations.h"
#include "server/service_env.h"
#include "winnow/v1/operation.grpc.pb.h"

namespace winnow::server {

class WaitPump;

class OperationServiceImpl final
    : public winnow::v1::OperationService::CallbackService {
 public:
  OperationServiceImpl(ServiceEnv& env, OperationManager* operations);
  ~OperationServiceImpl() override;

  grpc::ServerUnaryReactor* GetOperation(
      grpc::CallbackServerContext* context,
      const winnow::v1::GetOperationRequest* request,
      winnow::v1::GetOperationResponse* response) override;
  grpc::ServerUnaryReactor* ListOperations(
      grpc::CallbackServerContext* context,
      const winnow::v1::ListOperationsRequest* request,
      winnow::v1::ListOperationsResponse* response) override;
  grpc::ServerUnaryReactor* CancelOperation(
      grpc::CallbackServerContext* context,
      const winnow::v1::CancelOperationRequest* request,
      winnow::v1::CancelOperationResponse* response) override;
  grpc::ServerWriteReactor<winnow::v1::WaitOperationResponse>* WaitOperation(
      grpc::CallbackServerContext* context,
      const winnow::v1::WaitOperationRequest* request) override;

  // Stops the wait pump; call after the gRPC server has shut down (every
  // stream has ended).
  void Stop();

 private:
  ServiceEnv& env_;
  OperationManager* const operations_;
  std::unique_ptr<WaitPump> pump_;
};

// The operation `id` if the principal may see it, else NOT_FOUND (as for
// an unknown id). INVALID_ARGUMENT for an empty id.
absl::StatusOr<winnow::v1::Operation> FindVisibleOperation(
    const OperationManager& operations, const Principal& principal,
    const std::string& id);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_OPERATION_SERVICE_H_
