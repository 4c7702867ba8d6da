// Progress of a long winnowctl command (import, or waiting for an
// operation): a redrawn bar on a terminal, plain periodic lines otherwise
// (a log file, CI).
#ifndef WINNOW_CLIENT_WINNOWCTL_PROGRESS_H_
#define WINNOW_CLIENT_WINNOWCTL_PROGRESS_H_

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/time/time.h"
#include "winnow/v1/operation.pb.h"

namespace winnow::ctl {

// "1,234,567".
std::string FormatCount(int64_t n);
// Per second, with a k/M suffix: "950", "12.3k", "1.25M".
std::string FormatRate(double per_second);
// "0:07", "12:34", "1:02:03".
std::string FormatEta(absl::Duration d);

// One progress report. `total_bytes` < 0 means unknown (a pipe): no
// fraction and no ETA then.
struct ProgressSnapshot {
  int64_t bytes_read = 0;
  int64_t total_bytes = -1;
  int64_t documents = 0;  // acknowledged (durable)
  absl::Duration elapsed;
};

// The bar drawn on a terminal, without the leading "\r":
//   " 45.2% [#########           ] 1,234,567 docs  512.3k docs/s  ETA 0:12"
std::string ProgressBarLine(const ProgressSnapshot& s);
// The periodic plain line:
//   "import: 1,234,567 docs, 45.2% of the file, 512.3k docs/s, ETA 0:12"
std::string ProgressPlainLine(const ProgressSnapshot& s);

// An operation's state as winnowctl prints it: "running", "succeeded", ...
std::string OperationStateName(const v1::Operation& op);

// An operation's progress (OperationService), drawn on a terminal:
//   " 45.2% [#########           ] k-means iteration 7 of 20  2,300 of
//    5,000 documents  ETA 0:12"
std::string OperationBarLine(const v1::Operation& op);
// The periodic plain line:
//   "operation op-1: running, 45.2%, k-means iteration 7 of 20, 2,300 of
//    5,000 documents, ETA 0:12"
std::string OperationPlainLine(const v1::Operation& op);

// Throttles the drawing of progress lines: on a terminal one line redrawn
// at most about 10 times a second; otherwise a plain line every
// `plain_interval`.
//
// Thread safety: not thread-safe.
class ProgressDrawer {
 public:
  ProgressDrawer(std::ostream* out, bool tty, absl::Duration plain_interval);

  // Whether it is time to draw; if so, the next time starts now.
  bool Due();
  // Draws `bar` (a terminal) or prints `plain` as a line.
  void Draw(const std::string& bar, const std::string& plain);
  // Redraws `bar` as the final state (on a terminal, if a bar was drawn)
  // and ends its line, before a summary is printed.
  void Done(const std::string& bar);

  absl::Duration elapsed() const;

 private:
  std::ostream* out_;
  const bool tty_;
  const absl::Duration interval_;
  const absl::Time start_;
  absl::Time next_draw_;
  bool drawn_ = false;
};

// Throttles and draws an import's progress.
//
// Thread safety: not thread-safe.
class ProgressReporter {
 public:
  // `tty`: redraw one line (about 10 times a second); otherwise print a line
  // every `plain_interval`.
  ProgressReporter(std::ostream* out, bool tty, int64_t total_bytes,
                   absl::Duration plain_interval = absl::Seconds(10));

  // Reports the current state; draws only when it is time to.
  void Update(int64_t bytes_read, int64_t documents);
  // Draws the final state (on a terminal) and ends the bar's line, before a
  // summary is printed.
  void Done(int64_t bytes_read, int64_t documents);

 private:
  ProgressSnapshot Snapshot(int64_t bytes_read, int64_t documents) const;

  ProgressDrawer drawer_;
  const int64_t total_bytes_;
};

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_PROGRESS_H_
