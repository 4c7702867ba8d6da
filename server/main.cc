// winnowd: the Winnow server. Parses flags and the config file into
// Server::Options, builds and starts the server, and waits for SIGTERM or
// SIGINT (server.h has the shutdown sequence).
//
// Exit codes: 0 after a clean shutdown (also for --help and --version), 1
// if the server could not start or the store did not close cleanly, 2 for
// bad flags or config.
#include <malloc.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "absl/status/statusor.h"
#include "server/config.h"
#include "server/logging.h"
#include "server/server.h"

int main(int argc, char** argv) {
  // Keep freed memory mapped: every Filter, Count and Sample allocates
  // column-sized scratch (megabytes), and on VMs a fresh page costs
  // microseconds to fault in, which measured as 3-10x the engine's own time
  // (bench/engine/main.cc does the same).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // One arena: a worker thread's own arena grows in 64 MiB heaps, so a
  // plan's arrays (tens of MiB for 1M candidates) spill into fresh mmaps
  // that are faulted in again for every plan. In the main arena they reuse
  // freed memory. Measured (bench/compare, 1M docs): weighted sample of
  // 100k 315 -> 107 ms, RSS after load 178 -> 159 MiB, ingest unchanged.
  mallopt(M_ARENA_MAX, 1);
  absl::StatusOr<winnow::server::CommandLine> command_line =
      winnow::server::ParseCommandLine(argc, argv);
  if (!command_line.ok()) {
    std::fprintf(stderr, "winnowd: %s\nRun with --help for more information.\n",
                 std::string(command_line.status().message()).c_str());
    return 2;
  }
  if (command_line->exit_now) {
    std::fputs(command_line->output.c_str(), stdout);
    return 0;
  }
  winnow::server::InitLogging(command_line->options.log_level);

  winnow::server::Server server;
  if (absl::Status s = server.BuildAndStart(command_line->options); !s.ok()) {
    spdlog::critical("winnowd failed to start: {}", s.ToString());
    return 1;
  }
  if (absl::Status s = server.WaitForTermination(); !s.ok()) return 1;
  return 0;
}
