#include "server/transport.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/server_builder.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

absl::StatusOr<Bio> OpenPem(const char* key, const std::string& path) {
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (bio == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": cannot read '", path, "'"));
  }
  return bio;
}

// The first certificate of a PEM file.
absl::StatusOr<Cert> ReadCertificate(const char* key, const std::string& path) {
  absl::StatusOr<Bio> bio = OpenPem(key, path);
  if (!bio.ok()) return bio.status();
  Cert cert(PEM_read_bio_X509(bio->get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": '", path, "' holds no PEM certificate"));
  }
  return cert;
}

absl::Status CheckFiles(const ServerOptions& options) {
  absl::StatusOr<Cert> cert = ReadCertificate("tls_cert", options.tls_cert);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<Bio> bio = OpenPem("tls_key", options.tls_key);
  if (!bio.ok()) return bio.status();
  Key key(PEM_read_bio_PrivateKey(bio->get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls_key: '", options.tls_key,
                     "' holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls_key: '", options.tls_key,
        "' is not the key of the certificate in '", options.tls_cert, "'"));
  }
  if (!options.tls_client_ca.empty()) {
    absl::StatusOr<Cert> ca =
        ReadCertificate("tls_client_ca", options.tls_client_ca);
    if (!ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

// Drops the reflection plugin, which InitProtoReflectionServerBuilderPlugin
// adds to every ServerBuilder of the process.
class WithoutReflection : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    std::erase_if(*plugins, [](const auto& plugin) {
      return plugin->name() == "proto_server_reflection";
    });
  }
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  if (absl::Status s = CheckFiles(options); !s.ok()) return s;
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          options.tls_key, options.tls_cert, options.tls_client_ca,
          static_cast<unsigned int>(options.tls_refresh_seconds));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (options.tls_client_ca.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(tls);
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(
    const std::string& address, int* port) {
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<WithoutReflection>());
  // Every other method answers UNIMPLEMENTED. (gRPC also needs one callback
  // service registered before it adds its default health service.)
  static grpc::CallbackGenericService unimplemented;
  builder.RegisterCallbackGenericService(&unimplemented);
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Health requests are tiny.
  builder.SetMaxReceiveMessageSize(4096);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || *port == 0 ||
      server->GetHealthCheckService() == nullptr) {
    if (server != nullptr) server->Shutdown();
    return absl::UnavailableError(
        absl::StrCat("health_listen: cannot bind '", address, "'"));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  return server;
}

}  // namespace winnow::server
