#include "selection/filter/ast.h"

#include <charconv>
#include <string>

#include "absl/strings/str_cat.h"

namespace winnow::filter {

std::string ColumnRef::Spelling() const {
  switch (kind) {
    case ColumnKind::kDomain:
      return "domain";
    case ColumnKind::kLength:
      return "length";
    case ColumnKind::kId:
      return "id";
    case ColumnKind::kScore:
      return name;
    case ColumnKind::kAttr:
      return absl::StrCat("attr.", name);
  }
  return name;
}

CompareOp Mirror(CompareOp op) {
  switch (op) {
    case CompareOp::kLt:
      return CompareOp::kGt;
    case CompareOp::kLe:
      return CompareOp::kGe;
    case CompareOp::kGt:
      return CompareOp::kLt;
    case CompareOp::kGe:
      return CompareOp::kLe;
    default:
      return op;
  }
}

std::string_view CompareOpText(CompareOp op) {
  switch (op) {
    case CompareOp::kEq:
      return "==";
    case CompareOp::kNe:
      return "!=";
    case CompareOp::kLt:
      return "<";
    case CompareOp::kLe:
      return "<=";
    case CompareOp::kGt:
      return ">";
    case CompareOp::kGe:
      return ">=";
  }
  return "?";
}

std::string FormatNumber(double value) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

std::string QuoteString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string ToString(const Operand& operand) {
  switch (operand.kind) {
    case Operand::Kind::kColumn:
      return operand.column.Spelling();
    case Operand::Kind::kNumber:
      return FormatNumber(operand.number);
    case Operand::Kind::kString:
      return QuoteString(operand.str);
    case Operand::Kind::kPct:
      return absl::StrCat("pct(", operand.column.name, ", ",
                          FormatNumber(operand.number), ")");
  }
  return "";
}

std::string Describe(const Operand& operand) {
  switch (operand.kind) {
    case Operand::Kind::kColumn:
      switch (operand.column.kind) {
        case ColumnKind::kScore:
          return absl::StrCat("score '", operand.column.name, "'");
        case ColumnKind::kAttr:
          return absl::StrCat("attribute '", operand.column.Spelling(), "'");
        default:
          return absl::StrCat("'", operand.column.Spelling(), "'");
      }
    case Operand::Kind::kNumber:
    case Operand::Kind::kString:
      return operand.text.empty() ? ToString(operand) : operand.text;
    case Operand::Kind::kPct:
      return ToString(operand);
  }
  return "";
}

namespace {

// Binding strength: or < and < not < everything else.
int Strength(const Node& node) {
  switch (node.kind) {
    case NodeKind::kOr:
      return 0;
    case NodeKind::kAnd:
      return 1;
    case NodeKind::kNot:
      return 2;
    default:
      return 3;
  }
}

void Append(const Node& node, std::string* out);

// Appends `child`, in parentheses when it binds less tightly than `min`.
void AppendChild(const Node& child, int min, std::string* out) {
  bool parens = Strength(child) < min;
  if (parens) out->push_back('(');
  Append(child, out);
  if (parens) out->push_back(')');
}

void Append(const Node& node, std::string* out) {
  switch (node.kind) {
    case NodeKind::kMatchAll:
      return;
    case NodeKind::kOr:
    case NodeKind::kAnd: {
      std::string_view sep = node.kind == NodeKind::kOr ? " or " : " and ";
      for (size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out->append(sep);
        // Children of the same kind were flattened by the parser, so a
        // child only needs parentheses when it binds less tightly.
        AppendChild(node.children[i], Strength(node) + 1, out);
      }
      return;
    }
    case NodeKind::kNot:
      out->append("not ");
      AppendChild(node.children[0], 2, out);
      return;
    case NodeKind::kCompare:
      absl::StrAppend(out, ToString(node.lhs), " ",
                      std::string(CompareOpText(node.op)), " ",
                      ToString(node.rhs));
      return;
    case NodeKind::kMember:
      absl::StrAppend(out, node.column.Spelling(),
                      node.negated ? " not in (" : " in (");
      for (size_t i = 0; i < node.list.size(); ++i) {
        if (i > 0) out->append(", ");
        out->append(ToString(node.list[i]));
      }
      out->push_back(')');
      return;
    case NodeKind::kIsNull:
      absl::StrAppend(out, "is_null(", node.column.Spelling(), ")");
      return;
    case NodeKind::kBareColumn:
      out->append(node.column.Spelling());
      return;
  }
}

}  // namespace

std::string ToString(const Node& node) {
  std::string out;
  Append(node, &out);
  return out;
}

}  // namespace winnow::filter
