#include "client/winnowctl/progress.h"

#include <algorithm>
#include <cstdlib>

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

}  // namespace

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

ProgressReporter::ProgressReporter(std::ostream* out, bool tty,
                                   int64_t total_bytes,
                                   absl::Duration plain_interval)
    : out_(out),
      tty_(tty),
      total_bytes_(total_bytes),
      interval_(tty ? absl::Milliseconds(100) : plain_interval),
      start_(absl::Now()),
      next_draw_(start_ + interval_) {}

void ProgressReporter::Update(int64_t bytes_read, int64_t documents) {
  const absl::Time now = absl::Now();
  if (now < next_draw_) return;
  next_draw_ = now + interval_;
  ProgressSnapshot s{bytes_read, total_bytes_, documents, now - start_};
  if (tty_) {
    // \x1b[K clears what a longer previous line left.
    *out_ << '\r' << ProgressBarLine(s) << "\x1b[K" << std::flush;
    drawn_ = true;
  } else {
    *out_ << ProgressPlainLine(s) << std::endl;
  }
}

void ProgressReporter::Done(int64_t bytes_read, int64_t documents) {
  if (tty_ && drawn_) {
    ProgressSnapshot s{bytes_read, total_bytes_, documents,
                       absl::Now() - start_};
    *out_ << '\r' << ProgressBarLine(s) << "\x1b[K" << std::endl;
  }
  drawn_ = false;
}

}  // namespace winnow::ctl
