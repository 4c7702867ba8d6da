// The float32 and uint32 rewrites of `column op literal` select exactly the
// values that the double comparison of docs/filter-language.md selects: proved
// here over every pairing of edge-case values and literals, plus random ones.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "selection/filter/thresholds.h"

namespace winnow::filter {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr CompareOp kOps[] = {CompareOp::kEq, CompareOp::kNe, CompareOp::kLt,
                              CompareOp::kLe, CompareOp::kGt, CompareOp::kGe};

// The language's definition: widen, compare as doubles; null is false.
bool ByDefinition(CompareOp op, double v, double t) {
  if (std::isnan(v)) return false;
  switch (op) {
    case CompareOp::kEq:
      return v == t;
    case CompareOp::kNe:
      return v != t;
    case CompareOp::kLt:
      return v < t;
    case CompareOp::kLe:
      return v <= t;
    case CompareOp::kGt:
      return v > t;
    case CompareOp::kGe:
      return v >= t;
  }
  return false;
}

// What the kernel computes for a float predicate.
bool Apply(FloatPredicate p, float v) {
  switch (p.op) {
    case FloatOp::kNever:
      return false;
    case FloatOp::kLt:
      return v < p.f;
    case FloatOp::kLe:
      return v <= p.f;
    case FloatOp::kGt:
      return v > p.f;
    case FloatOp::kGe:
      return v >= p.f;
    case FloatOp::kEq:
      return v == p.f;
    case FloatOp::kNe:
      return (v < p.f) | (v > p.f);
    case FloatOp::kNotNull:
      return v == v;
    case FloatOp::kIsNull:
      return v != v;
    case FloatOp::kNonZero:
      return (v < 0) | (v > 0);
  }
  return false;
}

std::vector<float> EdgeFloats() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          0.5f,
                          0.1f,
                          -0.1f,
                          FLT_MAX,
                          -FLT_MAX,
                          FLT_MIN,
                          -FLT_MIN,
                          std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min(),
                          kInfF,
                          -kInfF,
                          std::numeric_limits<float>::quiet_NaN(),
                          16777216.0f,
                          16777218.0f,
                          1e-40f,
                          3e38f};
  const size_t base = v.size();
  for (size_t i = 0; i < base; ++i) {
    if (!std::isfinite(v[i])) continue;
    v.push_back(std::nextafter(v[i], kInfF));
    v.push_back(std::nextafter(v[i], -kInfF));
  }
  return v;
}

// Literals at and around each value: itself, its double neighbours, the
// midpoints to its float neighbours, and the far ends of both ranges.
std::vector<double> LiteralsAround(const std::vector<float>& values) {
  std::vector<double> t = {0.0,
                           -0.0,
                           kInf,
                           -kInf,
                           1e40,
                           -1e40,
                           1e-40,
                           -1e-40,
                           1e-46,
                           -1e-46,
                           5e-324,
                           -5e-324,
                           1e308,
                           -1e308,
                           std::numeric_limits<double>::max(),
                           -std::numeric_limits<double>::max(),
                           3.4028235677973366e38,
                           -3.4028235677973366e38,
                           3.4028235677973362e38,
                           3.4028235677973370e38,
                           0.1,
                           0.5,
                           16777217.0};
  for (float f : values) {
    if (std::isnan(f)) continue;
    double d = f;
    t.push_back(d);
    t.push_back(std::nextafter(d, kInf));
    t.push_back(std::nextafter(d, -kInf));
    for (float g : {std::nextafter(f, kInfF), std::nextafter(f, -kInfF)}) {
      if (std::isfinite(g) && std::isfinite(f)) {
        t.push_back((d + static_cast<double>(g)) / 2);
      }
    }
  }
  return t;
}

void ExpectFloatEquivalence(const std::vector<float>& values,
                            const std::vector<double>& literals) {
  for (CompareOp op : kOps) {
    for (double t : literals) {
      FloatPredicate p = FloatThreshold(op, t);
      for (float v : values) {
        ASSERT_EQ(Apply(p, v), ByDefinition(op, v, t))
            << "v=" << v << " (" << static_cast<double>(v) << ") op "
            << CompareOpText(op) << " t=" << t << " -> f=" << p.f;
      }
    }
  }
}

TEST(FilterThresholdsTest, FloatRewriteIsExactOnEdgeValues) {
  std::vector<float> values = EdgeFloats();
  ExpectFloatEquivalence(values, LiteralsAround(values));
}

TEST(FilterThresholdsTest, FloatRewriteIsExactOnRandomValuesAndLiterals) {
  std::mt19937_64 rng(2024);
  std::vector<float> values = EdgeFloats();
  for (int i = 0; i < 1500; ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    values.push_back(f);  // any float, NaN and +-inf included
  }
  std::vector<float> some(values.begin(), values.begin() + 400);
  std::vector<double> literals = LiteralsAround(some);
  for (int i = 0; i < 600; ++i) {
    uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof(d));
    if (!std::isnan(d)) literals.push_back(d);
    literals.push_back(std::uniform_real_distribution<double>(-10, 10)(rng));
  }
  ExpectFloatEquivalence(values, literals);
}

TEST(FilterThresholdsTest, FloatRewriteIsExactOnADenseRunOfFloats) {
  // Every float in a run around 1.0 and around 0, with every literal at
  // or between them.
  std::vector<float> values;
  for (float start : {1.0f, 0.0f, FLT_MAX}) {
    float f = start;
    for (int i = 0; i < 40; ++i) f = std::nextafter(f, -kInfF);
    for (int i = 0; i < 80; ++i) {
      values.push_back(f);
      f = std::nextafter(f, kInfF);
    }
  }
  ExpectFloatEquivalence(values, LiteralsAround(values));
}

TEST(FilterThresholdsTest, RoundingToFloatSaturatesPastTheRange) {
  EXPECT_EQ(RoundUpToFloat(1e40), kInfF);
  EXPECT_EQ(RoundDownToFloat(1e40), FLT_MAX);
  EXPECT_EQ(RoundUpToFloat(-1e40), -FLT_MAX);
  EXPECT_EQ(RoundDownToFloat(-1e40), -kInfF);
  EXPECT_EQ(RoundUpToFloat(0.1), 0.1f);  // 0.1f is just above 0.1
  EXPECT_EQ(RoundDownToFloat(0.1), std::nextafter(0.1f, 0.0f));
  EXPECT_EQ(RoundUpToFloat(1e-46), std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(RoundDownToFloat(1e-46), 0.0f);
}

TEST(FilterThresholdsTest, EqualityWithAnUnrepresentableLiteralIsNever) {
  EXPECT_EQ(FloatThreshold(CompareOp::kEq, 0.1).op, FloatOp::kNever);
  EXPECT_EQ(FloatThreshold(CompareOp::kEq, 0.5).op, FloatOp::kEq);
  EXPECT_EQ(FloatThreshold(CompareOp::kEq, 1e40).op, FloatOp::kNever);
  // != keeps every non-null value.
  EXPECT_EQ(FloatThreshold(CompareOp::kNe, 0.1).op, FloatOp::kNotNull);
}

// ---- uint32 lengths.

bool ApplyRange(RangePredicate r, uint32_t x) { return r.Matches(x); }

TEST(FilterThresholdsTest, UintRewriteIsExactOnEdgeValuesAndLiterals) {
  std::vector<uint32_t> values = {
      0,        1,        2,          2047,       2048,       2049,
      16777216, 16777217, 2147483647, 2147483648, 4294967294, 4294967295};
  std::mt19937_64 rng(7);
  for (int i = 0; i < 300; ++i) values.push_back(static_cast<uint32_t>(rng()));
  std::vector<double> literals = {
      -kInf,        kInf,         -1e40,        1e40,
      -1,           -0.5,         -0.0,         0.0,
      1e-300,       0.5,          1e300,        4294967295.0,
      4294967295.5, 4294967296.0, 4294967296.5, 9007199254740993.0};
  for (uint32_t x : values) {
    double d = x;
    for (double t : {d, d - 0.5, d + 0.5, std::nextafter(d, kInf),
                     std::nextafter(d, -kInf), d - 1, d + 1}) {
      literals.push_back(t);
    }
  }
  for (CompareOp op : kOps) {
    for (double t : literals) {
      RangePredicate r = UintThreshold(op, t);
      for (uint32_t x : values) {
        ASSERT_EQ(ApplyRange(r, x), ByDefinition(op, x, t))
            << "x=" << x << " op " << CompareOpText(op) << " t=" << t << " -> ["
            << r.lo << ", " << r.hi << "] negate=" << r.negate;
      }
    }
  }
}

TEST(FilterThresholdsTest, UintRewriteReportsAlwaysAndNever) {
  EXPECT_TRUE(UintThreshold(CompareOp::kGe, -1).Always());
  EXPECT_TRUE(UintThreshold(CompareOp::kLt, 1e40).Always());
  EXPECT_TRUE(UintThreshold(CompareOp::kLt, 0).Never());
  EXPECT_TRUE(UintThreshold(CompareOp::kEq, 2.5).Never());
  EXPECT_TRUE(UintThreshold(CompareOp::kNe, 2.5).Always());
  EXPECT_TRUE(UintThreshold(CompareOp::kGt, 4294967295.0).Never());
  RangePredicate lt = UintThreshold(CompareOp::kLt, 2048);
  EXPECT_EQ(lt.lo, 0u);
  EXPECT_EQ(lt.hi, 2047u);
}

}  // namespace
}  // namespace winnow::filter
