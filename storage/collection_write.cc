// Collection::Prepare*: validation and encoding of writes (collection.h).
#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "selection/hash.h"
#include "storage/collection.h"
#include "storage/float16.h"
#include "storage/names.h"
#include "storage/payload_hash.h"

namespace winnow::storage::internal {
namespace {

constexpr float kNullScore = std::bit_cast<float>(kNullScoreBits);

// "ids[3] (id \"doc-3\")": a document's position and id, for messages.
std::string DocRef(std::string_view field, size_t i, std::string_view id) {
  return absl::StrFormat("%s[%d] (id \"%s\")", field, i, Escape(id));
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void PutWriteSeq(uint32_t collection, uint64_t seq, int64_t micros,
                 const Families& f, rocksdb::WriteBatch* batch) {
  std::string v;
  PutFixed<uint64_t>(&v, seq);
  PutFixed<int64_t>(&v, micros);
  batch->Put(f.meta, CollectionMetaKey(collection, MetaKind::kWriteSeq), v);
}

// Checks score columns aligned with `n` documents: names, repeats, sizes,
// null indexes and finite values. `ids` names documents in messages (may be
// empty when documents are given by ordinal).
absl::Status ValidateScoreColumns(std::span<const ScoreColumn> columns,
                                  size_t n,
                                  std::span<const std::string_view> ids) {
  absl::flat_hash_map<std::string_view, size_t> names;
  for (size_t j = 0; j < columns.size(); ++j) {
    const ScoreColumn& c = columns[j];
    const std::string field = absl::StrFormat("scores[%d]", j);
    if (absl::Status s = ValidateColumnName(c.name, field + ".name"); !s.ok()) {
      return s;
    }
    if (IsFeedbackColumnName(c.name)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.name: '%s' is reserved for the training statistics that "
          "ReportTraining keeps (docs/feedback.md)",
          field, c.name));
    }
    auto [it, inserted] = names.emplace(c.name, j);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.name: '%s' repeats scores[%d].name", field, c.name, it->second));
    }
    if (c.values.size() != n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.values: %d values for %d documents", field, c.values.size(), n));
    }
    for (size_t k = 0; k < c.null_indexes.size(); ++k) {
      if (c.null_indexes[k] >= n ||
          (k > 0 && c.null_indexes[k] <= c.null_indexes[k - 1])) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s.null_indexes[%d]: %d is out of range or not ascending", field,
            k, c.null_indexes[k]));
      }
    }
    size_t k = 0;
    for (size_t i = 0; i < n; ++i) {
      if (k < c.null_indexes.size() && c.null_indexes[k] == i) {
        ++k;
        continue;
      }
      if (!std::isfinite(c.values[i])) {
        std::string ref = ids.empty()
                              ? absl::StrFormat("%s.values[%d]", field, i)
                              : absl::StrFormat("%s.values[%d] (id \"%s\")",
                                                field, i, Escape(ids[i]));
        return absl::InvalidArgumentError(
            absl::StrFormat("%s: score '%s' is %f; scores must be finite", ref,
                            c.name, c.values[i]));
      }
    }
  }
  return absl::OkStatus();
}

// Calls fn(i, is_null) for each document of a score column, in order.
template <typename Fn>
void ForEachScore(const ScoreColumn& c, size_t n, Fn&& fn) {
  size_t k = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool is_null = k < c.null_indexes.size() && c.null_indexes[k] == i;
    if (is_null) ++k;
    fn(i, is_null);
  }
}

// The indexes of a batch's ids, hashed by their precomputed IdHash and
// compared by id: finds a repeated id without hashing the string again.
struct BatchIdHash {
  const std::vector<uint64_t>* hashes;
  size_t operator()(uint32_t i) const { return (*hashes)[i]; }
};
struct BatchIdEq {
  const std::vector<std::string_view>* ids;
  bool operator()(uint32_t a, uint32_t b) const {
    return (*ids)[a] == (*ids)[b];
  }
};
using BatchIdSet = absl::flat_hash_set<uint32_t, BatchIdHash, BatchIdEq>;

bool SameBits(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// Adds the Put (fresh block) or Merge (appending) of new ids to `batch`.
void EncodeNewIds(uint32_t collection, uint32_t old_rows,
                  std::span<const std::string_view> new_ids,
                  rocksdb::ColumnFamilyHandle* blocks,
                  rocksdb::WriteBatch* batch) {
  std::string value;
  uint32_t ordinal = old_rows;
  size_t i = 0;
  while (i < new_ids.size()) {
    const uint32_t block = ordinal >> kBlockShift;
    const bool fresh = (block << kBlockShift) >= old_rows;
    value.clear();
    while (i < new_ids.size() && (ordinal >> kBlockShift) == block) {
      PutVarint32(&value, static_cast<uint32_t>(new_ids[i].size()));
      value.append(new_ids[i]);
      ++i;
      ++ordinal;
    }
    const std::string key = BlockKey(collection, ColumnKind::kIds, 0, block);
    if (fresh) {
      batch->Put(blocks, key, value);
    } else {
      batch->Merge(blocks, key, value);
    }
  }
}

}  // namespace

absl::Status Collection::PrepareUpsert(const DocumentBatch& b,
                                       const WriteLimits& limits,
                                       const Families& f,
                                       rocksdb::WriteBatch* wb, PendingWrite* p,
                                       UpsertResult* r) const {
  AssertWriterMayRead();
  const size_t n = b.ids.size();
  r->write_seq = write_seq_;
  if (n == 0) {
    p->noop = true;
    return absl::OkStatus();
  }
  const uint32_t dim = embedding_dimension_;

  // ---- Column-level validation ----
  if (b.domains.size() > 1 && b.domains.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("domains: %d entries for %d ids; want 0, 1 or %d",
                        b.domains.size(), n, n));
  }
  if (!b.lengths.empty() && b.lengths.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("lengths: %d entries for %d ids; want 0 or %d",
                        b.lengths.size(), n, n));
  }
  if (!b.payloads.empty() && b.payloads.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrFormat("payloads: %d entries for %d ids; want 0 or %d",
                        b.payloads.size(), n, n));
  }
  if (!b.embeddings.empty()) {
    if (dim == 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("embeddings: collection '%s' has no embeddings "
                          "(embedding_dimension 0)",
                          name_));
    }
    if (b.embeddings.size() != n * dim) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "embeddings: %d floats for %d documents of dimension %d; want %d",
          b.embeddings.size(), n, dim, n * dim));
    }
  }
  if (absl::Status s = ValidateScoreColumns(b.scores, n, b.ids); !s.ok()) {
    return s;
  }
  absl::flat_hash_map<std::string_view, size_t> attribute_keys;
  for (size_t j = 0; j < b.attributes.size(); ++j) {
    const AttributeColumn& a = b.attributes[j];
    const std::string field = absl::StrFormat("attributes[%d]", j);
    if (absl::Status s = ValidateColumnName(a.key, field + ".key"); !s.ok()) {
      return s;
    }
    auto [it, inserted] = attribute_keys.emplace(a.key, j);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.key: '%s' repeats attributes[%d].key", field, a.key, it->second));
    }
    if (a.values.size() != n) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s.values: %d values for %d ids", field, a.values.size(), n));
    }
  }

  // ---- Per-document validation and ordinals ----
  enum class Kind : uint8_t { kCreated, kReplaced, kRevived };
  std::vector<Kind> kinds(n);
  r->ordinals.resize(n);
  // Each id is hashed once: the hash finds it in the index, detects repeats
  // within the batch, and becomes the new document's stored IdHash.
  std::vector<uint64_t> hashes(n);
  for (size_t i = 0; i < n; ++i) hashes[i] = IdHash(b.ids[i]);
  BatchIdSet seen(n, BatchIdSet::hasher{&hashes},
                  BatchIdSet::key_equal{&b.ids});
  uint64_t next = rows();
  // The index lookups below land on random cache lines: prefetch a few ids
  // ahead so that the misses overlap.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < std::min(kAhead, n); ++i) index_.prefetch(b.ids[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) index_.prefetch(b.ids[i + kAhead]);
    std::string_view id = b.ids[i];
    if (id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("ids[%d]: id is empty", i));
    }
    if (id.size() > limits.max_id_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ids[%d]: id of %d bytes exceeds the limit of %d bytes", i, id.size(),
          limits.max_id_bytes));
    }
    if (!b.lengths.empty() &&
        (b.lengths[i] < 0 ||
         b.lengths[i] > std::numeric_limits<uint32_t>::max())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: %d is %s", DocRef("lengths", i, id), b.lengths[i],
          b.lengths[i] < 0 ? "negative" : "over the maximum of 4294967295"));
    }
    if (!b.payloads.empty() && b.payloads[i].has_value() &&
        b.payloads[i]->size() > limits.max_payload_bytes) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: payload of %d bytes exceeds the limit of %d bytes",
          DocRef("payloads", i, id), b.payloads[i]->size(),
          limits.max_payload_bytes));
    }
    auto [it, inserted] = seen.insert(static_cast<uint32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "ids[%d]: id \"%s\" repeats ids[%d]", i, Escape(id), *it));
    }
    if (auto found = index_.find(id, hashes[i]); found != index_.end()) {
      r->ordinals[i] = *found;
      kinds[i] = live_all_.Get(*found) ? Kind::kReplaced : Kind::kRevived;
    } else {
      r->ordinals[i] = static_cast<uint32_t>(next++);
      kinds[i] = Kind::kCreated;
      p->new_ids.push_back(id);
      p->new_id_hashes.push_back(hashes[i]);
    }
  }
  if (next > std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("collection '%s' would exceed %d documents", name_,
                        std::numeric_limits<uint32_t>::max()));
  }
  for (size_t k = 0; k < b.embeddings.size(); ++k) {
    const float v = b.embeddings[k];
    const bool bad_f16 = embedding_type_ == EmbeddingType::kFloat16 &&
                         std::isfinite(v) && std::fabs(v) > kMaxFloat16;
    if (!std::isfinite(v) || bad_f16) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "embeddings[%d] (document %d, id \"%s\"): %f is %s", k, k / dim,
          Escape(b.ids[k / dim]), v,
          bad_f16 ? "out of float16 range (|x| <= 65504)" : "not finite"));
    }
  }

  // ---- Everything is valid: encode ----
  const uint32_t old_rows = rows();
  const uint64_t seq = write_seq_ + 1;
  const int64_t now = NowMicros();
  p->new_rows = static_cast<uint32_t>(next);

  // Domains.
  absl::flat_hash_map<std::string_view, uint32_t> new_domain_codes;
  auto intern_domain = [&](std::string_view d) -> uint32_t {
    AssertWriterMayRead();
    if (auto it = domain_codes_.find(d); it != domain_codes_.end()) {
      return it->second;
    }
    if (auto it = new_domain_codes.find(d); it != new_domain_codes.end()) {
      return it->second;
    }
    const uint32_t code =
        static_cast<uint32_t>(domain_names_.size() + p->new_domains.size());
    p->new_domains.emplace_back(d);
    new_domain_codes.emplace(d, code);
    wb->Put(f.meta, CollectionMetaKey(id_, MetaKind::kDomain, code), d);
    return code;
  };
  const uint32_t single_domain =
      b.domains.size() == 1 ? intern_domain(b.domains[0])
                            : (b.domains.empty() ? intern_domain("") : 0);

  // Score ids: the batch's column for every score id, or -1.
  std::vector<int> column_of_score(scores_.size(), -1);
  for (size_t j = 0; j < b.scores.size(); ++j) {
    std::string_view name = b.scores[j].name;
    if (auto it = score_ids_.find(name); it != score_ids_.end()) {
      column_of_score[it->second] = static_cast<int>(j);
    } else {
      const uint32_t sid = static_cast<uint32_t>(column_of_score.size());
      column_of_score.push_back(static_cast<int>(j));
      p->new_score_names.emplace_back(name);
      wb->Put(f.meta, CollectionMetaKey(id_, MetaKind::kScoreName, sid), name);
    }
  }

  // Attribute key ids and value codes, per batch column.
  std::vector<int> column_of_key(attributes_.size(), -1);
  std::vector<std::vector<uint32_t>> attribute_codes(b.attributes.size());
  for (size_t j = 0; j < b.attributes.size(); ++j) {
    const AttributeColumn& a = b.attributes[j];
    uint32_t kid;
    const AttributeColumnData* existing = nullptr;
    if (auto it = attribute_ids_.find(a.key); it != attribute_ids_.end()) {
      kid = it->second;
      existing = &attributes_[kid];
      column_of_key[kid] = static_cast<int>(j);
    } else {
      kid = static_cast<uint32_t>(column_of_key.size());
      column_of_key.push_back(static_cast<int>(j));
      p->new_attribute_keys.emplace_back(a.key);
      wb->Put(f.meta, CollectionMetaKey(id_, MetaKind::kAttributeKey, kid),
              a.key);
    }
    const uint32_t base = existing ? existing->values.size() : 0;
    absl::flat_hash_map<std::string_view, uint32_t> new_codes;
    std::vector<uint32_t>& codes = attribute_codes[j];
    codes.resize(n);
    for (size_t i = 0; i < n; ++i) {
      std::string_view v = a.values[i];
      if (v.empty()) {
        codes[i] = 0;
        continue;
      }
      if (existing != nullptr) {
        if (auto it = existing->value_codes.find(v);
            it != existing->value_codes.end()) {
          codes[i] = it->second;
          continue;
        }
      }
      auto [it, inserted] = new_codes.emplace(
          v, static_cast<uint32_t>(base + new_codes.size() + 1));
      if (inserted) {
        p->new_attribute_values.emplace_back(kid, std::string(v));
        wb->Put(
            f.meta,
            CollectionMetaKey(id_, MetaKind::kAttributeValue, kid, it->second),
            v);
      }
      codes[i] = it->second;
    }
  }

  // Per-document columns, payloads and embeddings.
  CellChanges domain(ColumnKind::kDomain, 0), length(ColumnKind::kLength, 0),
      live(ColumnKind::kLive, 0), has_payload(ColumnKind::kHasPayload, 0),
      has_embedding(ColumnKind::kHasEmbedding, 0),
      upsert_seq(ColumnKind::kUpsertSeq, 0);
  EmbeddingChanges& emb = p->embeddings;
  emb.row_bytes = dim * (embedding_type_ == EmbeddingType::kFloat16 ? 2 : 4);
  if (!b.embeddings.empty()) {
    emb.set.reserve(n);
    if (embedding_type_ == EmbeddingType::kFloat16) {
      emb.owned.reserve(n * size_t{emb.row_bytes});
    } else {
      // Row i of the batch is set[i]: encode straight from the request.
      emb.external = reinterpret_cast<const char*>(b.embeddings.data());
    }
  }
  bool any_existing = false;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t o = r->ordinals[i];
    const bool is_new = kinds[i] == Kind::kCreated;
    any_existing |= !is_new;
    switch (kinds[i]) {
      case Kind::kCreated:
        ++r->num_created;
        break;
      case Kind::kReplaced:
        ++r->num_replaced;
        break;
      case Kind::kRevived:
        ++r->num_revived;
        break;
    }
    const uint32_t d =
        b.domains.size() > 1 ? intern_domain(b.domains[i]) : single_domain;
    const uint32_t len =
        b.lengths.empty() ? 0 : static_cast<uint32_t>(b.lengths[i]);
    if (is_new || domain_[o] != d) domain.Add<uint32_t>(o, d);
    if (is_new || length_[o] != len) length.Add<uint32_t>(o, len);
    if (is_new || !live_all_.Get(o)) live.Add<uint8_t>(o, 1);
    upsert_seq.Add<uint64_t>(o, seq);

    const bool hp = !b.payloads.empty() && b.payloads[i].has_value();
    const bool had_payload = !is_new && has_payload_.Get(o);
    if (hp) {
      wb->Put(f.docs, DocKey(id_, DocField::kPayload, o),
              rocksdb::Slice(b.payloads[i]->data(), b.payloads[i]->size()));
      const PayloadHash hash = Sha256(*b.payloads[i]);
      wb->Put(f.docs, DocKey(id_, DocField::kPayloadHash, o),
              rocksdb::Slice(reinterpret_cast<const char*>(hash.data()),
                             hash.size()));
    } else if (had_payload) {
      wb->Delete(f.docs, DocKey(id_, DocField::kPayload, o));
      wb->Delete(f.docs, DocKey(id_, DocField::kPayloadHash, o));
    }
    if (hp != had_payload) has_payload.Add<uint8_t>(o, hp);

    const bool he = !b.embeddings.empty();
    const bool had_embedding = !is_new && has_embedding_.Get(o);
    if (he) {
      const float* e = b.embeddings.data() + i * dim;
      emb.set.push_back(o);
      if (embedding_type_ == EmbeddingType::kFloat16) {
        for (uint32_t k = 0; k < dim; ++k) {
          PutFixed<uint16_t>(&emb.owned, FloatToHalf(e[k]));
        }
      }
    } else if (had_embedding) {
      emb.cleared.push_back(o);
    }
    if (he != had_embedding) has_embedding.Add<uint8_t>(o, he);
  }
  for (CellChanges* c :
       {&domain, &length, &live, &has_payload, &has_embedding, &upsert_seq}) {
    p->changes.push_back(std::move(*c));
  }

  // Scores: a full replace, so a score the batch does not give becomes
  // null for replaced documents.
  for (size_t sid = 0; sid < column_of_score.size(); ++sid) {
    const int j = column_of_score[sid];
    if (j < 0 && !any_existing) continue;  // new documents start null
    // Training statistics belong to the document's ordinal and survive a
    // replace (docs/feedback.md).
    if (j < 0 && IsFeedbackScore(static_cast<uint32_t>(sid))) continue;
    CellChanges c(ColumnKind::kScore, static_cast<uint32_t>(sid));
    const std::vector<float>* old =
        sid < scores_.size() ? &scores_[sid].values : nullptr;
    auto visit = [&](size_t i, bool is_null) {
      const uint32_t o = r->ordinals[i];
      const float v = is_null ? kNullScore : b.scores[j].values[i];
      const float before = (kinds[i] == Kind::kCreated || old == nullptr)
                               ? kNullScore
                               : (*old)[o];
      if (!SameBits(before, v)) c.Add<float>(o, v);
    };
    if (j >= 0) {
      ForEachScore(b.scores[j], n, visit);
    } else {
      for (size_t i = 0; i < n; ++i) visit(i, true);
    }
    if (c.size() > 0) p->changes.push_back(std::move(c));
  }

  // Attributes: likewise, absent unless the batch gives them.
  for (size_t kid = 0; kid < column_of_key.size(); ++kid) {
    const int j = column_of_key[kid];
    if (j < 0 && !any_existing) continue;
    CellChanges c(ColumnKind::kAttribute, static_cast<uint32_t>(kid));
    const std::vector<uint32_t>* old =
        kid < attributes_.size() ? &attributes_[kid].codes : nullptr;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t o = r->ordinals[i];
      const uint32_t v = j >= 0 ? attribute_codes[j][i] : 0;
      const uint32_t before =
          (kinds[i] == Kind::kCreated || old == nullptr) ? 0 : (*old)[o];
      if (before != v) c.Add<uint32_t>(o, v);
    }
    if (c.size() > 0) p->changes.push_back(std::move(c));
  }

  EncodeNewIds(id_, old_rows, p->new_ids, f.blocks, wb);
  for (const CellChanges& c : p->changes) {
    c.Encode(id_, old_rows, f.blocks, wb);
  }
  emb.Encode(id_, old_rows, f.embeddings, wb);
  PutWriteSeq(id_, seq, now, f, wb);

  p->touched = r->ordinals;
  p->all_columns = true;
  p->append_only = r->num_created == n;
  p->write_seq = seq;
  p->update_time_micros = now;
  r->write_seq = seq;
  return absl::OkStatus();
}

absl::Status Collection::PreparePutScores(const ScoreBatch& b,
                                          const Families& f,
                                          rocksdb::WriteBatch* wb,
                                          PendingWrite* p,
                                          PutScoresResult* r) const {
  AssertWriterMayRead();
  r->write_seq = write_seq_;
  if (!b.ids.empty() && !b.ordinals.empty()) {
    return absl::InvalidArgumentError(
        "ids, ordinals: give documents by ids or by ordinals, not both");
  }
  const bool by_id = !b.ids.empty();
  const size_t n = by_id ? b.ids.size() : b.ordinals.size();
  if (n == 0 && b.scores.empty()) {
    p->noop = true;
    return absl::OkStatus();
  }
  if (absl::Status s = ValidateScoreColumns(b.scores, n, b.ids); !s.ok()) {
    return s;
  }

  // Resolve documents; -1 = skipped (allow_missing).
  std::vector<int64_t> ordinals(n, -1);
  absl::flat_hash_map<uint32_t, uint32_t> seen;
  seen.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::optional<uint32_t> o;
    std::string ref;
    if (by_id) {
      o = Find(b.ids[i]);
      if (!o || !live_all_.Get(*o)) {
        if (b.allow_missing) continue;
        return absl::NotFoundError(absl::StrFormat(
            "ids[%d]: document \"%s\" %s in collection '%s'", i,
            Escape(b.ids[i]), o ? "is deleted" : "not found", name_));
      }
    } else {
      const uint64_t ord = b.ordinals[i];
      if (ord < rows()) o = static_cast<uint32_t>(ord);
      if (!o || !live_all_.Get(*o)) {
        if (b.allow_missing) continue;
        return absl::NotFoundError(absl::StrFormat(
            "ordinals[%d]: document with ordinal %d %s in collection '%s'", i,
            ord, o ? "is deleted" : "not found", name_));
      }
    }
    auto [it, inserted] = seen.emplace(*o, static_cast<uint32_t>(i));
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s[%d]: repeats %s[%d] (the same document)",
                          by_id ? "ids" : "ordinals", i,
                          by_id ? "ids" : "ordinals", it->second));
    }
    ordinals[i] = *o;
  }

  const uint64_t seq = write_seq_ + 1;
  const int64_t now = NowMicros();
  p->new_rows = rows();
  uint32_t next_sid = static_cast<uint32_t>(scores_.size());
  for (size_t j = 0; j < b.scores.size(); ++j) {
    const ScoreColumn& col = b.scores[j];
    uint32_t sid;
    const std::vector<float>* old = nullptr;
    if (auto it = score_ids_.find(col.name); it != score_ids_.end()) {
      sid = it->second;
      old = &scores_[sid].values;
    } else {
      sid = next_sid++;
      p->new_score_names.emplace_back(col.name);
      wb->Put(f.meta, CollectionMetaKey(id_, MetaKind::kScoreName, sid),
              col.name);
    }
    p->touched_scores.push_back(sid);
    if (feedback_owned_ && col.name == kIrreducibleScoreName) {
      // reducible_loss follows irreducible (Apply recomputes it).
      p->touched_scores.push_back(feedback_sids_[kReducibleLoss]);
    }
    CellChanges c(ColumnKind::kScore, sid);
    ForEachScore(col, n, [&](size_t i, bool is_null) {
      if (ordinals[i] < 0) return;
      const uint32_t o = static_cast<uint32_t>(ordinals[i]);
      const float v = is_null ? kNullScore : col.values[i];
      const float before = old == nullptr ? kNullScore : (*old)[o];
      if (!SameBits(before, v)) c.Add<float>(o, v);
    });
    if (c.size() > 0) {
      c.Encode(id_, rows(), f.blocks, wb);
      p->changes.push_back(std::move(c));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (ordinals[i] >= 0) {
      p->touched.push_back(static_cast<uint32_t>(ordinals[i]));
      ++r->num_documents;
    } else {
      ++r->num_missing;
    }
  }
  PutWriteSeq(id_, seq, now, f, wb);
  p->all_columns = false;
  p->write_seq = seq;
  p->update_time_micros = now;
  r->write_seq = seq;
  return absl::OkStatus();
}

absl::Status Collection::PrepareDelete(std::span<const std::string_view> ids,
                                       bool allow_missing, const Families& f,
                                       rocksdb::WriteBatch* wb, PendingWrite* p,
                                       DeleteResult* r) const {
  AssertWriterMayRead();
  r->write_seq = write_seq_;
  if (ids.empty()) {
    p->noop = true;
    return absl::OkStatus();
  }
  CellChanges live(ColumnKind::kLive, 0),
      has_payload(ColumnKind::kHasPayload, 0),
      has_embedding(ColumnKind::kHasEmbedding, 0);
  absl::flat_hash_set<uint32_t> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::optional<uint32_t> o = Find(ids[i]);
    if (!o) {
      if (!allow_missing) {
        return absl::NotFoundError(absl::StrFormat(
            "ids[%d]: document \"%s\" not found in collection '%s'", i,
            Escape(ids[i]), name_));
      }
      r->missing_ids.emplace_back(ids[i]);
      continue;
    }
    if (!live_all_.Get(*o)) {
      ++r->num_already_deleted;
      continue;
    }
    if (!seen.insert(*o).second) continue;  // named twice
    ++r->num_deleted;
    live.Add<uint8_t>(*o, 0);
    if (has_payload_.Get(*o)) {
      has_payload.Add<uint8_t>(*o, 0);
      wb->Delete(f.docs, DocKey(id_, DocField::kPayload, *o));
      wb->Delete(f.docs, DocKey(id_, DocField::kPayloadHash, *o));
    }
    if (has_embedding_.Get(*o)) {
      has_embedding.Add<uint8_t>(*o, 0);
      p->embeddings.cleared.push_back(*o);
    }
    p->touched.push_back(*o);
  }
  const uint64_t seq = write_seq_ + 1;
  const int64_t now = NowMicros();
  p->new_rows = rows();
  for (CellChanges* c : {&live, &has_payload, &has_embedding}) {
    if (c->size() == 0) continue;
    c->Encode(id_, rows(), f.blocks, wb);
    p->changes.push_back(std::move(*c));
  }
  p->embeddings.row_bytes =
      embedding_dimension_ *
      (embedding_type_ == EmbeddingType::kFloat16 ? 2 : 4);
  p->embeddings.Encode(id_, rows(), f.embeddings, wb);
  PutWriteSeq(id_, seq, now, f, wb);
  p->all_columns = true;
  p->write_seq = seq;
  p->update_time_micros = now;
  r->write_seq = seq;
  return absl::OkStatus();
}

}  // namespace winnow::storage::internal
