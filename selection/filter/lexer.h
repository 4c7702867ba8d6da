// The filter language's tokens and lexer (docs/filter-language.md).
//
// Internal to selection/filter: callers compile filters through
// selection/filter/filter.h. The lexer is a pure function of the text and
// keeps no state between calls, so it is safe to call from any thread.
#ifndef WINNOW_SELECTION_FILTER_LEXER_H_
#define WINNOW_SELECTION_FILTER_LEXER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace winnow::filter {

// A 1-based position in the filter text. Columns count Unicode code points
// (UTF-8 continuation bytes do not advance the column); a tab is one column.
struct Position {
  int line = 1;
  int column = 1;

  // "line:column", the form every error message uses.
  std::string ToString() const;
  bool operator==(const Position&) const = default;
};

enum class TokenKind {
  kEnd,  // end of the filter text; always the last token
  kLParen,
  kRParen,
  kComma,
  // Comparison operators.
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  // Literals.
  kNumber,  // `number` holds the value
  kString,  // `value` holds the decoded string
  // Names.
  kName,  // a score name `[a-z_][a-z0-9_]*` that is not reserved; `value`
  kAttr,  // `attr.key`; `value` holds the key
  // Reserved words.
  kAnd,
  kOr,
  kNot,
  kIn,
  kIsNull,
  kPct,
  kDomain,
  kLength,
  kId,
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  Position pos;
  // The token exactly as written (with quotes and escapes for a string).
  std::string text;
  // The decoded string (kString), the name (kName) or the key (kAttr).
  std::string value;
  // The value of a kNumber, parsed as a double.
  double number = 0;
};

// Splits `text` into tokens, ending with one kEnd token. Whitespace and `#`
// comments separate tokens and are dropped. On a lexical error (an
// unexpected character, an unterminated string, a malformed or out-of-range
// number, an upper-case word) returns INVALID_ARGUMENT whose message names
// the problem and its position.
absl::StatusOr<std::vector<Token>> Lex(std::string_view text);

// How an error message refers to a token: "end of filter", "'and'",
// "number 0.5", "string \"web\"", "name 'quality'", "')'".
std::string DescribeToken(const Token& token);

// The source spelling of a comparison operator ("==", "<=", ...).
std::string_view OperatorText(TokenKind kind);

// True for the reserved words of the filter language: and or not in is_null
// pct domain length id attr. Such a word cannot name a score.
bool IsReservedWord(std::string_view word);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_LEXER_H_
