// Whole-system tests: a real winnowd on a free loopback port, a real
// RocksDB in a temp dir, and the real client library.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/system/client_helpers.h"
#include "tests/system/winnowd_process.h"
#include "winnow/client/client.h"

namespace winnow {
namespace {

using testing::CountOf;
using testing::Create;
using testing::FilterIds;
using testing::TempDir;
using testing::WinnowdProcess;

// A synthetic collection kept in the test, to compute expected answers by
// brute force.
struct Corpus {
  std::vector<std::string> ids;
  std::vector<std::string> domains;
  std::vector<int64_t> lengths;
  std::vector<float> quality;  // NaN = null
  std::vector<float> edu;
  std::vector<std::string> lang;  // "" = absent

  static Corpus Make(size_t n, uint64_t seed) {
    static const char* kDomains[] = {"web", "wiki", "code", "books"};
    static const char* kLangs[] = {"en", "de", "fr"};
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u01(0, 1);
    Corpus c;
    char buf[32];
    for (size_t i = 0; i < n; ++i) {
      snprintf(buf, sizeof(buf), "d-%07zu", i);
      c.ids.push_back(buf);
      c.domains.push_back(kDomains[rng() % 4]);
      c.lengths.push_back(static_cast<int64_t>(1 + rng() % 5000));
      c.quality.push_back(u01(rng) < 0.2f ? NAN : u01(rng));
      c.edu.push_back(5 * u01(rng));
      c.lang.push_back(u01(rng) < 0.1f ? "" : kLangs[rng() % 3]);
    }
    return c;
  }

  size_t size() const { return ids.size(); }

  // Documents [begin, end) as one columnar upsert batch.
  v1::UpsertDocumentsRequest Batch(size_t begin, size_t end) const {
    v1::UpsertDocumentsRequest req;
    v1::DocumentColumns* cols = req.mutable_columns();
    v1::ScoreColumn* q = cols->add_scores();
    q->set_name("quality");
    v1::ScoreColumn* e = cols->add_scores();
    e->set_name("edu");
    v1::AttributeColumn* a = cols->add_attributes();
    a->set_key("lang");
    for (size_t i = begin; i < end; ++i) {
      cols->add_ids(ids[i]);
      cols->add_domains(domains[i]);
      cols->add_lengths(lengths[i]);
      if (std::isnan(quality[i])) {
        q->add_null_indexes(static_cast<uint32_t>(i - begin));
        q->add_values(0);
      } else {
        q->add_values(quality[i]);
      }
      e->add_values(edu[i]);
      a->add_values(lang[i]);
    }
    return req;
  }
};

absl::Status Load(const Client& client, const std::string& collection,
                  const Corpus& c, size_t batch = 4096) {
  DocumentWriter w = client.UpsertDocuments(collection);
  for (size_t b = 0; b < c.size(); b += batch) {
    absl::Status s = w.Write(c.Batch(b, std::min(b + batch, c.size())));
    if (!s.ok()) return s;
  }
  return w.Close();
}

// numpy's default (linear) percentile of the non-null values.
double Percentile(std::vector<float> v, double p) {
  v.erase(
      std::remove_if(v.begin(), v.end(), [](float x) { return std::isnan(x); }),
      v.end());
  std::sort(v.begin(), v.end());
  double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, v.size() - 1);
  double frac = rank - static_cast<double>(lo);
  return double(v[lo]) + (double(v[hi]) - double(v[lo])) * frac;
}

TEST(SystemTest, Ingest100kThenFilterCountsMatchBruteForce) {
  TempDir dir;
  auto server = WinnowdProcess::Start(dir.path() + "/data");
  ASSERT_NE(server, nullptr);
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(Create(*client, "docs").ok());
  Corpus c = Corpus::Make(100000, 1);
  ASSERT_TRUE(Load(*client, "docs", c).ok());

  const double p90 = Percentile(c.quality, 90);
  struct Case {
    std::string filter;
    std::function<bool(size_t)> match;
  };
  std::vector<Case> cases = {
      {"", [](size_t) { return true; }},
      {"quality > 0.5", [&](size_t i) { return c.quality[i] > 0.5; }},
      {"quality >= 0.25 and domain in (\"web\", \"code\") and length < 2048",
       [&](size_t i) {
         return c.quality[i] >= 0.25 &&
                (c.domains[i] == "web" || c.domains[i] == "code") &&
                c.lengths[i] < 2048;
       }},
      {"not (quality > 0.5)", [&](size_t i) { return !(c.quality[i] > 0.5); }},
      {"is_null(quality) or edu > 4.5",
       [&](size_t i) { return std::isnan(c.quality[i]) || c.edu[i] > 4.5; }},
      {"attr.lang == \"de\"", [&](size_t i) { return c.lang[i] == "de"; }},
      {"length >= 4000 or domain == \"wiki\"",
       [&](size_t i) {
         return c.lengths[i] >= 4000 || c.domains[i] == "wiki";
       }},
      {"quality > pct(quality, 90)",
       [&](size_t i) { return double(c.quality[i]) > p90; }},
      {"edu <= 1 and not is_null(quality) and domain != \"books\"",
       [&](size_t i) {
         return c.edu[i] <= 1 && !std::isnan(c.quality[i]) &&
                c.domains[i] != "books";
       }},
  };
  for (const Case& k : cases) {
    std::set<std::string> want;
    for (size_t i = 0; i < c.size(); ++i) {
      if (k.match(i)) want.insert(c.ids[i]);
    }
    EXPECT_EQ(CountOf(*client, "docs", k.filter),
              static_cast<int64_t>(want.size()))
        << k.filter;
    std::vector<std::string> got = FilterIds(*client, "docs", k.filter);
    EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), want) << k.filter;
    EXPECT_EQ(got.size(), want.size()) << "duplicates in " << k.filter;
  }
}

// Batches of one rank's Sample stream, as lists of ids.
std::vector<std::vector<std::string>> SampleIds(const Client& client,
                                                v1::SampleRequest req, int rank,
                                                int world) {
  req.set_rank(rank);
  req.set_world_size(world);
  SampleReader reader = client.Sample(req);
  std::vector<std::vector<std::string>> out;
  v1::SampleResponse resp;
  while (reader.Next(&resp)) {
    out.emplace_back(resp.batch().ids().begin(), resp.batch().ids().end());
  }
  absl::Status s = reader.Finish();
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(SystemTest, SampleSequencesAreEqualAcrossARestart) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  Corpus c = Corpus::Make(20000, 2);

  v1::SampleRequest uniform;
  uniform.set_collection("docs");
  uniform.set_seed(7);
  uniform.set_batch_size(256);
  uniform.set_num_epochs(1);
  uniform.set_filter("length < 3000");
  v1::SampleRequest weighted = uniform;
  weighted.mutable_strategy()->mutable_weighted()->set_score("quality");
  weighted.mutable_strategy()->mutable_weighted()->set_weight_function(
      v1::WEIGHT_FUNCTION_POWER);
  weighted.mutable_strategy()->mutable_weighted()->set_alpha(2.0);

  std::vector<std::vector<std::vector<std::string>>> before, after;
  for (int round = 0; round < 2; ++round) {
    auto server = WinnowdProcess::Start(data);
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    if (round == 0) {
      ASSERT_TRUE(Create(*client, "docs").ok());
      ASSERT_TRUE(Load(*client, "docs", c).ok());
    }
    auto& out = round == 0 ? before : after;
    for (const v1::SampleRequest* req : {&uniform, &weighted}) {
      for (int rank = 0; rank < 2; ++rank) {
        out.push_back(SampleIds(*client, *req, rank, 2));
      }
    }
    server->Signal(SIGTERM);
    EXPECT_EQ(server->Wait(), 0) << server->Log();
  }
  ASSERT_EQ(before.size(), 4u);
  EXPECT_EQ(before, after);
  // The two ranks of each run are disjoint and non-empty, with equal counts.
  for (int k = 0; k < 4; k += 2) {
    ASSERT_FALSE(before[k].empty());
    EXPECT_EQ(before[k].size(), before[k + 1].size());
    std::set<std::string> seen;
    for (int r = 0; r < 2; ++r) {
      for (const auto& batch : before[k + r]) {
        EXPECT_EQ(batch.size(), 256u);
        for (const std::string& id : batch) EXPECT_TRUE(seen.insert(id).second);
      }
    }
  }
  // Uniform and weighted differ.
  EXPECT_NE(before[0], before[2]);
}

TEST(SystemTest, SigkillDuringAckedUpsertsKeepsEveryAckedBatchAndNoPartialOne) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  for (int cycle = 0; cycle < 3; ++cycle) {
    auto server = WinnowdProcess::Start(data);
    ASSERT_NE(server, nullptr);
    absl::StatusOr<Client> client = Client::Connect(server->target());
    ASSERT_TRUE(client.ok());
    const std::string coll = "crash" + std::to_string(cycle);
    ASSERT_TRUE(Create(*client, coll).ok());

    const size_t kBatch = 500;
    const int kill_after = 5 + cycle * 7;
    WriterOptions opts;
    opts.max_reconnect_attempts = 0;  // no resend: observe what landed
    opts.max_reconnect_time = absl::ZeroDuration();
    DocumentWriter w = client->UpsertDocuments(coll, opts);
    std::set<uint64_t> acked;
    pid_t pid = server->pid();
    w.set_on_ack([&](const v1::UpsertDocumentsResponse& r) {
      acked.insert(r.sequence());
      if (static_cast<int>(acked.size()) == kill_after) kill(pid, SIGKILL);
    });
    std::map<uint64_t, std::vector<std::string>> written;  // sequence -> ids
    for (uint64_t b = 0; b < 200; ++b) {
      v1::UpsertDocumentsRequest req;
      for (size_t i = 0; i < kBatch; ++i) {
        std::string id = "b" + std::to_string(b) + "-" + std::to_string(i);
        req.mutable_columns()->add_ids(id);
        req.mutable_columns()->add_domains("web");
        req.mutable_columns()->add_lengths(static_cast<int64_t>(i + 1));
        written[b + 1].push_back(id);
      }
      if (!w.Write(std::move(req)).ok()) break;
    }
    (void)w.Close();
    EXPECT_EQ(server->Wait(), 128 + SIGKILL);
    ASSERT_GE(static_cast<int>(acked.size()), kill_after);

    auto restarted = WinnowdProcess::Start(data);
    ASSERT_NE(restarted, nullptr);
    absl::StatusOr<Client> c2 = Client::Connect(restarted->target());
    ASSERT_TRUE(c2.ok());
    std::vector<std::string> ids = FilterIds(*c2, coll, "");
    std::set<std::string> present(ids.begin(), ids.end());
    size_t total = 0;
    for (const auto& [seq, batch_ids] : written) {
      size_t n = 0;
      for (const std::string& id : batch_ids) n += present.count(id);
      if (acked.count(seq)) {
        EXPECT_EQ(n, kBatch)
            << "acknowledged batch " << seq << " lost documents";
      } else {
        EXPECT_TRUE(n == 0 || n == kBatch)
            << "batch " << seq << " half-applied: " << n;
      }
      total += n;
    }
    EXPECT_EQ(total, present.size());
    restarted->Signal(SIGTERM);
    EXPECT_EQ(restarted->Wait(), 0);
  }
}

TEST(SystemTest, ReconnectingWriterResendLeavesExactlyOneCopyOfEachDocument) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  auto server = WinnowdProcess::Start(data);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  absl::StatusOr<Client> client = Client::Connect(server->target());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(Create(*client, "docs").ok());

  Corpus c = Corpus::Make(60000, 3);
  std::atomic<int> acks{0};
  std::atomic<bool> restarted{false};
  std::unique_ptr<WinnowdProcess> next;
  std::thread chaos([&] {
    while (acks.load() < 4)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    server->Signal(SIGKILL);
    server->Wait();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    next = WinnowdProcess::Start(data, port);
    restarted = true;
  });
  DocumentWriter w = client->UpsertDocuments("docs");
  w.set_on_ack([&](const v1::UpsertDocumentsResponse&) { acks++; });
  absl::Status status;
  for (size_t b = 0; b < c.size() && status.ok(); b += 1000) {
    status = w.Write(c.Batch(b, std::min(b + 1000, c.size())));
  }
  if (status.ok()) status = w.Close();
  chaos.join();
  ASSERT_TRUE(restarted.load());
  ASSERT_NE(next, nullptr);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_GT(w.stats().reconnects, 0);

  absl::StatusOr<Client> c2 = Client::Connect(next->target());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(CountOf(*c2, "docs", ""), static_cast<int64_t>(c.size()));
  // Exactly one ordinal per document: none allocated twice by a resend.
  v1::FilterRequest req;
  req.set_collection("docs");
  req.set_view(v1::RESULT_VIEW_ORDINALS);
  FilterReader reader = c2->Filter(req);
  v1::FilterResponse resp;
  uint64_t max_ordinal = 0, n = 0;
  while (reader.Next(&resp)) {
    for (uint64_t o : resp.ordinals()) {
      max_ordinal = std::max(max_ordinal, o);
      ++n;
    }
  }
  ASSERT_TRUE(reader.Finish().ok());
  EXPECT_EQ(n, c.size());
  EXPECT_EQ(max_ordinal + 1, c.size());
}

}  // namespace
}  // namespace winnow
