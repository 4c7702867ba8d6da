// The filter lexer and parser: tokens, literals, comments, precedence and
// the canonical text.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "selection/filter/ast.h"
#include "selection/filter/lexer.h"
#include "selection/filter/parser.h"

namespace winnow::filter {
namespace {

std::vector<TokenKind> Kinds(std::string_view text) {
  absl::StatusOr<std::vector<Token>> tokens = Lex(text);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  std::vector<TokenKind> kinds;
  if (tokens.ok()) {
    for (const Token& t : *tokens) kinds.push_back(t.kind);
  }
  return kinds;
}

Token Single(std::string_view text) {
  absl::StatusOr<std::vector<Token>> tokens = Lex(text);
  EXPECT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u) << text;
  return (*tokens)[0];
}

double NumberOf(const std::string& text) {
  Token t = Single(text);
  EXPECT_EQ(t.kind, TokenKind::kNumber) << text;
  return t.number;
}

// The tree fully parenthesized, prefix style, so tests can see structure.
std::string Shape(const Node& n) {
  switch (n.kind) {
    case NodeKind::kMatchAll:
      return "(all)";
    case NodeKind::kOr:
    case NodeKind::kAnd: {
      std::string s = n.kind == NodeKind::kOr ? "(or" : "(and";
      for (const Node& c : n.children) s += " " + Shape(c);
      return s + ")";
    }
    case NodeKind::kNot:
      return "(not " + Shape(n.children[0]) + ")";
    default:
      return ToString(n);
  }
}

std::string ShapeOf(std::string_view text) {
  absl::StatusOr<Node> node = Parse(text);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? Shape(*node) : "";
}

std::string Canonical(std::string_view text) {
  absl::StatusOr<Node> node = Parse(text);
  EXPECT_TRUE(node.ok()) << node.status();
  return node.ok() ? ToString(*node) : "";
}

// ---- Lexer.

TEST(FilterLexerTest, SplitsOperatorsKeywordsAndNames) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("a==1 b!=2 c<3 d<=4 e>5 f>=6"),
            (std::vector<K>{K::kName, K::kEq, K::kNumber, K::kName, K::kNe,
                            K::kNumber, K::kName, K::kLt, K::kNumber, K::kName,
                            K::kLe, K::kNumber, K::kName, K::kGt, K::kNumber,
                            K::kName, K::kGe, K::kNumber, K::kEnd}));
  EXPECT_EQ(Kinds("and or not in is_null pct domain length id attr.k ( ) ,"),
            (std::vector<K>{K::kAnd, K::kOr, K::kNot, K::kIn, K::kIsNull,
                            K::kPct, K::kDomain, K::kLength, K::kId, K::kAttr,
                            K::kLParen, K::kRParen, K::kComma, K::kEnd}));
}

TEST(FilterLexerTest, NamesMayContainDigitsAndUnderscores) {
  Token t = Single("_loss_ema2");
  EXPECT_EQ(t.kind, TokenKind::kName);
  EXPECT_EQ(t.value, "_loss_ema2");
  // Keywords are whole words only.
  EXPECT_EQ(Single("android").kind, TokenKind::kName);
  EXPECT_EQ(Single("ids").kind, TokenKind::kName);
  EXPECT_EQ(Single("is_nullable").kind, TokenKind::kName);
}

TEST(FilterLexerTest, AttrTokenCarriesTheKey) {
  Token t = Single("attr.lang_2");
  EXPECT_EQ(t.kind, TokenKind::kAttr);
  EXPECT_EQ(t.value, "lang_2");
  // A reserved word is a fine key: it lives behind "attr.".
  EXPECT_EQ(Single("attr.id").value, "id");
}

TEST(FilterLexerTest, NumbersAreDecimalWithSignFractionAndExponent) {
  EXPECT_EQ(NumberOf("0"), 0.0);
  EXPECT_EQ(NumberOf("42"), 42.0);
  EXPECT_EQ(NumberOf("-3.5"), -3.5);
  EXPECT_EQ(NumberOf("+3.5"), 3.5);
  EXPECT_EQ(NumberOf(".5"), 0.5);
  EXPECT_EQ(NumberOf("5."), 5.0);
  EXPECT_EQ(NumberOf("1e3"), 1000.0);
  EXPECT_EQ(NumberOf("1E-3"), 0.001);
  EXPECT_EQ(NumberOf("-2.5e+2"), -250.0);
  EXPECT_EQ(NumberOf("1e40"), 1e40);
  EXPECT_EQ(NumberOf("4.9e-324"), 4.9e-324);
  EXPECT_TRUE(std::signbit(NumberOf("-0")));
  // Correctly rounded, not accumulated digit by digit.
  EXPECT_EQ(NumberOf("0.1"), 0.1);
  EXPECT_EQ(NumberOf("3.4028235677973366e38"), 3.4028235677973366e38);
  // The largest double written out in full: 309 digits.
  EXPECT_EQ(NumberOf("17976931348623157" + std::string(292, '0')),
            std::numeric_limits<double>::max());
}

TEST(FilterLexerTest, SignBindsOnlyWhenADigitFollows) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("x>-1"),
            (std::vector<K>{K::kName, K::kGt, K::kNumber, K::kEnd}));
  EXPECT_EQ(NumberOf("-.5"), -0.5);
}

TEST(FilterLexerTest, StringsDecodeTheTwoEscapes) {
  Token t = Single(R"("say \"hi\" \\o/")");
  EXPECT_EQ(t.kind, TokenKind::kString);
  EXPECT_EQ(t.value, R"(say "hi" \o/)");
  EXPECT_EQ(t.text, R"("say \"hi\" \\o/")");
  EXPECT_EQ(Single(R"("")").value, "");
  EXPECT_EQ(Single("\"héllo # not a comment\"").value, "héllo # not a comment");
}

TEST(FilterLexerTest, CommentsRunToTheEndOfTheLine) {
  using K = TokenKind;
  EXPECT_EQ(Kinds("a # b c\n d"),
            (std::vector<K>{K::kName, K::kName, K::kEnd}));
  EXPECT_EQ(Kinds("# only a comment"), (std::vector<K>{K::kEnd}));
  EXPECT_EQ(Kinds("a#no space\n#two\n#lines"),
            (std::vector<K>{K::kName, K::kEnd}));
}

TEST(FilterLexerTest, PositionsAreOneBasedLineAndColumn) {
  absl::StatusOr<std::vector<Token>> tokens = Lex("a and\n  bb  # c\n\r\n\tcc");
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 5u);
  EXPECT_EQ((*tokens)[0].pos, (Position{1, 1}));
  EXPECT_EQ((*tokens)[1].pos, (Position{1, 3}));
  EXPECT_EQ((*tokens)[2].pos, (Position{2, 3}));
  EXPECT_EQ((*tokens)[3].pos, (Position{4, 2}));
  EXPECT_EQ((*tokens)[4].pos, (Position{4, 4}));  // end of filter
}

TEST(FilterLexerTest, ReservedWordsAreTheDocumentedTen) {
  for (const char* w : {"and", "or", "not", "in", "is_null", "pct", "domain",
                        "length", "id", "attr"}) {
    EXPECT_TRUE(IsReservedWord(w)) << w;
  }
  EXPECT_FALSE(IsReservedWord("quality"));
  EXPECT_FALSE(IsReservedWord("AND"));
}

// ---- Parser.

TEST(FilterParserTest, EmptyOrCommentOnlyFilterMatchesAll) {
  EXPECT_EQ(ShapeOf(""), "(all)");
  EXPECT_EQ(ShapeOf("   \n\t "), "(all)");
  EXPECT_EQ(ShapeOf("# nothing here\n  # or here"), "(all)");
}

TEST(FilterParserTest, NotBindsTighterThanAndWhichBindsTighterThanOr) {
  EXPECT_EQ(ShapeOf("a or b and c"), "(or a (and b c))");
  EXPECT_EQ(ShapeOf("a and b or c"), "(or (and a b) c)");
  EXPECT_EQ(ShapeOf("not a and b"), "(and (not a) b)");
  EXPECT_EQ(ShapeOf("not a or not b and c"), "(or (not a) (and (not b) c))");
  EXPECT_EQ(ShapeOf("not not a"), "(not (not a))");
}

TEST(FilterParserTest, ComparisonBindsTighterThanNot) {
  EXPECT_EQ(ShapeOf("not q > 0.5"), "(not q > 0.5)");
  EXPECT_EQ(ShapeOf("not q > 0.5 and domain in (\"a\")"),
            "(and (not q > 0.5) domain in (\"a\"))");
}

TEST(FilterParserTest, ParenthesesOverridePrecedence) {
  EXPECT_EQ(ShapeOf("(a or b) and c"), "(and (or a b) c)");
  EXPECT_EQ(ShapeOf("not (a and b)"), "(not (and a b))");
  EXPECT_EQ(ShapeOf("((a))"), "a");
}

TEST(FilterParserTest, SameOperatorChainsAreFlattened) {
  EXPECT_EQ(ShapeOf("a or (b or c) or d"), "(or a b c d)");
  EXPECT_EQ(ShapeOf("(a and b) and (c and d)"), "(and a b c d)");
}

TEST(FilterParserTest, KeywordsAreCaseSensitiveLowerCase) {
  EXPECT_FALSE(Parse("a AND b").ok());
  EXPECT_FALSE(Parse("NOT a").ok());
  EXPECT_TRUE(Parse("a and b").ok());
}

TEST(FilterParserTest, ParsesEveryPrimaryForm) {
  EXPECT_EQ(Canonical("quality>=0.7"), "quality >= 0.7");
  EXPECT_EQ(Canonical("0.7<=quality"), "0.7 <= quality");
  EXPECT_EQ(Canonical("domain in (\"web\",\"wiki\")"),
            "domain in (\"web\", \"wiki\")");
  EXPECT_EQ(Canonical("length not in (1,2)"), "length not in (1, 2)");
  EXPECT_EQ(Canonical("is_null( dsir )"), "is_null(dsir)");
  EXPECT_EQ(Canonical("semdedup_dup"), "semdedup_dup");
  EXPECT_EQ(Canonical("edu > pct(edu,90)"), "edu > pct(edu, 90)");
  EXPECT_EQ(Canonical("attr.lang==\"en\""), "attr.lang == \"en\"");
  EXPECT_EQ(Canonical("id != \"doc-1\""), "id != \"doc-1\"");
  EXPECT_EQ(Canonical("a < b"), "a < b");
  EXPECT_EQ(Canonical("pct(a, 10) < a"), "pct(a, 10) < a");
}

TEST(FilterParserTest, CanonicalFormUsesMinimalParenthesesAndNoComments) {
  EXPECT_EQ(Canonical("((a > 1)) and (b or c) # why\n"), "a > 1 and (b or c)");
  EXPECT_EQ(Canonical("not (a and b) or not c"), "not (a and b) or not c");
  EXPECT_EQ(Canonical("(a and b) or c"), "a and b or c");
  EXPECT_EQ(Canonical(""), "");
}

TEST(FilterParserTest, CanonicalNumbersAreShortestRoundTrip) {
  EXPECT_EQ(Canonical("a > 0.50"), "a > 0.5");
  EXPECT_EQ(Canonical("a > +1e40"), "a > 1e+40");
  EXPECT_EQ(Canonical("a > 2048.0"), "a > 2048");
  EXPECT_EQ(Canonical("a > -0"), "a > -0");
  EXPECT_EQ(Canonical("a > 0.1"), "a > 0.1");
}

TEST(FilterParserTest, CanonicalStringsKeepTheirEscapes) {
  EXPECT_EQ(Canonical(R"(attr.q == "a\"b\\c")"), R"(attr.q == "a\"b\\c")");
}

TEST(FilterParserTest, CanonicalFormIsAFixedPoint) {
  for (const char* text :
       {"quality >= 0.7 and domain in (\"web\", \"wiki\") and length < 4096\n"
        "  and not semdedup_dup and attr.lang == \"en\"",
        "edu > pct(edu, 90)            # the top 10% by edu",
        "is_null(dsir) or dsir > -3.5", "not (a or b and not (c or d))",
        "x not in (1, 2.5, -3e-7)"}) {
    std::string once = Canonical(text);
    EXPECT_EQ(Canonical(once), once) << text;
    EXPECT_EQ(ShapeOf(once), ShapeOf(text)) << text;
  }
}

TEST(FilterParserTest, PositionsOfNodesAreKept) {
  absl::StatusOr<Node> node = Parse("a > 1 and\n  b <= 2");
  ASSERT_TRUE(node.ok());
  ASSERT_EQ(node->children.size(), 2u);
  EXPECT_EQ(node->children[1].pos, (Position{2, 3}));
  EXPECT_EQ(node->children[1].op_pos, (Position{2, 5}));
  EXPECT_EQ(node->children[1].rhs.pos, (Position{2, 8}));
}

}  // namespace
}  // namespace winnow::filter
