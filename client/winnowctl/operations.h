// winnowctl's commands on long jobs (OperationService, docs/api.md):
// `compute`, `ops list|get|cancel|wait` and `backup`, which follow their
// operation with a progress bar fed by WaitOperation.
#ifndef WINNOW_CLIENT_WINNOWCTL_OPERATIONS_H_
#define WINNOW_CLIENT_WINNOWCTL_OPERATIONS_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

// How a command waits for an operation.
struct WaitOptions {
  // Print the operation's id and return at once instead of waiting.
  bool no_wait = false;
  // Where progress goes; null for none.
  std::ostream* progress = nullptr;
  // Redraw a bar (a terminal) or print a line every plain_interval.
  bool progress_tty = false;
  absl::Duration plain_interval = absl::Seconds(10);
  // WaitOperation's update_interval: least time between two updates.
  absl::Duration update_interval = absl::Seconds(1);
  // When it becomes true (a signal handler sets it), the wait stops, the
  // operation is cancelled (CancelOperation), and CANCELLED is returned
  // with the operation's id.
  const std::atomic<bool>* interrupted = nullptr;
};

// Follows WaitOperation until the operation ends, drawing progress, and
// returns its final state. An error only if waiting failed, or CANCELLED
// after an interruption.
absl::StatusOr<v1::Operation> WaitForOperation(const Client& client,
                                               const std::string& id,
                                               const WaitOptions& options);

// OK for a SUCCEEDED operation; otherwise its error's code (UNKNOWN if it
// has none) with "operation ID failed: message" or "... was cancelled: ...".
absl::Status OperationOutcome(const v1::Operation& op);

// The fields of a message that are set, one "path: value" line each, nested
// messages by dotted path ("compute_scores_result.exact_dedup.
// duplicate_count: 3"): repeated values comma-separated, enums by their
// short lower-case name ("succeeded"), timestamps in RFC 3339, durations
// in seconds, a Status as "CODE: message", a message with no field set as
// "path: {}".
std::string FormatFields(const google::protobuf::Message& message,
                         const std::string& prefix = "");

// What a finished operation produced, for the end of `compute`, `backup`
// and `ops wait`: "operation ID succeeded in 1.2s" and its result's fields.
std::string FormatOutcome(const v1::Operation& op);

// Prints an operation just started (ComputeScores, Backup): with
// options.no_wait its id and how to follow it; otherwise waits for it and
// prints FormatOutcome. Returns OperationOutcome.
absl::Status FollowOperation(const Client& client, const v1::Operation& op,
                             const WaitOptions& options, std::ostream& out);

struct OpsListArgs {
  std::string collection;
  // pending | running | succeeded | failed | cancelled
  std::vector<std::string> states;
  // compute-scores | backup
  std::vector<std::string> kinds;
};
absl::StatusOr<v1::ListOperationsRequest> BuildOpsListRequest(
    const OpsListArgs& args);
// One line per operation, newest first, every page: "ID<TAB>KIND<TAB>
// STATE<TAB>PROGRESS<TAB>COLLECTION<TAB>PHASE".
absl::Status RunOpsList(const Client& client, const OpsListArgs& args,
                        std::ostream& out);
// Every field of the operation (FormatFields).
absl::Status RunOpsGet(const Client& client, const std::string& id,
                       std::ostream& out);
absl::Status RunOpsCancel(const Client& client, const std::string& id,
                          std::ostream& out);
// Waits with progress and prints FormatOutcome; returns OperationOutcome.
absl::Status RunOpsWait(const Client& client, const std::string& id,
                        const WaitOptions& options, std::ostream& out);

struct BackupArgs {
  std::string request_id;
};
// Starts a backup (AdminService.Backup) and follows its operation.
absl::Status RunBackup(const Client& client, const BackupArgs& args,
                       const WaitOptions& options, std::ostream& out);

// `compute KIND COLLECTION [flags]`: runs a server-side scorer
// (ScoreService.ComputeScores, scorer.proto) as an operation and follows it.

// The k-means flags: KMeansScorer for `kmeans`, and the clustering that
// `semdedup` and `d4` run first when --clusters is given.
struct KMeansArgs {
  std::optional<int> clusters;
  std::optional<int> iterations;
  std::optional<uint64_t> seed;
  std::optional<double> tolerance;
  std::string init;  // kmeans++ | random; empty: the server's default
  std::optional<int64_t> training_sample;
};

struct ComputeArgs {
  // exact-dedup | kmeans | semdedup | d4 | target-similarity
  std::string kind;
  std::string collection;
  std::string filter;
  std::string request_id;

  KMeansArgs kmeans;
  // kmeans, semdedup: the cluster and distance columns.
  std::string cluster_score;
  std::string distance_score;
  // semdedup: --epsilon or --keep-ratio, not both.
  std::optional<double> epsilon;
  std::optional<double> keep_ratio;
  // semdedup: also compare with the 2nd-nearest cluster (clusters first).
  bool compare_second_cluster = false;
  // exact-dedup, semdedup: the column of the duplicate flag.
  std::string duplicate_score;
  // d4
  std::optional<double> dedup_keep_ratio;
  std::optional<double> total_keep_ratio;
  std::string pruning;  // per-cluster | global; empty: the default
  std::string pruned_score;
  // target-similarity; --seed is kmeans.seed.
  std::vector<std::string> target_ids;
  std::string target_ids_file;  // one id per line
  std::string target_vectors;   // .npy file
  std::optional<int> centroids;
  std::string similarity_score;
};

// The ComputeScoresRequest the arguments ask for, or a UsageError naming
// the flag at fault: an unknown kind, a flag that does not apply to the
// kind, --epsilon with --keep-ratio, k-means flags without --clusters, a
// target-similarity without a target. Reads --target-ids-file and
// --target-vectors.
absl::StatusOr<v1::ComputeScoresRequest> BuildComputeRequest(
    const ComputeArgs& args);

// Starts the scorer and follows its operation (FollowOperation).
absl::Status RunCompute(const Client& client, const ComputeArgs& args,
                        const WaitOptions& options, std::ostream& out);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_OPERATIONS_H_
