// Bearer-token authentication and the per-RPC role table
// (docs/operations.md, "Tokens").
//
// With a token file configured (ServerOptions::tokens), every RPC of the
// winnow.v1 services needs `authorization: Bearer <token>` metadata naming a
// token of the file; health checking and reflection stay open (they never
// reach this code). Authorize() is called where each RPC starts (RunUnary,
// StreamReactor::Begin, BatchAckReactor, GetScoresPollers), before the
// request's work, so:
//   - a missing, malformed or unknown token is UNAUTHENTICATED;
//   - a token whose role is below the RPC's (MethodRules()) or whose
//     collection glob does not match the collection the request names is
//     PERMISSION_DENIED, before anything looks the collection up: a token
//     learns nothing about collections outside its scope.
//
// The token file has one token a line, as whitespace-separated key=value
// fields; '#' starts a comment (at the start of a field) and blank lines are
// ignored:
//
//   # trainers read the web collections only
//   role=reader sha256=9f86d0...0a08 collections=web-* name=trainer-7
//   role=admin  sha256=2c26b4...e7ae name=ops
//
//   role         reader, writer or admin (required)
//   sha256       hex SHA-256 of the token's bytes (required), as printed by
//                `winnowctl token` or `printf %s "$TOKEN" | sha256sum`
//   collections  fnmatch(3) glob of the collections the token may use
//                (optional; none means every collection)
//   name         the token's name in logs and quotas (optional; unique;
//                defaults to "sha256:" and the digest's first 12 hex digits)
//
// Plaintext tokens are never stored: the presented token is hashed with
// SHA-256 and compared with every entry in constant time (CRYPTO_memcmp, no
// early exit), so timing reveals neither which entry matched nor how much of
// a digest did.
//
// Thread safety: TokenStore is thread-safe (Reload swaps an immutable
// snapshot that concurrent Authenticate calls keep alive); the free
// functions are pure.
#ifndef WINNOW_SERVER_AUTH_H_
#define WINNOW_SERVER_AUTH_H_

#include <grpcpp/support/string_ref.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace winnow::server {

// Ordered: each role may call everything the roles below it may.
enum class Role { kReader = 1, kWriter = 2, kAdmin = 3 };

std::string_view RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// Who makes a call: the authenticated token's name, role and collection
// limit. Without a token file every call is made by an unnamed admin with
// no collection limit.
struct Principal {
  // The token's name; empty when tokens are off.
  std::string name;
  Role role = Role::kAdmin;
  // fnmatch(3) glob of the collections the token may use; empty for all.
  std::string collections;

  bool limited() const { return !collections.empty(); }
  // Whether `collection` is inside the token's scope.
  bool MaySee(std::string_view collection) const;
};

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest Sha256(std::string_view data);
std::string ToHex(const Sha256Digest& digest);

// Constant-time equality of two digests (CRYPTO_memcmp).
bool DigestEquals(const Sha256Digest& a, const Sha256Digest& b);

// One line of the token file.
struct TokenEntry {
  Principal principal;
  Sha256Digest sha256{};
  int line = 0;
};

// Parses a token file's text. INVALID_ARGUMENT naming `origin`, the line
// and the field for a bad line ("tokens.txt:3: role: expected reader,
// writer or admin, got 'root'"), a duplicate digest or a duplicate name.
absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text,
                                                       std::string_view origin);

class TokenStore {
 public:
  // Reads and parses `path`; NOT_FOUND if it cannot be read, or the parse
  // error.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(std::string path);

  // Reads the file again. On any error the tokens loaded before stay in
  // force and the error is returned.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // The principal of the token whose SHA-256 is that of `token`;
  // UNAUTHENTICATED if none.
  absl::StatusOr<Principal> Authenticate(std::string_view token) const;

  size_t size() const;
  const std::string& path() const { return path_; }

 private:
  using Entries = std::vector<TokenEntry>;
  explicit TokenStore(std::string path) : path_(std::move(path)) {}
  std::shared_ptr<const Entries> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const Entries> entries_ ABSL_GUARDED_BY(mu_);
};

// How an RPC's request relates to the token's collection glob.
enum class Scope {
  // The request names one collection (in `field`), which must match.
  kCollection,
  // A list call: a collection named in `field` (if the request has it set)
  // must match; without one, the handler shows only the collections the
  // token may see (Principal::MaySee).
  kList,
  // The request names a collection in `field` or, without one, an object
  // that belongs to one (Sample resuming from a cursor or a plan id): a
  // collection that is set must match; the handler checks the object's
  // collection with CheckObjectScope once it is found.
  kCollectionOrObject,
  // Server-wide (Backup, ListBackups): needs a token with no collection
  // limit.
  kServer,
  // The request names an object by id (an operation, a plan) or nothing
  // collection-specific: the handler checks the object's collection with
  // Principal::MaySee once found, and answers NOT_FOUND for one outside the
  // token's scope, so ids in other collections stay unknown.
  kNone,
};

struct MethodRule {
  // "winnow.v1.CollectionService/GetCollection", as RpcScope names it.
  std::string_view method;
  Role role;
  Scope scope;
  // Path of the request's collection field ("collection", "name",
  // "collection.name"); empty for none. For streams whose every message
  // names a collection, checked per message (AuthorizeMessage).
  std::string_view field;
};

// The whole table: every RPC of the contract (proto/winnow/v1/).
std::span<const MethodRule> MethodRules();
const MethodRule* FindMethodRule(std::string_view method);

using ClientMetadata = std::multimap<grpc::string_ref, grpc::string_ref>;

// The check at the start of an RPC. With `tokens` null (no token file)
// returns the unlimited admin principal. Otherwise authenticates the bearer
// token in `metadata`, checks the method's role, and, when `request` is
// given, its collection scope. A method missing from MethodRules() is
// refused (PERMISSION_DENIED), so a new RPC must be added to the table.
absl::StatusOr<Principal> Authorize(const TokenStore* tokens,
                                    const ClientMetadata& metadata,
                                    std::string_view method,
                                    const google::protobuf::Message* request);

// For an object named by id (a plan, an operation, a cursor's plan) once
// found: OK if its collection is in the principal's scope, otherwise
// NOT_FOUND with `not_found` as the message (so that ids in other
// collections stay unknown) when `hide` is set, or PERMISSION_DENIED naming
// `field` (for a cursor, which names its collection itself).
absl::Status CheckObjectScope(const Principal& principal,
                              std::string_view collection,
                              std::string_view field, bool hide,
                              std::string_view not_found);

// The collection check alone, for one message of a stream whose messages
// each name a collection (UpsertDocuments, PutScores, ReportTraining).
absl::Status AuthorizeMessage(const Principal& principal,
                              std::string_view method,
                              const google::protobuf::Message& request);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_AUTH_H_
