#include "storage/format.h"

#include "absl/strings/escaping.h"

namespace winnow::storage::internal {

std::string Escape(std::string_view s) {
  return absl::CHexEscape(absl::string_view(s.data(), s.size()));
}

void PutVarint32(std::string* out, uint32_t v) {
  char buf[5];
  int n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  out->append(buf, n);
}

std::string PlanEntryKey(std::string_view plan_id, std::string_view entry) {
  std::string key;
  key.reserve(plan_id.size() + 1 + entry.size());
  key.append(plan_id).push_back('\0');
  key.append(entry);
  return key;
}

std::string PlanKeysEnd(std::string_view plan_id) {
  std::string key(plan_id);
  key.push_back('\1');
  return key;
}

bool GetVarint32(const char** p, const char* limit, uint32_t* v) {
  uint32_t result = 0;
  for (int shift = 0; shift <= 28 && *p < limit; shift += 7) {
    uint32_t byte = static_cast<unsigned char>(**p);
    ++*p;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

std::string BlockKey(uint32_t collection, ColumnKind kind, uint32_t column,
                     uint32_t block) {
  std::string key;
  key.reserve(kBlockKeySize);
  PutBig32(&key, collection);
  key.push_back(static_cast<char>(kind));
  PutBig32(&key, column);
  PutBig32(&key, block);
  return key;
}

bool ParseBlockKey(std::string_view key, BlockKeyParts* parts) {
  if (key.size() != kBlockKeySize) return false;
  uint8_t kind = static_cast<uint8_t>(key[4]);
  if (!IsKnownKind(kind)) return false;
  parts->collection = GetBig32(key.data());
  parts->kind = static_cast<ColumnKind>(kind);
  parts->column = GetBig32(key.data() + 5);
  parts->block = GetBig32(key.data() + 9);
  return true;
}

std::string EmbeddingBlockKey(uint32_t collection, uint32_t block) {
  std::string key;
  key.reserve(kEmbeddingKeySize);
  PutBig32(&key, collection);
  PutBig32(&key, block);
  return key;
}

std::string DocKey(uint32_t collection, DocField field, uint32_t ordinal) {
  std::string key;
  key.reserve(9);
  PutBig32(&key, collection);
  key.push_back(static_cast<char>(field));
  PutBig32(&key, ordinal);
  return key;
}

std::string CollectionPrefix(uint32_t collection) {
  std::string key;
  PutBig32(&key, collection);
  return key;
}

std::string OperationRecordKey(std::string_view id) {
  std::string k(1, kOperationTag);
  k.append(id.data(), id.size());
  return k;
}

std::string CollectionRecordKey(std::string_view name) {
  std::string key(1, kCollectionRecordTag);
  key.append(name);
  return key;
}

std::string CollectionMetaPrefix(uint32_t collection) {
  std::string key(1, kCollectionMetaTag);
  PutBig32(&key, collection);
  return key;
}

std::string CollectionMetaKey(uint32_t collection, MetaKind kind) {
  std::string key = CollectionMetaPrefix(collection);
  key.push_back(static_cast<char>(kind));
  return key;
}

std::string CollectionMetaKey(uint32_t collection, MetaKind kind, uint32_t a) {
  std::string key = CollectionMetaKey(collection, kind);
  PutBig32(&key, a);
  return key;
}

std::string CollectionMetaKey(uint32_t collection, MetaKind kind, uint32_t a,
                              uint32_t b) {
  std::string key = CollectionMetaKey(collection, kind, a);
  PutBig32(&key, b);
  return key;
}

std::string EncodeCollectionRecord(const CollectionRecord& r) {
  std::string v;
  PutFixed<uint32_t>(&v, r.id);
  PutFixed<uint32_t>(&v, r.embedding_dimension);
  v.push_back(static_cast<char>(r.embedding_type));
  PutFixed<int64_t>(&v, r.create_time_micros);
  return v;
}

bool DecodeCollectionRecord(std::string_view value, CollectionRecord* r) {
  if (value.size() != 17) return false;
  r->id = GetFixed<uint32_t>(value.data());
  r->embedding_dimension = GetFixed<uint32_t>(value.data() + 4);
  r->embedding_type = static_cast<uint8_t>(value[8]);
  r->create_time_micros = GetFixed<int64_t>(value.data() + 9);
  return r->embedding_type == 1 || r->embedding_type == 2;
}

}  // namespace winnow::storage::internal
