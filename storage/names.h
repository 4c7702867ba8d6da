// Name rules of the data model (docs/api.md, "Names and limits").
//
// Pure functions; thread-safe.
#ifndef WINNOW_STORAGE_NAMES_H_
#define WINNOW_STORAGE_NAMES_H_

#include <string_view>

#include "absl/status/status.h"

namespace winnow::storage {

// OK if `name` is a valid collection name, [a-z0-9][a-z0-9_.-]{0,63};
// otherwise INVALID_ARGUMENT whose message starts with `field`.
absl::Status ValidateCollectionName(std::string_view name,
                                    std::string_view field);

// OK if `name` is a valid score name or attribute key: [a-z_][a-z0-9_]*, at
// most kMaxColumnNameBytes, and not a reserved word of the filter language
// (and, or, not, in, is_null, pct, domain, length, id, attr); otherwise
// INVALID_ARGUMENT whose message starts with `field`, for example
// "scores[1].name: 'domain' is a reserved name".
absl::Status ValidateColumnName(std::string_view name, std::string_view field);

// True for the reserved words above.
bool IsReservedName(std::string_view name);

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_NAMES_H_
