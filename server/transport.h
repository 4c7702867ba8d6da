// The server's transport security and its plaintext health port
// (docs/operations.md, "Security").
//
// MakeServerCredentials: plaintext without tls_cert; TLS with tls_cert and
// tls_key; mutual TLS (client certificates required and verified against
// tls_client_ca) with a client CA as well. The files are checked with
// OpenSSL at startup, so a missing file, a file without PEM, or a key that
// does not belong to the certificate stops the server with a message naming
// the option, rather than failing every handshake later. gRPC then watches
// the files (every tls_refresh_seconds) and serves a replaced certificate,
// key or CA bundle to new connections without a restart.
//
// StartHealthServer: a second gRPC server, always plaintext, serving only
// grpc.health.v1.Health (no reflection, no winnow.v1 service), for probes
// that cannot do TLS (Kubernetes' native gRPC probes).
//
// Thread safety: functions of their arguments; thread-safe.
#ifndef WINNOW_SERVER_TRANSPORT_H_
#define WINNOW_SERVER_TRANSPORT_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/options.h"

namespace winnow::server {

// The credentials of the main port. INVALID_ARGUMENT naming the option
// (tls_cert, tls_key, tls_client_ca) when a file is unreadable or wrong.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerOptions& options);

// Starts the health-only server on `address` and sets *port to the bound
// port. UNAVAILABLE if it cannot bind. Its health service starts SERVING.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(
    const std::string& address, int* port);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_TRANSPORT_H_
