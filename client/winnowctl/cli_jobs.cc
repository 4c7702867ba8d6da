#include "client/winnowctl/cli_jobs.h"

namespace winnow::ctl {
namespace {

void AddNearest(CLI::App& app, JobCommands* c) {
  NearestArgs& a = c->nearest_args;
  CLI::App* cmd = app.add_subcommand(
      "nearest",
      "print the nearest neighbours of documents or vectors: QUERY, ID, "
      "SIMILARITY");
  c->nearest = cmd;
  cmd->add_option("collection", a.collection, "collection name")->required();
  // One value per flag, so that a positional after it is not taken.
  cmd->add_option("--id", a.ids, "query document id (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--vector-file", a.vector_file,
                  ".npy of query vectors, shape (queries, dim), float32 or "
                  "float16");
  cmd->add_option("-k", a.k, "neighbours per query")->capture_default_str();
  cmd->add_option("--filter", a.filter, "candidate filter");
  cmd->add_option("--metric", a.metric, "cosine or dot")
      ->capture_default_str()
      ->check(CLI::IsMember({"cosine", "dot"}));
  cmd->add_flag("--include-self", a.include_self,
                "a query document may be its own neighbour");
  cmd->add_option("--format", a.format, "text or jsonl")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "jsonl"}));
}

void AddWaitFlags(CLI::App* cmd, JobCommands* c, bool no_wait) {
  if (no_wait) {
    cmd->add_flag("--no-wait", c->no_wait,
                  "print the operation id and return without waiting");
  }
  cmd->add_flag("--progress", c->progress,
                "print progress lines on stderr even off a terminal");
}

void AddKMeansFlags(CLI::App* cmd, ComputeArgs& a) {
  cmd->add_option("--clusters", a.kmeans.clusters, "k-means: k");
  cmd->add_option("--iterations", a.kmeans.iterations,
                  "k-means: most iterations (server default 20)");
  cmd->add_option("--seed", a.kmeans.seed,
                  "k-means (or target-similarity's clustering): seed");
  cmd->add_option("--tolerance", a.kmeans.tolerance,
                  "k-means: stop once no centroid moves more (cosine "
                  "distance); 0 runs every iteration");
  cmd->add_option("--init", a.kmeans.init, "k-means: kmeans++ or random")
      ->check(CLI::IsMember({"kmeans++", "random"}));
  cmd->add_option("--training-sample", a.kmeans.training_sample,
                  "k-means: documents to train on; 0 for all");
  cmd->add_option("--cluster-score", a.cluster_score,
                  "kmeans, semdedup: cluster column (default cluster)");
  cmd->add_option("--distance-score", a.distance_score,
                  "kmeans, semdedup: distance column (default "
                  "centroid_distance)");
}

void AddCompute(CLI::App& app, JobCommands* c) {
  ComputeArgs& a = c->compute_args;
  CLI::App* cmd = app.add_subcommand(
      "compute", "run a server-side scorer as an operation and wait for it");
  c->compute = cmd;
  cmd->add_option("scorer", a.kind,
                  "exact-dedup, kmeans, semdedup, d4 or target-similarity")
      ->required()
      ->check(CLI::IsMember(
          {"exact-dedup", "kmeans", "semdedup", "d4", "target-similarity"}));
  cmd->add_option("collection", a.collection, "collection name")->required();
  cmd->add_option("--filter", a.filter, "score only the matching documents");
  cmd->add_option("--request-id", a.request_id,
                  "idempotency key: a retry returns the same operation");
  AddWaitFlags(cmd, c, /*no_wait=*/true);
  AddKMeansFlags(cmd, a);
  cmd->add_option("--epsilon", a.epsilon, "semdedup: epsilon, in (0, 1)");
  cmd->add_option("--keep-ratio", a.keep_ratio,
                  "semdedup: find the epsilon keeping this fraction");
  cmd->add_option("--duplicate-score", a.duplicate_score,
                  "exact-dedup, semdedup: duplicate flag column");
  cmd->add_option("--dedup-keep-ratio", a.dedup_keep_ratio,
                  "d4: fraction SemDeDup keeps (default 0.75)");
  cmd->add_option("--total-keep-ratio", a.total_keep_ratio,
                  "d4: fraction kept in the end");
  cmd->add_option("--pruning", a.pruning, "d4: per-cluster or global")
      ->check(CLI::IsMember({"per-cluster", "global"}));
  cmd->add_option("--pruned-score", a.pruned_score,
                  "d4: drop flag column (default d4_pruned)");
  cmd->add_option("--target-id", a.target_ids,
                  "target-similarity: a target document (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--target-ids-file", a.target_ids_file,
                  "target-similarity: file of target ids, one a line");
  cmd->add_option("--target-vectors", a.target_vectors,
                  "target-similarity: .npy of target vectors (rows, dim)");
  cmd->add_option("--centroids", a.centroids,
                  "target-similarity: target centroids; 0 or 1 for the mean");
  cmd->add_option("--score", a.similarity_score,
                  "target-similarity: similarity column (default "
                  "target_similarity)");
}

void AddOps(CLI::App& app, JobCommands* c) {
  CLI::App* ops = app.add_subcommand("ops",
                                     "list, show, cancel or wait for "
                                     "operations (long jobs)");
  ops->require_subcommand(1);
  c->ops_list = ops->add_subcommand(
      "list", "ID, KIND, STATE, PROGRESS, COLLECTION, PHASE; newest first");
  c->ops_list->add_option("--collection", c->ops_list_args.collection,
                          "only this collection's");
  c->ops_list
      ->add_option("--state", c->ops_list_args.states,
                   "pending, running, succeeded, failed or cancelled "
                   "(repeatable, or comma-separated)")
      ->delimiter(',');
  c->ops_list
      ->add_option("--kind", c->ops_list_args.kinds,
                   "compute-scores or backup (repeatable)")
      ->delimiter(',');
  c->ops_get = ops->add_subcommand("get", "print every field of an operation");
  c->ops_cancel = ops->add_subcommand("cancel", "ask an operation to stop");
  c->ops_wait = ops->add_subcommand(
      "wait", "wait for an operation with a progress bar, print its result");
  for (CLI::App* cmd : {c->ops_get, c->ops_cancel, c->ops_wait}) {
    cmd->add_option("id", c->operation_id, "operation id")->required();
  }
  AddWaitFlags(c->ops_wait, c, /*no_wait=*/false);
}

void AddBackup(CLI::App& app, JobCommands* c) {
  c->backup = app.add_subcommand(
      "backup", "take an online backup of the whole server and wait for it");
  c->backup->add_option("--request-id", c->backup_args.request_id,
                        "idempotency key: a retry returns the same operation");
  AddWaitFlags(c->backup, c, /*no_wait=*/true);
}

}  // namespace

bool JobCommands::Waits() const {
  return (*compute && !no_wait) || (*backup && !no_wait) || *ops_wait;
}

void AddJobCommands(CLI::App& app, JobCommands* commands) {
  AddNearest(app, commands);
  AddCompute(app, commands);
  AddOps(app, commands);
  AddBackup(app, commands);
}

std::optional<absl::Status> RunJobCommand(const JobCommands& c,
                                          const Client& client,
                                          const std::atomic<bool>* interrupted,
                                          std::ostream& out, std::ostream& err,
                                          bool err_tty) {
  WaitOptions wait;
  wait.no_wait = c.no_wait;
  wait.progress = err_tty || c.progress ? &err : nullptr;
  wait.progress_tty = err_tty;
  wait.interrupted = interrupted;
  if (*c.nearest) return RunNearest(client, c.nearest_args, out);
  if (*c.compute) return RunCompute(client, c.compute_args, wait, out);
  if (*c.ops_list) return RunOpsList(client, c.ops_list_args, out);
  if (*c.ops_get) return RunOpsGet(client, c.operation_id, out);
  if (*c.ops_cancel) return RunOpsCancel(client, c.operation_id, out);
  if (*c.ops_wait) return RunOpsWait(client, c.operation_id, wait, out);
  if (*c.backup) return RunBackup(client, c.backup_args, wait, out);
  return std::nullopt;
}

}  // namespace winnow::ctl
