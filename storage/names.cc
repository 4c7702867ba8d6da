#include "storage/names.h"

#include <array>

#include "absl/strings/str_format.h"
#include "storage/format.h"
#include "storage/types.h"

namespace winnow::storage {
namespace {

using internal::Escape;

bool IsLowerOrDigit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

absl::Status ValidateCollectionName(std::string_view name,
                                    std::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: collection name is empty", field));
  }
  if (name.size() > 64) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: collection name of %d characters exceeds 64", field, name.size()));
  }
  if (!IsLowerOrDigit(name[0])) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: collection name '%s' must start with [a-z0-9]",
                        field, Escape(name)));
  }
  for (char c : name) {
    if (!IsLowerOrDigit(c) && c != '_' && c != '.' && c != '-') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: collection name '%s' must match [a-z0-9][a-z0-9_.-]{0,63}",
          field, Escape(name)));
    }
  }
  return absl::OkStatus();
}

bool IsReservedName(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kReserved = {
      "and", "or",     "not",    "in", "is_null",
      "pct", "domain", "length", "id", "attr"};
  for (std::string_view r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

absl::Status ValidateColumnName(std::string_view name, std::string_view field) {
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: name is empty", field));
  }
  if (name.size() > kMaxColumnNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: name of %d bytes exceeds %d", field, name.size(),
                        kMaxColumnNameBytes));
  }
  bool ok = (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_';
  for (char c : name) ok = ok && (IsLowerOrDigit(c) || c == '_');
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: '%s' must match [a-z_][a-z0-9_]*", field, Escape(name)));
  }
  if (IsReservedName(name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: '%s' is a reserved name", field, name));
  }
  return absl::OkStatus();
}

}  // namespace winnow::storage
