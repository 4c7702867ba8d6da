// Payload hashes (collection.h): reading them for the exact_dedup scorer,
// and backfilling the ones of payloads stored before hashes were kept.
#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/str_format.h"
#include "storage/collection.h"
#include "storage/payload_hash.h"
#include "storage/status.h"

namespace winnow::storage::internal {

PayloadHash Sha256(std::string_view bytes) {
  PayloadHash out;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         out.data());
  return out;
}

namespace {

uint32_t OrdinalOfDocKey(rocksdb::Slice key) {
  uint32_t v = 0;
  for (size_t i = 5; i < 9; ++i) v = (v << 8) | static_cast<uint8_t>(key[i]);
  return v;
}

}  // namespace

absl::Status Collection::ReadPayloadHashes(rocksdb::DB* db, const Families& f,
                                           PayloadHashes* out) const {
  Bitmap has_payload;
  {
    absl::ReaderMutexLock lock(&columns_mu_);
    has_payload = has_payload_;
    has_payload.Resize(published_rows_);
  }
  const size_t rows = has_payload.size();
  out->hashes.assign(rows, PayloadHash{});
  out->present = Bitmap(rows);
  const std::string prefix =
      DocKey(id_, DocField::kPayloadHash, 0).substr(0, 5);
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions(), f.docs));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    if (it->key().size() != 9) continue;
    const uint32_t o = OrdinalOfDocKey(it->key());
    if (o >= rows || !has_payload.Get(o)) continue;
    if (it->value().size() != sizeof(PayloadHash)) {
      return absl::DataLossError(absl::StrFormat(
          "collection '%s': payload hash of ordinal %d has %d bytes", name_, o,
          it->value().size()));
    }
    std::memcpy(out->hashes[o].data(), it->value().data(), sizeof(PayloadHash));
    out->present.Set(o);
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), absl::StrFormat("reading payload hashes "
                                                     "of collection '%s'",
                                                     name_));
  }
  out->missing.clear();
  has_payload.AndNot(out->present);
  has_payload.ForEach(
      [&](size_t o) { out->missing.push_back(static_cast<uint32_t>(o)); });
  return absl::OkStatus();
}

absl::Status Collection::PrepareHashBackfill(rocksdb::DB* db, const Families& f,
                                             std::span<const uint32_t> ordinals,
                                             rocksdb::WriteBatch* wb,
                                             PayloadHashes* out) const {
  AssertWriterMayRead();
  std::vector<std::string> keys;
  std::vector<uint32_t> which;
  for (uint32_t o : ordinals) {
    if (o >= has_payload_.size() || !has_payload_.Get(o)) continue;
    keys.push_back(DocKey(id_, DocField::kPayload, o));
    which.push_back(o);
  }
  absl::StatusOr<std::vector<std::optional<std::string>>> payloads =
      ReadDocs(db, f, keys, "reading payloads");
  if (!payloads.ok()) return payloads.status();
  for (size_t k = 0; k < keys.size(); ++k) {
    if (!(*payloads)[k]) continue;  // deleted since has_payload_ was read
    const uint32_t o = which[k];
    const PayloadHash hash = Sha256(*(*payloads)[k]);
    wb->Put(f.docs, DocKey(id_, DocField::kPayloadHash, o),
            rocksdb::Slice(reinterpret_cast<const char*>(hash.data()),
                           hash.size()));
    if (o < out->hashes.size()) {
      out->hashes[o] = hash;
      out->present.Set(o);
    }
  }
  return absl::OkStatus();
}

}  // namespace winnow::storage::internal
