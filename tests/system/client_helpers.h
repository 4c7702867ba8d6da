// Small client calls that whole-system tests share.
#ifndef WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
#define WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "winnow/client/client.h"

namespace winnow::testing {

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

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SYSTEM_CLIENT_HELPERS_H_
