// The syntax tree of a filter, as the parser builds it from the grammar of
// docs/filter-language.md. It knows nothing of any collection: names are not
// yet resolved and types are not yet checked (selection/filter/compiler.h
// does both).
//
// Internal to selection/filter. A tree is a plain value; const access from
// several threads is safe.
#ifndef WINNOW_SELECTION_FILTER_AST_H_
#define WINNOW_SELECTION_FILTER_AST_H_

#include <string>
#include <vector>

#include "selection/filter/lexer.h"

namespace winnow::filter {

enum class ColumnKind { kDomain, kLength, kId, kScore, kAttr };

// A column reference: `domain`, `length`, `id`, a score name or `attr.key`.
struct ColumnRef {
  ColumnKind kind = ColumnKind::kScore;
  // The score name or the attribute key; empty for domain, length and id.
  std::string name;
  Position pos;

  // As written in the language: "quality", "attr.lang", "domain".
  std::string Spelling() const;
};

enum class CompareOp { kEq, kNe, kLt, kLe, kGt, kGe };

// The operator o' with `a o b` == `b o' a` (< becomes >, == stays ==).
CompareOp Mirror(CompareOp op);
std::string_view CompareOpText(CompareOp op);

struct Operand {
  enum class Kind { kColumn, kNumber, kString, kPct };
  Kind kind = Kind::kNumber;
  Position pos;
  // kColumn: the column; kPct: the score (kind kScore).
  ColumnRef column;
  // kNumber: the literal's value; kPct: the percentile p.
  double number = 0;
  // kString: the decoded string.
  std::string str;
  // kNumber, kString: the literal as written, for error messages.
  std::string text;
};

enum class NodeKind {
  kMatchAll,    // the empty filter
  kOr,          // children: two or more, none of them kOr
  kAnd,         // children: two or more, none of them kAnd
  kNot,         // children: exactly one
  kCompare,     // lhs op rhs
  kMember,      // column [not] in (list)
  kIsNull,      // is_null(column)
  kBareColumn,  // column in a boolean position
};

struct Node {
  NodeKind kind = NodeKind::kMatchAll;
  // Where the node starts in the text.
  Position pos;
  std::vector<Node> children;
  // kCompare.
  CompareOp op = CompareOp::kEq;
  Position op_pos;
  Operand lhs;
  Operand rhs;
  // kMember, kIsNull, kBareColumn.
  ColumnRef column;
  // kMember: true for `not in`.
  bool negated = false;
  // kMember: the literals (kNumber or kString operands).
  std::vector<Operand> list;
};

// The canonical text of a tree: single spaces, the fewest parentheses that
// keep its meaning, numbers in their shortest round-trip form, strings with
// only the required escapes. Parsing the result yields an equal tree, so
// it serves as a plan key. The empty filter is "".
std::string ToString(const Node& node);
std::string ToString(const Operand& operand);

// How error messages name an operand: "score 'quality'", "'length'",
// "attribute 'attr.lang'", a literal as written, "pct(edu, 90)".
std::string Describe(const Operand& operand);

// The shortest decimal text that parses back to exactly `value`.
std::string FormatNumber(double value);
// `s` as a double-quoted literal with \" and \\ escapes.
std::string QuoteString(std::string_view s);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_AST_H_
