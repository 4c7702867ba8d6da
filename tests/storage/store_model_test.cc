// A random sequence of writes, checked against a reference model after
// every reopen.
#include <gtest/gtest.h>

#include <random>

#include "storage/store.h"
#include "tests/storage/model.h"
#include "tests/storage/test_util.h"

namespace winnow::storage {
namespace {

using testing::DocBatchBuilder;
using testing::Model;
using testing::OpenOrDie;
using testing::TempDir;
using testing::TestDoc;
using testing::TestOptions;

constexpr uint32_t kDim = 4;
constexpr size_t kIdPool = 3000;
const std::vector<std::string> kScoreNames = {"quality", "edu", "dsir",
                                              "perplexity"};
const std::vector<std::string> kKeys = {"lang", "src"};

class RandomWriter {
 public:
  explicit RandomWriter(uint64_t seed) : rng_(seed) {}

  std::string Id() { return "id-" + std::to_string(rng_() % kIdPool); }
  bool Chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }
  float Score() {
    // Some exact repeats so that "no change" paths run too.
    if (Chance(20)) return 1.0f;
    return std::uniform_real_distribution<float>(-100, 100)(rng_);
  }

  // A batch of unique ids, each a full document.
  std::vector<TestDoc> Docs(size_t n, bool embeddings,
                            const std::set<std::string>& scores,
                            const std::set<std::string>& keys) {
    std::set<std::string> used;
    std::vector<TestDoc> docs;
    while (docs.size() < n) {
      std::string id = Id();
      if (!used.insert(id).second) continue;
      TestDoc d;
      d.id = id;
      d.domain = "dom" + std::to_string(rng_() % 6);
      d.length = static_cast<int64_t>(rng_() % 100000);
      for (const std::string& k : keys) {
        if (Chance(70)) d.attributes[k] = "v" + std::to_string(rng_() % 9);
      }
      if (Chance(60)) {
        d.payload =
            std::string(rng_() % 64, static_cast<char>('a' + rng_() % 26));
      }
      if (embeddings) {
        for (uint32_t k = 0; k < kDim; ++k) d.embedding.push_back(Score());
      }
      for (const std::string& s : scores) {
        if (Chance(75)) d.scores[s] = Score();
      }
      docs.push_back(std::move(d));
    }
    return docs;
  }

  template <typename T>
  std::set<T> Subset(const std::vector<T>& all) {
    std::set<T> out;
    for (const T& x : all) {
      if (Chance(50)) out.insert(x);
    }
    return out;
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

void RandomUpsert(Store& store, Model& model, RandomWriter& w) {
  const std::set<std::string> scores = w.Subset(kScoreNames);
  const std::set<std::string> keys = w.Subset(kKeys);
  std::vector<TestDoc> docs =
      w.Docs(1 + w.rng()() % 400, w.Chance(50), scores, keys);
  DocBatchBuilder b(docs, scores, keys);
  absl::StatusOr<UpsertResult> r = store.UpsertDocuments("c", b.batch());
  ASSERT_TRUE(r.ok()) << r.status();
  model.Upsert(docs, scores, keys);
  for (size_t i = 0; i < docs.size(); ++i) {
    ASSERT_EQ(r->ordinals[i], *model.Find(docs[i].id));
  }
}

void RandomPutScores(Store& store, Model& model, RandomWriter& w) {
  // Live documents only (a deleted or unknown one fails the batch).
  std::vector<uint32_t> live;
  for (const auto& m : model.docs()) {
    if (m.live) live.push_back(m.ordinal);
  }
  if (live.empty()) return;
  std::shuffle(live.begin(), live.end(), w.rng());
  live.resize(std::min<size_t>(live.size(), 1 + w.rng()() % 500));
  std::set<std::string> names = w.Subset(kScoreNames);
  if (w.Chance(10)) names.insert("brand_new_" + std::to_string(w.rng()() % 3));

  std::map<std::string, std::vector<std::optional<float>>> model_cols;
  std::deque<std::vector<float>> values;
  std::deque<std::vector<uint32_t>> nulls;
  ScoreBatch batch;
  const bool by_ordinal = w.Chance(50);
  std::vector<uint64_t> ordinals(live.begin(), live.end());
  std::vector<std::string> ids;
  for (uint32_t o : live) ids.push_back(model.docs()[o].doc.id);
  if (by_ordinal) {
    batch.ordinals = ordinals;
  } else {
    batch.ids.assign(ids.begin(), ids.end());
  }
  for (const std::string& name : names) {
    auto& v = values.emplace_back();
    auto& n = nulls.emplace_back();
    auto& m = model_cols[name];
    for (size_t i = 0; i < live.size(); ++i) {
      if (w.Chance(15)) {
        v.push_back(0);
        n.push_back(static_cast<uint32_t>(i));
        m.push_back(std::nullopt);
      } else {
        v.push_back(w.Score());
        m.push_back(v.back());
      }
    }
    batch.scores.push_back(ScoreColumn{name, v, n});
  }
  absl::StatusOr<PutScoresResult> r = store.PutScores("c", batch);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->num_documents, live.size());
  model.PutScores(live, model_cols);
}

void RandomDelete(Store& store, Model& model, RandomWriter& w) {
  // Known ids only (live or already deleted), some named twice.
  std::vector<std::string> ids;
  const size_t n = 1 + w.rng()() % 200;
  for (size_t i = 0; i < n && !model.docs().empty(); ++i) {
    ids.push_back(model.docs()[w.rng()() % model.docs().size()].doc.id);
  }
  if (ids.empty()) return;
  std::vector<std::string_view> views(ids.begin(), ids.end());
  absl::StatusOr<DeleteResult> r = store.DeleteDocuments("c", views);
  ASSERT_TRUE(r.ok()) << r.status();
  model.Delete(ids);
}

TEST(StoreModelTest, RandomWritesMatchReferenceModelAcrossReopens) {
  TempDir dir;
  const StoreOptions options = TestOptions(dir.path());
  RandomWriter w(20240601);
  Model model;
  {
    std::unique_ptr<Store> store = OpenOrDie(options);
    ASSERT_TRUE(store->CreateCollection({"c", kDim}).ok());
  }
  for (int cycle = 0; cycle < 6; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    std::unique_ptr<Store> store = OpenOrDie(options);
    model.ExpectMatches(*store, "c");
    if (::testing::Test::HasFailure()) return;
    for (int op = 0; op < 40; ++op) {
      const int kind = static_cast<int>(w.rng()() % 10);
      if (kind < 5) {
        RandomUpsert(*store, model, w);
      } else if (kind < 8) {
        RandomPutScores(*store, model, w);
      } else {
        RandomDelete(*store, model, w);
      }
      if (::testing::Test::HasFatalFailure()) return;
    }
    // The in-memory state equals the model before the reopen too.
    model.ExpectMatches(*store, "c");
    if (cycle % 2 == 1) {
      ASSERT_TRUE(store->Compact().ok());
    }
    if (cycle == 4) {
      // Leave without Close: the destructor closes.
      continue;
    }
    ASSERT_TRUE(store->Close().ok());
  }
  std::unique_ptr<Store> store = OpenOrDie(options);
  model.ExpectMatches(*store, "c");
}

}  // namespace
}  // namespace winnow::storage
