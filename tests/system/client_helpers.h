// Small client calls that whole-system tests share.
#ifndef WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
#define WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
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

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
