#include "selection/filter/plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <utility>

#include "selection/filter/kernels.h"

namespace winnow::filter {
namespace {

// ---------------------------------------------------------------------------
// Simplification.

PlanNode Negate(PlanNode node) {
  if (node.kind == PlanNode::Kind::kNot) return std::move(node.children[0]);
  if (node.kind == PlanNode::Kind::kLeaf) {
    Leaf& leaf = node.leaf;
    switch (leaf.kind) {
      case Leaf::Kind::kConst:
        leaf.value = !leaf.value;
        return node;
      // These leaves hold for a row or do not, with no null in between,
      // so negating the predicate negates the row.
      case Leaf::Kind::kRange:
        leaf.range.negate = !leaf.range.negate;
        return node;
      case Leaf::Kind::kOrdinals:
        leaf.negate = !leaf.negate;
        return node;
      default:
        break;
    }
  }
  PlanNode not_node;
  not_node.kind = PlanNode::Kind::kNot;
  not_node.children.push_back(std::move(node));
  return not_node;
}

// A leaf that holds for every row or for none becomes a constant.
PlanNode FoldLeaf(PlanNode node) {
  const Leaf& leaf = node.leaf;
  if (leaf.kind == Leaf::Kind::kRange) {
    if (leaf.range.Always()) return PlanNode::Of(Leaf::Const(true));
    if (leaf.range.Never()) return PlanNode::Of(Leaf::Const(false));
  }
  if (leaf.kind == Leaf::Kind::kFloat &&
      leaf.float_pred.op == FloatOp::kNever) {
    return PlanNode::Of(Leaf::Const(false));
  }
  if (leaf.kind == Leaf::Kind::kOrdinals && leaf.ordinals.empty()) {
    return PlanNode::Of(Leaf::Const(leaf.negate));
  }
  if (leaf.kind == Leaf::Kind::kBits && leaf.bits == 0) {
    return PlanNode::Of(Leaf::Const(false));
  }
  return node;
}

}  // namespace

PlanNode Simplify(PlanNode node) {
  switch (node.kind) {
    case PlanNode::Kind::kLeaf:
      return FoldLeaf(std::move(node));
    case PlanNode::Kind::kNot:
      return Negate(Simplify(std::move(node.children[0])));
    case PlanNode::Kind::kAnd:
    case PlanNode::Kind::kOr: {
      // and: true is the identity and false absorbs; or: the reverse.
      const bool identity = node.kind == PlanNode::Kind::kAnd;
      PlanNode out;
      out.kind = node.kind;
      for (PlanNode& child : node.children) {
        PlanNode c = Simplify(std::move(child));
        if (c.IsConst(!identity)) return c;
        if (c.IsConst(identity)) continue;
        if (c.kind == node.kind) {
          for (PlanNode& grandchild : c.children) {
            out.children.push_back(std::move(grandchild));
          }
        } else {
          out.children.push_back(std::move(c));
        }
      }
      if (out.children.empty()) return PlanNode::Of(Leaf::Const(identity));
      if (out.children.size() == 1) return std::move(out.children[0]);
      return out;
    }
  }
  return node;
}

namespace {

// ---------------------------------------------------------------------------
// Evaluation.

int ScratchLevels(const PlanNode& node) {
  int deepest = 0;
  for (const PlanNode& child : node.children) {
    deepest = std::max(deepest, ScratchLevels(child));
  }
  return node.kind == PlanNode::Kind::kLeaf ? 0 : deepest + 1;
}

// A block of nulls for columns a plan reads but the ColumnSet lacks.
const float* NullFloats() {
  alignas(64) static const std::array<float, kBlockRows> nulls = [] {
    std::array<float, kBlockRows> a;
    a.fill(std::numeric_limits<float>::quiet_NaN());
    return a;
  }();
  return nulls.data();
}
const uint32_t* ZeroCodes() {
  alignas(64) static const std::array<uint32_t, kBlockRows> zeros{};
  return zeros.data();
}

// A slot resolved against one ColumnSet.
struct BoundColumn {
  const float* floats = nullptr;
  const uint32_t* codes = nullptr;  // uint32 values: lengths or codes
  // True for a stand-in block, which every block of rows reuses.
  bool constant = false;

  const float* Floats(size_t begin) const {
    return constant ? floats : floats + begin;
  }
  const uint32_t* Codes(size_t begin) const {
    return constant ? codes : codes + begin;
  }
};

BoundColumn Bind(const ColumnSlot& slot, const ColumnSet& columns) {
  const size_t n = columns.num_rows;
  BoundColumn b;
  std::span<const uint32_t> codes;
  switch (slot.kind) {
    case ColumnSlot::Kind::kScore: {
      auto it = columns.scores.find(slot.name);
      if (it != columns.scores.end() && it->second.size() >= n) {
        b.floats = it->second.data();
      } else {
        b.floats = NullFloats();
        b.constant = true;
      }
      return b;
    }
    case ColumnSlot::Kind::kLength:
      codes = columns.length;
      break;
    case ColumnSlot::Kind::kDomain:
      codes = columns.domain;
      break;
    case ColumnSlot::Kind::kAttr: {
      auto it = columns.attributes.find(slot.name);
      if (it != columns.attributes.end()) codes = it->second.codes;
      break;
    }
  }
  if (codes.size() >= n) {
    b.codes = codes.data();
  } else {
    b.codes = ZeroCodes();
    b.constant = true;
  }
  return b;
}

template <Combine C>
inline void Merge(uint8_t* m, size_t i, bool r) {
  uint8_t v = r ? 0xFF : 0x00;
  if constexpr (C == Combine::kSet) {
    m[i] = v;
  } else if constexpr (C == Combine::kAnd) {
    m[i] &= v;
  } else {
    m[i] |= v;
  }
}

template <typename Pred>
void MergeAll(Combine c, size_t n, uint8_t* m, Pred pred) {
  switch (c) {
    case Combine::kSet:
      for (size_t i = 0; i < n; ++i) Merge<Combine::kSet>(m, i, pred(i));
      return;
    case Combine::kAnd:
      for (size_t i = 0; i < n; ++i) Merge<Combine::kAnd>(m, i, pred(i));
      return;
    case Combine::kOr:
      for (size_t i = 0; i < n; ++i) Merge<Combine::kOr>(m, i, pred(i));
      return;
  }
}

bool CompareDoubles(CompareOp op, double a, double b) {
  switch (op) {
    case CompareOp::kEq:
      return a == b;
    case CompareOp::kNe:
      return (a < b) | (a > b);  // false when either is NaN (null)
    case CompareOp::kLt:
      return a < b;
    case CompareOp::kLe:
      return a <= b;
    case CompareOp::kGt:
      return a > b;
    case CompareOp::kGe:
      return a >= b;
  }
  return false;
}

class BlockEvaluator {
 public:
  BlockEvaluator(const std::vector<BoundColumn>& columns,
                 const std::vector<ColumnSlot>& slots, uint8_t* scratch)
      : columns_(columns), slots_(slots), scratch_(scratch) {}

  // Evaluates `node` over rows [begin, begin + n) merging into m.
  void Eval(const PlanNode& node, size_t begin, size_t n, uint8_t* m, Combine c,
            int level) {
    switch (node.kind) {
      case PlanNode::Kind::kLeaf:
        EvalLeaf(node.leaf, begin, n, m, c);
        return;
      case PlanNode::Kind::kNot:
        if (c == Combine::kSet) {
          Eval(node.children[0], begin, n, m, Combine::kSet, level);
          InvertKernel(m, n);
        } else {
          uint8_t* s = Scratch(level);
          Eval(node.children[0], begin, n, s, Combine::kSet, level + 1);
          CombineKernel(s, n, /*negate=*/true, c, m);
        }
        return;
      case PlanNode::Kind::kAnd:
      case PlanNode::Kind::kOr: {
        const bool is_and = node.kind == PlanNode::Kind::kAnd;
        const Combine inner = is_and ? Combine::kAnd : Combine::kOr;
        if (c != Combine::kSet && c != inner) {
          // An `or` merging into an `and` (or the reverse) needs its own
          // mask first.
          uint8_t* s = Scratch(level);
          Eval(node, begin, n, s, Combine::kSet, level + 1);
          CombineKernel(s, n, /*negate=*/false, c, m);
          return;
        }
        for (size_t i = 0; i < node.children.size(); ++i) {
          // Once an `and` is all false (an `or` all true) the remaining
          // children cannot change the block: skip them.
          if (i > 0 && (is_and ? AllZero(m, n) : AllOnes(m, n))) return;
          Combine child_c = (i == 0 && c == Combine::kSet) ? c : inner;
          Eval(node.children[i], begin, n, m, child_c, level);
        }
        return;
      }
    }
  }

 private:
  uint8_t* Scratch(int level) { return scratch_ + level * kBlockRows; }

  void EvalLeaf(const Leaf& leaf, size_t begin, size_t n, uint8_t* m,
                Combine c) {
    switch (leaf.kind) {
      case Leaf::Kind::kConst:
        if (c == Combine::kSet || (c == Combine::kAnd) != leaf.value) {
          std::memset(m, leaf.value ? 0xFF : 0x00, n);
        }
        return;
      case Leaf::Kind::kFloat:
        FloatKernel(columns_[leaf.slot].Floats(begin), n, leaf.float_pred, c,
                    m);
        return;
      case Leaf::Kind::kRange:
        RangeKernel(columns_[leaf.slot].Codes(begin), n, leaf.range, c, m);
        return;
      case Leaf::Kind::kBits:
        BitsKernel(columns_[leaf.slot].Codes(begin), n, leaf.bits, c, m);
        return;
      case Leaf::Kind::kTable:
        TableKernel(columns_[leaf.slot].Codes(begin), n, leaf.table.data(),
                    leaf.table.size(), c, m);
        return;
      case Leaf::Kind::kOrdinals:
        EvalOrdinals(leaf, begin, n, m, c);
        return;
      case Leaf::Kind::kNumericPair:
        EvalNumericPair(leaf, begin, n, m, c);
        return;
      case Leaf::Kind::kCodePair:
        EvalCodePair(leaf, begin, n, m, c);
        return;
    }
  }

  // A sparse set: touch only the listed rows of the block.
  void EvalOrdinals(const Leaf& leaf, size_t begin, size_t n, uint8_t* m,
                    Combine c) {
    auto first = std::lower_bound(leaf.ordinals.begin(), leaf.ordinals.end(),
                                  static_cast<uint32_t>(begin));
    auto last = std::lower_bound(first, leaf.ordinals.end(),
                                 static_cast<uint64_t>(begin + n),
                                 [](uint32_t a, uint64_t b) { return a < b; });
    // r is `in` at the listed rows and `out` elsewhere.
    const uint8_t in = leaf.negate ? 0x00 : 0xFF;
    const uint8_t out = leaf.negate ? 0xFF : 0x00;
    if (c == Combine::kSet) {
      std::memset(m, out, n);
      for (auto it = first; it != last; ++it) m[*it - begin] = in;
      return;
    }
    // Merging `out` into the unlisted rows leaves them alone (and with
    // 0xFF, or with 0x00) or overwrites them (and with 0x00, or with 0xFF).
    const bool overwrite = (c == Combine::kAnd) == (out == 0x00);
    if (!overwrite) {
      for (auto it = first; it != last; ++it) {
        uint8_t& byte = m[*it - begin];
        byte = c == Combine::kAnd ? (byte & in) : (byte | in);
      }
      return;
    }
    // Keep the listed rows' bytes, overwrite the block, merge them back.
    std::vector<uint8_t> kept;
    kept.reserve(static_cast<size_t>(last - first));
    for (auto it = first; it != last; ++it) kept.push_back(m[*it - begin]);
    std::memset(m, out, n);
    size_t k = 0;
    for (auto it = first; it != last; ++it, ++k) {
      m[*it - begin] = c == Combine::kAnd ? (kept[k] & in) : (kept[k] | in);
    }
  }

  void EvalNumericPair(const Leaf& leaf, size_t begin, size_t n, uint8_t* m,
                       Combine c) {
    const BoundColumn& a = columns_[leaf.slot];
    const BoundColumn& b = columns_[leaf.slot2];
    const bool a_float = slots_[leaf.slot].kind == ColumnSlot::Kind::kScore;
    const bool b_float = slots_[leaf.slot2].kind == ColumnSlot::Kind::kScore;
    const float* af = a_float ? a.Floats(begin) : nullptr;
    const uint32_t* au = a_float ? nullptr : a.Codes(begin);
    const float* bf = b_float ? b.Floats(begin) : nullptr;
    const uint32_t* bu = b_float ? nullptr : b.Codes(begin);
    const CompareOp op = leaf.op;
    // Both sides widened exactly to double, as the language defines.
    MergeAll(c, n, m, [&](size_t i) {
      double x = af ? static_cast<double>(af[i]) : static_cast<double>(au[i]);
      double y = bf ? static_cast<double>(bf[i]) : static_cast<double>(bu[i]);
      return CompareDoubles(op, x, y);
    });
  }

  void EvalCodePair(const Leaf& leaf, size_t begin, size_t n, uint8_t* m,
                    Combine c) {
    const uint32_t* a = columns_[leaf.slot].Codes(begin);
    const uint32_t* b = columns_[leaf.slot2].Codes(begin);
    const std::vector<uint32_t>& map = leaf.code_map;
    const bool ne = leaf.op == CompareOp::kNe;
    const bool right_nullable = leaf.right_nullable;
    MergeAll(c, n, m, [&](size_t i) {
      uint32_t mapped = a[i] < map.size() ? map[a[i]] : kNullCode;
      if (!ne) return mapped == b[i];
      return mapped != kNullCode && !(right_nullable && b[i] == 0) &&
             mapped != b[i];
    });
  }

  const std::vector<BoundColumn>& columns_;
  const std::vector<ColumnSlot>& slots_;
  uint8_t* scratch_;
};

struct AlignedDelete {
  void operator()(uint8_t* p) const {
    ::operator delete[](p, std::align_val_t(64));
  }
};

}  // namespace

Plan::Plan(PlanNode root, std::vector<ColumnSlot> slots)
    : root_(std::move(root)), slots_(std::move(slots)) {
  scratch_levels_ = ScratchLevels(root_);
}

size_t Plan::Evaluate(const ColumnSet& columns, Bitmap* out) const {
  const size_t num_rows = columns.num_rows;
  if (out->size() != num_rows) out->Resize(num_rows);
  std::span<uint64_t> words = out->words();
  // The live words: all rows when there is no live bitmap; rows past a
  // live bitmap shorter than num_rows are not live.
  std::vector<uint64_t> live_copy;
  std::span<const uint64_t> live;
  if (columns.live != nullptr && columns.live->size() == num_rows) {
    live = columns.live->words();
  } else {
    Bitmap fitted(num_rows, columns.live == nullptr);
    if (columns.live != nullptr) {
      columns.live->ForEach([&](size_t i) {
        if (i < num_rows) fitted.Set(i);
      });
    }
    live_copy.assign(fitted.words().begin(), fitted.words().end());
    live = live_copy;
  }

  if (root_.kind == PlanNode::Kind::kLeaf &&
      root_.leaf.kind == Leaf::Kind::kConst) {
    size_t count = 0;
    for (size_t w = 0; w < words.size(); ++w) {
      words[w] = root_.leaf.value ? live[w] : 0;
      count += static_cast<size_t>(std::popcount(words[w]));
    }
    return count;
  }

  std::vector<BoundColumn> bound;
  bound.reserve(slots_.size());
  for (const ColumnSlot& slot : slots_) bound.push_back(Bind(slot, columns));

  // One mask for the block and one scratch mask per nesting level.
  std::unique_ptr<uint8_t[], AlignedDelete> buffers(
      new (std::align_val_t(64)) uint8_t[(scratch_levels_ + 1) * kBlockRows]);
  uint8_t* mask = buffers.get();
  BlockEvaluator evaluator(bound, slots_, mask + kBlockRows);

  size_t count = 0;
  for (size_t begin = 0; begin < num_rows; begin += kBlockRows) {
    const size_t n = std::min(kBlockRows, num_rows - begin);
    const size_t first_word = begin / 64;
    const size_t num_words = Bitmap::WordsFor(n);
    // A block with no live row needs no work.
    bool any_live = false;
    for (size_t w = 0; w < num_words; ++w) any_live |= live[first_word + w];
    if (!any_live) {
      std::fill_n(words.begin() + first_word, num_words, 0);
      continue;
    }
    evaluator.Eval(root_, begin, n, mask, Combine::kSet, 0);
    // Rows past the end in the last word: zero, like the bitmap's tail.
    std::memset(mask + n, 0, num_words * 64 - n);
    count += PackKernel(mask, num_words, live.data() + first_word,
                        words.data() + first_word);
  }
  return count;
}

}  // namespace winnow::filter
