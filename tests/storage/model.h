// A reference model of one collection (a std::map of documents), the
// builders that turn row-form test documents into the Store's column
// batches, and a check that a Store's contents equal the model.
#ifndef WINNOW_TESTS_STORAGE_MODEL_H_
#define WINNOW_TESTS_STORAGE_MODEL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "selection/hash.h"
#include "storage/store.h"

namespace winnow::storage::testing {

// A document in row form.
struct TestDoc {
  std::string id = {};
  std::string domain = {};
  int64_t length = 0;
  std::map<std::string, std::string> attributes = {};
  std::optional<std::string> payload = {};
  std::vector<float> embedding = {};
  std::map<std::string, float> scores = {};
};

// Owns the column vectors a DocumentBatch points into.
class DocBatchBuilder {
 public:
  // `score_names` / `attribute_keys`: the columns to send (a document
  // lacking one gets a null / empty entry), so that a test can send a column
  // that is null for every document. Embeddings are sent if any document
  // has one (then all must).
  DocBatchBuilder(const std::vector<TestDoc>& docs_in,
                  const std::set<std::string>& score_names,
                  const std::set<std::string>& attribute_keys)
      : docs_(docs_in) {
    // The batch's views point into this builder's own copy of the docs.
    const std::vector<TestDoc>& docs = docs_;
    for (const TestDoc& d : docs) {
      batch_.ids.push_back(d.id);
      batch_.domains.push_back(d.domain);
      lengths_.push_back(d.length);
      batch_.payloads.push_back(
          d.payload ? std::optional<std::string_view>(*d.payload)
                    : std::nullopt);
      embeddings_.insert(embeddings_.end(), d.embedding.begin(),
                         d.embedding.end());
    }
    batch_.lengths = lengths_;
    batch_.embeddings = embeddings_;
    for (const std::string& name : score_names) {
      auto& values = score_values_.emplace_back();
      auto& nulls = score_nulls_.emplace_back();
      for (size_t i = 0; i < docs.size(); ++i) {
        auto it = docs[i].scores.find(name);
        if (it == docs[i].scores.end()) {
          values.push_back(0);
          nulls.push_back(static_cast<uint32_t>(i));
        } else {
          values.push_back(it->second);
        }
      }
      batch_.scores.push_back(
          ScoreColumn{names_.emplace_back(name), values, nulls});
    }
    for (const std::string& key : attribute_keys) {
      AttributeColumn& c = batch_.attributes.emplace_back();
      c.key = names_.emplace_back(key);
      for (const TestDoc& d : docs) {
        auto it = d.attributes.find(key);
        c.values.push_back(it == d.attributes.end() ? std::string_view()
                                                    : it->second);
      }
    }
  }
  DocumentBatch& batch() { return batch_; }

 private:
  std::vector<TestDoc> docs_;
  DocumentBatch batch_;
  std::vector<int64_t> lengths_;
  std::vector<float> embeddings_;
  std::deque<std::vector<float>> score_values_;
  std::deque<std::vector<uint32_t>> score_nulls_;
  std::deque<std::string> names_;  // the sets passed in may be temporaries
};

// The union of the score names / attribute keys of `docs`.
inline std::set<std::string> ScoreNamesOf(const std::vector<TestDoc>& docs) {
  std::set<std::string> out;
  for (const TestDoc& d : docs) {
    for (const auto& [k, v] : d.scores) out.insert(k);
  }
  return out;
}
inline std::set<std::string> AttributeKeysOf(const std::vector<TestDoc>& docs) {
  std::set<std::string> out;
  for (const TestDoc& d : docs) {
    for (const auto& [k, v] : d.attributes) out.insert(k);
  }
  return out;
}

struct ModelDoc {
  TestDoc doc;
  uint32_t ordinal = 0;
  bool live = true;
  uint64_t upsert_seq = 0;
};

// The expected state of one collection.
class Model {
 public:
  // Upserts with the given columns sent (see DocBatchBuilder).
  void Upsert(const std::vector<TestDoc>& docs,
              const std::set<std::string>& score_names,
              const std::set<std::string>& attribute_keys) {
    if (docs.empty()) return;
    ++write_seq_;
    for (const TestDoc& d : docs) {
      auto it = ordinal_of_.find(d.id);
      uint32_t o;
      if (it == ordinal_of_.end()) {
        o = static_cast<uint32_t>(docs_.size());
        ordinal_of_[d.id] = o;
        docs_.emplace_back();
      } else {
        o = it->second;
      }
      ModelDoc& m = docs_[o];
      m.doc = d;
      m.ordinal = o;
      m.live = true;
      m.upsert_seq = write_seq_;
      domains_.insert(d.domain);
    }
    score_names_.insert(score_names.begin(), score_names.end());
  }

  // Sets (value) or clears (nullopt) scores of live documents by ordinal.
  void PutScores(
      const std::vector<uint32_t>& ordinals,
      const std::map<std::string, std::vector<std::optional<float>>>& cols) {
    ++write_seq_;
    for (const auto& [name, values] : cols) {
      score_names_.insert(name);
      for (size_t i = 0; i < ordinals.size(); ++i) {
        auto& scores = docs_[ordinals[i]].doc.scores;
        if (values[i]) {
          scores[name] = *values[i];
        } else {
          scores.erase(name);
        }
      }
    }
  }

  void Delete(const std::vector<std::string>& ids) {
    if (ids.empty()) return;
    ++write_seq_;
    for (const std::string& id : ids) {
      auto it = ordinal_of_.find(id);
      if (it == ordinal_of_.end()) continue;
      ModelDoc& m = docs_[it->second];
      m.live = false;
      m.doc.payload.reset();
      m.doc.embedding.clear();
    }
  }

  const std::vector<ModelDoc>& docs() const { return docs_; }
  std::optional<uint32_t> Find(const std::string& id) const {
    auto it = ordinal_of_.find(id);
    if (it == ordinal_of_.end()) return std::nullopt;
    return it->second;
  }
  uint64_t write_seq() const { return write_seq_; }

  // Checks every observable of `store`'s collection against the model.
  void ExpectMatches(const Store& store, const std::string& collection) const;

 private:
  std::vector<ModelDoc> docs_;
  std::map<std::string, uint32_t> ordinal_of_;
  std::set<std::string> domains_;
  std::set<std::string> score_names_;
  uint64_t write_seq_ = 0;
};

inline void ExpectDocEquals(const StoredDocument& got, const ModelDoc& want,
                            bool with_payload, bool with_embedding) {
  SCOPED_TRACE("document " + want.doc.id);
  EXPECT_EQ(got.id, want.doc.id);
  EXPECT_EQ(got.ordinal, want.ordinal);
  EXPECT_EQ(got.deleted, !want.live);
  EXPECT_EQ(got.length, want.doc.length);
  EXPECT_EQ(got.upsert_seq, want.upsert_seq);
  if (!want.live) return;
  EXPECT_EQ(got.domain, want.doc.domain);
  EXPECT_EQ(got.attributes, want.doc.attributes);
  EXPECT_EQ(got.scores, want.doc.scores);
  if (with_payload) {
    EXPECT_EQ(got.payload, want.doc.payload);
  }
  if (with_embedding) {
    EXPECT_EQ(got.embedding, want.doc.embedding);
  }
}

inline void Model::ExpectMatches(const Store& store,
                                 const std::string& collection) const {
  SCOPED_TRACE("collection " + collection);
  // Stats.
  absl::StatusOr<CollectionInfo> info = store.GetCollection(collection);
  ASSERT_TRUE(info.ok()) << info.status();
  uint64_t live = 0, tokens = 0, embeddings = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> per_domain;
  for (const std::string& d : domains_) per_domain[d] = {0, 0};
  std::map<std::string, uint64_t> per_score;
  for (const std::string& s : score_names_) per_score[s] = 0;
  std::set<std::string> live_keys;
  for (const ModelDoc& m : docs_) {
    if (!m.live) continue;
    ++live;
    tokens += m.doc.length;
    embeddings += m.doc.embedding.empty() ? 0 : 1;
    per_domain[m.doc.domain].first++;
    per_domain[m.doc.domain].second += m.doc.length;
    for (const auto& [k, v] : m.doc.scores) per_score[k]++;
    for (const auto& [k, v] : m.doc.attributes) live_keys.insert(k);
  }
  EXPECT_EQ(info->num_ordinals, docs_.size());
  EXPECT_EQ(info->num_documents, live);
  EXPECT_EQ(info->num_tokens, tokens);
  EXPECT_EQ(info->num_embeddings, embeddings);
  EXPECT_EQ(info->write_seq, write_seq_);
  std::map<std::string, std::pair<uint64_t, uint64_t>> got_domains;
  for (const DomainInfo& d : info->domains) {
    got_domains[d.name] = {d.num_documents, d.num_tokens};
  }
  EXPECT_EQ(got_domains, per_domain);
  std::map<std::string, uint64_t> got_scores;
  for (const ScoreInfo& s : info->scores) got_scores[s.name] = s.num_values;
  EXPECT_EQ(got_scores, per_score);
  EXPECT_EQ(std::set<std::string>(info->attribute_keys.begin(),
                                  info->attribute_keys.end()),
            live_keys);

  // In-memory columns.
  {
    absl::StatusOr<ColumnsSnapshot> snap = store.ReadColumns(collection);
    ASSERT_TRUE(snap.ok()) << snap.status();
    const ColumnSet& cs = snap->columns();
    ASSERT_EQ(cs.num_rows, docs_.size());
    ASSERT_EQ(cs.live->size(), docs_.size());
    EXPECT_EQ(snap->num_live(), live);
    EXPECT_EQ(snap->write_seq(), write_seq_);
    for (const std::string& s : score_names_) {
      ASSERT_TRUE(cs.scores.contains(s)) << s;
    }
    for (const ModelDoc& m : docs_) {
      const uint32_t o = m.ordinal;
      SCOPED_TRACE("ordinal " + std::to_string(o));
      ASSERT_EQ(snap->id(o), m.doc.id);
      ASSERT_EQ(snap->FindId(m.doc.id), std::optional<uint32_t>(o));
      ASSERT_EQ(cs.find_id(m.doc.id), std::optional<uint32_t>(o));
      ASSERT_EQ(snap->id_hashes()[o], IdHash(m.doc.id));
      ASSERT_EQ(cs.live->Get(o), m.live);
      ASSERT_EQ(cs.length[o], m.doc.length);
      ASSERT_EQ(snap->upsert_seqs()[o], m.upsert_seq);
      if (!m.live) continue;
      ASSERT_EQ(cs.domain_names[cs.domain[o]], m.doc.domain);
      for (const auto& [name, column] : cs.scores) {
        auto it = m.doc.scores.find(name);
        if (it == m.doc.scores.end()) {
          ASSERT_TRUE(std::isnan(column[o])) << name;
        } else {
          ASSERT_EQ(column[o], it->second) << name;
        }
      }
      for (const auto& [key, column] : cs.attributes) {
        auto it = m.doc.attributes.find(key);
        if (it == m.doc.attributes.end()) {
          ASSERT_EQ(column.codes[o], 0u) << key;
        } else {
          ASSERT_GT(column.codes[o], 0u) << key;
          ASSERT_EQ(column.values[column.codes[o] - 1], it->second) << key;
        }
      }
      for (const auto& [key, value] : m.doc.attributes) {
        ASSERT_TRUE(cs.attributes.contains(key)) << key;
      }
    }
    EXPECT_EQ(snap->FindId("no-such-id"), std::nullopt);
  }

  // Documents, from RocksDB (payloads, embeddings) and memory.
  std::vector<uint64_t> ordinals;
  for (const ModelDoc& m : docs_) ordinals.push_back(m.ordinal);
  GetDocumentsOptions all;
  all.embedding = true;
  absl::StatusOr<GetDocumentsResult> got =
      store.GetDocuments(collection, {}, ordinals, all);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->documents.size(), docs_.size());
  for (size_t i = 0; i < docs_.size(); ++i) {
    ExpectDocEquals(got->documents[i], docs_[i], true, true);
  }
}

}  // namespace winnow::storage::testing

#endif  // WINNOW_TESTS_STORAGE_MODEL_H_
