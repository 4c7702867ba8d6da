// `winnowctl compute KIND COLLECTION [flags]`: runs a server-side scorer
// (ScoreService.ComputeScores, scorer.proto) as an operation and follows it
// with a progress bar (operations.h).
#ifndef WINNOW_CLIENT_WINNOWCTL_COMPUTE_H_
#define WINNOW_CLIENT_WINNOWCTL_COMPUTE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/winnowctl/operations.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

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

#endif  // WINNOW_CLIENT_WINNOWCTL_COMPUTE_H_
