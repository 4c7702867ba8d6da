#include "server/auth.h"

#include <fnmatch.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "absl/strings/ascii.h"

namespace winnow::server {
namespace {

using R = Role;
using S = Scope;

// The roles of docs/operations.md ("Tokens"). reader: the reads; writer: plus
// the writes to documents, scores, plans and operations; admin: plus creating
// and deleting collections and backups.
constexpr MethodRule kRules[] = {
    {"winnow.v1.CollectionService/CreateCollection", R::kAdmin, S::kCollection,
     "collection.name"},
    {"winnow.v1.CollectionService/GetCollection", R::kReader, S::kCollection,
     "name"},
    {"winnow.v1.CollectionService/ListCollections", R::kReader, S::kList, ""},
    {"winnow.v1.CollectionService/DeleteCollection", R::kAdmin, S::kCollection,
     "name"},
    {"winnow.v1.DocumentService/UpsertDocuments", R::kWriter, S::kCollection,
     "collection"},
    {"winnow.v1.DocumentService/GetDocuments", R::kReader, S::kCollection,
     "collection"},
    {"winnow.v1.DocumentService/DeleteDocuments", R::kWriter, S::kCollection,
     "collection"},
    {"winnow.v1.ScoreService/PutScores", R::kWriter, S::kCollection,
     "collection"},
    {"winnow.v1.ScoreService/GetScores", R::kReader, S::kCollection,
     "collection"},
    {"winnow.v1.ScoreService/GetScoresStream", R::kReader, S::kCollection,
     "request.collection"},
    {"winnow.v1.ScoreService/ComputeScores", R::kWriter, S::kCollection,
     "collection"},
    {"winnow.v1.ScoreService/ReportTraining", R::kWriter, S::kCollection,
     "collection"},
    {"winnow.v1.SelectionService/Filter", R::kReader, S::kCollection,
     "collection"},
    {"winnow.v1.SelectionService/Count", R::kReader, S::kCollection,
     "collection"},
    {"winnow.v1.SelectionService/Sample", R::kReader, S::kCollectionOrObject,
     "collection"},
    {"winnow.v1.SelectionService/Nearest", R::kReader, S::kCollection,
     "collection"},
    {"winnow.v1.SelectionService/ListPlans", R::kReader, S::kList,
     "collection"},
    {"winnow.v1.SelectionService/DeletePlan", R::kWriter, S::kNone, ""},
    {"winnow.v1.OperationService/GetOperation", R::kReader, S::kNone, ""},
    {"winnow.v1.OperationService/ListOperations", R::kReader, S::kList,
     "collection"},
    {"winnow.v1.OperationService/CancelOperation", R::kWriter, S::kNone, ""},
    {"winnow.v1.OperationService/WaitOperation", R::kReader, S::kNone, ""},
    {"winnow.v1.AdminService/Backup", R::kAdmin, S::kServer, ""},
    {"winnow.v1.AdminService/ListBackups", R::kAdmin, S::kServer, ""},
    {"winnow.v1.AdminService/GetServerInfo", R::kReader, S::kNone, ""},
};

constexpr std::string_view kBearer = "bearer ";

// String concatenation over std::string_view (Debian's absl::StrCat takes
// its own string_view type only).
template <typename... Args>
std::string Cat(const Args&... args) {
  std::string out;
  auto append = [&out](const auto& arg) {
    if constexpr (std::is_convertible_v<decltype(arg), std::string_view>) {
      out.append(std::string_view(arg));
    } else {
      out.append(std::to_string(arg));
    }
  };
  (append(args), ...);
  return out;
}

// The pieces of `text` between `separators`, skipping empty ones unless
// `keep_empty`.
std::vector<std::string_view> Split(std::string_view text,
                                    std::string_view separators,
                                    bool keep_empty) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  while (true) {
    size_t end = text.find_first_of(separators, start);
    std::string_view piece =
        text.substr(start, end == std::string_view::npos ? end : end - start);
    if (keep_empty || !piece.empty()) pieces.push_back(piece);
    if (end == std::string_view::npos) return pieces;
    start = end + 1;
  }
}

absl::Status LineError(std::string_view origin, int line,
                       std::string_view message) {
  return absl::InvalidArgumentError(Cat(origin, ":", line, ": ", message));
}

bool ParseHexDigest(std::string_view hex, Sha256Digest* out) {
  if (hex.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int value = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = absl::ascii_tolower(static_cast<unsigned char>(hex[2 * i + j]));
      int nibble;
      if (c >= '0' && c <= '9') {
        nibble = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        nibble = c - 'a' + 10;
      } else {
        return false;
      }
      value = value * 16 + nibble;
    }
    (*out)[i] = static_cast<uint8_t>(value);
  }
  return true;
}

// The string at `path` ("collection.name") in `message`, or an INTERNAL
// error if the table names a field the request does not have.
absl::StatusOr<std::string> FieldAt(const google::protobuf::Message& message,
                                    std::string_view path) {
  const google::protobuf::Message* current = &message;
  std::vector<std::string_view> parts = Split(path, ".", true);
  for (size_t i = 0; i < parts.size(); ++i) {
    const google::protobuf::FieldDescriptor* field =
        current->GetDescriptor()->FindFieldByName(std::string(parts[i]));
    const bool last = i + 1 == parts.size();
    using FD = google::protobuf::FieldDescriptor;
    if (field == nullptr || field->is_repeated() ||
        field->cpp_type() !=
            (last ? FD::CPPTYPE_STRING : FD::CPPTYPE_MESSAGE)) {
      return absl::InternalError(
          Cat("auth: ", current->GetDescriptor()->full_name(),
              " has no string field '", path, "'"));
    }
    const google::protobuf::Reflection* reflection = current->GetReflection();
    if (last) return reflection->GetString(*current, field);
    current = &reflection->GetMessage(*current, field);
  }
  return absl::InternalError("auth: empty field path");
}

absl::Status OutsideScope(const Principal& principal, std::string_view field,
                          std::string_view collection) {
  return absl::PermissionDeniedError(
      Cat(field, ": token '", principal.name,
          "' is limited to collections matching '", principal.collections,
          "'; '", collection, "' is outside"));
}

absl::Status ServerWideError(const Principal& principal,
                             const MethodRule& rule) {
  return absl::PermissionDeniedError(Cat(
      rule.method, " needs an admin token with no collection limit; token '",
      principal.name, "' is limited to '", principal.collections, "'"));
}

absl::Status CheckScope(const Principal& principal, const MethodRule& rule,
                        const google::protobuf::Message& request) {
  if (!principal.limited()) return absl::OkStatus();
  if (rule.scope == Scope::kServer) return ServerWideError(principal, rule);
  if (rule.field.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> collection = FieldAt(request, rule.field);
  if (!collection.ok()) return collection.status();
  if ((rule.scope == Scope::kList ||
       rule.scope == Scope::kCollectionOrObject) &&
      collection->empty()) {
    return absl::OkStatus();  // the handler filters
  }
  if (!principal.MaySee(*collection)) {
    return OutsideScope(principal, rule.field, *collection);
  }
  return absl::OkStatus();
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kReader, Role::kWriter, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

bool Principal::MaySee(std::string_view collection) const {
  if (collections.empty()) return true;
  return fnmatch(collections.c_str(), std::string(collection).c_str(), 0) == 0;
}

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest digest;
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
         digest.data());
  return digest;
}

std::string ToHex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool DigestEquals(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(
    std::string_view text, std::string_view origin) {
  std::vector<TokenEntry> entries;
  std::set<std::string> names;
  int line_number = 0;
  for (std::string_view line : Split(text, "\n", true)) {
    ++line_number;
    TokenEntry entry;
    entry.line = line_number;
    bool has_role = false, has_digest = false, has_name = false;
    std::set<std::string_view> seen;
    for (std::string_view field : Split(line, " \t\r", false)) {
      if (field.front() == '#') break;  // comment to the end of the line
      size_t eq = field.find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return LineError(origin, line_number,
                         Cat("expected key=value, got '", field, "'"));
      }
      std::string_view key = field.substr(0, eq);
      std::string_view value = field.substr(eq + 1);
      if (!seen.insert(key).second) {
        return LineError(origin, line_number, Cat(key, ": given twice"));
      }
      if (value.empty()) {
        return LineError(origin, line_number, Cat(key, ": empty"));
      }
      if (key == "role") {
        std::optional<Role> role = ParseRole(value);
        if (!role) {
          return LineError(
              origin, line_number,
              Cat("role: expected reader, writer or admin, got '", value, "'"));
        }
        entry.principal.role = *role;
        has_role = true;
      } else if (key == "sha256") {
        if (!ParseHexDigest(value, &entry.sha256)) {
          return LineError(
              origin, line_number,
              "sha256: expected 64 hex digits (the SHA-256 of the token, not "
              "the token)");
        }
        has_digest = true;
      } else if (key == "collections") {
        entry.principal.collections = std::string(value);
      } else if (key == "name") {
        entry.principal.name = std::string(value);
        has_name = true;
      } else {
        return LineError(origin, line_number,
                         Cat("unknown key '", key,
                             "' (expected role, sha256, collections or name)"));
      }
    }
    if (seen.empty()) continue;  // blank or comment
    if (!has_role) return LineError(origin, line_number, "role: missing");
    if (!has_digest) return LineError(origin, line_number, "sha256: missing");
    if (!has_name) {
      entry.principal.name = Cat("sha256:", ToHex(entry.sha256).substr(0, 12));
    }
    for (const TokenEntry& other : entries) {
      if (other.sha256 == entry.sha256) {
        return LineError(origin, line_number,
                         Cat("sha256: the same token as line ", other.line));
      }
    }
    if (!names.insert(entry.principal.name).second) {
      return LineError(
          origin, line_number,
          Cat("name: '", entry.principal.name, "' is used by an earlier line"));
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(std::string path) {
  std::unique_ptr<TokenStore> store(new TokenStore(std::move(path)));
  if (absl::Status s = store->Reload(); !s.ok()) return s;
  return store;
}

absl::Status TokenStore::Reload() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(Cat("tokens: cannot read '", path_, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(Cat("tokens: error reading '", path_, "'"));
  }
  absl::StatusOr<std::vector<TokenEntry>> entries =
      ParseTokenFile(text.str(), path_);
  if (!entries.ok()) return entries.status();
  auto snapshot = std::make_shared<const Entries>(*std::move(entries));
  absl::MutexLock lock(&mu_);
  entries_ = std::move(snapshot);
  return absl::OkStatus();
}

std::shared_ptr<const TokenStore::Entries> TokenStore::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

absl::StatusOr<Principal> TokenStore::Authenticate(
    std::string_view token) const {
  const Sha256Digest digest = Sha256(token);
  std::shared_ptr<const Entries> entries = Snapshot();
  // Every entry is compared, matched or not, so the time taken does not
  // depend on which one matches.
  const TokenEntry* match = nullptr;
  for (const TokenEntry& entry : *entries) {
    if (DigestEquals(entry.sha256, digest)) match = &entry;
  }
  if (match == nullptr) return absl::UnauthenticatedError("invalid token");
  return match->principal;
}

size_t TokenStore::size() const { return Snapshot()->size(); }

std::span<const MethodRule> MethodRules() { return kRules; }

const MethodRule* FindMethodRule(std::string_view method) {
  for (const MethodRule& rule : kRules) {
    if (rule.method == method) return &rule;
  }
  return nullptr;
}

absl::StatusOr<Principal> Authorize(const TokenStore* tokens,
                                    const ClientMetadata& metadata,
                                    std::string_view method,
                                    const google::protobuf::Message* request) {
  if (tokens == nullptr) return Principal();
  auto [begin, end] = metadata.equal_range("authorization");
  if (begin == end) {
    return absl::UnauthenticatedError(
        "missing token: send the metadata 'authorization: Bearer <token>'");
  }
  if (std::next(begin) != end) {
    return absl::UnauthenticatedError(
        "authorization: expected one 'Bearer <token>', got several");
  }
  std::string_view value(begin->second.data(), begin->second.size());
  bool bearer = value.size() > kBearer.size();
  for (size_t i = 0; bearer && i < kBearer.size(); ++i) {
    bearer =
        absl::ascii_tolower(static_cast<unsigned char>(value[i])) == kBearer[i];
  }
  std::string_view token =
      bearer ? value.substr(kBearer.size()) : std::string_view();
  while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
    token.remove_prefix(1);
  }
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
    token.remove_suffix(1);
  }
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "authorization: expected 'Bearer <token>'");
  }
  absl::StatusOr<Principal> principal = tokens->Authenticate(token);
  if (!principal.ok()) return principal.status();

  const MethodRule* rule = FindMethodRule(method);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        Cat(method, " is not in the role table"));
  }
  if (principal->role < rule->role) {
    return absl::PermissionDeniedError(Cat(
        "token '", principal->name, "' has role ", RoleName(principal->role),
        "; ", method, " needs ", RoleName(rule->role)));
  }
  if (request != nullptr) {
    if (absl::Status s = CheckScope(*principal, *rule, *request); !s.ok()) {
      return s;
    }
  } else if (rule->scope == Scope::kServer && principal->limited()) {
    return ServerWideError(*principal, *rule);
  }
  return principal;
}

absl::Status CheckObjectScope(const Principal& principal,
                              std::string_view collection,
                              std::string_view field, bool hide,
                              std::string_view not_found) {
  if (principal.MaySee(collection)) return absl::OkStatus();
  if (hide) return absl::NotFoundError(std::string(not_found));
  return OutsideScope(principal, field, collection);
}

absl::Status AuthorizeMessage(const Principal& principal,
                              std::string_view method,
                              const google::protobuf::Message& request) {
  if (!principal.limited()) return absl::OkStatus();
  const MethodRule* rule = FindMethodRule(method);
  if (rule == nullptr) {
    return absl::PermissionDeniedError(
        Cat(method, " is not in the role table"));
  }
  return CheckScope(principal, *rule, request);
}

}  // namespace winnow::server
