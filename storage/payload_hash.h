// SHA-256 of document payloads, for the exact_dedup scorer (docs/
// algorithms.md, "Exact dedup"). Internal to storage/.
#ifndef WINNOW_STORAGE_PAYLOAD_HASH_H_
#define WINNOW_STORAGE_PAYLOAD_HASH_H_

#include <string_view>

#include "selection/exact_dedup.h"

namespace winnow::storage::internal {

PayloadHash Sha256(std::string_view bytes);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_PAYLOAD_HASH_H_
