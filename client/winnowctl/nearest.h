// `winnowctl nearest COLLECTION (--id ID... | --vector-file F.npy)`: the
// nearest neighbours of documents or vectors (SelectionService.Nearest).
#ifndef WINNOW_CLIENT_WINNOWCTL_NEAREST_H_
#define WINNOW_CLIENT_WINNOWCTL_NEAREST_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

struct NearestArgs {
  std::string collection;
  // Query documents, by id.
  std::vector<std::string> ids;
  // Query vectors: a .npy file of shape (queries, dim) (npy.h).
  std::string vector_file;
  int k = 10;
  std::string filter;
  std::string metric = "cosine";  // cosine | dot
  bool include_self = false;
  std::string format = "text";  // text | jsonl
};

// The NearestRequest the arguments ask for (reading --vector-file), or a
// UsageError naming the flag at fault.
absl::StatusOr<v1::NearestRequest> BuildNearestRequest(const NearestArgs& args);

// The results as winnowctl prints them. Text: one line per neighbour,
// "QUERY<TAB>ID<TAB>SIMILARITY", nearest first, where QUERY is the query
// document's id or "#ROW" for row ROW of the vector file. JSONL: one
// object per query, {"query_id": ID} or {"query_row": ROW}, then
// "neighbors": [{"id", "ordinal", "similarity"}, ...].
std::string FormatNearestText(const v1::NearestResponse& response);
std::string FormatNearestJson(const v1::NearestResponse& response);

absl::Status RunNearest(const Client& client, const NearestArgs& args,
                        std::ostream& out);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_NEAREST_H_
