#include "server/document_service.h"

#include <memory>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/batch_ack_reactor.h"
#include "server/convert.h"
#include "server/unary.h"
#include "server/validation.h"

namespace winnow::server {

using winnow::v1::UpsertDocumentsRequest;
using winnow::v1::UpsertDocumentsResponse;

grpc::ServerBidiReactor<UpsertDocumentsRequest, UpsertDocumentsResponse>*
DocumentServiceImpl::UpsertDocuments(grpc::CallbackServerContext* context) {
  using Reactor =
      BatchAckReactor<UpsertDocumentsRequest, UpsertDocumentsResponse>;
  storage::Store* store = env_.store;
  return new Reactor(
      context, env_, "winnow.v1.DocumentService/UpsertDocuments",
      [store](const UpsertDocumentsRequest& request)
          -> absl::StatusOr<Reactor::Finisher> {
        if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
          return s;
        }
        UpsertBatch batch;
        if (absl::Status s = batch.Build(request); !s.ok()) return s;
        // Written now, durable once the finisher returns: the stream reads
        // and writes the next batch meanwhile (store.h).
        absl::StatusOr<storage::PendingUpsert> pending =
            store->StartUpsertDocuments(request.collection(), batch.batch());
        if (!pending.ok()) {
          // Storage names DocumentBatch fields, which are DocumentColumns'
          // own; for rows, its index i is documents[i] and it names the id.
          if (absl::IsInvalidArgument(pending.status()) &&
              request.documents_size() == 0) {
            return absl::InvalidArgumentError(
                absl::StrCat("columns.", pending.status().message()));
          }
          return pending.status();
        }
        auto shared =
            std::make_shared<storage::PendingUpsert>(*std::move(pending));
        const auto documents = static_cast<int64_t>(batch.size());
        return [store, shared,
                documents](UpsertDocumentsResponse* ack) -> absl::Status {
          absl::StatusOr<storage::UpsertResult> result =
              store->FinishUpsertDocuments(std::move(*shared));
          if (!result.ok()) return result.status();
          ack->set_document_count(documents);
          ack->set_created_count(static_cast<int64_t>(result->num_created));
          // A revived tombstone replaces the deleted document of its id.
          ack->set_replaced_count(
              static_cast<int64_t>(result->num_replaced + result->num_revived));
          return absl::OkStatus();
        };
      });
}

grpc::ServerUnaryReactor* DocumentServiceImpl::GetDocuments(
    grpc::CallbackServerContext* context,
    const winnow::v1::GetDocumentsRequest* request,
    winnow::v1::GetDocumentsResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.DocumentService/GetDocuments", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        if (absl::Status s = RequireCollection(request->collection());
            !s.ok()) {
          return s;
        }
        absl::StatusOr<DocumentMask> mask = ParseReadMask(request->read_mask());
        if (!mask.ok()) return mask.status();
        std::vector<std::string_view> ids(request->ids().begin(),
                                          request->ids().end());
        absl::StatusOr<storage::GetDocumentsResult> result =
            env_.store->GetDocuments(
                request->collection(), ids,
                {request->ordinals().data(),
                 static_cast<size_t>(request->ordinals_size())},
                ToReadOptions(*mask,
                              {request->score_names().begin(),
                               request->score_names().end()},
                              request->allow_missing()));
        if (!result.ok()) return result.status();
        for (const storage::StoredDocument& d : result->documents) {
          ToProto(d, *mask, response->add_documents());
        }
        for (std::string& id : result->missing_ids) {
          response->add_missing_ids(std::move(id));
        }
        response->mutable_missing_ordinals()->Assign(
            result->missing_ordinals.begin(), result->missing_ordinals.end());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* DocumentServiceImpl::DeleteDocuments(
    grpc::CallbackServerContext* context,
    const winnow::v1::DeleteDocumentsRequest* request,
    winnow::v1::DeleteDocumentsResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.DocumentService/DeleteDocuments", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        if (absl::Status s = RequireCollection(request->collection());
            !s.ok()) {
          return s;
        }
        std::vector<std::string_view> ids(request->ids().begin(),
                                          request->ids().end());
        absl::StatusOr<storage::DeleteResult> result =
            env_.store->DeleteDocuments(request->collection(), ids,
                                        request->allow_missing());
        if (!result.ok()) return result.status();
        response->set_deleted_count(static_cast<int64_t>(result->num_deleted));
        for (std::string& id : result->missing_ids) {
          response->add_missing_ids(std::move(id));
        }
        return absl::OkStatus();
      });
}

}  // namespace winnow::server
