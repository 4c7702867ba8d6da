// The on-disk layout: column families, key encodings and cell types
// (docs/architecture.md, "Data model"). Internal to storage/.
//
// Column families:
//   meta    format version, collection records and per-collection
//           dictionaries (domains, score names, attribute keys and values),
//           write sequence and secrets. Small values.
//   blocks  column blocks: one value per (collection, column, block of
//           kBlockSize ordinals). Fixed-width columns hold raw little-endian
//           cells; a value shorter than the block means the missing cells
//           hold the column's default. Sparse updates are Merge operands
//           (block_merge.h).
//   docs    per-document payloads, keyed by ordinal: they are large, read
//           by point lookup, and a replace rewrites only the document's own
//           key instead of a 4,096-document block. (Format 2 also kept each
//           embedding here, under DocField::kEmbedding.)
//   embeddings  embedding blocks (format 3 on): one value per (collection,
//           block of kBlockSize ordinals), the block's rows row-major
//           (dimension cells of 4 bytes, float32, or 2, float16, each); a
//           value shorter than the block means the missing rows hold zeros.
//           Whether a row holds an embedding is the blocks family's
//           kHasEmbedding column. Sparse updates are Merge operands of row
//           runs (embedding_blocks.h). Every value goes to blob files,
//           uncompressed, so that compaction does not rewrite the ~4 MiB
//           blocks again and again, and loading a collection's matrix is a
//           sequential read.
//   plans   sampling plans' entries (format 2 on; format 1 kept them in meta
//           under "plan/<id>/<entry>"). Frozen records run to tens of MB:
//           values of 64 KiB or more go to blob files, uncompressed.
//
// Every key of a collection starts with its id as big-endian uint32 (meta:
// after the 'C' tag), so DeleteCollection is one DeleteRange per family.
// Collection ids are never reused.
#ifndef WINNOW_STORAGE_FORMAT_H_
#define WINNOW_STORAGE_FORMAT_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace winnow::storage::internal {

static_assert(std::endian::native == std::endian::little,
              "cells are stored little-endian by memcpy");

// Bumped on any change to the layout below, with a step that converts the
// previous format at open (migrations.h; docs/architecture.md, "Format
// migrations"). 1: the first release. 2: plans in their own family.
// 3: embeddings in blocks of their own family.
inline constexpr uint32_t kFormatVersion = 3;

inline constexpr char kMetaFamily[] = "meta";
inline constexpr char kBlocksFamily[] = "blocks";
inline constexpr char kDocsFamily[] = "docs";
inline constexpr char kPlansFamily[] = "plans";
inline constexpr char kEmbeddingsFamily[] = "embeddings";

// Ordinals per column block.
inline constexpr uint32_t kBlockShift = 12;
inline constexpr uint32_t kBlockSize = uint32_t{1} << kBlockShift;  // 4,096

// Columns of the blocks family. The order matters: ids sort first, so a scan
// of a collection learns its row count before any other column.
enum class ColumnKind : uint8_t {
  kIds = 1,           // length-prefixed (varint32) strings, appended in order
  kDomain = 2,        // uint32 domain code
  kLength = 3,        // uint32 tokens
  kLive = 4,          // uint8 0/1
  kHasPayload = 5,    // uint8 0/1
  kHasEmbedding = 6,  // uint8 0/1
  kUpsertSeq = 7,     // uint64 write sequence of the last upsert
  kScore = 16,        // float32, NaN = null; column = score id
  kAttribute = 17,    // uint32 value code, 0 = absent; column = key id
};

// A fixed-width cell type: its width in bytes and default bit pattern.
struct CellSpec {
  uint8_t width = 0;  // 0 for the variable-length ids column
  uint64_t default_bits = 0;
};

inline constexpr uint32_t kNullScoreBits = 0x7fc00000;  // quiet NaN

inline CellSpec CellSpecFor(ColumnKind kind) {
  switch (kind) {
    case ColumnKind::kIds:
      return {0, 0};
    case ColumnKind::kLive:
    case ColumnKind::kHasPayload:
    case ColumnKind::kHasEmbedding:
      return {1, 0};
    case ColumnKind::kDomain:
    case ColumnKind::kLength:
    case ColumnKind::kAttribute:
      return {4, 0};
    case ColumnKind::kScore:
      return {4, kNullScoreBits};
    case ColumnKind::kUpsertSeq:
      return {8, 0};
  }
  return {0, 0};
}

inline bool IsKnownKind(uint8_t kind) {
  return (kind >= 1 && kind <= 7) || kind == 16 || kind == 17;
}

// ---- Fixed-width integer encodings ----

inline void PutBig32(std::string* out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
               static_cast<char>(v >> 8), static_cast<char>(v)};
  out->append(b, 4);
}
inline uint32_t GetBig32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) |
         (uint32_t{u[2]} << 8) | uint32_t{u[3]};
}
template <typename T>
void PutFixed(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
template <typename T>
T GetFixed(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// A string with non-printable bytes C-escaped, for error messages.
std::string Escape(std::string_view s);

void PutVarint32(std::string* out, uint32_t v);
// Parses a varint32 at *p (< limit), advancing *p; false if malformed.
bool GetVarint32(const char** p, const char* limit, uint32_t* v);

// ---- blocks family ----

inline constexpr size_t kBlockKeySize = 13;

std::string BlockKey(uint32_t collection, ColumnKind kind, uint32_t column,
                     uint32_t block);

struct BlockKeyParts {
  uint32_t collection = 0;
  ColumnKind kind = ColumnKind::kIds;
  uint32_t column = 0;
  uint32_t block = 0;
};
bool ParseBlockKey(std::string_view key, BlockKeyParts* parts);

// ---- docs family ----

// kEmbedding: format 2 only (migrations.cc moves them to the embeddings
// family). kPayloadHash is the SHA-256 of the payload (32 bytes), written
// with it; a payload stored without one (by an earlier release) gets it
// from Store::ReadPayloadHashes' backfill.
enum class DocField : char {
  kPayload = 'P',
  kEmbedding = 'E',
  kPayloadHash = 'H',
};
std::string DocKey(uint32_t collection, DocField field, uint32_t ordinal);

// ---- embeddings family ----

// be32(collection) + be32(block): ordinals [block * kBlockSize, ...).
inline constexpr size_t kEmbeddingKeySize = 8;
std::string EmbeddingBlockKey(uint32_t collection, uint32_t block);

// [be32(collection), be32(collection + 1)): every key of a collection in
// the blocks, docs and embeddings families.
std::string CollectionPrefix(uint32_t collection);

// ---- meta family ----

inline constexpr char kFormatVersionKey[] = "F";
inline constexpr char kNextCollectionIdKey[] = "I";
// "N" + name -> collection record.
std::string CollectionRecordKey(std::string_view name);
inline constexpr char kCollectionRecordTag = 'N';

// "C" + be32(collection) + ...: the collection's dictionaries.
inline constexpr char kCollectionMetaTag = 'C';
std::string CollectionMetaPrefix(uint32_t collection);
enum class MetaKind : char {
  kDomain = 'D',          // + be32(code) -> name
  kScoreName = 'S',       // + be32(score id) -> name
  kAttributeKey = 'K',    // + be32(key id) -> key
  kAttributeValue = 'V',  // + be32(key id) + be32(code) -> value (code >= 1)
  kWriteSeq = 'W',        // -> fixed64 write_seq, fixed64 update micros
};
std::string CollectionMetaKey(uint32_t collection, MetaKind kind);
std::string CollectionMetaKey(uint32_t collection, MetaKind kind, uint32_t a);
std::string CollectionMetaKey(uint32_t collection, MetaKind kind, uint32_t a,
                              uint32_t b);

// "O" + operation id -> the operation's record (opaque to storage).
inline constexpr char kOperationTag = 'O';
std::string OperationRecordKey(std::string_view id);

// Format 1 only: a plan's entries, "plan/<id>/<entry>" (migrations.cc
// moves them to the plans family).
inline constexpr char kFormat1PlanPrefix[] = "plan/";

// ---- plans family ----
//
// <plan id>                   -> "" (the plan's marker)
// <plan id> '\0' <entry name> -> the entry's value
// Plan ids hold no NUL (the server's are [A-Za-z0-9_-]), so a plan's keys
// are exactly [<id>, <id> '\1'): DeletePlan is one DeleteRange, and the
// marker, which sorts first, lets ListPlanEntries step from plan to plan
// without landing on (and so reading) a large entry.
std::string PlanEntryKey(std::string_view plan_id, std::string_view entry);
// The end of the plan's key range: <id> '\1'.
std::string PlanKeysEnd(std::string_view plan_id);

// The collection record: fixed32 id, fixed32 embedding dimension, uint8
// embedding type, fixed64 create micros.
struct CollectionRecord {
  uint32_t id = 0;
  uint32_t embedding_dimension = 0;
  uint8_t embedding_type = 1;
  int64_t create_time_micros = 0;
};
std::string EncodeCollectionRecord(const CollectionRecord& r);
bool DecodeCollectionRecord(std::string_view value, CollectionRecord* r);

}  // namespace winnow::storage::internal

#endif  // WINNOW_STORAGE_FORMAT_H_
