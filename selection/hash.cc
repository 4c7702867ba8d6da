#include "selection/hash.h"

#include <xxhash.h>

namespace winnow {

uint64_t IdHash(std::string_view doc_id) {
  return XXH3_64bits(doc_id.data(), doc_id.size());
}

uint64_t EpochKey(uint64_t seed, uint64_t epoch) {
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(epoch >> (8 * i));
  return XXH3_64bits_withSeed(le, sizeof(le), seed);
}

}  // namespace winnow
