// Small client calls that whole-system tests share.
#ifndef WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
#define WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "winnow/client/client.h"

namespace winnow::testing {

// Expects status code `code` and a message that contains `needle` (the
// field or name it must mention).
inline void ExpectError(const absl::Status& s, absl::StatusCode code,
                        const std::string& needle) {
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos)
      << "message does not name '" << needle << "': " << s.message();
}

// A random test's seed: WINNOW_CRASH_SEED when set (to replay a run), else
// a fresh one; printed as "<what> seed: N".
inline uint64_t CrashSeed(const char* what) {
  const char* env = std::getenv("WINNOW_CRASH_SEED");
  const uint64_t seed = env != nullptr
                            ? std::strtoull(env, nullptr, 10)
                            : static_cast<uint64_t>(std::random_device()());
  std::printf("%s seed: %llu (WINNOW_CRASH_SEED replays it)\n", what,
              static_cast<unsigned long long>(seed));
  return seed;
}

inline absl::Status Create(const Client& client, const std::string& name) {
  v1::CreateCollectionRequest req;
  req.mutable_collection()->set_name(name);
  return client.CreateCollection(req).status();
}

// The Count of `filter`, or -1 (and a test failure) on an error.
inline int64_t CountOf(const Client& client, const std::string& collection,
                       const std::string& filter) {
  v1::CountRequest req;
  req.set_collection(collection);
  req.set_filter(filter);
  absl::StatusOr<v1::CountResponse> r = client.Count(req);
  EXPECT_TRUE(r.ok()) << filter << ": " << r.status();
  return r.ok() ? r->count() : -1;
}

// Every id the Filter stream of `filter` serves, in order.
inline std::vector<std::string> FilterIds(const Client& client,
                                          const std::string& collection,
                                          const std::string& filter) {
  v1::FilterRequest req;
  req.set_collection(collection);
  req.set_filter(filter);
  req.set_view(v1::RESULT_VIEW_IDS);
  FilterReader reader = client.Filter(req);
  std::vector<std::string> out;
  v1::FilterResponse resp;
  while (reader.Next(&resp)) {
    for (const std::string& id : resp.ids()) out.push_back(id);
  }
  absl::Status s = reader.Finish();
  EXPECT_TRUE(s.ok()) << filter << ": " << s;
  return out;
}

// Documents `ids` of `collection` with their lengths and scores, missing
// ones left out, read in requests of 1,000; id -> document. An error fails
// the test and ends the read.
inline std::map<std::string, v1::Document> ReadDocuments(
    const Client& client, const std::string& collection,
    const std::vector<std::string>& ids) {
  std::map<std::string, v1::Document> out;
  for (size_t b = 0; b < ids.size(); b += 1000) {
    v1::GetDocumentsRequest req;
    req.set_collection(collection);
    req.set_allow_missing(true);
    req.mutable_read_mask()->add_paths("length");
    req.mutable_read_mask()->add_paths("scores");
    for (size_t i = b; i < std::min(ids.size(), b + 1000); ++i) {
      req.add_ids(ids[i]);
    }
    absl::StatusOr<v1::GetDocumentsResponse> r = client.GetDocuments(req);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (const v1::Document& d : r->documents()) out[d.id()] = d;
  }
  return out;
}

// The operation once done (WaitOperation to its end, updates every 50 ms);
// expects progress_fraction never to decrease on the way.
inline v1::Operation WaitDone(const Client& client, const std::string& id) {
  v1::WaitOperationRequest req;
  req.set_operation_id(id);
  req.mutable_update_interval()->set_nanos(50'000'000);
  OperationReader reader = client.WaitOperation(req);
  v1::WaitOperationResponse resp;
  v1::Operation last;
  double fraction = 0;
  while (reader.Next(&resp)) {
    last = resp.operation();
    EXPECT_GE(last.progress_fraction(), fraction);
    fraction = last.progress_fraction();
  }
  const absl::Status s = reader.Finish();
  EXPECT_TRUE(s.ok()) << s;
  return last;
}

// Polls (up to 60 s) until operation `id` runs and has done at least
// `min_items_done` items; false if it ended first.
inline bool WaitRunning(const Client& client, const std::string& id,
                        int64_t min_items_done = 0) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    v1::GetOperationRequest get;
    get.set_operation_id(id);
    absl::StatusOr<v1::GetOperationResponse> got = client.GetOperation(get);
    if (!got.ok() || got->operation().done()) return false;
    if (got->operation().state() == v1::OPERATION_STATE_RUNNING &&
        got->operation().items_done() >= min_items_done) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// The score columns of a collection (GetScores of document `id` with no
// names asks for every column).
inline std::set<std::string> ScoreColumns(const Client& client,
                                          const std::string& collection,
                                          const std::string& id) {
  v1::GetScoresRequest req;
  req.set_collection(collection);
  req.add_ids(id);
  absl::StatusOr<v1::GetScoresResponse> r = client.GetScores(req);
  EXPECT_TRUE(r.ok()) << r.status();
  std::set<std::string> names;
  if (r.ok()) {
    for (const v1::ScoreColumn& c : r->scores()) names.insert(c.name());
  }
  return names;
}

// Expects operation `id` to have ended FAILED with UNAVAILABLE, as a job
// that the process's death interrupted shows after a restart.
inline void ExpectInterruptedByRestart(const Client& client,
                                       const std::string& id) {
  v1::GetOperationRequest get;
  get.set_operation_id(id);
  absl::StatusOr<v1::GetOperationResponse> got = client.GetOperation(get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->operation().state(), v1::OPERATION_STATE_FAILED)
      << got->operation().ShortDebugString();
  EXPECT_EQ(got->operation().error().code(),
            static_cast<int>(absl::StatusCode::kUnavailable));
}

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
