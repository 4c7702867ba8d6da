#include "server/admin_service.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "selection/hash.h"
#include "server/cursor.h"
#include "server/operations.h"
#include "server/unary.h"
#include "storage/options.h"

#ifndef WINNOW_VERSION
#define WINNOW_VERSION "0.0.0"
#endif
#ifndef WINNOW_GIT_REVISION
#define WINNOW_GIT_REVISION "unknown"
#endif
#ifndef WINNOW_BUILD_TYPE
#define WINNOW_BUILD_TYPE "unknown"
#endif

namespace winnow::server {
namespace {

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

void ToProto(const BackupRecord& r, winnow::v1::Backup* out) {
  out->set_backup_id(r.backup_id);
  SetTimestamp(r.create_time, out->mutable_create_time());
  out->set_size_bytes(r.size_bytes);
  out->set_path(r.path);
  out->set_collection_count(r.collection_count);
  out->set_server_version(r.server_version);
}

// The BACKUP job: one checkpoint (BackupManager::Create), which cannot
// stop halfway, so a cancel is noticed only before it begins.
absl::Status RunBackup(BackupManager& backups, JobContext& job,
                       winnow::v1::Operation* result) {
  if (job.Cancelled()) return absl::CancelledError("cancelled before it ran");
  job.SetPhase("taking a checkpoint");
  absl::StatusOr<BackupRecord> backup = backups.Create();
  if (!backup.ok()) return backup.status();
  job.SetTotal(backup->size_bytes, "bytes");
  job.SetDone(backup->size_bytes);
  ToProto(*backup, result->mutable_backup());
  return absl::OkStatus();
}

}  // namespace

const char* ServerVersion() { return WINNOW_VERSION; }

std::string ServerBuild() {
#if defined(__clang__)
  const std::string compiler = absl::StrCat("clang ", __clang_version__);
#elif defined(__GNUC__)
  const std::string compiler = absl::StrCat("gcc ", __VERSION__);
#else
  const std::string compiler = "unknown compiler";
#endif
  return absl::StrCat("git ", WINNOW_GIT_REVISION, ", ", WINNOW_BUILD_TYPE,
                      ", ", compiler);
}

AdminServiceImpl::AdminServiceImpl(ServiceEnv& env, BackupManager* backups,
                                   OperationManager* operations,
                                   absl::Time start_time)
    : env_(env),
      backups_(backups),
      operations_(operations),
      start_time_(start_time) {}

grpc::ServerUnaryReactor* AdminServiceImpl::Backup(
    grpc::CallbackServerContext* context,
    const winnow::v1::BackupRequest* request,
    winnow::v1::BackupResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.AdminService/Backup", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        if (absl::Status s = ValidateRequestId(request->request_id());
            !s.ok()) {
          return s;
        }
        JobSpec spec;
        spec.kind = winnow::v1::OPERATION_KIND_BACKUP;
        spec.request_id = request->request_id();
        spec.run = [backups = backups_](JobContext& job,
                                        winnow::v1::Operation* result) {
          return RunBackup(*backups, job, result);
        };
        absl::StatusOr<winnow::v1::Operation> op =
            operations_->Start(std::move(spec));
        if (!op.ok()) return op.status();
        scope.Note("operation_id", op->operation_id());
        if (!op->done()) {
          op = operations_->WaitDone(
              op->operation_id(),
              absl::Seconds(env_.options->backup_wait_seconds));
          if (!op.ok()) return op.status();
        }
        if (op->has_backup()) scope.Note("backup_id", op->backup().backup_id());
        scope.Note("state", OperationStateName(op->state()));
        *response->mutable_operation() = *std::move(op);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListBackups(
    grpc::CallbackServerContext* context,
    const winnow::v1::ListBackupsRequest* request,
    winnow::v1::ListBackupsResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.AdminService/ListBackups", *request,
      [this, request, response](RpcScope&) -> absl::Status {
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "page_size must be >= 0, got ", request->page_size()));
        }
        const int page_size =
            request->page_size() == 0
                ? kDefaultPageSize
                : std::min(request->page_size(), kMaxPageSize);
        absl::StatusOr<std::vector<BackupRecord>> all = backups_->List();
        if (!all.ok()) return all.status();
        // Newest first, by id; the page token is the last id of the
        // previous page, so pages hold up while backups come and go.
        auto it = all->begin();
        if (!request->page_token().empty()) {
          it = std::find_if(all->begin(), all->end(), [&](const auto& r) {
            return r.backup_id < request->page_token();
          });
        }
        for (; it != all->end() && response->backups_size() < page_size; ++it) {
          ToProto(*it, response->add_backups());
        }
        if (it != all->end()) {
          response->set_next_page_token(
              response->backups(response->backups_size() - 1).backup_id());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetServerInfo(
    grpc::CallbackServerContext* context,
    const winnow::v1::GetServerInfoRequest* request,
    winnow::v1::GetServerInfoResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.AdminService/GetServerInfo", *request,
      [this, response](RpcScope&) -> absl::Status {
        const ServerOptions& options = *env_.options;
        const storage::StoreOptions store_defaults;
        response->set_version(ServerVersion());
        response->set_build(ServerBuild());
        SetTimestamp(start_time_, response->mutable_start_time());
        response->set_sampler_version(winnow::kSamplerVersion);
        response->set_cursor_format_version(kCursorFormatVersion);
        response->set_sync_writes(options.sync_writes);
        winnow::v1::ServerLimits& limits = *response->mutable_limits();
        limits.set_max_message_bytes(options.max_message_bytes);
        limits.set_max_id_bytes(store_defaults.max_id_bytes);
        limits.set_max_payload_bytes(
            static_cast<int64_t>(store_defaults.max_payload_bytes));
        limits.set_max_concurrent_streams(
            static_cast<int32_t>(options.max_concurrent_streams));
        limits.set_plan_memory_bytes(options.max_plan_memory_bytes);
        limits.set_max_plans_per_token(
            static_cast<int32_t>(options.max_plans_per_token));
        limits.mutable_plan_ttl()->set_seconds(options.plan_ttl_seconds);
        limits.set_embedding_memory_bytes(options.max_embedding_memory_bytes);
        return absl::OkStatus();
      });
}

}  // namespace winnow::server
