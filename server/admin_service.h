// AdminService (proto/winnow/v1/admin.proto): online backups, their list,
// and the server's version, build and limits.
//
// Backup starts a BACKUP operation (operations.h; a RocksDB checkpoint,
// usually seconds: immutable SST files are hard-linked, memtables flushed)
// and waits up to backup_wait_seconds for it: it answers with the finished
// operation (SUCCEEDED with the Backup as its result, or FAILED with the
// error, for example RESOURCE_EXHAUSTED on a full disk) if it ends in time,
// and with the running one otherwise. A request_id seen in the last 24
// hours returns the operation of the first call instead of taking another
// backup, also after a restart.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// service holds no mutable state, OperationManager is thread-safe and
// BackupManager serializes backups.
#ifndef WINNOW_SERVER_ADMIN_SERVICE_H_
#define WINNOW_SERVER_ADMIN_SERVICE_H_

#include <string>

#include "absl/time/time.h"
#include "server/backups.h"
#include "server/operations.h"
#include "server/service_env.h"
#include "winnow/v1/admin.grpc.pb.h"

namespace winnow::server {

// The release version ("0.1.0") and the build ("git 1a2b3c4d5e6f,
// RelWithDebInfo, gcc 12.2.0") that GetServerInfo reports.
const char* ServerVersion();
std::string ServerBuild();

class AdminServiceImpl final
    : public winnow::v1::AdminService::CallbackService {
 public:
  AdminServiceImpl(ServiceEnv& env, BackupManager* backups,
                   OperationManager* operations, absl::Time start_time);

  grpc::ServerUnaryReactor* Backup(
      grpc::CallbackServerContext* context,
      const winnow::v1::BackupRequest* request,
      winnow::v1::BackupResponse* response) override;
  grpc::ServerUnaryReactor* ListBackups(
      grpc::CallbackServerContext* context,
      const winnow::v1::ListBackupsRequest* request,
      winnow::v1::ListBackupsResponse* response) override;
  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const winnow::v1::GetServerInfoRequest* request,
      winnow::v1::GetServerInfoResponse* response) override;

 private:
  ServiceEnv& env_;
  BackupManager* const backups_;
  OperationManager* const operations_;
  const absl::Time start_time_;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_ADMIN_SERVICE_H_
