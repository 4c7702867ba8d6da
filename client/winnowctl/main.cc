// winnowctl: the command-line client of winnowd (docs/operations.md).
//
//   winnowctl [--server HOST:PORT] [--token TOKEN] [--tls-ca FILE]
//             [--timeout SECONDS] COMMAND ...
//
// Exit status: 0 on success, 1 when the command failed (the error is
// printed as "winnowctl: <CODE>: <message>"), 2 for a usage error: one
// found by the parser, or a flag combination refused after it (printed the
// same way, as INVALID_ARGUMENT naming the flag).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <iostream>
#include <optional>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "client/winnowctl/commands.h"
#include "client/winnowctl/operations.h"
#include "winnow/client/client.h"
#include "winnow/client/status.h"

namespace winnow::ctl {
namespace {

// The commands on embeddings and long jobs (nearest, compute, ops, backup)
// and the arguments they parse into.
struct JobCommands {
  CLI::App* nearest = nullptr;
  NearestArgs nearest_args;
  CLI::App* compute = nullptr;
  ComputeArgs compute_args;
  CLI::App* ops_list = nullptr;
  OpsListArgs ops_list_args;
  CLI::App* ops_get = nullptr;
  CLI::App* ops_cancel = nullptr;
  CLI::App* ops_wait = nullptr;
  std::string operation_id;
  CLI::App* backup = nullptr;
  BackupArgs backup_args;
  // --no-wait (compute, backup) and --progress (compute, backup, ops wait).
  bool no_wait = false;
  bool progress = false;

  // Whether the parsed command waits for an operation (Ctrl-C cancels it).
  bool Waits() const;
};

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
  cmd->add_flag("--compare-second-cluster", a.compare_second_cluster,
                "semdedup: also compare across the 2nd-nearest cluster "
                "(needs the k-means flags)");
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

bool JobCommands::Waits() const {
  return (*compute && !no_wait) || (*backup && !no_wait) || *ops_wait;
}

void AddJobCommands(CLI::App& app, JobCommands* commands) {
  AddNearest(app, commands);
  AddCompute(app, commands);
  AddOps(app, commands);
  AddBackup(app, commands);
}

// Runs the parsed command if it is one of these, with progress on `err`
// when it is a terminal (`err_tty`) or --progress was given; nullopt if
// another command was parsed.
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

}  // namespace
}  // namespace winnow::ctl

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

// A first Ctrl-C lets an import finish what it sent and print where to
// resume, or cancels the operation being waited for; a second one (the
// default action, restored) kills winnowctl.
void CatchInterrupt() {
  struct sigaction action = {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

int Report(const absl::Status& status) {
  if (status.ok()) return 0;
  std::cerr << "winnowctl: " << winnow::StatusCodeName(status.code()) << ": "
            << status.message() << std::endl;
  return winnow::ctl::IsUsageError(status) ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"winnowctl: manage and query a Winnow server", "winnowctl"};
  app.require_subcommand(1);
  app.fallthrough();  // global flags may follow the subcommand

  std::string server = "127.0.0.1:7450";
  winnow::ClientOptions options;
  double timeout_seconds = 30;
  app.add_option("--server", server, "server address, HOST:PORT")
      ->capture_default_str();
  app.add_option("--token", options.token,
                 "bearer token (default: $WINNOW_TOKEN)")
      ->envname("WINNOW_TOKEN");
  app.add_option("--tls-ca", options.tls_root_ca_file,
                 "PEM file of the CA that signed the server's certificate; "
                 "turns TLS on")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-cert", options.tls_cert_file,
                 "PEM client certificate, for a server requiring mTLS")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", options.tls_key_file, "PEM key of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-server-name", options.tls_server_name,
                 "name to verify in the server's certificate, if not the "
                 "host of --server");
  app.add_option("--timeout", timeout_seconds,
                 "deadline of each unary call, in seconds (streams have none)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);

  // create
  winnow::ctl::CreateArgs create;
  CLI::App* create_cmd = app.add_subcommand("create", "create a collection");
  create_cmd->add_option("name", create.name, "collection name")->required();
  create_cmd
      ->add_option("--embedding-dimension", create.embedding_dimension,
                   "floats per embedding; 0 for none")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  create_cmd
      ->add_option("--embedding-dtype", create.embedding_dtype,
                   "storage of embeddings")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "float16"}));

  // list
  CLI::App* list_cmd = app.add_subcommand(
      "list", "list collections: NAME, DOCUMENTS, EMBEDDING_DIMENSION");

  // delete
  winnow::ctl::DeleteArgs del;
  CLI::App* delete_cmd = app.add_subcommand(
      "delete", "delete a collection with all its documents, scores and plans");
  delete_cmd->add_option("name", del.name, "collection name")->required();
  delete_cmd->add_flag("--yes", del.yes, "confirm the deletion (required)");
  delete_cmd->add_flag("--allow-missing", del.allow_missing,
                       "succeed if the collection does not exist");

  // import
  winnow::ctl::ImportOptions import;
  CLI::App* import_cmd = app.add_subcommand(
      "import", "load documents from a JSONL file (one JSON object a line)");
  import_cmd->add_option("name", import.collection, "collection name")
      ->required();
  import_cmd->add_option("file", import.path, "JSONL file; - for stdin")
      ->required();
  import_cmd
      ->add_option("--batch-size", import.batch_size,
                   "documents per atomic batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  import_cmd
      ->add_option("--resume-from-line", import.resume_from_line,
                   "first line to import (as printed by a stopped "
                   "import)")
      ->check(CLI::PositiveNumber);
  import_cmd
      ->add_option("--embeddings", import.embeddings_path,
                   ".npy of the embeddings, row i for the file's i-th "
                   "document: float32 or float16, shape (documents, dim)")
      ->check(CLI::ExistingFile);

  // count
  winnow::ctl::CountArgs count;
  CLI::App* count_cmd =
      app.add_subcommand("count", "count the documents matching a filter");
  count_cmd->add_option("name", count.name, "collection name")->required();
  count_cmd->add_option("--filter", count.filter,
                        "filter expression; empty matches every document");

  // filter
  winnow::ctl::FilterArgs filter;
  CLI::App* filter_cmd = app.add_subcommand(
      "filter", "print the ids (and scores) of matching documents");
  filter_cmd->add_option("name", filter.name, "collection name")->required();
  filter_cmd->add_option("--filter", filter.filter, "filter expression");
  filter_cmd->add_option("--limit", filter.limit, "most ids; 0 for all")
      ->check(CLI::NonNegativeNumber);
  filter_cmd
      ->add_option("--scores", filter.scores,
                   "scores to print after each id, comma-separated")
      ->delimiter(',');

  // sample
  winnow::ctl::SampleArgs sample;
  CLI::App* sample_cmd = app.add_subcommand(
      "sample", "print the batches of a sampling plan for one rank");
  sample_cmd->add_option("name", sample.name, "collection name")->required();
  sample_cmd->add_option("--filter", sample.filter, "candidate filter");
  sample_cmd->add_option("--strategy", sample.strategy, "uniform or weighted")
      ->capture_default_str()
      ->check(CLI::IsMember({"uniform", "weighted"}));
  sample_cmd->add_option("--score", sample.score,
                         "score the weights come from (weighted)");
  sample_cmd
      ->add_option("--weight-function", sample.weight_function,
                   "raw, power or softmax (weighted)")
      ->capture_default_str()
      ->check(CLI::IsMember({"raw", "power", "softmax"}));
  sample_cmd->add_option("--alpha", sample.alpha, "exponent of power");
  sample_cmd->add_option("--temperature", sample.temperature,
                         "temperature of softmax");
  sample_cmd->add_option("--seed", sample.seed, "seed of every draw")
      ->capture_default_str();
  sample_cmd
      ->add_option("--batch-size", sample.batch_size,
                   "samples per global batch")
      ->capture_default_str();
  sample_cmd->add_option("--rank", sample.rank, "this reader's rank")
      ->capture_default_str();
  sample_cmd->add_option("--world-size", sample.world_size, "number of ranks")
      ->capture_default_str();
  sample_cmd->add_option("--epochs", sample.epochs, "epochs; 0 for unbounded")
      ->capture_default_str();
  sample_cmd->add_option("--samples-per-epoch", sample.samples_per_epoch,
                         "samples per epoch; 0 for every candidate once");
  sample_cmd->add_option("--max-batches", sample.max_batches,
                         "stop after this many batches; 0 for no limit");
  bool no_drop_last = false;
  sample_cmd->add_flag("--no-drop-last", no_drop_last,
                       "deal the last round of an epoch as far as it goes");
  sample_cmd->add_option("--view", sample.view, "ids or ordinals")
      ->capture_default_str()
      ->check(CLI::IsMember({"ids", "ordinals"}));
  sample_cmd->add_option("--run-id", sample.run_id, "training run id");
  sample_cmd->add_option("--cursor", sample.cursor,
                         "resume from this cursor (the plan flags are then "
                         "ignored)");
  sample_cmd->add_option("--plan-id", sample.plan_id, "bind to this plan");
  sample_cmd->add_option("--format", sample.format, "text or jsonl")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "jsonl"}));

  // token
  winnow::ctl::TokenArgs token;
  CLI::App* token_cmd = app.add_subcommand(
      "token",
      "print a new random token, then its line for winnowd's --tokens file "
      "(which holds only its SHA-256); needs no server");
  token_cmd->add_option("--role", token.role, "reader, writer or admin")
      ->required()
      ->check(CLI::IsMember({"reader", "writer", "admin"}));
  token_cmd->add_option("--collections", token.collections,
                        "fnmatch glob of the collections it may use "
                        "(default: all)");
  token_cmd->add_option("--name", token.name,
                        "its name in the server's logs and quotas");

  // nearest, compute, ops, backup
  winnow::ctl::JobCommands jobs;
  winnow::ctl::AddJobCommands(app, &jobs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  sample.drop_last = !no_drop_last;
  options.default_timeout = absl::Seconds(timeout_seconds);
  if (*token_cmd) return Report(winnow::ctl::RunToken(token, std::cout));

  absl::StatusOr<winnow::Client> client =
      winnow::Client::Connect(server, options);
  if (!client.ok()) return Report(client.status());

  if (*create_cmd)
    return Report(winnow::ctl::RunCreate(*client, create, std::cout));
  if (*list_cmd) return Report(winnow::ctl::RunList(*client, std::cout));
  if (*delete_cmd)
    return Report(winnow::ctl::RunDelete(*client, del, std::cout));
  if (*import_cmd) {
    import.progress = &std::cerr;
    import.progress_tty = isatty(STDERR_FILENO) != 0;
    import.interrupted = &g_interrupted;
    CatchInterrupt();
    return Report(
        winnow::ctl::RunImport(*client, import, std::cout, std::cerr));
  }
  if (*count_cmd)
    return Report(winnow::ctl::RunCount(*client, count, std::cout));
  if (*filter_cmd)
    return Report(winnow::ctl::RunFilter(*client, filter, std::cout));
  if (*sample_cmd)
    return Report(winnow::ctl::RunSample(*client, sample, std::cout));
  if (jobs.Waits()) CatchInterrupt();
  std::optional<absl::Status> job =
      winnow::ctl::RunJobCommand(jobs, *client, &g_interrupted, std::cout,
                                 std::cerr, isatty(STDERR_FILENO) != 0);
  return job.has_value() ? Report(*job) : 2;
}
