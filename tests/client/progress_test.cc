#include "client/winnowctl/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace winnow::ctl {
namespace {

TEST(ProgressTest, Counts) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1000), "1,000");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
}

TEST(ProgressTest, Rates) {
  EXPECT_EQ(FormatRate(950), "950");
  EXPECT_EQ(FormatRate(12345), "12.3k");
  EXPECT_EQ(FormatRate(1250000), "1.25M");
}

TEST(ProgressTest, Etas) {
  EXPECT_EQ(FormatEta(absl::Seconds(7)), "0:07");
  EXPECT_EQ(FormatEta(absl::Milliseconds(6200)), "0:07");  // rounded up
  EXPECT_EQ(FormatEta(absl::Seconds(754)), "12:34");
  EXPECT_EQ(FormatEta(absl::Seconds(3723)), "1:02:03");
}

TEST(ProgressTest, BarShowsFractionRateAndEtaByBytes) {
  ProgressSnapshot s{/*bytes_read=*/250, /*total_bytes=*/1000,
                     /*documents=*/20000, /*elapsed=*/absl::Seconds(10)};
  EXPECT_EQ(ProgressBarLine(s),
            " 25.0% [#####               ] 20,000 docs  2.0k docs/s  ETA 0:30");
  EXPECT_EQ(ProgressPlainLine(s),
            "import: 20,000 docs, 25.0% of the file, 2.0k docs/s, ETA 0:30");
}

TEST(ProgressTest, UnknownSizeHasNoFractionOrEta) {
  ProgressSnapshot s{500, -1, 100, absl::Seconds(1)};
  EXPECT_EQ(ProgressBarLine(s), "100 docs  100 docs/s  ETA ?");
  EXPECT_EQ(ProgressPlainLine(s), "import: 100 docs, 100 docs/s");
}

TEST(ProgressTest, PlainReporterPrintsLinesNoOftenerThanItsInterval) {
  std::ostringstream out;
  ProgressReporter reporter(&out, /*tty=*/false, 1000, absl::Hours(1));
  for (int i = 0; i < 100; ++i) reporter.Update(i, i);
  reporter.Done(1000, 100);
  EXPECT_EQ(out.str(), "");  // the first line is due after an hour
  ProgressReporter eager(&out, /*tty=*/false, 1000, absl::ZeroDuration());
  eager.Update(500, 5);
  EXPECT_EQ(out.str().rfind("import: 5 docs, 50.0% of the file", 0), 0u)
      << out.str();
}

}  // namespace
}  // namespace winnow::ctl
