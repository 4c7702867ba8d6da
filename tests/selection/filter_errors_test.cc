// Every filter error: its status code, exact message and position. The
// messages here are the ones docs/filter-language.md lists.
#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "selection/bitmap.h"
#include "selection/columns.h"
#include "selection/filter/filter.h"
#include "selection/filter/suggest.h"

namespace winnow {
namespace {

constexpr float kNull = std::numeric_limits<float>::quiet_NaN();

// A small collection: scores quality, edu and empty (no values at all),
// attribute lang, domains web/wiki/code, ids doc-0..doc-3.
class FilterErrorsTest : public ::testing::Test {
 protected:
  FilterErrorsTest() : live_(4, true) {
    columns_.num_rows = 4;
    columns_.live = &live_;
    columns_.length = length_;
    columns_.domain = domain_;
    columns_.domain_names = domain_names_;
    columns_.scores.emplace("quality", quality_);
    columns_.scores.emplace("edu", edu_);
    columns_.scores.emplace("empty", empty_);
    columns_.attributes.emplace("lang",
                                InternedColumn{lang_codes_, lang_values_});
    columns_.find_id = [](std::string_view id) -> std::optional<uint32_t> {
      if (id.size() == 5 && id.substr(0, 4) == "doc-") return id[4] - '0';
      return std::nullopt;
    };
  }

  // The error Compile gives for `text`; fails the test if it compiles.
  absl::Status ErrorOf(std::string_view text) {
    absl::StatusOr<Filter> f = Filter::Compile(text, columns_);
    EXPECT_FALSE(f.ok()) << "compiled: " << text;
    return f.ok() ? absl::OkStatus() : f.status();
  }
  std::string MessageOf(std::string_view text) {
    absl::Status s = ErrorOf(text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  }

  Bitmap live_;
  std::vector<uint32_t> length_ = {10, 20, 30, 40};
  std::vector<uint32_t> domain_ = {0, 1, 2, 0};
  std::vector<std::string> domain_names_ = {"web", "wiki", "code"};
  std::vector<float> quality_ = {0.1f, 0.5f, kNull, 0.9f};
  std::vector<float> edu_ = {1, 2, 3, 4};
  std::vector<float> empty_ = {kNull, kNull, kNull, kNull};
  std::vector<uint32_t> lang_codes_ = {1, 2, 0, 1};
  std::vector<std::string> lang_values_ = {"en", "de"};
  ColumnSet columns_;
};

// ---- Lexical errors.

TEST_F(FilterErrorsTest, UnexpectedCharacterNamesItAndItsPosition) {
  EXPECT_EQ(MessageOf("quality > 0.5 $"), "unexpected character '$' at 1:15");
  EXPECT_EQ(MessageOf("quality > 0.5 and\n  édu > 1"),
            "unexpected character 'é' at 2:3");
  EXPECT_EQ(MessageOf("quality\x01"), "unexpected character '\\x01' at 1:8");
}

TEST_F(FilterErrorsTest, SingleEqualsSuggestsDoubleEquals) {
  EXPECT_EQ(MessageOf("quality = 0.5"),
            "unexpected '=' at 1:9; did you mean '=='?");
}

TEST_F(FilterErrorsTest, CStyleOperatorsPointToTheKeywords) {
  EXPECT_EQ(MessageOf("!quality"),
            "unexpected '!' at 1:1; use 'not' for negation");
  EXPECT_EQ(MessageOf("quality > 0 && edu > 1"),
            "unexpected '&' at 1:13; use 'and'");
  EXPECT_EQ(MessageOf("quality > 0 || edu > 1"),
            "unexpected '|' at 1:13; use 'or'");
}

TEST_F(FilterErrorsTest, SingleQuotedStringIsRejected) {
  EXPECT_EQ(MessageOf("domain == 'web'"),
            "unexpected single quote at 1:11; strings are written in double "
            "quotes");
}

TEST_F(FilterErrorsTest, LoneSignIsRejected) {
  EXPECT_EQ(MessageOf("quality > - 1"),
            "unexpected '-' at 1:11; a sign must be followed by a number");
}

TEST_F(FilterErrorsTest, UnterminatedStringPointsAtItsOpeningQuote) {
  EXPECT_EQ(MessageOf("domain == \"web"),
            "unterminated string at 1:11; a string must close with '\"' on "
            "the same line");
  EXPECT_EQ(MessageOf("domain == \"web\nand"),
            "unterminated string at 1:11; a string must close with '\"' on "
            "the same line");
}

TEST_F(FilterErrorsTest, UnknownEscapeIsRejected) {
  EXPECT_EQ(
      MessageOf(R"(domain == "a\nb")"),
      R"(unknown escape '\n' in string at 1:13; only \" and \\ are allowed)");
}

TEST_F(FilterErrorsTest, MalformedNumbersAreRejected) {
  EXPECT_EQ(MessageOf("quality > 1e"), "malformed number '1e' at 1:11");
  EXPECT_EQ(MessageOf("quality > 1.2.3"), "malformed number '1.2.3' at 1:11");
  EXPECT_EQ(MessageOf("quality > 5abc"), "malformed number '5abc' at 1:11");
  EXPECT_EQ(MessageOf("quality > 1e+"), "malformed number '1e+' at 1:11");
}

TEST_F(FilterErrorsTest, NumbersOutOfDoubleRangeAreRejected) {
  const std::string hint =
      "; a number must be a finite double, at most about 1.8e308 and at "
      "least about 4.9e-324 in magnitude, or zero";
  EXPECT_EQ(MessageOf("quality > 1e400"),
            "number '1e400' is out of range at 1:11" + hint);
  EXPECT_EQ(MessageOf("quality > -1e-400"),
            "number '-1e-400' is out of range at 1:11" + hint);
}

TEST_F(FilterErrorsTest, UpperCaseWordsAreRejectedWithTheLowerCaseHint) {
  EXPECT_EQ(MessageOf("quality > 0.5 AND edu > 1"),
            "upper-case letters in 'AND' at 1:15; keywords and names are "
            "lower case (did you mean 'and'?)");
  EXPECT_EQ(MessageOf("Quality > 0.5"),
            "upper-case letters in 'Quality' at 1:1; keywords and names are "
            "lower case (did you mean 'quality'?)");
  EXPECT_EQ(MessageOf("attr.Lang == \"en\""),
            "upper-case letters in 'attr.Lang' at 1:1; keywords and names are "
            "lower case (did you mean 'attr.lang'?)");
}

TEST_F(FilterErrorsTest, AttrNeedsAKey) {
  EXPECT_EQ(MessageOf("attr == \"en\""),
            "'attr' must be followed by '.key' at 1:1; attributes are written "
            "attr.key, as in attr.lang");
  EXPECT_EQ(MessageOf("attr. == \"en\""),
            "expected an attribute key after 'attr.' at 1:6; keys match "
            "[a-z_][a-z0-9_]*");
}

// ---- Syntax errors.

TEST_F(FilterErrorsTest, MissingConditionNamesWhatWasFound) {
  EXPECT_EQ(MessageOf("quality > 0.5 and"),
            "expected a condition but found end of filter at 1:18");
  EXPECT_EQ(MessageOf("or quality > 0.5"),
            "expected a condition but found 'or' at 1:1");
  EXPECT_EQ(MessageOf("quality > 0.5 and )"),
            "expected a condition but found ')' at 1:19");
  EXPECT_EQ(MessageOf("()"), "expected a condition but found ')' at 1:2");
}

TEST_F(FilterErrorsTest, UnclosedParenthesisPointsAtTheOpening) {
  EXPECT_EQ(MessageOf("(quality > 0.5\n  and edu > 1"),
            "expected ')' but found end of filter at 2:14; to close the '(' "
            "at 1:1");
}

TEST_F(FilterErrorsTest, UnmatchedClosingParenthesis) {
  EXPECT_EQ(MessageOf("quality > 0.5)"), "unmatched ')' at 1:14");
}

TEST_F(FilterErrorsTest, TrailingTokensAreRejected) {
  EXPECT_EQ(MessageOf("quality > 0.5 edu > 1"),
            "expected 'and', 'or' or end of filter but found name 'edu' at "
            "1:15");
  EXPECT_EQ(MessageOf("quality 0.5"),
            "expected 'and', 'or' or end of filter but found number 0.5 at "
            "1:9");
}

TEST_F(FilterErrorsTest, ChainedComparisonsAreRejected) {
  EXPECT_EQ(MessageOf("0 < quality < 1"),
            "comparisons cannot be chained at 1:13; join them with 'and', as "
            "in 0 < x and x < 1");
  EXPECT_EQ(MessageOf("(0 < quality < 1)"),
            "comparisons cannot be chained at 1:14; join them with 'and', as "
            "in 0 < x and x < 1");
}

TEST_F(FilterErrorsTest, NotAfterAColumnMustBeNotIn) {
  EXPECT_EQ(MessageOf("domain not (\"web\")"),
            "expected 'in' after 'not' but found '(' at 1:12");
}

TEST_F(FilterErrorsTest, MembershipListErrors) {
  EXPECT_EQ(MessageOf("domain in \"web\""),
            "expected '(' after 'in' but found string \"web\" at 1:11");
  EXPECT_EQ(MessageOf("domain in ()"),
            "expected a number or string in the list but found ')' at 1:12");
  EXPECT_EQ(MessageOf("domain in (edu)"),
            "expected a number or string in the list but found name 'edu' at "
            "1:12");
  EXPECT_EQ(MessageOf("domain in (\"web\" \"wiki\")"),
            "expected ',' or ')' in the list but found string \"wiki\" at "
            "1:18");
  EXPECT_EQ(MessageOf("domain in (\"web\","),
            "expected a number or string in the list but found end of filter "
            "at 1:18");
}

TEST_F(FilterErrorsTest, IsNullErrors) {
  EXPECT_EQ(MessageOf("is_null quality"),
            "expected '(' after 'is_null' but found name 'quality' at 1:9");
  EXPECT_EQ(MessageOf("is_null(0.5)"),
            "expected a column in is_null() but found number 0.5 at 1:9");
  EXPECT_EQ(MessageOf("is_null(quality"),
            "expected ')' to close is_null( but found end of filter at 1:16");
}

TEST_F(FilterErrorsTest, OperandErrors) {
  EXPECT_EQ(MessageOf("0.5"),
            "expected a comparison operator after 0.5 but found end of filter "
            "at 1:4");
  EXPECT_EQ(MessageOf("\"web\" and quality > 0"),
            "expected a comparison operator after \"web\" but found 'and' at "
            "1:7");
  EXPECT_EQ(MessageOf("quality >"),
            "expected a column, number, string or pct() after '>' but found "
            "end of filter at 1:10");
  EXPECT_EQ(MessageOf("quality >= not"),
            "expected a column, number, string or pct() after '>=' but found "
            "'not' at 1:12");
}

TEST_F(FilterErrorsTest, PctSyntaxErrors) {
  EXPECT_EQ(MessageOf("edu > pct"),
            "expected '(' after 'pct' but found end of filter at 1:10");
  EXPECT_EQ(MessageOf("edu > pct(length, 50)"),
            "expected a score name in pct() but found 'length' at 1:11");
  EXPECT_EQ(MessageOf("edu > pct(edu 50)"),
            "expected ',' in pct() but found number 50 at 1:15");
  EXPECT_EQ(MessageOf("edu > pct(edu, \"50\")"),
            "expected a percentile (a number from 0 to 100) in pct() but "
            "found string \"50\" at 1:16");
  EXPECT_EQ(MessageOf("edu > pct(edu, 50"),
            "expected ')' to close pct( but found end of filter at 1:18");
}

TEST_F(FilterErrorsTest, PercentileOutsideZeroToHundredIsRejected) {
  EXPECT_EQ(MessageOf("edu > pct(edu, 150)"),
            "percentile 150 is out of range at 1:16; pct() takes a percentile "
            "from 0 to 100");
  EXPECT_EQ(MessageOf("edu > pct(edu, -0.5)"),
            "percentile -0.5 is out of range at 1:16; pct() takes a "
            "percentile from 0 to 100");
}

TEST_F(FilterErrorsTest, DeepNestingIsRefused) {
  std::string deep(201, '(');
  deep += "quality > 0" + std::string(201, ')');
  EXPECT_EQ(MessageOf(deep), "filter nests more than 200 levels deep at 1:201");
  std::string nots;
  for (int i = 0; i < 201; ++i) nots += "not ";
  EXPECT_EQ(MessageOf(nots + "quality"),
            "filter nests more than 200 levels deep at 1:801");
  // 200 levels are fine.
  std::string ok(200, '(');
  ok += "quality > 0" + std::string(200, ')');
  EXPECT_TRUE(Filter::Compile(ok, columns_).ok());
}

// ---- Names.

TEST_F(FilterErrorsTest, UnknownScoreSuggestsTheClosestName) {
  EXPECT_EQ(MessageOf("qualty > 0.5"),
            "unknown score 'qualty' at 1:1; did you mean 'quality'?");
  EXPECT_EQ(MessageOf("quality > 0.5 and\n  eud > 1"),
            "unknown score 'eud' at 2:3; did you mean 'edu'?");
}

TEST_F(FilterErrorsTest, UnknownScoreSuggestsBuiltInColumns) {
  EXPECT_EQ(MessageOf("lenght < 100"),
            "unknown score 'lenght' at 1:1; did you mean 'length'?");
  EXPECT_EQ(MessageOf("domian == \"web\""),
            "unknown score 'domian' at 1:1; did you mean 'domain'?");
}

TEST_F(FilterErrorsTest, BareAttributeKeySuggestsAttrPrefix) {
  EXPECT_EQ(MessageOf("lang == \"en\""),
            "unknown score 'lang' at 1:1; did you mean 'attr.lang'?");
}

TEST_F(FilterErrorsTest, UnknownScoreWithNothingCloseListsTheScores) {
  EXPECT_EQ(MessageOf("perplexity < 20"),
            "unknown score 'perplexity' at 1:1; the scores are 'edu', "
            "'empty', 'quality'");
  ColumnSet none = columns_;
  none.scores.clear();
  absl::StatusOr<Filter> f = Filter::Compile("quality > 1", none);
  EXPECT_EQ(f.status().message(),
            "unknown score 'quality' at 1:1; the collection has no scores");
}

TEST_F(FilterErrorsTest, UnknownScoreInPctIsReported) {
  EXPECT_EQ(MessageOf("edu > pct(eduu, 90)"),
            "unknown score 'eduu' at 1:11; did you mean 'edu'?");
}

TEST_F(FilterErrorsTest, UnknownAttributeSuggestsTheClosestKey) {
  EXPECT_EQ(MessageOf("attr.lagn == \"en\""),
            "unknown attribute 'attr.lagn' at 1:1; did you mean 'attr.lang'?");
  EXPECT_EQ(MessageOf("attr.license == \"mit\""),
            "unknown attribute 'attr.license' at 1:1; the attributes are "
            "'attr.lang'");
  EXPECT_EQ(
      MessageOf("is_null(attr.x)"),
      "unknown attribute 'attr.x' at 1:9; the attributes are 'attr.lang'");
}

TEST_F(FilterErrorsTest, UnknownDomainIsAnErrorWithAHint) {
  EXPECT_EQ(MessageOf("domain == \"wbe\""),
            "unknown domain \"wbe\" at 1:11; did you mean \"web\"?");
  EXPECT_EQ(MessageOf("domain in (\"web\", \"books\")"),
            "unknown domain \"books\" at 1:19; the domains are \"web\", "
            "\"wiki\", \"code\"");
  EXPECT_EQ(MessageOf("\"wkii\" != domain"),
            "unknown domain \"wkii\" at 1:1; did you mean \"wiki\"?");
}

TEST_F(FilterErrorsTest, UnknownAttributeValueIsNotAnError) {
  absl::StatusOr<Filter> f = Filter::Compile("attr.lang == \"xx\"", columns_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Evaluate(columns_).Count(), 0u);
}

TEST_F(FilterErrorsTest, UnknownIdIsNotAnError) {
  absl::StatusOr<Filter> f = Filter::Compile("id == \"nope\"", columns_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Evaluate(columns_).Count(), 0u);
}

TEST_F(FilterErrorsTest, IdWithoutAnIdIndexIsAFailedPrecondition) {
  ColumnSet no_index = columns_;
  no_index.find_id = nullptr;
  absl::StatusOr<Filter> f = Filter::Compile("id == \"doc-1\"", no_index);
  EXPECT_EQ(f.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.status().message(),
            "'id' at 1:1 cannot be resolved: these columns have no id index");
}

// ---- Types.

TEST_F(FilterErrorsTest, NumberColumnComparedWithStringIsATypeError) {
  EXPECT_EQ(MessageOf("quality > \"high\""),
            "cannot compare score 'quality' (a number) with \"high\" (a "
            "string) at 1:9");
  EXPECT_EQ(MessageOf("length == \"10\""),
            "cannot compare 'length' (a number) with \"10\" (a string) at "
            "1:8");
}

TEST_F(FilterErrorsTest, StringColumnComparedWithNumberIsATypeError) {
  EXPECT_EQ(MessageOf("domain == 3"),
            "cannot compare 'domain' (a string) with 3 (a number) at 1:8");
  EXPECT_EQ(MessageOf("attr.lang != 1e3"),
            "cannot compare attribute 'attr.lang' (a string) with 1e3 (a "
            "number) at 1:11");
  EXPECT_EQ(MessageOf("id == pct(edu, 5)"),
            "cannot compare 'id' (a string) with pct(edu, 5) (a number) at "
            "1:4");
  EXPECT_EQ(MessageOf("domain == quality"),
            "cannot compare 'domain' (a string) with score 'quality' (a "
            "number) at 1:8");
}

TEST_F(FilterErrorsTest, MembershipElementOfTheWrongTypeIsATypeError) {
  EXPECT_EQ(MessageOf("quality in (0.5, \"x\")"),
            "cannot compare score 'quality' (a number) with \"x\" (a string) "
            "at 1:18");
  EXPECT_EQ(MessageOf("domain not in (\"web\", 2)"),
            "cannot compare 'domain' (a string) with 2 (a number) at 1:23");
}

TEST_F(FilterErrorsTest, OrderingOperatorsDoNotApplyToStrings) {
  EXPECT_EQ(MessageOf("domain < \"web\""),
            "operator '<' does not apply to strings at 1:8; 'domain' compares "
            "with ==, !=, in and not in");
  EXPECT_EQ(MessageOf("\"en\" >= attr.lang"),
            "operator '>=' does not apply to strings at 1:6; attribute "
            "'attr.lang' compares with ==, !=, in and not in");
}

TEST_F(FilterErrorsTest, ComparisonWithoutAColumnIsRejected) {
  EXPECT_EQ(MessageOf("1 < 2"),
            "comparison has no column at 1:1; one side must be a column, as "
            "in quality > 0.5");
  EXPECT_EQ(MessageOf("quality > 0 and pct(edu, 50) > 3"),
            "comparison has no column at 1:17; one side must be a column, as "
            "in quality > 0.5");
  EXPECT_EQ(MessageOf("\"a\" == \"a\""),
            "comparison has no column at 1:1; one side must be a column, as "
            "in quality > 0.5");
}

TEST_F(FilterErrorsTest, IdComparesOnlyWithStrings) {
  EXPECT_EQ(MessageOf("id == domain"),
            "'id' can only be compared with strings at 1:1; write id == "
            "\"...\" or id in (\"...\", ...)");
  EXPECT_EQ(MessageOf("attr.lang != id"),
            "'id' can only be compared with strings at 1:14; write id == "
            "\"...\" or id in (\"...\", ...)");
}

TEST_F(FilterErrorsTest, BareStringColumnIsATypeError) {
  EXPECT_EQ(MessageOf("domain"),
            "'domain' is a string and cannot be a condition by itself at 1:1; "
            "compare it with ==, !=, in or not in");
  EXPECT_EQ(MessageOf("quality > 0 and not attr.lang"),
            "attribute 'attr.lang' is a string and cannot be a condition by "
            "itself at 1:21; compare it with ==, !=, in or not in, or test it "
            "with is_null(attr.lang)");
  EXPECT_EQ(MessageOf("id or quality > 0"),
            "'id' is a string and cannot be a condition by itself at 1:1; "
            "compare it with ==, !=, in or not in");
}

TEST_F(FilterErrorsTest, PctOfAScoreWithNoLiveValuesIsAnError) {
  EXPECT_EQ(MessageOf("edu > pct(empty, 90)"),
            "score 'empty' has no values in live documents, so "
            "pct(empty, 90) is undefined at 1:7");
  // Values on deleted documents do not count.
  Bitmap none(4);
  ColumnSet dead = columns_;
  dead.live = &none;
  absl::StatusOr<Filter> f = Filter::Compile("edu > pct(edu, 50)", dead);
  EXPECT_EQ(f.status().message(),
            "score 'edu' has no values in live documents, so pct(edu, 50) is "
            "undefined at 1:7");
}

TEST_F(FilterErrorsTest, FirstErrorInTextOrderIsReported) {
  EXPECT_EQ(MessageOf("qualty > 1 or domain == \"wbe\""),
            "unknown score 'qualty' at 1:1; did you mean 'quality'?");
  EXPECT_EQ(MessageOf("edu > 1 or domain == \"wbe\" or qualty > 1"),
            "unknown domain \"wbe\" at 1:22; did you mean \"web\"?");
}

TEST_F(FilterErrorsTest, ColumnsCountCodePointsAndTabs) {
  EXPECT_EQ(MessageOf("\tdomain == \"é\" and qualty > 1"),
            "unknown domain \"é\" at 1:12; the domains are \"web\", \"wiki\", "
            "\"code\"");
  EXPECT_EQ(MessageOf("domain == \"é\" and qualty > 1 # ü"),
            "unknown domain \"é\" at 1:11; the domains are \"web\", \"wiki\", "
            "\"code\"");
  EXPECT_EQ(MessageOf("attr.lang == \"é\" and qualty > 1"),
            "unknown score 'qualty' at 1:22; did you mean 'quality'?");
}

// ---- The hint's distance.

TEST(FilterSuggestTest, EditDistanceCountsTranspositionsAsOneEdit) {
  EXPECT_EQ(filter::EditDistance("lenght", "length"), 1u);
  EXPECT_EQ(filter::EditDistance("qualty", "quality"), 1u);
  EXPECT_EQ(filter::EditDistance("", "abc"), 3u);
  EXPECT_EQ(filter::EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(filter::EditDistance("same", "same"), 0u);
}

TEST(FilterSuggestTest, ClosestNameNeedsToBeCloseForItsLength) {
  const std::vector<std::string> names = {"quality", "edu", "perplexity"};
  EXPECT_EQ(filter::ClosestName("qualty", names), "quality");
  EXPECT_EQ(filter::ClosestName("ed", names), "edu");
  EXPECT_EQ(filter::ClosestName("xyz", names), std::nullopt);
  EXPECT_EQ(filter::ClosestName("perplexty", names), "perplexity");
  EXPECT_EQ(filter::ClosestName("prplxty", names), std::nullopt);
}

}  // namespace
}  // namespace winnow
