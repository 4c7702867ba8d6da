// The compiled filter against a brute-force reference on thousands of
// random expressions.
//
// The test builds its own expression trees, renders them to text (random
// spacing, redundant parentheses, comments, literal-first comparisons) and
// evaluates them row by row with doubles exactly as docs/filter-language.md
// words the semantics, with no thresholds, code sets or blocks. Filter::Compile
// on the text must select exactly the same rows. Columns hold ~20% nulls,
// boundary floats (extremes, subnormals, +-0, neighbours of each other),
// deleted rows, and row counts that are not multiples of 64 or of the block
// size; literals include stored values, values between adjacent floats, +-1e40,
// and numbers past the float range.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "selection/bitmap.h"
#include "selection/columns.h"
#include "selection/filter/filter.h"
#include "tests/sanitized.h"

namespace winnow {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------
// A random collection.

struct Attr {
  std::vector<uint32_t> codes;
  std::vector<std::string> values;
};

struct Table {
  uint32_t n = 0;
  std::vector<std::string> ids;
  std::unordered_map<std::string, uint32_t> ordinal_of;
  std::vector<uint32_t> domain;
  std::vector<std::string> domain_names;
  std::vector<uint32_t> length;
  std::map<std::string, std::vector<float>> scores;
  std::map<std::string, Attr> attrs;
  Bitmap live;

  ColumnSet Columns() const {
    ColumnSet c;
    c.num_rows = n;
    c.live = &live;
    c.length = length;
    c.domain = domain;
    c.domain_names = domain_names;
    for (const auto& [name, values] : scores) c.scores.emplace(name, values);
    for (const auto& [key, attr] : attrs) {
      c.attributes.emplace(key, InternedColumn{attr.codes, attr.values});
    }
    c.find_id = [this](std::string_view id) -> std::optional<uint32_t> {
      auto it = ordinal_of.find(std::string(id));
      if (it == ordinal_of.end()) return std::nullopt;
      return it->second;
    };
    return c;
  }
};

// Floats that sit on the edges that float/double conversion cares about.
std::vector<float> SpecialFloats() {
  const float max = FLT_MAX;
  return {0.0f,
          -0.0f,
          0.5f,
          -0.5f,
          1.0f,
          -1.0f,
          0.1f,
          0.3f,
          2.5f,
          16777216.0f,
          16777218.0f,
          max,
          -max,
          std::nextafter(max, 0.0f),
          FLT_MIN,
          -FLT_MIN,
          std::numeric_limits<float>::denorm_min(),
          -std::numeric_limits<float>::denorm_min(),
          1e-40f,
          3e38f,
          1e-10f,
          std::nextafter(1.0f, 2.0f),
          std::nextafter(1.0f, 0.0f)};
}

float RandomFloat(std::mt19937_64& rng) {
  static const std::vector<float> special = SpecialFloats();
  switch (rng() % 6) {
    case 0:
      return special[rng() % special.size()];
    case 1: {
      // Any finite float, by its bits.
      uint32_t bits;
      float f;
      do {
        bits = static_cast<uint32_t>(rng());
        std::memcpy(&f, &bits, sizeof(f));
      } while (!std::isfinite(f));
      return f;
    }
    case 2:
      // A few distinct values, so that equality and ties are common.
      return static_cast<float>(static_cast<int>(rng() % 7) - 3) * 0.25f;
    default:
      return std::uniform_real_distribution<float>(-10.0f, 10.0f)(rng);
  }
}

uint32_t RandomLength(std::mt19937_64& rng) {
  static const uint32_t special[] = {
      0,    1,    2,        16,         2047,       2048,
      2049, 4096, 16777217, 2147483648, 4294967294, 4294967295};
  switch (rng() % 4) {
    case 0:
      return special[rng() % std::size(special)];
    case 1:
      return static_cast<uint32_t>(rng());
    default:
      return static_cast<uint32_t>(rng() % 5000);
  }
}

Table MakeTable(uint32_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Table t;
  t.n = n;
  for (uint32_t i = 0; i < n; ++i) {
    t.ids.push_back("doc-" + std::to_string(i));
    t.ordinal_of.emplace(t.ids.back(), i);
  }
  // 1, 5 or 40 domains: one range, a 32-bit set or a table of codes.
  const uint32_t num_domains = std::vector<uint32_t>{1, 5, 40}[rng() % 3];
  for (uint32_t d = 0; d < num_domains; ++d) {
    t.domain_names.push_back(d == 0 ? "web" : "dom" + std::to_string(d));
  }
  for (uint32_t i = 0; i < n; ++i) {
    t.domain.push_back(static_cast<uint32_t>(rng() % num_domains));
    t.length.push_back(RandomLength(rng));
  }
  // "a" and "b": ~20% nulls scattered; "c": nulls in long runs, so whole
  // blocks of an `and` go false and are skipped.
  for (const char* name : {"a", "b", "c"}) {
    std::vector<float>& v = t.scores[name];
    for (uint32_t i = 0; i < n; ++i) {
      bool null = name[0] == 'c' ? ((i / 5000) % 2 == 1) || rng() % 10 == 0
                                 : rng() % 5 == 0;
      v.push_back(null ? std::numeric_limits<float>::quiet_NaN()
                       : RandomFloat(rng));
    }
  }
  // "lang": a few values (one with characters that need escapes); "src":
  // many, so that code sets use a table.
  Attr& lang = t.attrs["lang"];
  lang.values = {"en", "de", "say \"hi\" \\o/", ""};
  Attr& src = t.attrs["src"];
  for (int s = 0; s < 45; ++s) src.values.push_back("s" + std::to_string(s));
  for (uint32_t i = 0; i < n; ++i) {
    lang.codes.push_back(rng() % 10 < 3 ? 0 : 1 + rng() % lang.values.size());
    src.codes.push_back(rng() % 10 < 2 ? 0 : 1 + rng() % src.values.size());
  }
  // ~85% live, plus a fully deleted stretch when there is room.
  t.live = Bitmap(n);
  for (uint32_t i = 0; i < n; ++i) {
    bool dead_run = n > 9000 && i >= 4096 && i < 8192 + 100;
    if (!dead_run && rng() % 100 < 85) t.live.Set(i);
  }
  return t;
}

// ---------------------------------------------------------------------------
// Expressions and their reference semantics.

enum class Col { kA, kB, kC, kLength, kDomain, kId, kLang, kSrc };
constexpr Col kScoreCols[] = {Col::kA, Col::kB, Col::kC};

bool IsNumeric(Col c) {
  return c == Col::kA || c == Col::kB || c == Col::kC || c == Col::kLength;
}

const char* ColName(Col c) {
  switch (c) {
    case Col::kA:
      return "a";
    case Col::kB:
      return "b";
    case Col::kC:
      return "c";
    case Col::kLength:
      return "length";
    case Col::kDomain:
      return "domain";
    case Col::kId:
      return "id";
    case Col::kLang:
      return "attr.lang";
    case Col::kSrc:
      return "attr.src";
  }
  return "";
}

struct Term {
  enum Kind { kColumn, kNumber, kString, kPct } kind = kNumber;
  Col col = Col::kA;
  double number = 0;  // kNumber; kPct: p
  std::string str;
};

Term ColumnTerm(Col c) {
  Term t;
  t.kind = Term::kColumn;
  t.col = c;
  return t;
}

enum class Op { kEq, kNe, kLt, kLe, kGt, kGe };
const char* OpText(Op op) {
  static const char* text[] = {"==", "!=", "<", "<=", ">", ">="};
  return text[static_cast<int>(op)];
}

struct Expr {
  enum Kind { kOr, kAnd, kNot, kCompare, kIn, kIsNull, kBare } kind = kBare;
  std::vector<Expr> children;
  Term lhs, rhs;
  Op op = Op::kEq;
  Col col = Col::kA;
  bool negated = false;
  std::vector<Term> list;
};

// numpy.percentile(values.astype(float64), p), by a full sort.
std::optional<double> ReferencePercentile(const Table& t, Col col, double p) {
  std::vector<double> v;
  const std::vector<float>& s = t.scores.at(ColName(col));
  for (uint32_t i = 0; i < t.n; ++i) {
    if (t.live.Get(i) && !std::isnan(s[i])) v.push_back(s[i]);
  }
  if (v.empty()) return std::nullopt;
  std::sort(v.begin(), v.end());
  double index = (static_cast<double>(v.size()) - 1) * (p / 100.0);
  if (index >= static_cast<double>(v.size() - 1)) return v.back();
  double lo = std::floor(index);
  double a = v[static_cast<size_t>(lo)], b = v[static_cast<size_t>(lo) + 1];
  double g = index - lo;
  return g >= 0.5 ? b - (b - a) * (1 - g) : a + (b - a) * g;
}

class Reference {
 public:
  explicit Reference(const Table& t) : t_(t) {}

  bool Eval(const Expr& e, uint32_t row) const {
    switch (e.kind) {
      case Expr::kOr:
        for (const Expr& c : e.children) {
          if (Eval(c, row)) return true;
        }
        return false;
      case Expr::kAnd:
        for (const Expr& c : e.children) {
          if (!Eval(c, row)) return false;
        }
        return true;
      case Expr::kNot:
        return !Eval(e.children[0], row);
      case Expr::kCompare:
        return Compare(e.lhs, e.op, e.rhs, row);
      case Expr::kIn: {
        Term column = ColumnTerm(e.col);
        if (IsNull(e.col, row)) return false;
        bool any = false;
        for (const Term& v : e.list) any |= Compare(column, Op::kEq, v, row);
        return e.negated ? !any : any;
      }
      case Expr::kIsNull:
        return IsNull(e.col, row);
      case Expr::kBare:
        if (IsNull(e.col, row)) return false;
        return Number(ColumnTerm(e.col), row) != 0;
    }
    return false;
  }

 private:
  bool IsNull(Col c, uint32_t row) const {
    if (c == Col::kLang || c == Col::kSrc) {
      return t_.attrs.at(c == Col::kLang ? "lang" : "src").codes[row] == 0;
    }
    if (IsNumeric(c)) return std::isnan(Number(ColumnTerm(c), row));
    return false;
  }

  // A number term as a double; NaN for null.
  double Number(const Term& term, uint32_t row) const {
    switch (term.kind) {
      case Term::kNumber:
        return term.number;
      case Term::kPct: {
        auto key = std::make_pair(term.col, term.number);
        auto it = pct_cache_.find(key);
        if (it == pct_cache_.end()) {
          it =
              pct_cache_
                  .emplace(key, *ReferencePercentile(t_, term.col, term.number))
                  .first;
        }
        return it->second;
      }
      default:
        break;
    }
    if (term.col == Col::kLength) return t_.length[row];
    return t_.scores.at(ColName(term.col))[row];  // float widened exactly
  }

  // A string term; nullopt for null.
  std::optional<std::string> String(const Term& term, uint32_t row) const {
    if (term.kind == Term::kString) return term.str;
    switch (term.col) {
      case Col::kDomain:
        return t_.domain_names[t_.domain[row]];
      case Col::kId:
        return t_.ids[row];
      default: {
        const Attr& a = t_.attrs.at(term.col == Col::kLang ? "lang" : "src");
        uint32_t code = a.codes[row];
        if (code == 0) return std::nullopt;
        return a.values[code - 1];
      }
    }
  }

  bool Compare(const Term& l, Op op, const Term& r, uint32_t row) const {
    bool numeric = l.kind == Term::kNumber || l.kind == Term::kPct ||
                   (l.kind == Term::kColumn && IsNumeric(l.col));
    if (numeric) {
      double a = Number(l, row), b = Number(r, row);
      if (std::isnan(a) || std::isnan(b)) return false;  // null
      switch (op) {
        case Op::kEq:
          return a == b;
        case Op::kNe:
          return a != b;
        case Op::kLt:
          return a < b;
        case Op::kLe:
          return a <= b;
        case Op::kGt:
          return a > b;
        case Op::kGe:
          return a >= b;
      }
    }
    std::optional<std::string> a = String(l, row), b = String(r, row);
    if (!a || !b) return false;
    return op == Op::kEq ? *a == *b : *a != *b;
  }

  const Table& t_;
  mutable std::map<std::pair<Col, double>, double> pct_cache_;
};

// ---------------------------------------------------------------------------
// Random expressions.

class Generator {
 public:
  Generator(const Table& t, uint64_t seed) : t_(t), rng_(seed) {
    for (Col c : kScoreCols) {
      for (uint32_t i = 0; i < t.n; ++i) {
        if (t.live.Get(i) && !std::isnan(t.scores.at(ColName(c))[i])) {
          pct_ok_.push_back(c);
          break;
        }
      }
    }
  }

  Expr Random(int depth) {
    uint64_t r = rng_() % 100;
    if (depth > 0 && r < 35) {
      Expr e;
      e.kind = r < 15 ? Expr::kOr : Expr::kAnd;
      int k = 2 + static_cast<int>(rng_() % 3);
      for (int i = 0; i < k; ++i) e.children.push_back(Random(depth - 1));
      return e;
    }
    if (depth > 0 && r < 45) {
      Expr e;
      e.kind = Expr::kNot;
      e.children.push_back(Random(depth - 1));
      return e;
    }
    return Leaf();
  }

 private:
  bool Chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[rng_() % v.size()];
  }

  Expr Leaf() {
    Expr e;
    uint64_t r = rng_() % 100;
    if (r < 8) {
      e.kind = Expr::kIsNull;
      e.col = static_cast<Col>(rng_() % 8);
      return e;
    }
    if (r < 14) {
      e.kind = Expr::kBare;
      e.col = Chance(75) ? kScoreCols[rng_() % 3] : Col::kLength;
      return e;
    }
    if (r < 30) {
      e.kind = Expr::kIn;
      e.negated = Chance(40);
      e.col = static_cast<Col>(rng_() % 8);
      int k = 1 + static_cast<int>(rng_() % 4);
      for (int i = 0; i < k; ++i) e.list.push_back(Literal(e.col, 0));
      return e;
    }
    e.kind = Expr::kCompare;
    e.lhs = ColumnTerm(static_cast<Col>(rng_() % 8));
    const Col c = e.lhs.col;
    if (IsNumeric(c)) {
      e.op = static_cast<Op>(rng_() % 6);
      uint64_t k = rng_() % 10;
      if (k == 0) {
        e.rhs = ColumnTerm(Chance(75) ? kScoreCols[rng_() % 3] : Col::kLength);
      } else if (k == 1 && !pct_ok_.empty()) {
        e.rhs = ColumnTerm(Pick(pct_ok_));
        e.rhs.kind = Term::kPct;
        static const std::vector<double> ps = {0, 10, 25, 50, 90, 99.5, 100};
        e.rhs.number = Chance(70) ? Pick(ps) : (rng_() % 10001) / 100.0;
      } else {
        e.rhs = Literal(c, 0);
      }
    } else {
      e.op = Chance(50) ? Op::kEq : Op::kNe;
      if (c != Col::kId && Chance(15)) {
        static const Col strings[] = {Col::kDomain, Col::kLang, Col::kSrc};
        e.rhs = ColumnTerm(strings[rng_() % 3]);
      } else {
        e.rhs = Literal(c, 0);
      }
    }
    return e;
  }

  // A literal to compare with column `c`.
  Term Literal(Col c, int) {
    Term t;
    if (!IsNumeric(c)) {
      t.kind = Term::kString;
      uint32_t row = static_cast<uint32_t>(rng_() % t_.n);
      switch (c) {
        case Col::kDomain:
          t.str = Pick(t_.domain_names);  // unknown domains are errors
          break;
        case Col::kId:
          t.str = Chance(85) ? t_.ids[row] : "no-such-id";
          break;
        default: {
          const Attr& a = t_.attrs.at(c == Col::kLang ? "lang" : "src");
          t.str = Chance(85) ? Pick(a.values) : "nobody has this";
          break;
        }
      }
      return t;
    }
    t.kind = Term::kNumber;
    t.number = Number(c);
    return t;
  }

  // A number near the interesting values of column `c`.
  double Number(Col c) {
    uint32_t row = static_cast<uint32_t>(rng_() % t_.n);
    double stored = c == Col::kLength
                        ? static_cast<double>(t_.length[row])
                        : static_cast<double>(t_.scores.at(ColName(c))[row]);
    if (std::isnan(stored)) stored = 0.25;
    static const std::vector<double> special = {
        0.0,
        -0.0,
        0.5,
        1e40,
        -1e40,
        1e-40,
        -1e-40,
        1e-46,
        static_cast<double>(FLT_MAX),
        -static_cast<double>(FLT_MAX),
        3.4028235677973366e38,  // the midpoint between FLT_MAX and 2^128
        3.4028235677973362e38,  // just below it
        3.5e38,
        -3.5e38,
        1e308,
        -1e308,
        5e-324,
        1.401298464324817e-45,  // the least positive float
        7.006492321624085e-46,  // half of it
        2047.5,
        2048,
        -1,
        -0.5,
        4294967295.0,
        4294967295.5,
        4294967296.0,
        16777217.0,
        0.1,
    };
    switch (rng_() % 6) {
      case 0:
        return stored;  // equal to a stored value
      case 1: {
        // Strictly between the stored float and its neighbour, or just off
        // it in double.
        float f = static_cast<float>(stored);
        if (c == Col::kLength) return stored + (Chance(50) ? 0.5 : -0.5);
        float g = std::nextafter(f, Chance(50) ? INFINITY : -INFINITY);
        if (!std::isfinite(g)) return stored;
        double mid = (static_cast<double>(f) + static_cast<double>(g)) / 2;
        return Chance(50) ? mid : std::nextafter(stored, mid);
      }
      case 2:
      case 3:
        return Pick(special);
      default:
        return std::uniform_real_distribution<double>(-12, 12)(rng_);
    }
  }

  const Table& t_;
  std::mt19937_64 rng_;
  std::vector<Col> pct_ok_;
};

// ---------------------------------------------------------------------------
// Rendering to filter text.

class Renderer {
 public:
  explicit Renderer(uint64_t seed) : rng_(seed) {}

  std::string Render(const Expr& e) {
    std::string out = Space();
    Append(e, 0, &out);
    out += Space();
    if (Chance(10)) out += "# trailing comment\n";
    return out;
  }

 private:
  bool Chance(int percent) { return static_cast<int>(rng_() % 100) < percent; }

  std::string Space() {
    switch (rng_() % 8) {
      case 0:
        return "";
      case 1:
        return "\n  ";
      case 2:
        return "  # a comment ( \" ) \n";
      case 3:
        return "\t";
      default:
        return " ";
    }
  }

  static int Strength(const Expr& e) {
    switch (e.kind) {
      case Expr::kOr:
        return 0;
      case Expr::kAnd:
        return 1;
      case Expr::kNot:
        return 2;
      default:
        return 3;
    }
  }

  // Appends e; `min` is the least binding strength allowed without
  // parentheses in this position.
  void Append(const Expr& e, int min, std::string* out) {
    bool parens = Strength(e) < min || Chance(8);
    if (parens) *out += "(" + Space();
    switch (e.kind) {
      case Expr::kOr:
      case Expr::kAnd:
        for (size_t i = 0; i < e.children.size(); ++i) {
          if (i > 0) {
            *out += " " + std::string(e.kind == Expr::kOr ? "or" : "and") +
                    " " + Space();
          }
          Append(e.children[i], Strength(e) + 1, out);
        }
        break;
      case Expr::kNot:
        *out += "not ";
        Append(e.children[0], 2, out);
        break;
      case Expr::kCompare:
        if (Chance(30) && e.rhs.kind != Term::kColumn) {
          // Literal first: 0.5 < a is a > 0.5.
          *out += TermText(e.rhs) + Space() + MirroredOp(e.op) + Space() +
                  TermText(e.lhs);
        } else {
          *out += TermText(e.lhs) + Space() + OpText(e.op) + Space() +
                  TermText(e.rhs);
        }
        break;
      case Expr::kIn:
        *out +=
            std::string(ColName(e.col)) + (e.negated ? " not in (" : " in (");
        for (size_t i = 0; i < e.list.size(); ++i) {
          if (i > 0) *out += "," + Space();
          *out += TermText(e.list[i]);
        }
        *out += ")";
        break;
      case Expr::kIsNull:
        *out += "is_null(" + Space() + ColName(e.col) + ")";
        break;
      case Expr::kBare:
        *out += ColName(e.col);
        break;
    }
    if (parens) *out += Space() + ")";
  }

  static const char* MirroredOp(Op op) {
    switch (op) {
      case Op::kLt:
        return ">";
      case Op::kLe:
        return ">=";
      case Op::kGt:
        return "<";
      case Op::kGe:
        return "<=";
      default:
        return OpText(op);
    }
  }

  std::string NumberText(double v) {
    char buf[64];
    // %.17g always round-trips a double; sometimes write a '+' sign.
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    std::string s = buf;
    if (v >= 0 && !std::signbit(v) && Chance(10)) s = "+" + s;
    return s;
  }

  std::string TermText(const Term& t) {
    switch (t.kind) {
      case Term::kColumn:
        return ColName(t.col);
      case Term::kNumber:
        return NumberText(t.number);
      case Term::kPct:
        return std::string("pct(") + ColName(t.col) + "," + Space() +
               NumberText(t.number) + ")";
      case Term::kString: {
        std::string s = "\"";
        for (char c : t.str) {
          if (c == '"' || c == '\\') s += '\\';
          s += c;
        }
        return s + "\"";
      }
    }
    return "";
  }

  std::mt19937_64 rng_;
};

// ---------------------------------------------------------------------------

struct Case {
  uint32_t rows;
  uint64_t seed;
};

class FilterRandomTest : public ::testing::TestWithParam<Case> {};

TEST_P(FilterRandomTest, CompiledPlanMatchesBruteForceReference) {
  const Case c = GetParam();
  const Table table = MakeTable(c.rows, c.seed);
  const ColumnSet columns = table.Columns();
  Reference reference(table);
  Generator generator(table, c.seed * 7 + 1);
  Renderer renderer(c.seed * 13 + 5);
  // A sanitizer build tries a quarter of them (tests/sanitized.h).
  constexpr int kExpressions = ::winnow::testing::kSanitized ? 100 : 400;
  int failures = 0;
  size_t total_matches = 0;
  for (int k = 0; k < kExpressions && failures < 3; ++k) {
    Expr e = generator.Random(1 + k % 4);
    std::string text = renderer.Render(e);
    absl::StatusOr<Filter> filter = Filter::Compile(text, columns);
    ASSERT_TRUE(filter.ok()) << filter.status() << "\nfilter: " << text;
    Bitmap got;
    size_t count = filter->EvaluateInto(columns, &got);
    Bitmap want(table.n);
    for (uint32_t i = 0; i < table.n; ++i) {
      if (table.live.Get(i) && reference.Eval(e, i)) want.Set(i);
    }
    total_matches += want.Count();
    EXPECT_EQ(count, got.Count()) << text;
    if (got != want) {
      ++failures;
      for (uint32_t i = 0; i < table.n; ++i) {
        if (got.Get(i) != want.Get(i)) {
          ADD_FAILURE() << "filter: " << text
                        << "\ncanonical: " << filter->ToString() << "\nrow "
                        << i << ": got " << got.Get(i) << ", want "
                        << want.Get(i) << " (a=" << table.scores.at("a")[i]
                        << " b=" << table.scores.at("b")[i]
                        << " c=" << table.scores.at("c")[i]
                        << " length=" << table.length[i]
                        << " domain=" << table.domain[i]
                        << " lang=" << table.attrs.at("lang").codes[i]
                        << " src=" << table.attrs.at("src").codes[i] << ")";
          break;
        }
      }
    }
    // The canonical text is a fixed point and means the same thing.
    absl::StatusOr<Filter> again = Filter::Compile(filter->ToString(), columns);
    ASSERT_TRUE(again.ok())
        << again.status() << "\ncanonical: " << filter->ToString();
    EXPECT_EQ(again->ToString(), filter->ToString());
    EXPECT_EQ(again->Evaluate(columns), got) << filter->ToString();
  }
  // The expressions are neither all empty nor all full.
  EXPECT_GT(total_matches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Seeds, FilterRandomTest,
                         ::testing::Values(Case{1, 1}, Case{63, 2}, Case{64, 3},
                                           Case{65, 4}, Case{4095, 5},
                                           Case{4097, 6}, Case{12289, 7},
                                           Case{10007, 8}, Case{777, 9},
                                           Case{8192, 10}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return "Rows" + std::to_string(info.param.rows) +
                                  "Seed" + std::to_string(info.param.seed);
                         });

}  // namespace
}  // namespace winnow
