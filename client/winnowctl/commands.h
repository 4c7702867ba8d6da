// winnowctl's subcommands, each a function of a Client and its parsed
// arguments that writes its output to `out` (main.cc parses the command
// line; tests call these directly).
//
// Each returns OK or the error to report, which main prints as
// "winnowctl: <CODE>: <message>" before exiting with status 1, or with
// status 2 for a usage error (IsUsageError).
#ifndef WINNOW_CLIENT_WINNOWCTL_COMMANDS_H_
#define WINNOW_CLIENT_WINNOWCTL_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/winnowctl/import.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

// A usage error found after the command line was parsed: a flag value or a
// combination of flags that cannot work (delete without --yes, --alpha
// without --weight-function power, ...). INVALID_ARGUMENT whose message
// names the flag, marked so that IsUsageError tells it from an
// INVALID_ARGUMENT of the server or of the input file; main exits 2 on it.
absl::Status UsageError(std::string_view message);
bool IsUsageError(const absl::Status& status);

// Appends the shortest text that reads back as the same float.
void AppendFloat(float value, std::string* out);

struct CreateArgs {
  std::string name;
  int embedding_dimension = 0;
  std::string embedding_dtype = "float32";  // float32 | float16
};
absl::Status RunCreate(const Client& client, const CreateArgs& args,
                       std::ostream& out);

// Prints "NAME<TAB>DOCUMENTS<TAB>EMBEDDING_DIMENSION" per collection, by
// name, every page.
absl::Status RunList(const Client& client, std::ostream& out);

struct DeleteArgs {
  std::string name;
  // Deleting drops every document, score and plan: refused without it.
  bool yes = false;
  bool allow_missing = false;
};
absl::Status RunDelete(const Client& client, const DeleteArgs& args,
                       std::ostream& out);

// Prints the import's progress on `err` and its summary on `out`.
absl::Status RunImport(const Client& client, const ImportOptions& options,
                       std::ostream& out, std::ostream& err);

struct CountArgs {
  std::string name;
  std::string filter;
};
// Prints the count alone.
absl::Status RunCount(const Client& client, const CountArgs& args,
                      std::ostream& out);

struct FilterArgs {
  std::string name;
  std::string filter;
  int64_t limit = 0;  // 0: all matches
  std::vector<std::string> scores;
  int batch_size = 0;  // 0: the server's default
};
// Prints one match per line: the id, then each requested score, separated
// by tabs (an empty field for a null score).
absl::Status RunFilter(const Client& client, const FilterArgs& args,
                       std::ostream& out);

struct SampleArgs {
  std::string name;
  std::string filter;
  std::string strategy = "uniform";     // uniform | weighted
  std::string score;                    // weighted: the weights' score
  std::string weight_function = "raw";  // raw | power | softmax
  std::optional<double> alpha;
  std::optional<double> temperature;
  uint64_t seed = 0;
  int batch_size = 32;
  int rank = 0;
  int world_size = 1;
  int64_t max_batches = 0;  // 0: no limit
  int64_t epochs = 1;       // 0: unbounded
  int64_t samples_per_epoch = 0;
  bool drop_last = true;
  std::string view = "ids";  // ids | ordinals
  std::string run_id;
  std::string cursor;
  std::string plan_id;
  std::string format = "text";  // text | jsonl
};
// The SampleRequest the arguments ask for, or a UsageError naming the flag
// at fault.
absl::StatusOr<v1::SampleRequest> BuildSampleRequest(const SampleArgs& args);
// Prints one line per batch: "batch <global_index>: id id ..." (text), or
// one JSON object per batch (jsonl) with plan_id, epoch,
// global_batch_index, ids or ordinals, and cursor.
absl::Status RunSample(const Client& client, const SampleArgs& args,
                       std::ostream& out);

struct TokenArgs {
  std::string role;         // reader | writer | admin
  std::string collections;  // fnmatch glob; empty: every collection
  std::string name;         // empty: none (the server names it by digest)
};
// Prints a new random token (32 bytes from OpenSSL's RAND_bytes, as
// "wnw_" and unpadded base64url) on the first line, and on the second its
// token-file line for winnowd's --tokens file, which holds only the
// token's SHA-256: "role=R sha256=HEX [collections=GLOB] [name=NAME]".
// Needs no server. A UsageError for a role, name or glob that cannot be
// written as one field.
absl::Status RunToken(const TokenArgs& args, std::ostream& out);

// `nearest COLLECTION (--id ID... | --vector-file F.npy)`: the nearest
// neighbours of documents or vectors (SelectionService.Nearest).
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

// One batch as winnowctl prints it.
std::string FormatSampleText(const v1::SampleResponse& response);
std::string FormatSampleJson(const v1::SampleResponse& response);
// One Filter response as lines (each with its "\n").
std::string FormatFilterLines(const v1::FilterResponse& response);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_COMMANDS_H_
