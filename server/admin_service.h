// AdminService (proto/winnow/v1/admin.proto): online backups, their list,
// and the server's version, build and limits.
//
// Backup runs the whole backup (a RocksDB checkpoint, usually seconds:
// immutable SST files are hard-linked, memtables flushed) on a worker
// thread before answering, so the Operation it returns is already done:
// SUCCEEDED with the Backup as its result, or FAILED with the error (for
// example RESOURCE_EXHAUSTED on a full disk). A request_id seen in the last
// 24 hours returns the operation of the first call instead of taking
// another backup.
//
// Thread safety: gRPC calls the handlers from many threads at once; the
// request-id table is guarded by a mutex, and BackupManager serializes
// backups.
#ifndef WINNOW_SERVER_ADMIN_SERVICE_H_
#define WINNOW_SERVER_ADMIN_SERVICE_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/backups.h"
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
                   absl::Time start_time);

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
  struct Remembered {
    absl::Time when;
    winnow::v1::Operation operation;
  };

  ServiceEnv& env_;
  BackupManager* const backups_;
  const absl::Time start_time_;

  // Held while a backup with a request_id runs, so a concurrent retry
  // waits for it and then finds it in by_request_id_.
  absl::Mutex request_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  // Operations by request_id, for 24 hours.
  std::map<std::string, Remembered> by_request_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_ADMIN_SERVICE_H_
