// The command line of winnowctl's commands on embeddings and long jobs
// (nearest, compute, ops, backup), kept out of main.cc.
#ifndef WINNOW_CLIENT_WINNOWCTL_CLI_JOBS_H_
#define WINNOW_CLIENT_WINNOWCTL_CLI_JOBS_H_

#include <CLI/CLI.hpp>
#include <atomic>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/winnowctl/compute.h"
#include "client/winnowctl/nearest.h"
#include "client/winnowctl/operations.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

// The subcommands and the arguments they parse into.
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

void AddJobCommands(CLI::App& app, JobCommands* commands);

// Runs the parsed command if it is one of these, with progress on `err`
// when it is a terminal (`err_tty`) or --progress was given; nullopt if
// another command was parsed.
std::optional<absl::Status> RunJobCommand(const JobCommands& commands,
                                          const Client& client,
                                          const std::atomic<bool>* interrupted,
                                          std::ostream& out, std::ostream& err,
                                          bool err_tty);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_CLI_JOBS_H_
