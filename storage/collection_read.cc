// Collection::GetDocuments and Collection::Load (collection.h).
#include <cmath>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "selection/hash.h"
#include "storage/collection.h"
#include "storage/float16.h"
#include "storage/status.h"

namespace winnow::storage::internal {

absl::StatusOr<GetDocumentsResult> Collection::GetDocuments(
    rocksdb::DB* db, const Families& f, std::span<const std::string_view> ids,
    std::span<const uint64_t> ordinals,
    const GetDocumentsOptions& options) const {
  GetDocumentsResult out;
  // Payload and embedding reads, done after the lock is released.
  std::vector<std::string> keys;
  std::vector<size_t> targets;  // the document of each payload key
  // Embeddings read from their blocks when no matrix is loaded: (document,
  // ordinal).
  std::vector<size_t> emb_docs;
  std::vector<uint32_t> emb_ordinals;
  {
    absl::ReaderMutexLock lock(&columns_mu_);
    // The matrix of the version this lock sees (collection.h).
    std::shared_ptr<const EmbeddingMatrix> matrix;
    if (options.embedding && embedding_dimension_ > 0) {
      absl::MutexLock emb_lock(&emb_mu_);
      matrix = emb_;
    }
    std::vector<uint32_t> sids;
    if (options.scores) {
      if (options.score_names.empty()) {
        for (uint32_t s = 0; s < scores_.size(); ++s) sids.push_back(s);
      } else {
        for (size_t k = 0; k < options.score_names.size(); ++k) {
          auto it = score_ids_.find(options.score_names[k]);
          if (it == score_ids_.end()) {
            return absl::InvalidArgumentError(absl::StrFormat(
                "score_names[%d]: unknown score '%s' in collection '%s'", k,
                Escape(options.score_names[k]), name_));
          }
          sids.push_back(it->second);
        }
      }
    }
    auto add = [&](uint32_t o) ABSL_SHARED_LOCKS_REQUIRED(columns_mu_) {
      StoredDocument& d = out.documents.emplace_back();
      d.id = std::string(ids_[o]);
      d.ordinal = o;
      d.length = length_[o];
      d.upsert_seq = upsert_seq_[o];
      d.deleted = !live_.Get(o);
      if (d.deleted) return;
      d.domain = domain_names_[domain_[o]];
      if (options.attributes) {
        for (const AttributeColumnData& a : attributes_) {
          if (a.codes[o] != 0) d.attributes[a.key] = a.values[a.codes[o] - 1];
        }
      }
      for (uint32_t s : sids) {
        const float v = scores_[s].values[o];
        if (!std::isnan(v)) d.scores[scores_[s].name] = v;
      }
      const size_t doc = out.documents.size() - 1;
      if (options.payload && has_payload_.Get(o)) {
        keys.push_back(DocKey(id_, DocField::kPayload, o));
        targets.push_back(doc);
      }
      if (options.embedding && has_embedding_.Get(o)) {
        if (matrix != nullptr && o < matrix->num_rows &&
            matrix->present.Get(o)) {
          CopyMatrixRow(*matrix, o, &d.embedding);
        } else {
          emb_docs.push_back(doc);
          emb_ordinals.push_back(o);
        }
      }
    };
    for (size_t i = 0; i < ids.size(); ++i) {
      std::optional<uint32_t> o = FindPublished(ids[i]);
      const bool deleted = o && !live_.Get(*o);
      if (!o || (deleted && !options.include_deleted)) {
        if (!options.allow_missing) {
          return absl::NotFoundError(absl::StrFormat(
              "ids[%d]: document \"%s\" %s in collection '%s'", i,
              Escape(ids[i]), o ? "is deleted" : "not found", name_));
        }
        out.missing_ids.emplace_back(ids[i]);
        continue;
      }
      add(*o);
    }
    for (size_t i = 0; i < ordinals.size(); ++i) {
      const uint64_t ord = ordinals[i];
      const bool known = ord < published_rows_;
      const bool deleted = known && !live_.Get(static_cast<uint32_t>(ord));
      if (!known || (deleted && !options.include_deleted)) {
        if (!options.allow_missing) {
          return absl::NotFoundError(absl::StrFormat(
              "ordinals[%d]: document with ordinal %d %s in collection '%s'", i,
              ord, known ? "is deleted" : "not found", name_));
        }
        out.missing_ordinals.push_back(ord);
        continue;
      }
      add(static_cast<uint32_t>(ord));
    }
  }
  if (!emb_ordinals.empty()) {
    std::vector<std::vector<float>*> dst;
    for (size_t doc : emb_docs) dst.push_back(&out.documents[doc].embedding);
    if (absl::Status s = ReadEmbeddingRows(db, f, emb_ordinals, dst); !s.ok()) {
      return s;
    }
  }
  if (keys.empty()) return out;

  absl::StatusOr<std::vector<std::optional<std::string>>> payloads =
      ReadDocs(db, f, keys, "reading documents");
  if (!payloads.ok()) return payloads.status();
  for (size_t k = 0; k < keys.size(); ++k) {
    // nullopt: a concurrent write removed it after the lock was released.
    if ((*payloads)[k]) {
      out.documents[targets[k]].payload = *std::move((*payloads)[k]);
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::optional<std::string>>> Collection::ReadDocs(
    rocksdb::DB* db, const Families& f, const std::vector<std::string>& keys,
    std::string_view what) const {
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> families(keys.size(), f.docs);
  std::vector<std::string> values;
  std::vector<rocksdb::Status> statuses =
      db->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    if (statuses[k].IsNotFound()) continue;
    if (!statuses[k].ok()) {
      return FromRocksDb(
          statuses[k],
          absl::StrFormat("%s of collection '%s'", std::string(what), name_));
    }
    out[k] = std::move(values[k]);
  }
  return out;
}

namespace {

absl::Status Corrupt(std::string_view collection, std::string_view what) {
  return absl::DataLossError(
      absl::StrFormat("collection '%s': %s", collection, what));
}

}  // namespace

absl::StatusOr<std::shared_ptr<Collection>> Collection::Load(
    rocksdb::DB* db, const Families& f, std::string name, uint32_t id,
    uint32_t embedding_dimension, EmbeddingType embedding_type,
    int64_t create_time_micros, double loss_half_life) {
  auto c = std::make_shared<Collection>(id, std::move(name),
                                        embedding_dimension, embedding_type,
                                        create_time_micros, loss_half_life);
  absl::MutexLock write_lock(&c->write_mu_);
  absl::WriterMutexLock columns_lock(&c->columns_mu_);
  if (absl::Status s = c->LoadFrom(db, f); !s.ok()) return s;
  return c;
}

absl::Status Collection::FinishIds() {
  const size_t n = ids_.size();
  id_hashes_.resize(n);
  index_.reserve(n);
  for (uint32_t o = 0; o < n; ++o) {
    id_hashes_[o] = IdHash(ids_[o]);
    if (!index_.insert(o).second) {
      return Corrupt(name_, "an id is stored twice");
    }
  }
  ResizeColumns(n);
  return absl::OkStatus();
}

absl::Status Collection::LoadFrom(rocksdb::DB* db, const Families& f) {
  const uint32_t id = id_;
  const std::string& cname = name_;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  ro.readahead_size = size_t{2} << 20;

  // Dictionaries and write sequence.
  {
    const std::string lower = CollectionMetaPrefix(id);
    const std::string upper = CollectionMetaPrefix(id + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions mro = ro;
    mro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(mro, f.meta));
    for (it->Seek(lower); it->Valid(); it->Next()) {
      std::string_view key(it->key().data(), it->key().size());
      std::string value = it->value().ToString();
      key.remove_prefix(lower.size());
      if (key.empty()) return Corrupt(cname, "empty metadata key");
      const char kind = key[0];
      key.remove_prefix(1);
      const uint32_t a = key.size() >= 4 ? GetBig32(key.data()) : 0;
      switch (static_cast<MetaKind>(kind)) {
        case MetaKind::kDomain:
          if (key.size() != 4 || a != domain_names_.size()) {
            return Corrupt(cname, "domain dictionary is not dense");
          }
          domain_codes_.emplace(value, a);
          domain_names_.push_back(std::move(value));
          break;
        case MetaKind::kScoreName:
          if (key.size() != 4 || a != scores_.size()) {
            return Corrupt(cname, "score names are not dense");
          }
          score_ids_.emplace(value, a);
          scores_.emplace_back().name = std::move(value);
          break;
        case MetaKind::kAttributeKey:
          if (key.size() != 4 || a != attributes_.size()) {
            return Corrupt(cname, "attribute keys are not dense");
          }
          attribute_ids_.emplace(value, a);
          attributes_.emplace_back().key = std::move(value);
          break;
        case MetaKind::kAttributeValue: {
          if (key.size() != 8 || a >= attributes_.size()) {
            return Corrupt(cname, "attribute value of an unknown key");
          }
          AttributeColumnData& col = attributes_[a];
          if (GetBig32(key.data() + 4) != col.values.size() + 1) {
            return Corrupt(cname, "attribute values are not dense");
          }
          col.value_codes.emplace(value, col.values.size() + 1);
          col.values.push_back(std::move(value));
          break;
        }
        case MetaKind::kWriteSeq:
          if (value.size() != 16) return Corrupt(cname, "bad write sequence");
          write_seq_ = GetFixed<uint64_t>(value.data());
          published_write_seq_ = write_seq_;
          update_time_micros_ = GetFixed<int64_t>(value.data() + 8);
          break;
        default:
          return Corrupt(cname, "unknown metadata key");
      }
    }
    if (!it->status().ok()) {
      return FromRocksDb(it->status(), "reading metadata of " + cname);
    }
  }

  // Column blocks: ids first (they sort first), then the rest.
  const std::string lower = CollectionPrefix(id);
  const std::string upper = CollectionPrefix(id + 1);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, f.blocks));
  bool ids_done = false;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    BlockKeyParts key;
    if (!ParseBlockKey(std::string_view(it->key().data(), it->key().size()),
                       &key)) {
      return Corrupt(cname, "unparsable block key");
    }
    const rocksdb::Slice value = it->value();
    const uint64_t start = uint64_t{key.block} << kBlockShift;
    if (key.kind == ColumnKind::kIds) {
      if (ids_.size() != start) {
        return Corrupt(cname, "id blocks are not contiguous");
      }
      const char* p = value.data();
      const char* limit = p + value.size();
      while (p < limit) {
        uint32_t len;
        if (!GetVarint32(&p, limit, &len) ||
            static_cast<size_t>(limit - p) < len) {
          return Corrupt(cname, "malformed id block");
        }
        ids_.push_back(arena_.Add(std::string_view(p, len)));
        p += len;
      }
      if (ids_.size() - start > kBlockSize) {
        return Corrupt(cname, "id block holds too many ids");
      }
      continue;
    }
    if (!ids_done) {
      ids_done = true;
      if (absl::Status s = FinishIds(); !s.ok()) return s;
    }
    const CellSpec spec = CellSpecFor(key.kind);
    const size_t cells = value.size() / spec.width;
    if (value.size() % spec.width != 0 || cells > kBlockSize ||
        start + cells > ids_.size()) {
      return Corrupt(cname, "column block does not fit the ids");
    }
    const bool columnless =
        key.kind != ColumnKind::kScore && key.kind != ColumnKind::kAttribute;
    if ((columnless && key.column != 0) ||
        (key.kind == ColumnKind::kScore && key.column >= scores_.size()) ||
        (key.kind == ColumnKind::kAttribute &&
         key.column >= attributes_.size())) {
      return Corrupt(cname, "block of an unknown column");
    }
    for (size_t k = 0; k < cells; ++k) {
      ApplyCell(key.kind, key.column, static_cast<uint32_t>(start + k),
                value.data() + k * spec.width);
    }
  }
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), "reading columns of " + cname);
  }
  if (!ids_done) {
    ids_done = true;
    if (absl::Status s = FinishIds(); !s.ok()) return s;
  }
  // Everything stored is durable: publish it all.
  live_ = live_all_;
  published_rows_ = rows();
  published_write_seq_ = write_seq_;
  if (absl::Status s = LoadFeedback(db, f); !s.ok()) return s;
  return RecountAll();
}

}  // namespace winnow::storage::internal
