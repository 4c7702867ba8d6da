#include "client/winnowctl/progress.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace winnow::ctl {
namespace {

constexpr int kBarWidth = 20;

// The fraction of the file read, or a negative value when unknown.
double Fraction(const ProgressSnapshot& s) {
  if (s.total_bytes <= 0) return s.total_bytes == 0 ? 1.0 : -1.0;
  return std::clamp(
      static_cast<double>(s.bytes_read) / static_cast<double>(s.total_bytes),
      0.0, 1.0);
}

double Rate(const ProgressSnapshot& s) {
  const double seconds = absl::ToDoubleSeconds(s.elapsed);
  return seconds > 0 ? static_cast<double>(s.documents) / seconds : 0.0;
}

// Remaining time at the pace so far, by bytes of the file read.
std::string Eta(const ProgressSnapshot& s) {
  const double f = Fraction(s);
  if (f <= 0 || f >= 1) return f >= 1 ? "0:00" : "?";
  return FormatEta(s.elapsed * ((1 - f) / f));
}

// The phase and the items, where the server gave them.
std::vector<std::string> OperationDetails(const v1::Operation& op) {
  std::vector<std::string> parts;
  if (!op.phase().empty()) parts.push_back(op.phase());
  if (op.items_total() > 0) {
    parts.push_back(absl::StrCat(FormatCount(op.items_done()), " of ",
                                 FormatCount(op.items_total()), " ",
                                 op.item_unit()));
  } else if (op.items_done() > 0) {
    parts.push_back(
        absl::StrCat(FormatCount(op.items_done()), " ", op.item_unit()));
  }
  return parts;
}

std::string OperationEta(const v1::Operation& op) {
  if (op.done()) return "0:00";
  if (!op.has_eta()) return "?";
  return FormatEta(absl::Seconds(op.eta().seconds()) +
                   absl::Nanoseconds(op.eta().nanos()));
}

}  // namespace

std::string OperationStateName(const v1::Operation& op) {
  constexpr std::string_view kPrefix = "OPERATION_STATE_";
  std::string name = v1::OperationState_Name(op.state());
  if (name.rfind(kPrefix, 0) != 0) return absl::StrCat("state ", op.state());
  name = name.substr(kPrefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(c));
  return name;
}

std::string FormatCount(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatRate(double per_second) {
  if (per_second >= 1e6) return absl::StrFormat("%.2fM", per_second / 1e6);
  if (per_second >= 1e3) return absl::StrFormat("%.1fk", per_second / 1e3);
  return absl::StrFormat("%.0f", per_second);
}

std::string FormatEta(absl::Duration d) {
  const int64_t total = absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)));
  const int64_t h = total / 3600, m = total / 60 % 60, sec = total % 60;
  if (h > 0) return absl::StrFormat("%d:%02d:%02d", h, m, sec);
  return absl::StrFormat("%d:%02d", m, sec);
}

std::string ProgressBarLine(const ProgressSnapshot& s) {
  const double f = Fraction(s);
  std::string head;
  if (f >= 0) {
    const int filled = static_cast<int>(f * kBarWidth);
    head = absl::StrFormat("%5.1f%% [%s%s] ", f * 100, std::string(filled, '#'),
                           std::string(kBarWidth - filled, ' '));
  }
  return absl::StrCat(head, FormatCount(s.documents), " docs  ",
                      FormatRate(Rate(s)), " docs/s  ETA ", Eta(s));
}

std::string ProgressPlainLine(const ProgressSnapshot& s) {
  const double f = Fraction(s);
  std::string line =
      absl::StrCat("import: ", FormatCount(s.documents), " docs");
  if (f >= 0) absl::StrAppendFormat(&line, ", %.1f%% of the file", f * 100);
  absl::StrAppend(&line, ", ", FormatRate(Rate(s)), " docs/s");
  if (f >= 0) absl::StrAppend(&line, ", ETA ", Eta(s));
  return line;
}

std::string OperationBarLine(const v1::Operation& op) {
  const double f = std::clamp(op.progress_fraction(), 0.0, 1.0);
  const int filled = static_cast<int>(f * kBarWidth);
  std::string line =
      absl::StrFormat("%5.1f%% [%s%s] ", f * 100, std::string(filled, '#'),
                      std::string(kBarWidth - filled, ' '));
  for (const std::string& part : OperationDetails(op)) {
    absl::StrAppend(&line, part, "  ");
  }
  absl::StrAppend(&line, "ETA ", OperationEta(op));
  return line;
}

std::string OperationPlainLine(const v1::Operation& op) {
  std::string line = absl::StrFormat(
      "operation %s: %s, %.1f%%", op.operation_id(), OperationStateName(op),
      std::clamp(op.progress_fraction(), 0.0, 1.0) * 100);
  for (const std::string& part : OperationDetails(op)) {
    absl::StrAppend(&line, ", ", part);
  }
  absl::StrAppend(&line, ", ETA ", OperationEta(op));
  return line;
}

ProgressDrawer::ProgressDrawer(std::ostream* out, bool tty,
                               absl::Duration plain_interval)
    : out_(out),
      tty_(tty),
      interval_(tty ? absl::Milliseconds(100) : plain_interval),
      start_(absl::Now()),
      next_draw_(start_ + interval_) {}

bool ProgressDrawer::Due() {
  const absl::Time now = absl::Now();
  if (now < next_draw_) return false;
  next_draw_ = now + interval_;
  return true;
}

void ProgressDrawer::Draw(const std::string& bar, const std::string& plain) {
  if (tty_) {
    // \x1b[K clears what a longer previous line left.
    *out_ << '\r' << bar << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    *out_ << plain << std::endl;
  }
}

void ProgressDrawer::Done(const std::string& bar) {
  if (tty_ && drawn_) *out_ << '\r' << bar << "\x1b[K" << std::endl;
  drawn_ = false;
}

absl::Duration ProgressDrawer::elapsed() const { return absl::Now() - start_; }

ProgressReporter::ProgressReporter(std::ostream* out, bool tty,
                                   int64_t total_bytes,
                                   absl::Duration plain_interval)
    : drawer_(out, tty, plain_interval), total_bytes_(total_bytes) {}

ProgressSnapshot ProgressReporter::Snapshot(int64_t bytes_read,
                                            int64_t documents) const {
  return ProgressSnapshot{bytes_read, total_bytes_, documents,
                          drawer_.elapsed()};
}

void ProgressReporter::Update(int64_t bytes_read, int64_t documents) {
  if (!drawer_.Due()) return;
  const ProgressSnapshot s = Snapshot(bytes_read, documents);
  drawer_.Draw(ProgressBarLine(s), ProgressPlainLine(s));
}

void ProgressReporter::Done(int64_t bytes_read, int64_t documents) {
  drawer_.Done(ProgressBarLine(Snapshot(bytes_read, documents)));
}

}  // namespace winnow::ctl
