// A compiled filter: a tree of and/or/not over leaf predicates whose names,
// literals and percentiles are already resolved to columns, thresholds in
// the column's own type, and sets of interned codes or ordinals.
//
// Internal to selection/filter; selection/filter/filter.h is the public
// face. A Plan is immutable once built, and Evaluate is const and keeps
// its scratch memory on the caller's stack and heap, so one Plan may be
// evaluated from many threads at once.
#ifndef WINNOW_SELECTION_FILTER_PLAN_H_
#define WINNOW_SELECTION_FILTER_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "selection/bitmap.h"
#include "selection/columns.h"
#include "selection/filter/ast.h"
#include "selection/filter/thresholds.h"

namespace winnow::filter {

// A column the plan reads, found in a ColumnSet by kind and name when the
// plan is evaluated.
struct ColumnSlot {
  enum class Kind { kScore, kLength, kDomain, kAttr };
  Kind kind = Kind::kScore;
  // The score name or attribute key; empty for length and domain.
  std::string name;

  bool operator==(const ColumnSlot&) const = default;
};

// Code maps of kCodePair leaves use these for left codes that cannot match.
inline constexpr uint32_t kNullCode = 0xFFFFFFFF;     // the left value is null
inline constexpr uint32_t kNoMatchCode = 0xFFFFFFFE;  // not a right value

struct Leaf {
  enum class Kind {
    kConst,        // `value` for every row
    kFloat,        // float_pred(slot[i])
    kRange,        // range.Matches(slot[i]): lengths and code ranges
    kBits,         // slot[i] < 32 and bit slot[i] of `bits`
    kTable,        // slot[i] < table.size() and table[slot[i]]
    kOrdinals,     // (i in ordinals) != negate
    kNumericPair,  // double(slot[i]) op double(slot2[i]), false on null
    kCodePair,     // string equality of two interned columns, per op
  };
  Kind kind = Kind::kConst;
  bool value = false;
  int slot = -1;
  int slot2 = -1;
  FloatPredicate float_pred;
  RangePredicate range;
  uint32_t bits = 0;
  std::vector<uint8_t> table;
  // kOrdinals: sorted, distinct, each < num_rows.
  std::vector<uint32_t> ordinals;
  bool negate = false;
  // kNumericPair (any op), kCodePair (kEq or kNe).
  CompareOp op = CompareOp::kEq;
  // kCodePair: left code -> right code, kNullCode or kNoMatchCode.
  std::vector<uint32_t> code_map;
  // kCodePair: whether right code 0 means null (an attribute).
  bool right_nullable = false;

  static Leaf Const(bool value) {
    Leaf leaf;
    leaf.value = value;
    return leaf;
  }
};

struct PlanNode {
  enum class Kind { kLeaf, kAnd, kOr, kNot };
  Kind kind = Kind::kLeaf;
  std::vector<PlanNode> children;
  Leaf leaf;

  static PlanNode Of(Leaf leaf) {
    PlanNode node;
    node.leaf = std::move(leaf);
    return node;
  }
  bool IsConst(bool value) const {
    return kind == Kind::kLeaf && leaf.kind == Leaf::Kind::kConst &&
           leaf.value == value;
  }
};

// Folds constants, flattens nested and/or, removes double negation and
// pushes `not` into range and ordinal leaves. The result selects exactly
// the rows `node` selects.
PlanNode Simplify(PlanNode node);

class Plan {
 public:
  Plan() : root_(PlanNode::Of(Leaf::Const(true))) {}
  Plan(PlanNode root, std::vector<ColumnSlot> slots);

  // Sets *out to (live AND the predicate) over columns.num_rows rows,
  // resizing it as needed, and returns the number of rows set. A score or
  // attribute the plan reads but `columns` lacks (or holds with fewer than
  // num_rows entries) reads as all null, a missing length or domain column
  // as all zeros. A null `columns.live` means all rows are live.
  size_t Evaluate(const ColumnSet& columns, Bitmap* out) const;

  const PlanNode& root() const { return root_; }
  const std::vector<ColumnSlot>& slots() const { return slots_; }

 private:
  PlanNode root_;
  std::vector<ColumnSlot> slots_;
  // Scratch masks one evaluation needs: one per level of nesting.
  int scratch_levels_ = 0;
};

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_PLAN_H_
