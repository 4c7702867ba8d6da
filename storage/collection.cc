#include "storage/collection.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "selection/hash.h"
#include "storage/block_merge.h"

namespace winnow::storage::internal {

// ---- CellChanges ----

CellChanges::CellChanges(ColumnKind kind, uint32_t column)
    : kind_(kind), column_(column), width_(CellSpecFor(kind).width) {}

void CellChanges::Encode(uint32_t collection, uint32_t old_rows,
                         rocksdb::ColumnFamilyHandle* blocks,
                         rocksdb::WriteBatch* batch) const {
  if (ordinals_.empty()) return;
  // Usually sorted already: replaced documents in request order, then new
  // ordinals ascending. Sort an index only when needed.
  std::vector<uint32_t> order(ordinals_.size());
  std::iota(order.begin(), order.end(), 0);
  if (!std::is_sorted(ordinals_.begin(), ordinals_.end())) {
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return ordinals_[a] < ordinals_[b];
    });
  }
  const CellSpec spec = CellSpecFor(kind_);
  std::string value;
  size_t i = 0;
  while (i < order.size()) {
    const uint32_t block = ordinals_[order[i]] >> kBlockShift;
    const uint32_t block_start = block << kBlockShift;
    size_t end = i;
    while (end < order.size() &&
           (ordinals_[order[end]] >> kBlockShift) == block) {
      ++end;
    }
    value.clear();
    const std::string key = BlockKey(collection, kind_, column_, block);
    if (block_start >= old_rows) {
      // A fresh block: the whole value, default cells in any gaps.
      for (size_t k = i; k < end; ++k) {
        const uint32_t offset = ordinals_[order[k]] - block_start;
        const size_t have = value.size() / width_;
        if (offset > have) {
          AppendDefaultCells(&value, static_cast<uint32_t>(offset - have),
                             spec);
        }
        value.append(cell(order[k]), width_);
      }
      batch->Put(blocks, key, value);
    } else {
      // Runs of consecutive ordinals.
      size_t k = i;
      while (k < end) {
        size_t run_end = k + 1;
        while (run_end < end &&
               ordinals_[order[run_end]] == ordinals_[order[run_end - 1]] + 1) {
          ++run_end;
        }
        const uint32_t count = static_cast<uint32_t>(run_end - k);
        PutFixed<uint16_t>(
            &value, static_cast<uint16_t>(ordinals_[order[k]] - block_start));
        PutFixed<uint16_t>(&value, static_cast<uint16_t>(count));
        for (size_t r = k; r < run_end; ++r)
          value.append(cell(order[r]), width_);
        k = run_end;
      }
      batch->Merge(blocks, key, value);
    }
    i = end;
  }
}

// ---- Collection ----

size_t StringHash::operator()(std::string_view s) const { return IdHash(s); }

size_t Collection::IdIndexHash::operator()(std::string_view id) const {
  return IdHash(id);
}

std::string_view Collection::IdArena::Add(std::string_view id) {
  if (used_ + id.size() > kChunkBytes || chunks_.empty()) {
    chunks_.push_back(
        std::make_unique<char[]>(std::max(kChunkBytes, id.size())));
    used_ = 0;
  }
  char* dst = chunks_.back().get() + used_;
  std::memcpy(dst, id.data(), id.size());
  used_ += id.size();
  bytes_ += id.size();
  return std::string_view(dst, id.size());
}

Collection::Collection(uint32_t id, std::string name,
                       uint32_t embedding_dimension,
                       EmbeddingType embedding_type, int64_t create_time_micros,
                       double loss_half_life)
    : id_(id),
      name_(std::move(name)),
      embedding_dimension_(embedding_dimension),
      embedding_type_(embedding_type),
      create_time_micros_(create_time_micros),
      loss_half_life_(loss_half_life),
      index_(0, IdIndexHash{&id_hashes_}, IdIndexEq{&ids_}) {}

std::optional<uint32_t> Collection::Find(std::string_view id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  return *it;
}

std::optional<uint32_t> Collection::FindPublished(std::string_view id) const {
  std::optional<uint32_t> o = Find(id);
  if (o && *o >= published_rows_) return std::nullopt;
  return o;
}

void Collection::FindPublishedMany(std::span<const std::string_view> ids,
                                   std::span<uint32_t> out) const {
  constexpr size_t kAhead = 8;
  const size_t n = ids.size();
  for (size_t i = 0; i < std::min(kAhead, n); ++i) index_.prefetch(ids[i]);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) index_.prefetch(ids[i + kAhead]);
    auto it = index_.find(ids[i]);
    out[i] = it == index_.end() || *it >= published_rows_ ? kNoOrdinal : *it;
  }
}

void Collection::AppendRows(std::span<const std::string_view> new_ids,
                            std::span<const uint64_t> new_id_hashes) {
  const size_t rows = ids_.size() + new_ids.size();
  // Grow geometrically: an exact reserve per batch would copy (and fault in)
  // the whole column on every write.
  if (rows > ids_.capacity()) {
    const size_t capacity = std::max(rows, 2 * ids_.capacity());
    ids_.reserve(capacity);
    id_hashes_.reserve(capacity);
  }
  index_.reserve(rows);
  const uint32_t first = static_cast<uint32_t>(ids_.size());
  for (size_t i = 0; i < new_ids.size(); ++i) {
    ids_.push_back(arena_.Add(new_ids[i]));
    id_hashes_.push_back(new_id_hashes[i]);
  }
  // Each insert lands on a random cache line of the index: prefetch a few
  // ordinals ahead so that the misses overlap.
  constexpr uint32_t kAhead = 8;
  const uint32_t end = static_cast<uint32_t>(rows);
  for (uint32_t o = first; o < std::min(end, first + kAhead); ++o) {
    index_.prefetch(o);
  }
  for (uint32_t o = first; o < end; ++o) {
    if (o + kAhead < end) index_.prefetch(o + kAhead);
    index_.insert(o);
  }
  ResizeColumns(rows);
}

void Collection::ResizeColumns(size_t rows) {
  domain_.resize(rows, 0);
  length_.resize(rows, 0);
  live_all_.Resize(rows);
  has_payload_.Resize(rows);
  has_embedding_.Resize(rows);
  upsert_seq_.resize(rows, 0);
  for (ScoreColumnData& s : scores_) s.values.resize(rows, NAN);
  for (AttributeColumnData& a : attributes_) a.codes.resize(rows, 0);
}

void Collection::ApplyCell(ColumnKind kind, uint32_t column, uint32_t ordinal,
                           const char* cell) {
  switch (kind) {
    case ColumnKind::kIds:
      break;
    case ColumnKind::kDomain:
      std::memcpy(&domain_[ordinal], cell, 4);
      break;
    case ColumnKind::kLength:
      std::memcpy(&length_[ordinal], cell, 4);
      break;
    case ColumnKind::kLive:
      live_all_.Assign(ordinal, *cell != 0);
      if (ordinal < published_rows_) live_.Assign(ordinal, *cell != 0);
      break;
    case ColumnKind::kHasPayload:
      has_payload_.Assign(ordinal, *cell != 0);
      break;
    case ColumnKind::kHasEmbedding:
      has_embedding_.Assign(ordinal, *cell != 0);
      break;
    case ColumnKind::kUpsertSeq:
      std::memcpy(&upsert_seq_[ordinal], cell, 8);
      break;
    case ColumnKind::kScore:
      std::memcpy(&scores_[column].values[ordinal], cell, 4);
      break;
    case ColumnKind::kAttribute:
      std::memcpy(&attributes_[column].codes[ordinal], cell, 4);
      break;
  }
}

void Collection::CountDocument(uint32_t ordinal, int sign, bool all_columns,
                               std::span<const uint32_t> scores) {
  if (!live_all_.Get(ordinal)) return;
  const int64_t s = sign;
  if (all_columns) {
    const uint32_t d = domain_[ordinal];
    num_live_ += s;
    num_tokens_ += s * length_[ordinal];
    domain_docs_[d] += s;
    domain_tokens_[d] += s * length_[ordinal];
    if (has_embedding_.Get(ordinal)) num_embeddings_ += s;
    for (ScoreColumnData& c : scores_) {
      if (!std::isnan(c.values[ordinal])) c.num_live_values += s;
    }
    for (AttributeColumnData& a : attributes_) {
      if (a.codes[ordinal] != 0) a.num_live_present += s;
    }
  } else {
    for (uint32_t sid : scores) {
      // A column this write creates has no values to remove yet.
      if (sid >= scores_.size()) continue;
      ScoreColumnData& c = scores_[sid];
      if (!std::isnan(c.values[ordinal])) c.num_live_values += s;
    }
  }
}

absl::Status Collection::RecountAll() {
  num_live_ = num_tokens_ = num_embeddings_ = 0;
  domain_docs_.assign(domain_names_.size(), 0);
  domain_tokens_.assign(domain_names_.size(), 0);
  for (ScoreColumnData& c : scores_) c.num_live_values = 0;
  for (AttributeColumnData& a : attributes_) {
    a.num_live_present = 0;
    for (uint32_t code : a.codes) {
      if (code > a.values.size()) {
        return absl::DataLossError(
            "collection '" + name_ + "': attribute '" + a.key +
            "' has a code with no value in the dictionary");
      }
    }
  }
  for (uint32_t o = 0; o < rows(); ++o) {
    if (live_all_.Get(o) && domain_[o] >= domain_names_.size()) {
      return absl::DataLossError("collection '" + name_ +
                                 "': a document has an unknown domain code");
    }
  }
  live_all_.ForEach([&](size_t o) {
    columns_mu_.AssertHeld();  // by the caller (a lambda holds no lock)
    CountDocument(static_cast<uint32_t>(o), +1, true, {});
  });
  return absl::OkStatus();
}

void Collection::Apply(const PendingWrite& p, bool publish) {
  absl::WriterMutexLock lock(&columns_mu_);
  // Stats cover published rows only: remove the old contributions of
  // touched published documents, and add them back after the change. Rows
  // published by this call are counted by PublishLocked.
  const uint32_t published = published_rows_;
  for (uint32_t o : p.touched) {
    if (o < published) CountDocument(o, -1, p.all_columns, p.touched_scores);
  }
  const uint32_t old_rows = rows();
  for (const std::string& d : p.new_domains) {
    domain_codes_.emplace(d, static_cast<uint32_t>(domain_names_.size()));
    domain_names_.push_back(d);
    domain_docs_.push_back(0);
    domain_tokens_.push_back(0);
  }
  for (const std::string& s : p.new_score_names) {
    score_ids_.emplace(s, static_cast<uint32_t>(scores_.size()));
    ScoreColumnData& c = scores_.emplace_back();
    c.name = s;
    c.values.assign(old_rows, NAN);
  }
  for (const std::string& k : p.new_attribute_keys) {
    attribute_ids_.emplace(k, static_cast<uint32_t>(attributes_.size()));
    AttributeColumnData& a = attributes_.emplace_back();
    a.key = k;
    a.codes.assign(old_rows, 0);
  }
  for (const auto& [key_id, value] : p.new_attribute_values) {
    AttributeColumnData& a = attributes_[key_id];
    a.values.push_back(value);
    a.value_codes.emplace(value, static_cast<uint32_t>(a.values.size()));
  }
  AppendRows(p.new_ids, p.new_id_hashes);
  for (const CellChanges& c : p.changes) {
    for (size_t i = 0; i < c.size(); ++i) {
      ApplyCell(c.kind(), c.column(), c.ordinal(i), c.cell(i));
    }
  }
  // reducible_loss follows the irreducible score.
  if (feedback_owned_) {
    auto it = score_ids_.find(kIrreducibleScoreName);
    if (it != score_ids_.end() &&
        (p.all_columns ||
         std::find(p.touched_scores.begin(), p.touched_scores.end(),
                   it->second) != p.touched_scores.end())) {
      RefreshReducible(p.touched);
    }
  }
  for (uint32_t o : p.touched) {
    if (o < published) CountDocument(o, +1, p.all_columns, p.touched_scores);
  }
  write_seq_ = p.write_seq;
  applied_update_micros_ = p.update_time_micros;
  StageEmbeddings(p);
  if (publish) {
    PublishLocked(rows(), p.write_seq, p.update_time_micros);
    PublishEmbeddings(rows());
  }
}

void Collection::Publish(uint32_t rows, uint64_t write_seq,
                         int64_t update_time_micros) {
  absl::WriterMutexLock lock(&columns_mu_);
  PublishLocked(rows, write_seq, update_time_micros);
  PublishEmbeddings(rows);
}

void Collection::PublishLocked(uint32_t rows, uint64_t write_seq,
                               int64_t update_time_micros) {
  if (write_seq > published_write_seq_) {
    published_write_seq_ = write_seq;
    update_time_micros_ = update_time_micros;
  }
  if (rows <= published_rows_) return;
  live_.Resize(rows);
  for (uint32_t o = published_rows_; o < rows; ++o) {
    if (live_all_.Get(o)) {
      live_.Set(o);
      CountDocument(o, +1, true, {});
    }
  }
  published_rows_ = rows;
}

ColumnsSnapshot Collection::Snapshot() const {
  // The snapshot takes columns_mu_ shared and holds it while it lives.
  ColumnsSnapshot snap(shared_from_this(), &columns_mu_);
  FillSnapshot(&snap);
  return snap;
}

void Collection::FillSnapshot(ColumnsSnapshot* snap_ptr) const {
  ColumnsSnapshot& snap = *snap_ptr;
  // Only the published rows (see "Publication" in collection.h).
  const size_t n = published_rows_;
  ColumnSet& cs = snap.columns_;
  cs.num_rows = published_rows_;
  cs.live = &live_;
  cs.length = std::span<const uint32_t>(length_).first(n);
  cs.domain = std::span<const uint32_t>(domain_).first(n);
  cs.domain_names = domain_names_;
  for (const ScoreColumnData& c : scores_) {
    cs.scores.emplace(c.name, std::span<const float>(c.values).first(n));
  }
  for (const AttributeColumnData& a : attributes_) {
    cs.attributes.emplace(
        a.key,
        InternedColumn{std::span<const uint32_t>(a.codes).first(n), a.values});
  }
  const Collection* self = this;
  cs.find_id = [self](std::string_view id) {
    self->columns_mu_.AssertReaderHeld();  // by the snapshot
    return self->FindPublished(id);
  };
  snap.ids_ = std::span<const std::string_view>(ids_).first(n);
  snap.id_hashes_ = id_hashes_.span().first(n);
  snap.upsert_seqs_ = std::span<const uint64_t>(upsert_seq_).first(n);
  snap.num_live_ = num_live_;
  snap.write_seq_ = published_write_seq_;
}

uint64_t Collection::MemoryBytes() const {
  uint64_t n = arena_.bytes();
  n += ids_.capacity() * sizeof(std::string_view);
  n += id_hashes_.capacity() * sizeof(uint64_t);
  n += index_.capacity() * (sizeof(uint32_t) + 1);
  n += (domain_.capacity() + length_.capacity()) * sizeof(uint32_t);
  n += 4 * live_all_.num_words() * sizeof(uint64_t);
  n += upsert_seq_.capacity() * sizeof(uint64_t);
  for (const ScoreColumnData& c : scores_) n += c.values.capacity() * 4;
  for (const AttributeColumnData& a : attributes_) {
    n += a.codes.capacity() * 4;
    for (const std::string& v : a.values) n += v.size() + sizeof(v);
  }
  return n;
}

CollectionInfo Collection::Info() const {
  absl::ReaderMutexLock lock(&columns_mu_);
  CollectionInfo info;
  info.name = name_;
  info.embedding_dimension = embedding_dimension_;
  info.embedding_type = embedding_type_;
  info.create_time_micros = create_time_micros_;
  info.loss_ema_half_life_steps = loss_half_life_;
  info.update_time_micros = update_time_micros_;
  info.num_documents = num_live_;
  info.num_ordinals = published_rows_;
  info.num_tokens = num_tokens_;
  info.num_embeddings = num_embeddings_;
  for (size_t d = 0; d < domain_names_.size(); ++d) {
    info.domains.push_back(
        DomainInfo{domain_names_[d], domain_docs_[d], domain_tokens_[d]});
  }
  std::sort(
      info.domains.begin(), info.domains.end(),
      [](const DomainInfo& a, const DomainInfo& b) { return a.name < b.name; });
  for (const ScoreColumnData& c : scores_) {
    info.scores.push_back(ScoreInfo{c.name, c.num_live_values});
  }
  std::sort(
      info.scores.begin(), info.scores.end(),
      [](const ScoreInfo& a, const ScoreInfo& b) { return a.name < b.name; });
  for (const AttributeColumnData& a : attributes_) {
    if (a.num_live_present > 0) info.attribute_keys.push_back(a.key);
  }
  std::sort(info.attribute_keys.begin(), info.attribute_keys.end());
  info.write_seq = published_write_seq_;
  info.memory_bytes = MemoryBytes() + emb_bytes_.load();
  return info;
}

}  // namespace winnow::storage::internal
