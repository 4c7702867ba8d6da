// Uses the installed Winnow client with no server: a unary call and a
// writer against a loopback port where nothing listens must fail cleanly
// with UNAVAILABLE (or DEADLINE_EXCEEDED), within their deadlines.
#include <iostream>

#include "winnow/client/client.h"

namespace {

bool ExpectNoServer(const char* what, const absl::Status& status) {
  const bool ok =
      absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
  std::cout << what << " -> " << winnow::StatusCodeName(status.code()) << ": "
            << status.message() << std::endl;
  return ok;
}

}  // namespace

int main() {
  winnow::ClientOptions options;
  options.default_timeout = absl::Seconds(1);
  absl::StatusOr<winnow::Client> client =
      winnow::Client::Connect("127.0.0.1:1", options);
  if (!client.ok()) {
    std::cerr << "Connect: " << client.status() << std::endl;
    return 1;
  }

  winnow::v1::ListCollectionsRequest list;
  absl::StatusOr<winnow::v1::ListCollectionsResponse> collections =
      client->ListCollections(list);
  if (collections.ok()) return 1;
  bool ok = ExpectNoServer("ListCollections", collections.status());

  winnow::WriterOptions writer_options;
  writer_options.max_reconnect_attempts = 1;
  writer_options.initial_backoff = absl::Milliseconds(10);
  winnow::DocumentWriter writer =
      client->UpsertDocuments("example", writer_options);
  winnow::v1::UpsertDocumentsRequest batch;
  batch.mutable_columns()->add_ids("doc-1");
  absl::Status status = writer.Write(std::move(batch));
  if (status.ok()) status = writer.Close();
  ok = ExpectNoServer("UpsertDocuments", status) && ok;

  std::cout << (ok ? "winnow client example: OK" : "unexpected status")
            << std::endl;
  return ok ? 0 : 1;
}
