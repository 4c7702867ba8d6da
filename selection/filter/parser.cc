#include "selection/filter/parser.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "selection/filter/errors.h"

namespace winnow::filter {
namespace {

bool IsOperator(TokenKind kind) {
  return kind == TokenKind::kEq || kind == TokenKind::kNe ||
         kind == TokenKind::kLt || kind == TokenKind::kLe ||
         kind == TokenKind::kGt || kind == TokenKind::kGe;
}

bool IsColumnStart(TokenKind kind) {
  return kind == TokenKind::kDomain || kind == TokenKind::kLength ||
         kind == TokenKind::kId || kind == TokenKind::kName ||
         kind == TokenKind::kAttr;
}

CompareOp ToCompareOp(TokenKind kind) {
  switch (kind) {
    case TokenKind::kNe:
      return CompareOp::kNe;
    case TokenKind::kLt:
      return CompareOp::kLt;
    case TokenKind::kLe:
      return CompareOp::kLe;
    case TokenKind::kGt:
      return CompareOp::kGt;
    case TokenKind::kGe:
      return CompareOp::kGe;
    default:
      return CompareOp::kEq;
  }
}

// Appends `node` to `parent`'s children, lifting the children of a node of
// the same kind (a or (b or c) is a or b or c).
void AppendFlattened(Node& parent, Node node) {
  if (node.kind == parent.kind) {
    for (Node& child : node.children) {
      parent.children.push_back(std::move(child));
    }
  } else {
    parent.children.push_back(std::move(node));
  }
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<Node> Run() {
    if (Peek().kind == TokenKind::kEnd) {
      Node all;
      all.kind = NodeKind::kMatchAll;
      return all;
    }
    absl::StatusOr<Node> expr = ParseExpr(0);
    if (!expr.ok()) return expr.status();
    if (Peek().kind != TokenKind::kEnd) {
      if (Peek().kind == TokenKind::kRParen) {
        return Error("unmatched ')'", Peek().pos);
      }
      if (absl::Status chained = CheckChained(); !chained.ok()) return chained;
      return Expected("'and', 'or' or end of filter");
    }
    return expr;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(i_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Take() {
    const Token& t = tokens_[i_];
    if (i_ + 1 < tokens_.size()) ++i_;
    return t;
  }
  bool Accept(TokenKind kind) {
    if (Peek().kind != kind) return false;
    Take();
    return true;
  }

  static absl::Status Error(std::string_view what, Position pos,
                            std::string_view hint = {}) {
    return FilterError(what, pos, hint);
  }

  // "expected WHAT but found <next token> at <its position>".
  absl::Status Expected(std::string_view what, std::string_view hint = {}) {
    return Error(absl::StrCat("expected ", std::string(what), " but found ",
                              DescribeToken(Peek())),
                 Peek().pos, hint);
  }

  // An operator right after a complete comparison means `a < b < c`.
  absl::Status CheckChained() {
    if (IsOperator(Peek().kind) && i_ > 0 &&
        tokens_[i_ - 1].kind != TokenKind::kRParen) {
      return Error("comparisons cannot be chained", Peek().pos,
                   "join them with 'and', as in 0 < x and x < 1");
    }
    return absl::OkStatus();
  }

  absl::Status CheckDepth(int depth, Position pos) {
    if (depth > kMaxNesting) {
      return Error(
          absl::StrCat("filter nests more than ", kMaxNesting, " levels deep"),
          pos);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Node> ParseExpr(int depth) {
    absl::StatusOr<Node> first = ParseAnd(depth);
    if (!first.ok() || Peek().kind != TokenKind::kOr) return first;
    Node node;
    node.kind = NodeKind::kOr;
    node.pos = first->pos;
    AppendFlattened(node, *std::move(first));
    while (Accept(TokenKind::kOr)) {
      absl::StatusOr<Node> next = ParseAnd(depth);
      if (!next.ok()) return next.status();
      AppendFlattened(node, *std::move(next));
    }
    return node;
  }

  absl::StatusOr<Node> ParseAnd(int depth) {
    absl::StatusOr<Node> first = ParseUnary(depth);
    if (!first.ok() || Peek().kind != TokenKind::kAnd) return first;
    Node node;
    node.kind = NodeKind::kAnd;
    node.pos = first->pos;
    AppendFlattened(node, *std::move(first));
    while (Accept(TokenKind::kAnd)) {
      absl::StatusOr<Node> next = ParseUnary(depth);
      if (!next.ok()) return next.status();
      AppendFlattened(node, *std::move(next));
    }
    return node;
  }

  absl::StatusOr<Node> ParseUnary(int depth) {
    if (Peek().kind != TokenKind::kNot) return ParsePrimary(depth);
    Position pos = Take().pos;
    if (absl::Status s = CheckDepth(depth + 1, pos); !s.ok()) return s;
    absl::StatusOr<Node> operand = ParseUnary(depth + 1);
    if (!operand.ok()) return operand.status();
    Node node;
    node.kind = NodeKind::kNot;
    node.pos = pos;
    node.children.push_back(*std::move(operand));
    return node;
  }

  absl::StatusOr<Node> ParsePrimary(int depth) {
    const Token& next = Peek();
    if (next.kind == TokenKind::kLParen) {
      Position open = Take().pos;
      if (absl::Status s = CheckDepth(depth + 1, open); !s.ok()) return s;
      absl::StatusOr<Node> inner = ParseExpr(depth + 1);
      if (!inner.ok()) return inner.status();
      if (!Accept(TokenKind::kRParen)) {
        if (absl::Status chained = CheckChained(); !chained.ok()) {
          return chained;
        }
        return Expected("')'",
                        absl::StrCat("to close the '(' at ", open.ToString()));
      }
      return inner;
    }
    if (next.kind == TokenKind::kIsNull) return ParseIsNull();
    if (IsColumnStart(next.kind)) {
      ColumnRef column = ParseColumn();
      if (IsOperator(Peek().kind)) {
        Operand lhs;
        lhs.kind = Operand::Kind::kColumn;
        lhs.pos = column.pos;
        lhs.column = std::move(column);
        return ParseComparisonRest(std::move(lhs));
      }
      if (Peek().kind == TokenKind::kIn ||
          (Peek().kind == TokenKind::kNot && Peek(1).kind == TokenKind::kIn)) {
        return ParseMembershipRest(std::move(column));
      }
      if (Peek().kind == TokenKind::kNot) {
        Take();
        return Expected("'in' after 'not'");
      }
      Node node;
      node.kind = NodeKind::kBareColumn;
      node.pos = column.pos;
      node.column = std::move(column);
      return node;
    }
    if (next.kind == TokenKind::kNumber || next.kind == TokenKind::kString ||
        next.kind == TokenKind::kPct) {
      absl::StatusOr<Operand> lhs = ParseOperand("a condition");
      if (!lhs.ok()) return lhs.status();
      if (!IsOperator(Peek().kind)) {
        return Expected(
            absl::StrCat("a comparison operator after ", Describe(*lhs)));
      }
      return ParseComparisonRest(*std::move(lhs));
    }
    return Expected("a condition");
  }

  // The current token starts a column (IsColumnStart).
  ColumnRef ParseColumn() {
    const Token& t = Take();
    ColumnRef column;
    column.pos = t.pos;
    switch (t.kind) {
      case TokenKind::kDomain:
        column.kind = ColumnKind::kDomain;
        break;
      case TokenKind::kLength:
        column.kind = ColumnKind::kLength;
        break;
      case TokenKind::kId:
        column.kind = ColumnKind::kId;
        break;
      case TokenKind::kAttr:
        column.kind = ColumnKind::kAttr;
        column.name = t.value;
        break;
      default:
        column.kind = ColumnKind::kScore;
        column.name = t.value;
        break;
    }
    return column;
  }

  // operand := column | literal | "pct" "(" score "," number ")".
  // `what` names the expectation for the error when none is there.
  absl::StatusOr<Operand> ParseOperand(std::string_view what) {
    const Token& t = Peek();
    Operand operand;
    operand.pos = t.pos;
    if (IsColumnStart(t.kind)) {
      operand.kind = Operand::Kind::kColumn;
      operand.column = ParseColumn();
      return operand;
    }
    if (t.kind == TokenKind::kNumber) {
      operand.kind = Operand::Kind::kNumber;
      operand.text = t.text;
      operand.number = Take().number;
      return operand;
    }
    if (t.kind == TokenKind::kString) {
      operand.kind = Operand::Kind::kString;
      operand.text = t.text;
      operand.str = Take().value;
      return operand;
    }
    if (t.kind == TokenKind::kPct) return ParsePct();
    return Expected(what);
  }

  absl::StatusOr<Operand> ParsePct() {
    Operand operand;
    operand.kind = Operand::Kind::kPct;
    operand.pos = Take().pos;
    if (!Accept(TokenKind::kLParen)) return Expected("'(' after 'pct'");
    if (Peek().kind != TokenKind::kName) {
      return Expected("a score name in pct()");
    }
    operand.column = ParseColumn();
    if (!Accept(TokenKind::kComma)) return Expected("',' in pct()");
    if (Peek().kind != TokenKind::kNumber) {
      return Expected("a percentile (a number from 0 to 100) in pct()");
    }
    const Token& p = Take();
    if (!(p.number >= 0 && p.number <= 100)) {
      return Error(absl::StrCat("percentile ", p.text, " is out of range"),
                   p.pos, "pct() takes a percentile from 0 to 100");
    }
    operand.number = p.number;
    if (!Accept(TokenKind::kRParen)) return Expected("')' to close pct(");
    return operand;
  }

  // After `lhs`; the current token is an operator.
  absl::StatusOr<Node> ParseComparisonRest(Operand lhs) {
    Node node;
    node.kind = NodeKind::kCompare;
    node.pos = lhs.pos;
    const Token& op = Take();
    node.op = ToCompareOp(op.kind);
    node.op_pos = op.pos;
    absl::StatusOr<Operand> rhs = ParseOperand(absl::StrCat(
        "a column, number, string or pct() after '", op.text, "'"));
    if (!rhs.ok()) return rhs.status();
    node.lhs = std::move(lhs);
    node.rhs = *std::move(rhs);
    return node;
  }

  // After the column; the current token is `in`, or `not` then `in`.
  absl::StatusOr<Node> ParseMembershipRest(ColumnRef column) {
    Node node;
    node.kind = NodeKind::kMember;
    node.pos = column.pos;
    node.column = std::move(column);
    node.negated = Accept(TokenKind::kNot);
    Take();  // in
    if (!Accept(TokenKind::kLParen)) return Expected("'(' after 'in'");
    while (true) {
      const Token& t = Peek();
      if (t.kind != TokenKind::kNumber && t.kind != TokenKind::kString) {
        return Expected("a number or string in the list");
      }
      Operand literal;
      literal.pos = t.pos;
      literal.text = t.text;
      if (t.kind == TokenKind::kNumber) {
        literal.kind = Operand::Kind::kNumber;
        literal.number = t.number;
      } else {
        literal.kind = Operand::Kind::kString;
        literal.str = t.value;
      }
      Take();
      node.list.push_back(std::move(literal));
      if (Accept(TokenKind::kRParen)) return node;
      if (!Accept(TokenKind::kComma)) return Expected("',' or ')' in the list");
    }
  }

  absl::StatusOr<Node> ParseIsNull() {
    Node node;
    node.kind = NodeKind::kIsNull;
    node.pos = Take().pos;
    if (!Accept(TokenKind::kLParen)) return Expected("'(' after 'is_null'");
    if (!IsColumnStart(Peek().kind)) {
      return Expected("a column in is_null()");
    }
    node.column = ParseColumn();
    if (!Accept(TokenKind::kRParen)) return Expected("')' to close is_null(");
    return node;
  }

  std::vector<Token> tokens_;
  size_t i_ = 0;
};

}  // namespace

absl::StatusOr<Node> Parse(std::string_view text) {
  absl::StatusOr<std::vector<Token>> tokens = Lex(text);
  if (!tokens.ok()) return tokens.status();
  return Parser(*std::move(tokens)).Run();
}

}  // namespace winnow::filter
