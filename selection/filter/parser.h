// The recursive-descent parser for the binding filter grammar
// (docs/filter-language.md, "Grammar"):
//
//   expr       := and_expr ("or" and_expr)*
//   and_expr   := unary ("and" unary)*
//   unary      := "not" unary | primary
//   primary    := "(" expr ")" | comparison | membership
//               | "is_null" "(" column ")" | column
//   comparison := operand op operand          op := == != < <= > >=
//   membership := column ["not"] "in" "(" literal ("," literal)* ")"
//   operand    := column | literal | "pct" "(" score "," number ")"
//   column     := "domain" | "length" | "id" | score | "attr." key
//   literal    := number | string
//
// Internal to selection/filter; a pure function, safe from any thread.
#ifndef WINNOW_SELECTION_FILTER_PARSER_H_
#define WINNOW_SELECTION_FILTER_PARSER_H_

#include <string_view>

#include "absl/status/statusor.h"
#include "selection/filter/ast.h"

namespace winnow::filter {

// Parentheses and `not`s may nest this deep; deeper input is refused so
// that a hostile filter cannot exhaust the stack.
inline constexpr int kMaxNesting = 200;

// Parses `text` into a tree. Text with no tokens (empty, blanks or comments
// only) gives a kMatchAll node. Nested `or`s and `and`s are flattened.
// Checks only syntax, plus the range of pct()'s percentile; names and types
// are checked by the compiler. On error returns INVALID_ARGUMENT with the
// problem and its line:column.
absl::StatusOr<Node> Parse(std::string_view text);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_PARSER_H_
