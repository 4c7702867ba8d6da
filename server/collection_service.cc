#include "server/collection_service.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/convert.h"
#include "server/operations.h"
#include "server/plans.h"
#include "server/unary.h"
#include "server/validation.h"

namespace winnow::server {
namespace {

// ListCollections page sizes (collection.proto).
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

}  // namespace

grpc::ServerUnaryReactor* CollectionServiceImpl::CreateCollection(
    grpc::CallbackServerContext* context,
    const winnow::v1::CreateCollectionRequest* request,
    winnow::v1::CreateCollectionResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.CollectionService/CreateCollection", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection().name());
        if (!request->has_collection()) {
          return absl::InvalidArgumentError("collection must be set");
        }
        absl::StatusOr<storage::CollectionSpec> spec =
            ToCollectionSpec(request->collection());
        if (!spec.ok()) return spec.status();
        if (absl::Status s = env_.store->CreateCollection(*spec); !s.ok()) {
          // Storage names its fields ("name: ..."); the request nests
          // them under "collection.".
          if (!absl::IsInvalidArgument(s)) return s;
          return absl::InvalidArgumentError(
              absl::StrCat("collection.", s.message()));
        }
        absl::StatusOr<storage::CollectionInfo> info =
            env_.store->GetCollection(spec->name);
        if (!info.ok()) return info.status();
        ToProto(*info, response->mutable_collection());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CollectionServiceImpl::GetCollection(
    grpc::CallbackServerContext* context,
    const winnow::v1::GetCollectionRequest* request,
    winnow::v1::GetCollectionResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.CollectionService/GetCollection", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->name());
        if (absl::Status s = RequireCollection(request->name(), "name");
            !s.ok()) {
          return s;
        }
        absl::StatusOr<storage::CollectionInfo> info =
            env_.store->GetCollection(request->name());
        if (!info.ok()) return info.status();
        ToProto(*info, response->mutable_collection());
        SetPlanCount(response->mutable_collection());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CollectionServiceImpl::ListCollections(
    grpc::CallbackServerContext* context,
    const winnow::v1::ListCollectionsRequest* request,
    winnow::v1::ListCollectionsResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.CollectionService/ListCollections", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "page_size must be >= 0, got ", request->page_size()));
        }
        int page_size = request->page_size() == 0
                            ? kDefaultPageSize
                            : std::min(request->page_size(), kMaxPageSize);
        // The page token is the last name of the previous page: names are
        // unique and the list is sorted by name, so a page starts after it
        // even if collections were created or deleted in between.
        // Only the collections the caller's token may see (auth.h).
        std::vector<storage::CollectionInfo> all =
            env_.store->ListCollections();
        std::erase_if(all, [&](const storage::CollectionInfo& c) {
          return !scope.principal().MaySee(c.name);
        });
        auto it = std::upper_bound(
            all.begin(), all.end(), request->page_token(),
            [](const std::string& token, const storage::CollectionInfo& c) {
              return token < c.name;
            });
        for (; it != all.end() && response->collections_size() < page_size;
             ++it) {
          ToProto(*it, response->add_collections());
          SetPlanCount(
              response->mutable_collections(response->collections_size() - 1));
        }
        if (it != all.end()) {
          response->set_next_page_token(
              response->collections(response->collections_size() - 1).name());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CollectionServiceImpl::DeleteCollection(
    grpc::CallbackServerContext* context,
    const winnow::v1::DeleteCollectionRequest* request,
    winnow::v1::DeleteCollectionResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.CollectionService/DeleteCollection", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->name());
        if (absl::Status s = RequireCollection(request->name(), "name");
            !s.ok()) {
          return s;
        }
        // Its jobs stop first, and write nothing (operations.h).
        if (env_.operations != nullptr) {
          env_.operations->CancelCollection(request->name());
        }
        absl::Status s = env_.store->DeleteCollection(request->name());
        if (s.ok()) {
          // Its data-plane series go with it.
          if (env_.metrics != nullptr) {
            env_.metrics->ForgetCollection(request->name());
          }
          response->set_deleted(true);
          return s;
        }
        if (absl::IsNotFound(s) && request->allow_missing()) {
          response->set_deleted(false);
          return absl::OkStatus();
        }
        return s;
      });
}

void CollectionServiceImpl::SetPlanCount(
    winnow::v1::Collection* collection) const {
  if (env_.plans == nullptr) return;
  collection->mutable_stats()->set_plan_count(
      env_.plans->CountForCollection(collection->name()));
}

}  // namespace winnow::server
