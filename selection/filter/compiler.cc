#include "selection/filter/compiler.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "selection/filter/errors.h"
#include "selection/filter/percentile.h"
#include "selection/filter/suggest.h"
#include "selection/filter/thresholds.h"

namespace winnow::filter {
namespace {

enum class Type { kNumber, kString };

std::string_view TypeName(Type type) {
  return type == Type::kNumber ? "a number" : "a string";
}

Type TypeOf(ColumnKind kind) {
  return kind == ColumnKind::kScore || kind == ColumnKind::kLength
             ? Type::kNumber
             : Type::kString;
}

Type TypeOf(const Operand& operand) {
  switch (operand.kind) {
    case Operand::Kind::kColumn:
      return TypeOf(operand.column.kind);
    case Operand::Kind::kString:
      return Type::kString;
    default:
      return Type::kNumber;
  }
}

bool IsOrdering(CompareOp op) {
  return op != CompareOp::kEq && op != CompareOp::kNe;
}

absl::Status Error(std::string_view what, Position pos,
                   std::string_view hint = {}) {
  return FilterError(what, pos, hint);
}

// The hint when no known name is close: the known names when they are few,
// so the user sees what exists, or `none` when there are none.
std::string ListHint(const std::vector<std::string>& known,
                     std::string_view plural, std::string_view none) {
  if (known.empty()) return std::string(none);
  if (known.size() <= 10) {
    return absl::StrCat("the ", std::string(plural), " are '",
                        absl::StrJoin(known, "', '"), "'");
  }
  return "";
}

PlanNode MakeLeaf(Leaf leaf) { return PlanNode::Of(std::move(leaf)); }

PlanNode MakeNode(PlanNode::Kind kind, std::vector<PlanNode> children) {
  PlanNode node;
  node.kind = kind;
  node.children = std::move(children);
  return node;
}

PlanNode MakeNot(PlanNode child) {
  std::vector<PlanNode> children;
  children.push_back(std::move(child));
  return MakeNode(PlanNode::Kind::kNot, std::move(children));
}

Leaf RangeLeaf(int slot, RangePredicate range) {
  Leaf leaf;
  leaf.kind = Leaf::Kind::kRange;
  leaf.slot = slot;
  leaf.range = range;
  return leaf;
}

Leaf FloatLeaf(int slot, FloatPredicate pred) {
  Leaf leaf;
  leaf.kind = Leaf::Kind::kFloat;
  leaf.slot = slot;
  leaf.float_pred = pred;
  return leaf;
}

// Rows whose code is in `codes`, by the cheapest kernel that fits: one
// unsigned range compare when the codes are consecutive (domain in ("d0",
// "d1")), a 32-bit set with a per-lane shift for small codes, else a table.
PlanNode CodeSetLeaf(int slot, std::set<uint32_t> codes) {
  if (codes.empty()) return MakeLeaf(Leaf::Const(false));
  const uint32_t lo = *codes.begin();
  const uint32_t hi = *codes.rbegin();
  if (hi - lo + 1 == codes.size()) {
    RangePredicate range;
    range.lo = lo;
    range.hi = hi;
    return MakeLeaf(RangeLeaf(slot, range));
  }
  Leaf leaf;
  leaf.slot = slot;
  if (hi < 32) {
    leaf.kind = Leaf::Kind::kBits;
    for (uint32_t c : codes) leaf.bits |= uint32_t{1} << c;
  } else {
    leaf.kind = Leaf::Kind::kTable;
    leaf.table.assign(hi + 1, 0);
    for (uint32_t c : codes) leaf.table[c] = 1;
  }
  return MakeLeaf(std::move(leaf));
}

class Compiler {
 public:
  explicit Compiler(const ColumnSet& columns) : columns_(columns) {}

  absl::StatusOr<CompiledFilter> Run(const Node& root) {
    absl::StatusOr<PlanNode> plan = CompileNode(root);
    if (!plan.ok()) return plan.status();
    CompiledFilter out;
    out.plan = Plan(Simplify(*std::move(plan)), std::move(slots_));
    out.referenced_scores.assign(scores_.begin(), scores_.end());
    out.uses_pct = uses_pct_;
    return out;
  }

 private:
  absl::StatusOr<PlanNode> CompileNode(const Node& node) {
    switch (node.kind) {
      case NodeKind::kMatchAll:
        return MakeLeaf(Leaf::Const(true));
      case NodeKind::kOr:
      case NodeKind::kAnd:
      case NodeKind::kNot: {
        std::vector<PlanNode> children;
        for (const Node& child : node.children) {
          absl::StatusOr<PlanNode> c = CompileNode(child);
          if (!c.ok()) return c.status();
          children.push_back(*std::move(c));
        }
        PlanNode::Kind kind = node.kind == NodeKind::kOr ? PlanNode::Kind::kOr
                              : node.kind == NodeKind::kAnd
                                  ? PlanNode::Kind::kAnd
                                  : PlanNode::Kind::kNot;
        return MakeNode(kind, std::move(children));
      }
      case NodeKind::kCompare:
        return CompileCompare(node);
      case NodeKind::kMember:
        return CompileMember(node);
      case NodeKind::kIsNull:
        return CompileIsNull(node);
      case NodeKind::kBareColumn:
        return CompileBare(node);
    }
    return absl::InternalError("unknown filter node");
  }

  // ---- Names.

  absl::Status Resolve(const ColumnRef& column) {
    switch (column.kind) {
      case ColumnKind::kScore:
        if (!columns_.scores.contains(column.name)) {
          return UnknownScore(column);
        }
        scores_.insert(column.name);
        return absl::OkStatus();
      case ColumnKind::kAttr:
        if (!columns_.attributes.contains(column.name)) {
          return UnknownAttribute(column);
        }
        return absl::OkStatus();
      case ColumnKind::kId:
        if (!columns_.find_id) {
          return absl::FailedPreconditionError(absl::StrCat(
              "'id' at ", column.pos.ToString(),
              " cannot be resolved: these columns have no id index"));
        }
        return absl::OkStatus();
      default:
        return absl::OkStatus();
    }
  }

  absl::Status UnknownAttribute(const ColumnRef& column) {
    std::string what =
        absl::StrCat("unknown attribute '", column.Spelling(), "'");
    std::vector<std::string> keys;
    for (const auto& [key, unused] : columns_.attributes) keys.push_back(key);
    // Typos are measured on the key alone; "attr." is common to all.
    if (std::optional<std::string> close = ClosestName(column.name, keys)) {
      return Error(what, column.pos,
                   absl::StrCat("did you mean 'attr.", *close, "'?"));
    }
    std::vector<std::string> known;
    for (const std::string& key : keys) {
      known.push_back(absl::StrCat("attr.", key));
    }
    return Error(
        what, column.pos,
        ListHint(known, "attributes", "the collection has no attributes"));
  }

  absl::Status UnknownScore(const ColumnRef& column) {
    std::string what = absl::StrCat("unknown score '", column.name, "'");
    // A bare attribute key is a likely slip for attr.key.
    if (columns_.attributes.contains(column.name)) {
      return Error(what, column.pos,
                   absl::StrCat("did you mean 'attr.", column.name, "'?"));
    }
    std::vector<std::string> known;
    for (const auto& [name, unused] : columns_.scores) known.push_back(name);
    std::vector<std::string> candidates = known;
    for (const char* fixed : {"domain", "length", "id"}) {
      candidates.push_back(fixed);
    }
    if (std::optional<std::string> close =
            ClosestName(column.name, candidates)) {
      return Error(what, column.pos,
                   absl::StrCat("did you mean '", *close, "'?"));
    }
    return Error(what, column.pos,
                 ListHint(known, "scores", "the collection has no scores"));
  }

  int Slot(const ColumnRef& column) {
    ColumnSlot slot;
    switch (column.kind) {
      case ColumnKind::kScore:
        slot.kind = ColumnSlot::Kind::kScore;
        slot.name = column.name;
        break;
      case ColumnKind::kLength:
        slot.kind = ColumnSlot::Kind::kLength;
        break;
      case ColumnKind::kDomain:
        slot.kind = ColumnSlot::Kind::kDomain;
        break;
      case ColumnKind::kAttr:
        slot.kind = ColumnSlot::Kind::kAttr;
        slot.name = column.name;
        break;
      case ColumnKind::kId:
        return -1;  // ids resolve to ordinals at compile time
    }
    auto it = std::find(slots_.begin(), slots_.end(), slot);
    if (it != slots_.end()) return static_cast<int>(it - slots_.begin());
    slots_.push_back(std::move(slot));
    return static_cast<int>(slots_.size() - 1);
  }

  // The code of a domain name, or the unknown-domain error at `pos`.
  absl::StatusOr<uint32_t> DomainCode(const std::string& name, Position pos) {
    if (domain_codes_.empty()) {
      for (size_t c = 0; c < columns_.domain_names.size(); ++c) {
        domain_codes_.emplace(columns_.domain_names[c],
                              static_cast<uint32_t>(c));
      }
    }
    auto it = domain_codes_.find(name);
    if (it != domain_codes_.end()) return it->second;
    // Domains are values, so the hint writes them as string literals.
    std::vector<std::string> names(columns_.domain_names.begin(),
                                   columns_.domain_names.end());
    std::vector<std::string> known;
    for (const std::string& domain : names)
      known.push_back(QuoteString(domain));
    std::string hint;
    if (std::optional<std::string> close = ClosestName(name, names)) {
      hint = absl::StrCat("did you mean ", QuoteString(*close), "?");
    } else if (known.empty()) {
      hint = "the collection has no domains";
    } else if (known.size() <= 10) {
      hint = absl::StrCat("the domains are ", absl::StrJoin(known, ", "));
    }
    return Error(absl::StrCat("unknown domain ", QuoteString(name)), pos, hint);
  }

  // The code of an attribute value, or 0 when no document has it.
  uint32_t AttrCode(const std::string& key, const std::string& value) {
    auto [it, inserted] = attr_codes_.try_emplace(key);
    if (inserted) {
      const InternedColumn& column = columns_.attributes.at(key);
      for (size_t i = 0; i < column.values.size(); ++i) {
        it->second.emplace(column.values[i], static_cast<uint32_t>(i + 1));
      }
    }
    auto found = it->second.find(value);
    return found == it->second.end() ? 0 : found->second;
  }

  std::vector<uint32_t> Ordinals(const std::vector<const Operand*>& ids) {
    std::vector<uint32_t> ordinals;
    for (const Operand* id : ids) {
      std::optional<uint32_t> ordinal = columns_.find_id(id->str);
      if (ordinal.has_value() && *ordinal < columns_.num_rows) {
        ordinals.push_back(*ordinal);
      }
    }
    std::sort(ordinals.begin(), ordinals.end());
    ordinals.erase(std::unique(ordinals.begin(), ordinals.end()),
                   ordinals.end());
    return ordinals;
  }

  absl::StatusOr<double> PctValue(const Operand& pct) {
    auto key = std::make_pair(pct.column.name, pct.number);
    auto it = pct_values_.find(key);
    if (it != pct_values_.end()) return it->second;
    const std::span<const float> column = columns_.scores.at(pct.column.name);
    std::optional<double> value;
    if (columns_.live != nullptr) {
      value = ColumnPercentile(column, *columns_.live, pct.number);
    } else {
      value =
          ColumnPercentile(column, Bitmap(columns_.num_rows, true), pct.number);
    }
    if (!value.has_value()) {
      return Error(absl::StrCat("score '", pct.column.name,
                                "' has no values in live documents, so ",
                                ToString(pct), " is undefined"),
                   pct.pos);
    }
    uses_pct_ = true;
    pct_values_.emplace(key, *value);
    return *value;
  }

  // Resolves the names in an operand (and computes a pct()).
  absl::Status ResolveOperand(const Operand& operand) {
    if (operand.kind == Operand::Kind::kColumn ||
        operand.kind == Operand::Kind::kPct) {
      return Resolve(operand.column);
    }
    return absl::OkStatus();
  }

  absl::Status TypeMismatch(const Operand& column, const Operand& other,
                            Position pos) {
    return Error(absl::StrCat("cannot compare ", Describe(column), " (",
                              std::string(TypeName(TypeOf(column))), ") with ",
                              Describe(other), " (",
                              std::string(TypeName(TypeOf(other))), ")"),
                 pos);
  }

  // ---- Conditions.

  absl::StatusOr<PlanNode> CompileCompare(const Node& node) {
    if (absl::Status s = ResolveOperand(node.lhs); !s.ok()) return s;
    if (absl::Status s = ResolveOperand(node.rhs); !s.ok()) return s;
    const bool lhs_column = node.lhs.kind == Operand::Kind::kColumn;
    const bool rhs_column = node.rhs.kind == Operand::Kind::kColumn;
    if (!lhs_column && !rhs_column) {
      return Error("comparison has no column", node.pos,
                   "one side must be a column, as in quality > 0.5");
    }
    if (TypeOf(node.lhs) != TypeOf(node.rhs)) {
      return TypeMismatch(node.lhs, node.rhs, node.op_pos);
    }
    if (TypeOf(node.lhs) == Type::kString && IsOrdering(node.op)) {
      const Operand& column = lhs_column ? node.lhs : node.rhs;
      return Error(
          absl::StrCat("operator '", std::string(CompareOpText(node.op)),
                       "' does not apply to strings"),
          node.op_pos,
          absl::StrCat(Describe(column),
                       " compares with ==, !=, in and not in"));
    }
    // Put the column on the left: 0.5 < quality is quality > 0.5.
    const Operand& lhs = lhs_column ? node.lhs : node.rhs;
    const Operand& rhs = lhs_column ? node.rhs : node.lhs;
    const CompareOp op = lhs_column ? node.op : Mirror(node.op);

    if (rhs.kind == Operand::Kind::kColumn)
      return CompileColumnPair(lhs, rhs, op);
    if (TypeOf(lhs) == Type::kNumber) {
      double t = rhs.number;
      if (rhs.kind == Operand::Kind::kPct) {
        absl::StatusOr<double> value = PctValue(rhs);
        if (!value.ok()) return value.status();
        t = *value;
      }
      return NumberLeaf(lhs.column, op, t);
    }
    std::vector<const Operand*> values = {&rhs};
    return StringSet(lhs.column, values, /*negated=*/op == CompareOp::kNe);
  }

  // `column op t` for a number column.
  PlanNode NumberLeaf(const ColumnRef& column, CompareOp op, double t) {
    int slot = Slot(column);
    if (column.kind == ColumnKind::kLength) {
      return MakeLeaf(RangeLeaf(slot, UintThreshold(op, t)));
    }
    return MakeLeaf(FloatLeaf(slot, FloatThreshold(op, t)));
  }

  // `column in (values)`, or `column not in (values)` when negated, for a
  // string column. A comparison involving null is false, so `not in` keeps
  // only rows that have a value.
  absl::StatusOr<PlanNode> StringSet(const ColumnRef& column,
                                     const std::vector<const Operand*>& values,
                                     bool negated) {
    if (column.kind == ColumnKind::kId) {
      Leaf leaf;
      leaf.kind = Leaf::Kind::kOrdinals;
      leaf.ordinals = Ordinals(values);
      leaf.negate = negated;  // ids are never null
      return MakeLeaf(std::move(leaf));
    }
    std::set<uint32_t> codes;
    if (column.kind == ColumnKind::kDomain) {
      for (const Operand* value : values) {
        absl::StatusOr<uint32_t> code = DomainCode(value->str, value->pos);
        if (!code.ok()) return code.status();
        codes.insert(*code);
      }
    } else {
      for (const Operand* value : values) {
        // A value no document has matches nothing
        // (docs/filter-language.md, "Names that do not exist").
        if (uint32_t code = AttrCode(column.name, value->str); code != 0) {
          codes.insert(code);
        }
      }
    }
    const int slot = Slot(column);
    PlanNode in = CodeSetLeaf(slot, std::move(codes));
    if (!negated) return in;
    // Complement the listed codes rather than list the others, so that a
    // value interned after compilation still counts as "not in".
    if (column.kind == ColumnKind::kDomain) return MakeNot(std::move(in));
    RangePredicate present;
    present.lo = 1;
    present.hi = UINT32_MAX;
    std::vector<PlanNode> both;
    both.push_back(MakeLeaf(RangeLeaf(slot, present)));
    both.push_back(MakeNot(std::move(in)));
    return MakeNode(PlanNode::Kind::kAnd, std::move(both));
  }

  absl::StatusOr<PlanNode> CompileColumnPair(const Operand& lhs,
                                             const Operand& rhs, CompareOp op) {
    for (const Operand* side : {&lhs, &rhs}) {
      if (side->column.kind == ColumnKind::kId) {
        return Error("'id' can only be compared with strings", side->pos,
                     "write id == \"...\" or id in (\"...\", ...)");
      }
    }
    Leaf leaf;
    leaf.slot = Slot(lhs.column);
    leaf.slot2 = Slot(rhs.column);
    leaf.op = op;
    if (TypeOf(lhs) == Type::kNumber) {
      leaf.kind = Leaf::Kind::kNumericPair;
      return MakeLeaf(std::move(leaf));
    }
    leaf.kind = Leaf::Kind::kCodePair;
    std::vector<std::string_view> left = CodeStrings(lhs.column);
    std::vector<std::string_view> right = CodeStrings(rhs.column);
    std::unordered_map<std::string_view, uint32_t> right_codes;
    for (size_t c = 0; c < right.size(); ++c) {
      if (c == 0 && rhs.column.kind == ColumnKind::kAttr) continue;
      right_codes.emplace(right[c], static_cast<uint32_t>(c));
    }
    leaf.right_nullable = rhs.column.kind == ColumnKind::kAttr;
    for (size_t c = 0; c < left.size(); ++c) {
      if (c == 0 && lhs.column.kind == ColumnKind::kAttr) {
        leaf.code_map.push_back(kNullCode);
        continue;
      }
      auto it = right_codes.find(left[c]);
      leaf.code_map.push_back(it == right_codes.end() ? kNoMatchCode
                                                      : it->second);
    }
    return MakeLeaf(std::move(leaf));
  }

  // The string of each code of an interned column (code 0 of an attribute,
  // null, as an unused placeholder).
  std::vector<std::string_view> CodeStrings(const ColumnRef& column) {
    std::vector<std::string_view> out;
    if (column.kind == ColumnKind::kDomain) {
      for (const std::string& s : columns_.domain_names) out.push_back(s);
    } else {
      out.push_back("");
      for (const std::string& s : columns_.attributes.at(column.name).values) {
        out.push_back(s);
      }
    }
    return out;
  }

  absl::StatusOr<PlanNode> CompileMember(const Node& node) {
    if (absl::Status s = Resolve(node.column); !s.ok()) return s;
    Operand column;
    column.kind = Operand::Kind::kColumn;
    column.column = node.column;
    const Type type = TypeOf(node.column.kind);
    std::vector<const Operand*> values;
    for (const Operand& literal : node.list) {
      if (TypeOf(literal) != type) {
        return TypeMismatch(column, literal, literal.pos);
      }
      values.push_back(&literal);
    }
    if (type == Type::kString) {
      return StringSet(node.column, values, node.negated);
    }
    // x in (a, b) is x == a or x == b; x not in (a, b) is x != a and
    // x != b, which is false for a null x as each != is.
    std::vector<PlanNode> terms;
    for (const Operand* value : values) {
      terms.push_back(NumberLeaf(node.column,
                                 node.negated ? CompareOp::kNe : CompareOp::kEq,
                                 value->number));
    }
    return MakeNode(node.negated ? PlanNode::Kind::kAnd : PlanNode::Kind::kOr,
                    std::move(terms));
  }

  absl::StatusOr<PlanNode> CompileIsNull(const Node& node) {
    if (absl::Status s = Resolve(node.column); !s.ok()) return s;
    switch (node.column.kind) {
      case ColumnKind::kScore: {
        FloatPredicate pred;
        pred.op = FloatOp::kIsNull;
        return MakeLeaf(FloatLeaf(Slot(node.column), pred));
      }
      case ColumnKind::kAttr: {
        RangePredicate absent;
        absent.lo = 0;
        absent.hi = 0;
        return MakeLeaf(RangeLeaf(Slot(node.column), absent));
      }
      default:
        // domain, length and id are never null.
        return MakeLeaf(Leaf::Const(false));
    }
  }

  absl::StatusOr<PlanNode> CompileBare(const Node& node) {
    if (absl::Status s = Resolve(node.column); !s.ok()) return s;
    switch (node.column.kind) {
      case ColumnKind::kScore: {
        FloatPredicate pred;
        pred.op = FloatOp::kNonZero;
        return MakeLeaf(FloatLeaf(Slot(node.column), pred));
      }
      case ColumnKind::kLength: {
        RangePredicate zero;
        zero.lo = 0;
        zero.hi = 0;
        zero.negate = true;
        return MakeLeaf(RangeLeaf(Slot(node.column), zero));
      }
      default: {
        Operand column;
        column.kind = Operand::Kind::kColumn;
        column.column = node.column;
        std::string hint = "compare it with ==, !=, in or not in";
        if (node.column.kind == ColumnKind::kAttr) {
          absl::StrAppend(&hint, ", or test it with is_null(",
                          node.column.Spelling(), ")");
        }
        return Error(absl::StrCat(Describe(column),
                                  " is a string and cannot be a condition "
                                  "by itself"),
                     node.pos, hint);
      }
    }
  }

  const ColumnSet& columns_;
  std::vector<ColumnSlot> slots_;
  std::set<std::string> scores_;
  bool uses_pct_ = false;
  std::map<std::pair<std::string, double>, double> pct_values_;
  std::unordered_map<std::string, uint32_t> domain_codes_;
  std::map<std::string, std::unordered_map<std::string, uint32_t>> attr_codes_;
};

}  // namespace

absl::StatusOr<CompiledFilter> Compile(const Node& root,
                                       const ColumnSet& columns) {
  return Compiler(columns).Run(root);
}

}  // namespace winnow::filter
