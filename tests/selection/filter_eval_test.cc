// Filter semantics on small hand-made collections: nulls, negation, bare
// columns, interned columns, ids, pct(), double-precision comparison, the
// live set, and the Filter API itself.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "selection/bitmap.h"
#include "selection/columns.h"
#include "selection/filter/filter.h"

namespace winnow {
namespace {

constexpr float kNull = std::numeric_limits<float>::quiet_NaN();

// Eight documents; doc-7 is deleted.
//
//   row  quality  edu  length     domain  lang  src
//   0    0.1      0    10         web     en    a
//   1    0.5      1    2048       wiki    de    -
//   2    null     2    16777217   code    -     b
//   3    0.9      -1   0          web     en    web
//   4    -0.0     3    2047       wiki    -     -
//   5    0.5      null 4294967295 code    fr    a
//   6    null     5    100        web     de    wiki
//   7    0.7      9    5          wiki    en    a     (deleted)
class FilterEvalTest : public ::testing::Test {
 protected:
  FilterEvalTest() : live_(8, true) {
    live_.Clear(7);
    for (int i = 0; i < 8; ++i) ids_.push_back("doc-" + std::to_string(i));
    columns_.num_rows = 8;
    columns_.live = &live_;
    columns_.length = length_;
    columns_.domain = domain_;
    columns_.domain_names = domain_names_;
    columns_.scores.emplace("quality", quality_);
    columns_.scores.emplace("edu", edu_);
    columns_.attributes.emplace("lang", InternedColumn{lang_, lang_values_});
    columns_.attributes.emplace("src", InternedColumn{src_, src_values_});
    columns_.find_id = [this](std::string_view id) -> std::optional<uint32_t> {
      for (uint32_t i = 0; i < ids_.size(); ++i) {
        if (ids_[i] == id) return i;
      }
      return std::nullopt;
    };
  }

  // The matching rows of `text`, in order.
  std::vector<uint32_t> Rows(std::string_view text) {
    absl::StatusOr<Filter> f = Filter::Compile(text, columns_);
    EXPECT_TRUE(f.ok()) << f.status() << " for " << text;
    if (!f.ok()) return {};
    Bitmap out;
    size_t count = f->EvaluateInto(columns_, &out);
    EXPECT_EQ(count, out.Count());
    return out.ToOrdinals();
  }

  using R = std::vector<uint32_t>;

  Bitmap live_;
  std::vector<std::string> ids_;
  std::vector<float> quality_ = {0.1f,  0.5f, kNull, 0.9f,
                                 -0.0f, 0.5f, kNull, 0.7f};
  std::vector<float> edu_ = {0, 1, 2, -1, 3, kNull, 5, 9};
  std::vector<uint32_t> length_ = {10,   2048,        16777217, 0,
                                   2047, 4294967295u, 100,      5};
  std::vector<uint32_t> domain_ = {0, 1, 2, 0, 1, 2, 0, 1};
  std::vector<std::string> domain_names_ = {"web", "wiki", "code"};
  std::vector<uint32_t> lang_ = {1, 2, 0, 1, 0, 3, 2, 1};
  std::vector<std::string> lang_values_ = {"en", "de", "fr"};
  std::vector<uint32_t> src_ = {1, 0, 2, 3, 0, 1, 4, 1};
  std::vector<std::string> src_values_ = {"a", "b", "web", "wiki"};
  ColumnSet columns_;
};

TEST_F(FilterEvalTest, EmptyFilterMatchesEveryLiveDocument) {
  EXPECT_EQ(Rows(""), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Rows("  # just a comment\n"), (R{0, 1, 2, 3, 4, 5, 6}));
}

TEST_F(FilterEvalTest, DeletedDocumentsNeverMatch) {
  EXPECT_EQ(Rows("edu > 8"), R{});
  EXPECT_EQ(Rows("not (edu > 8)"), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Rows("id == \"doc-7\""), R{});
}

TEST_F(FilterEvalTest, ComparisonWithNullIsFalseWhateverTheOperator) {
  EXPECT_EQ(Rows("quality > 0.4"), (R{1, 3, 5}));
  EXPECT_EQ(Rows("quality <= 0.4"), (R{0, 4}));
  EXPECT_EQ(Rows("quality != 0.5"), (R{0, 3, 4}));
  EXPECT_EQ(Rows("quality == quality"), (R{0, 1, 3, 4, 5}));
  EXPECT_EQ(Rows("quality not in (0.5)"), (R{0, 3, 4}));
  EXPECT_EQ(Rows("quality < edu"), (R{1, 4}));
}

TEST_F(FilterEvalTest, NotIsPlainNegationSoItIncludesNulls) {
  EXPECT_EQ(Rows("not (quality > 0.4)"), (R{0, 2, 4, 6}));
  EXPECT_EQ(Rows("not quality > 0.4"), (R{0, 2, 4, 6}));
  EXPECT_EQ(Rows("not not quality > 0.4"), (R{1, 3, 5}));
}

TEST_F(FilterEvalTest, BareScoreIsTrueWhenNonNullAndNonZero) {
  // -0.0 is zero; null is not true.
  EXPECT_EQ(Rows("quality"), (R{0, 1, 3, 5}));
  EXPECT_EQ(Rows("not quality"), (R{2, 4, 6}));
  EXPECT_EQ(Rows("edu"), (R{1, 2, 3, 4, 6}));
}

TEST_F(FilterEvalTest, BareLengthIsTrueWhenNonZero) {
  EXPECT_EQ(Rows("length"), (R{0, 1, 2, 4, 5, 6}));
}

TEST_F(FilterEvalTest, IsNullTestsEachKindOfColumn) {
  EXPECT_EQ(Rows("is_null(quality)"), (R{2, 6}));
  EXPECT_EQ(Rows("is_null(attr.lang)"), (R{2, 4}));
  EXPECT_EQ(Rows("is_null(domain) or is_null(length) or is_null(id)"), R{});
  EXPECT_EQ(Rows("is_null(edu) or edu > 4"), (R{5, 6}));
}

TEST_F(FilterEvalTest, DomainMembership) {
  EXPECT_EQ(Rows("domain == \"web\""), (R{0, 3, 6}));
  EXPECT_EQ(Rows("domain != \"web\""), (R{1, 2, 4, 5}));
  EXPECT_EQ(Rows("domain in (\"web\", \"code\")"), (R{0, 2, 3, 5, 6}));
  EXPECT_EQ(Rows("domain not in (\"web\", \"code\")"), (R{1, 4}));
  EXPECT_EQ(Rows("\"wiki\" == domain"), (R{1, 4}));
}

TEST_F(FilterEvalTest, AttributeComparisonsTreatAbsentAsNull) {
  EXPECT_EQ(Rows("attr.lang == \"en\""), (R{0, 3}));
  // Absent values make != and not in false, like any null.
  EXPECT_EQ(Rows("attr.lang != \"en\""), (R{1, 5, 6}));
  EXPECT_EQ(Rows("attr.lang not in (\"en\", \"de\")"), (R{5}));
  // not is plain negation: it includes the absent ones.
  EXPECT_EQ(Rows("not attr.lang == \"en\""), (R{1, 2, 4, 5, 6}));
  EXPECT_EQ(Rows("attr.lang in (\"de\", \"fr\")"), (R{1, 5, 6}));
}

TEST_F(FilterEvalTest, AttributeValueNoDocumentHasMatchesNothing) {
  EXPECT_EQ(Rows("attr.lang == \"zz\""), R{});
  EXPECT_EQ(Rows("attr.lang in (\"zz\", \"en\")"), (R{0, 3}));
  // != a value no one has: every document that has a value.
  EXPECT_EQ(Rows("attr.lang != \"zz\""), (R{0, 1, 3, 5, 6}));
}

TEST_F(FilterEvalTest, IdComparisonsResolveToOrdinals) {
  EXPECT_EQ(Rows("id == \"doc-3\""), (R{3}));
  EXPECT_EQ(Rows("id != \"doc-3\""), (R{0, 1, 2, 4, 5, 6}));
  EXPECT_EQ(Rows("id in (\"doc-6\", \"doc-1\", \"nope\", \"doc-1\")"),
            (R{1, 6}));
  EXPECT_EQ(Rows("id not in (\"doc-6\", \"doc-1\")"), (R{0, 2, 3, 4, 5}));
  EXPECT_EQ(Rows("id != \"nope\""), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Rows("id == \"doc-3\" or id == \"doc-4\" and edu > 2"), (R{3, 4}));
}

TEST_F(FilterEvalTest, StringColumnsCompareWithEachOther) {
  // src holds "web" on row 3 and "wiki" on row 6.
  EXPECT_EQ(Rows("attr.src == domain"), (R{3}));
  EXPECT_EQ(Rows("domain == attr.src"), (R{3}));
  // Row 6: src "wiki", domain "web". Absent src (1, 4) is null: false.
  EXPECT_EQ(Rows("domain != attr.src"), (R{0, 2, 5, 6}));
  EXPECT_EQ(Rows("attr.lang == attr.src"), R{});
  EXPECT_EQ(Rows("attr.lang != attr.src"), (R{0, 3, 5, 6}));
}

TEST_F(FilterEvalTest, NumericColumnsCompareInDoublePrecision) {
  // 16777217 is not a float: a float comparison would call it equal to
  // 16777216.
  EXPECT_EQ(Rows("length > 16777216"), (R{2, 5}));
  EXPECT_EQ(Rows("length == 16777217"), (R{2}));
  EXPECT_EQ(Rows("edu < length"), (R{0, 1, 2, 3, 4, 6}));
  EXPECT_EQ(Rows("length >= edu"), (R{0, 1, 2, 3, 4, 6}));
}

TEST_F(FilterEvalTest, LiteralsCompareAsDoublesAgainstWidenedFloats) {
  // 0.1f is 0.100000001490116..., which is > 0.1 and != 0.1.
  EXPECT_EQ(Rows("quality == 0.1"), R{});
  EXPECT_EQ(Rows("quality > 0.1 and quality < 0.2"), (R{0}));
  EXPECT_EQ(Rows("quality == 0.100000001490116119384765625"), (R{0}));
  EXPECT_EQ(Rows("quality == 0.5"), (R{1, 5}));
  EXPECT_EQ(Rows("quality == -0"), (R{4}));
  EXPECT_EQ(Rows("quality == 0"), (R{4}));
}

TEST_F(FilterEvalTest, LiteralsPastTheFloatRangeStillCompare) {
  EXPECT_EQ(Rows("quality < 1e40"), (R{0, 1, 3, 4, 5}));
  EXPECT_EQ(Rows("quality > -1e40"), (R{0, 1, 3, 4, 5}));
  EXPECT_EQ(Rows("quality > 1e40 or quality == 1e40"), R{});
  EXPECT_EQ(Rows("length < 1e40"), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Rows("length > -1"), (R{0, 1, 2, 3, 4, 5, 6}));
}

TEST_F(FilterEvalTest, LengthComparisonsAreExactOnIntegers) {
  EXPECT_EQ(Rows("length < 2048"), (R{0, 3, 4, 6}));
  EXPECT_EQ(Rows("length < 2046.5"), (R{0, 3, 6}));
  EXPECT_EQ(Rows("length < 2047.5"), (R{0, 3, 4, 6}));
  EXPECT_EQ(Rows("length <= 2047.5"), (R{0, 3, 4, 6}));
  EXPECT_EQ(Rows("length == 2047.5"), R{});
  EXPECT_EQ(Rows("length != 2047.5"), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(Rows("length >= 4294967295"), (R{5}));
  EXPECT_EQ(Rows("length in (0, 10, 10.5)"), (R{0, 3}));
  EXPECT_EQ(Rows("length not in (0, 10)"), (R{1, 2, 4, 5, 6}));
}

TEST_F(FilterEvalTest, LiteralFirstComparisonsMirrorTheOperator) {
  EXPECT_EQ(Rows("0.4 < quality"), Rows("quality > 0.4"));
  EXPECT_EQ(Rows("2048 >= length"), Rows("length <= 2048"));
  EXPECT_EQ(Rows("2 != edu"), Rows("edu != 2"));
}

TEST_F(FilterEvalTest, PrecedenceIsNotThenAndThenOr) {
  // a or b and c == a or (b and c).
  EXPECT_EQ(Rows("edu == 2 or edu > 0 and quality > 0.4"), (R{1, 2}));
  EXPECT_EQ(Rows("(edu == 2 or edu > 0) and quality > 0.4"), (R{1}));
  EXPECT_EQ(Rows("not edu > 1 and quality > 0"), (R{0, 1, 3, 5}));
  EXPECT_EQ(Rows("not (edu > 1 and quality > 0)"), (R{0, 1, 2, 3, 4, 5, 6}));
}

TEST_F(FilterEvalTest, PctUsesLiveNonNullValues) {
  // Live non-null edu: 0, 1, 2, -1, 3, 5 (9 is deleted). The median is
  // (1 + 2) / 2 = 1.5; the 90th percentile is 3 + 0.5 * 2 = 4.
  EXPECT_EQ(Rows("edu > pct(edu, 50)"), (R{2, 4, 6}));
  EXPECT_EQ(Rows("edu >= pct(edu, 90)"), (R{6}));
  EXPECT_EQ(Rows("edu <= pct(edu, 0)"), (R{3}));
  EXPECT_EQ(Rows("edu == pct(edu, 100)"), (R{6}));
  EXPECT_EQ(Rows("pct(edu, 50) < edu"), (R{2, 4, 6}));
  EXPECT_EQ(Rows("length > pct(edu, 100)"), (R{0, 1, 2, 4, 5, 6}));
}

TEST_F(FilterEvalTest, PctSelectsTheTopTenPercentOfALargeColumn) {
  std::vector<float> edu(10000);
  for (size_t i = 0; i < edu.size(); ++i) {
    edu[i] = static_cast<float>((i * 7919) % 10000) / 2000.0f;  // 0..5
  }
  Bitmap live(edu.size(), true);
  ColumnSet c;
  c.num_rows = static_cast<uint32_t>(edu.size());
  c.live = &live;
  c.scores.emplace("edu", edu);
  absl::StatusOr<Filter> f = Filter::Compile("edu > pct(edu, 90)", c);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Evaluate(c).Count(), 1000u);
  EXPECT_TRUE(f->uses_pct());
}

TEST_F(FilterEvalTest, ReferencedScoresListsEveryScoreOnce) {
  absl::StatusOr<Filter> f = Filter::Compile(
      "quality > 0 or (edu > pct(edu, 5) and is_null(quality)) or length > 3",
      columns_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->referenced_scores(),
            (std::vector<std::string>{"edu", "quality"}));
  EXPECT_TRUE(f->uses_pct());
  absl::StatusOr<Filter> g = Filter::Compile("domain == \"web\"", columns_);
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->referenced_scores().empty());
  EXPECT_FALSE(g->uses_pct());
}

TEST_F(FilterEvalTest, ToStringIsTheCanonicalText) {
  absl::StatusOr<Filter> f = Filter::Compile(
      "  ( quality>=0.70 )and domain in(\"web\",\"wiki\")  # comment\n"
      "or not(edu<1 or is_null(attr.lang))",
      columns_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->ToString(),
            "quality >= 0.7 and domain in (\"web\", \"wiki\") or not (edu < 1 "
            "or is_null(attr.lang))");
  EXPECT_EQ(Filter().ToString(), "");
}

TEST_F(FilterEvalTest, DefaultFilterMatchesEveryLiveDocument) {
  Filter all;
  EXPECT_EQ(all.Evaluate(columns_).ToOrdinals(), (R{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(all.uses_pct());
}

TEST_F(FilterEvalTest, EvaluateIntoResizesAndOverwritesTheOutput) {
  absl::StatusOr<Filter> f = Filter::Compile("edu > 2", columns_);
  ASSERT_TRUE(f.ok());
  Bitmap out(3, true);
  EXPECT_EQ(f->EvaluateInto(columns_, &out), 2u);
  EXPECT_EQ(out.size(), 8u);
  EXPECT_EQ(out.ToOrdinals(), (R{4, 6}));
  Bitmap big(1000, true);
  EXPECT_EQ(f->EvaluateInto(columns_, &big), 2u);
  EXPECT_EQ(big.ToOrdinals(), (R{4, 6}));
}

TEST_F(FilterEvalTest, NullLiveBitmapMeansEveryRowIsLive) {
  ColumnSet all = columns_;
  all.live = nullptr;
  absl::StatusOr<Filter> f = Filter::Compile("edu > 4", all);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->Evaluate(all).ToOrdinals(), (R{6, 7}));
}

TEST_F(FilterEvalTest, ColumnMissingAtEvaluationReadsAsNull) {
  absl::StatusOr<Filter> f =
      Filter::Compile("is_null(edu) or attr.lang == \"en\"", columns_);
  ASSERT_TRUE(f.ok());
  ColumnSet fewer = columns_;
  fewer.scores.erase("edu");
  fewer.attributes.erase("lang");
  EXPECT_EQ(f->Evaluate(fewer).ToOrdinals(), (R{0, 1, 2, 3, 4, 5, 6}));
}

TEST_F(FilterEvalTest, CopiesShareOneImmutablePlan) {
  absl::StatusOr<Filter> f = Filter::Compile("edu > 2", columns_);
  ASSERT_TRUE(f.ok());
  Filter copy = *f;
  EXPECT_EQ(copy.ToString(), "edu > 2");
  EXPECT_EQ(copy.Evaluate(columns_), f->Evaluate(columns_));
}

TEST(FilterConcurrencyTest, EvaluateIsSafeFromManyThreads) {
  const uint32_t n = 50000;
  std::vector<float> q(n);
  std::vector<uint32_t> len(n), dom(n);
  for (uint32_t i = 0; i < n; ++i) {
    q[i] = static_cast<float>((i * 37) % 1000) / 1000.0f;
    len[i] = (i * 13) % 5000;
    dom[i] = i % 4;
  }
  std::vector<std::string> names = {"d0", "d1", "d2", "d3"};
  Bitmap live(n, true);
  for (uint32_t i = 0; i < n; i += 7) live.Clear(i);
  ColumnSet c;
  c.num_rows = n;
  c.live = &live;
  c.length = len;
  c.domain = dom;
  c.domain_names = names;
  c.scores.emplace("quality", q);
  absl::StatusOr<Filter> f = Filter::Compile(
      "quality > 0.5 and domain in (\"d0\", \"d1\") and length < 2048", c);
  ASSERT_TRUE(f.ok());
  const Bitmap want = f->Evaluate(c);
  EXPECT_GT(want.Count(), 0u);
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 20; ++k) same[t] += f->Evaluate(c) == want;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(same, (std::vector<int>{20, 20, 20, 20}));
}

}  // namespace
}  // namespace winnow
