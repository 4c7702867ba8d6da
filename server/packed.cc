#include "server/packed.h"

#include <algorithm>
#include <string>

namespace winnow::server {
namespace {

// How many documents ahead the id loop prefetches the id's bytes; the id's
// view is prefetched twice as far ahead.
constexpr size_t kAhead = 16;

// Appends the ids of `ordinals` to out->id_bytes with their end offsets.
void AppendIds(std::span<const std::string_view> id_of,
               std::span<const uint32_t> ordinals,
               winnow::v1::PackedDocuments* out) {
  const size_t n = ordinals.size();
  std::string* bytes = out->mutable_id_bytes();
  google::protobuf::RepeatedField<uint32_t>* ends =
      out->mutable_id_end_offsets();
  ends->Resize(static_cast<int>(n), 0);
  uint32_t* end = ends->mutable_data();
  // One pass: the sizes are not known before the views are read, so the
  // buffer grows geometrically from a guess of 24 bytes an id.
  bytes->reserve(n * 24);
  for (size_t i = 0; i < n; ++i) {
    if (i + 2 * kAhead < n)
      __builtin_prefetch(&id_of[ordinals[i + 2 * kAhead]]);
    if (i + kAhead < n) __builtin_prefetch(id_of[ordinals[i + kAhead]].data());
    const std::string_view id = id_of[ordinals[i]];
    bytes->append(id.data(), id.size());
    end[i] = static_cast<uint32_t>(bytes->size());
  }
}

}  // namespace

void FillPacked(const winnow::v1::PackedFields& fields,
                std::span<const std::string_view> id_of,
                const ColumnSet& columns, std::span<const uint32_t> ordinals,
                std::span<const uint32_t> lengths,
                winnow::v1::PackedDocuments* out) {
  AppendIds(id_of, ordinals, out);
  const int n = static_cast<int>(ordinals.size());
  if (fields.ordinals()) {
    out->mutable_ordinals()->Assign(ordinals.begin(), ordinals.end());
  }
  if (fields.lengths()) {
    if (!lengths.empty()) {
      out->mutable_lengths()->Assign(lengths.begin(), lengths.end());
    } else {
      out->mutable_lengths()->Resize(n, 0);
      uint32_t* dst = out->mutable_lengths()->mutable_data();
      for (int i = 0; i < n; ++i) dst[i] = columns.length[ordinals[i]];
    }
  }
  if (fields.domains()) {
    out->mutable_domain_codes()->Resize(n, 0);
    uint32_t* codes = out->mutable_domain_codes()->mutable_data();
    uint32_t largest = 0;
    for (int i = 0; i < n; ++i) {
      codes[i] = columns.domain[ordinals[i]];
      largest = std::max(largest, codes[i]);
    }
    if (n > 0) {
      for (uint32_t c = 0; c <= largest && c < columns.domain_names.size();
           ++c) {
        out->add_domain_names(columns.domain_names[c]);
      }
    }
  }
}

size_t PackedBytesPerDocument(const winnow::v1::PackedFields& fields) {
  return 5 + (fields.ordinals() ? 5 : 0) + (fields.lengths() ? 5 : 0) +
         (fields.domains() ? 5 : 0);
}

}  // namespace winnow::server
