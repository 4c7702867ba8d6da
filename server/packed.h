// RESULT_VIEW_PACKED (docs/api.md, "The packed view"): a batch's ids
// concatenated in one bytes field with cumulative end offsets, and the
// ordinals, lengths and domain codes that the request's PackedFields asks
// for as packed integers, with the domain dictionary in every message.
// Shared by Sample and Filter.
#ifndef WINNOW_SERVER_PACKED_H_
#define WINNOW_SERVER_PACKED_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "selection/columns.h"
#include "winnow/v1/common.pb.h"

namespace winnow::server {

// Fills *out with the documents at `ordinals`, in order. `id_of` maps an
// ordinal to its id and `columns` holds the domain column. `lengths` is
// aligned with `ordinals` (Sample: as frozen in the plan); empty means the
// columns' current lengths (Filter).
void FillPacked(const winnow::v1::PackedFields& fields,
                std::span<const std::string_view> id_of,
                const ColumnSet& columns, std::span<const uint32_t> ordinals,
                std::span<const uint32_t> lengths,
                winnow::v1::PackedDocuments* out);

// Wire bytes one document takes in the packed view beyond its id, at most:
// a varint offset, and the asked-for ordinal, length and domain code.
size_t PackedBytesPerDocument(const winnow::v1::PackedFields& fields);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_PACKED_H_
