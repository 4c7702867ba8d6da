// WinnowdProcess: a real winnowd child process for whole-system tests.
//
// Starts the binary built in this tree (WINNOWD_PATH) on a loopback port with
// a data directory, waits for its "listening on" log line, and can stop it
// with any signal. Used from one test thread.
#ifndef WINNOW_TESTS_SYSTEM_WINNOWD_PROCESS_H_
#define WINNOW_TESTS_SYSTEM_WINNOWD_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/http_get.h"

namespace winnow::testing {

// A fresh directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class WinnowdProcess {
 public:
  // Starts winnowd with --data-dir `data_dir` and --listen 127.0.0.1:`port`
  // (0 picks a free port), plus `extra_args`; unless these name
  // --metrics-listen, metrics go on a free loopback port too (never the
  // shared default 9464). Returns nullptr (and prints the log) if it does
  // not report listening within 30 s.
  static std::unique_ptr<WinnowdProcess> Start(
      const std::string& data_dir, int port = 0,
      std::vector<std::string> extra_args = {});

  ~WinnowdProcess();  // SIGKILLs the process if it still runs

  int port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  // The /metrics port from the startup line; 0 with metrics off.
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }

  // Sends `sig` to the process.
  void Signal(int sig);
  // Waits up to `timeout_s` for the process to exit; returns its exit code,
  // 128 + signal if a signal killed it, or -1 on timeout.
  int Wait(double timeout_s = 30);
  // The process's combined stdout and stderr so far.
  std::string Log() const;

 private:
  WinnowdProcess() = default;

  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::string log_path_;
  bool exited_ = false;
};

}  // namespace winnow::testing

#endif  // WINNOW_TESTS_SYSTEM_WINNOWD_PROCESS_H_
