#include "tests/system/winnowd_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#ifndef WINNOWD_PATH
#error "WINNOWD_PATH must name the winnowd binary"
#endif

namespace winnow::testing {

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl =
      std::string(base && *base ? base : "/tmp") + "/winnow-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::unique_ptr<WinnowdProcess> WinnowdProcess::Start(
    const std::string& data_dir, int port,
    std::vector<std::string> extra_args) {
  std::unique_ptr<WinnowdProcess> p(new WinnowdProcess());
  static int counter = 0;
  p->log_path_ = data_dir + ".winnowd-" + std::to_string(getpid()) + "-" +
                 std::to_string(counter++) + ".log";
  std::vector<std::string> args = {WINNOWD_PATH, "--data-dir", data_dir,
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  bool metrics_named = false;
  for (const std::string& a : extra_args) {
    if (a.rfind("--metrics-listen", 0) == 0) metrics_named = true;
  }
  if (!metrics_named) {
    args.push_back("--metrics-listen");
    args.push_back("127.0.0.1:0");
  }

  pid_t pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    int fd = open(p->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  p->pid_ = pid;

  const std::regex listening("listening on [0-9.]+:([0-9]+)");
  const std::regex metrics("serving metrics on http://[^:]+:([0-9]+)/");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    std::string log = p->Log();
    if (std::regex_search(log, m, listening)) {
      p->port_ = std::stoi(m[1]);
      // Printed before the "listening on" line.
      if (std::regex_search(log, m, metrics))
        p->metrics_port_ = std::stoi(m[1]);
      return p;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->exited_ = true;
      fprintf(stderr, "winnowd exited before listening:\n%s\n", log.c_str());
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  fprintf(stderr, "winnowd did not report listening:\n%s\n", p->Log().c_str());
  return nullptr;
}

WinnowdProcess::~WinnowdProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
  }
  std::error_code ec;
  std::filesystem::remove(log_path_, ec);
}

void WinnowdProcess::Signal(int sig) {
  if (pid_ > 0 && !exited_) kill(pid_, sig);
}

int WinnowdProcess::Wait(double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return -1;
}

std::string WinnowdProcess::Log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace winnow::testing
