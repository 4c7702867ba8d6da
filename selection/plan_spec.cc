#include "selection/plan_spec.h"

#include <cmath>
#include <cstdint>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace winnow {
namespace {

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

std::string Field(const StrategySpec& s, const char* name) {
  return absl::StrCat("strategy.", StrategyName(s.kind), ".", name);
}

absl::Status RequireScore(const StrategySpec& s) {
  if (!s.score.empty()) return absl::OkStatus();
  return Invalid(absl::StrCat(Field(s, "score"), " must not be empty"));
}

absl::Status CheckWeights(const StrategySpec& s) {
  const std::string field = absl::StrCat("strategy.", StrategyName(s.kind));
  if (s.kind == StrategyKind::kWeightedWithReplacement && s.score.empty()) {
    return absl::OkStatus();  // uniform draws: no weight function applies
  }
  if (absl::Status st = RequireScore(s); !st.ok()) return st;
  if (absl::Status st = ValidateWeightSpec(s.weight); !st.ok()) {
    return Invalid(absl::StrCat(field, ": ", st.message()));
  }
  if (s.update != WeightUpdate::kFrozen) {
    return absl::UnimplementedError(absl::StrCat(
        field,
        ".update: weights re-read from the score column (EPOCH or LIVE) are "
        "not served yet; use WEIGHT_UPDATE_FROZEN"));
  }
  return absl::OkStatus();
}

absl::Status CheckTopK(const StrategySpec& s) {
  if (absl::Status st = RequireScore(s); !st.ok()) return st;
  if (s.k.has_value()) {
    if (*s.k < 1) {
      return Invalid(absl::StrCat("strategy.top_k.k must be >= 1, got ", *s.k));
    }
  } else if (s.fraction.has_value()) {
    if (!(*s.fraction > 0 && *s.fraction <= 1)) {
      return Invalid(absl::StrCat(
          "strategy.top_k.fraction must be in (0, 1], got ", *s.fraction));
    }
  } else {
    return Invalid("strategy.top_k: set k or fraction");
  }
  return absl::OkStatus();
}

absl::Status CheckRepetitionBudget(const PlanSpec& spec) {
  const StrategySpec& s = spec.strategy;
  if (spec.num_epochs != 0) {
    return Invalid(
        "num_epochs must be 0 for repetition_budget: the strategy sets "
        "it to ceil(sample_budget / pool size)");
  }
  if (absl::Status st = RequireScore(s); !st.ok()) return st;
  double total_fraction = 0;
  for (size_t i = 0; i < s.pools.size(); ++i) {
    const double f = s.pools[i].fraction;
    if (!(f > 0 && f <= 1)) {
      return Invalid(absl::StrCat("strategy.repetition_budget.pools[", i,
                                  "].fraction must be in (0, 1], got ", f));
    }
    total_fraction += f;
  }
  if (total_fraction > 1 + 1e-9) {
    return Invalid(
        "strategy.repetition_budget.pools: fractions sum to more than 1");
  }
  // The curve parameters and the budget, checked on pools of one each.
  const std::vector<PoolParams> pools =
      s.pools.empty() ? DefaultPools() : s.pools;
  const std::vector<int64_t> one_each(pools.size(), 1);
  absl::StatusOr<PoolPrediction> checked =
      PredictPools(one_each, pools, s.sample_budget);
  if (!checked.ok()) {
    return Invalid(absl::StrCat("strategy.repetition_budget: ",
                                checked.status().message()));
  }
  return absl::OkStatus();
}

// The parts of a domain-weight list that need no data: no domain twice,
// finite non-negative weights, not all zero.
absl::Status CheckDomainWeightValues(std::span<const DomainWeightSpec> ws,
                                     const std::string& field) {
  double sum = 0;
  std::set<std::string_view> seen;
  for (size_t i = 0; i < ws.size(); ++i) {
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (!seen.insert(ws[i].domain).second) {
      return Invalid(
          absl::StrCat(f, ".domain: '", ws[i].domain, "' is listed twice"));
    }
    if (!std::isfinite(ws[i].weight) || ws[i].weight < 0) {
      return Invalid(absl::StrCat(f, ".weight must be finite and >= 0, got ",
                                  ws[i].weight));
    }
    sum += ws[i].weight;
  }
  if (!(sum > 0)) {
    return Invalid(absl::StrCat(field, ": the weights must not all be 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckMixture(const PlanSpec& spec) {
  const StrategySpec& s = spec.strategy;
  if (s.live) {
    return absl::UnimplementedError(
        "strategy.mixture.mode: live (DoReMi) mixtures need training "
        "feedback, which is not served yet; use MIXTURE_MODE_STATIC");
  }
  if (spec.samples_per_epoch < 1) {
    return Invalid("samples_per_epoch must be >= 1 for a mixture");
  }
  if (!s.domain_weights.empty()) {
    if (absl::Status st = CheckDomainWeightValues(
            s.domain_weights, "strategy.mixture.domain_weights");
        !st.ok()) {
      return st;
    }
  }
  int64_t last_start = -1;
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const std::string f =
        absl::StrCat("strategy.mixture.schedule_steps[", i, "]");
    if (s.steps[i].start_sample <= last_start) {
      return Invalid(
          absl::StrCat(f, ".start_sample must be ascending and >= 0, got ",
                       s.steps[i].start_sample));
    }
    last_start = s.steps[i].start_sample;
    if (absl::Status st =
            CheckDomainWeightValues(s.steps[i].weights, f + ".domain_weights");
        !st.ok()) {
      return st;
    }
  }
  if (s.size_exponent.has_value() && !std::isfinite(*s.size_exponent)) {
    return Invalid("strategy.mixture.size_exponent must be finite");
  }
  return absl::OkStatus();
}

absl::Status CheckStrategy(const PlanSpec& spec) {
  const StrategySpec& s = spec.strategy;
  switch (s.kind) {
    case StrategyKind::kUniform:
      return absl::OkStatus();
    case StrategyKind::kWeighted:
      return CheckWeights(s);
    case StrategyKind::kWeightedWithReplacement:
      if (absl::Status st = CheckWeights(s); !st.ok()) return st;
      if (spec.samples_per_epoch < 1) {
        return Invalid(
            "samples_per_epoch must be >= 1 for weighted_with_replacement");
      }
      return absl::OkStatus();
    case StrategyKind::kTopK:
      return CheckTopK(s);
    case StrategyKind::kOrdered:
      if (absl::Status st = RequireScore(s); !st.ok()) return st;
      if (s.fold_count < 0) {
        return Invalid(absl::StrCat(
            "strategy.ordered.fold_count must be >= 0, got ", s.fold_count));
      }
      return absl::OkStatus();
    case StrategyKind::kClusterBalanced:
      if (s.budget < 1) {
        return Invalid(absl::StrCat(
            "strategy.cluster_balanced.budget must be >= 1, got ", s.budget));
      }
      return absl::OkStatus();
    case StrategyKind::kRepetitionBudget:
      return CheckRepetitionBudget(spec);
    case StrategyKind::kMixture:
      return CheckMixture(spec);
  }
  return Invalid("strategy: unknown kind");
}

absl::Status CheckTokenBudget(const TokenBudgetParams& tb) {
  if (tb.max_tokens < 0) {
    return Invalid(absl::StrCat("token_budget.max_tokens must be >= 0, got ",
                                tb.max_tokens));
  }
  if (tb.bucket_count < 0 || tb.bucket_count > 1000) {
    return Invalid(
        absl::StrCat("token_budget.bucket_count must be in [0, 1000], got ",
                     tb.bucket_count));
  }
  for (size_t i = 0; i < tb.bucket_edges.size(); ++i) {
    const int64_t e = tb.bucket_edges[i];
    if (e < 1 || e > UINT32_MAX || (i > 0 && e <= tb.bucket_edges[i - 1])) {
      return Invalid(absl::StrCat("token_budget.bucket_edges[", i,
                                  "] must be >= 1 and strictly ascending, got ",
                                  e));
    }
  }
  if (!tb.bucket_edges.empty() && !tb.bucket_batch_sizes.empty() &&
      tb.bucket_batch_sizes.size() != tb.bucket_edges.size() + 1) {
    return Invalid(absl::StrCat("token_budget.bucket_batch_sizes has ",
                                tb.bucket_batch_sizes.size(), " entries for ",
                                tb.bucket_edges.size() + 1, " buckets"));
  }
  for (size_t i = 0; i < tb.bucket_batch_sizes.size(); ++i) {
    if (tb.bucket_batch_sizes[i] < 1) {
      return Invalid(absl::StrCat("token_budget.bucket_batch_sizes[", i,
                                  "] must be >= 1"));
    }
  }
  if (tb.bucket_batch_sizes.empty() && tb.max_tokens == 0) {
    return Invalid(
        "token_budget.max_tokens must be > 0 unless bucket_batch_sizes "
        "is set");
  }
  return absl::OkStatus();
}

// ---- DiffPlanSpecs ----

class Differ {
 public:
  template <typename T>
  void Compare(const T& a, const T& b, const std::string& field) {
    if (!(a == b)) out_.push_back(field);
  }
  std::vector<std::string> Take() { return std::move(out_); }

 private:
  std::vector<std::string> out_;
};

bool SamePools(const std::vector<PoolParams>& a,
               const std::vector<PoolParams>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].fraction != b[i].fraction || a[i].a != b[i].a ||
        a[i].b != b[i].b || a[i].tau != b[i].tau || a[i].d != b[i].d) {
      return false;
    }
  }
  return true;
}

void DiffStrategies(const StrategySpec& a, const StrategySpec& b, Differ* d) {
  if (a.kind != b.kind) {
    d->Compare(a.kind, b.kind, "strategy");
    return;
  }
  auto f = [&](const char* name) { return Field(a, name); };
  switch (a.kind) {
    case StrategyKind::kUniform:
      return;
    case StrategyKind::kWeighted:
    case StrategyKind::kWeightedWithReplacement:
      d->Compare(a.score, b.score, f("score"));
      d->Compare(a.weight.function, b.weight.function, f("weight_function"));
      d->Compare(a.weight.alpha, b.weight.alpha, f("alpha"));
      d->Compare(a.weight.temperature, b.weight.temperature, f("temperature"));
      d->Compare(a.update, b.update, f("update"));
      return;
    case StrategyKind::kTopK:
      d->Compare(a.score, b.score, f("score"));
      d->Compare(a.k, b.k, f("k"));
      d->Compare(a.fraction, b.fraction, f("fraction"));
      d->Compare(a.descending, b.descending, f("order"));
      d->Compare(a.shuffle, b.shuffle, f("shuffle"));
      return;
    case StrategyKind::kOrdered:
      d->Compare(a.score, b.score, f("score"));
      d->Compare(a.direction, b.direction, f("direction"));
      d->Compare(a.fold_count, b.fold_count, f("fold_count"));
      return;
    case StrategyKind::kClusterBalanced:
      d->Compare(a.cluster_score, b.cluster_score, f("cluster_score"));
      d->Compare(a.budget, b.budget, f("budget"));
      return;
    case StrategyKind::kRepetitionBudget:
      d->Compare(a.score, b.score, f("score"));
      d->Compare(a.sample_budget, b.sample_budget, f("sample_budget"));
      d->Compare(SamePools(a.pools, b.pools), true, f("pools"));
      d->Compare(a.descending, b.descending, f("order"));
      return;
    case StrategyKind::kMixture:
      d->Compare(a.live, b.live, f("mode"));
      d->Compare(a.domain_weights, b.domain_weights, f("domain_weights"));
      d->Compare(a.steps, b.steps, f("schedule_steps"));
      d->Compare(a.drop_exhausted, b.drop_exhausted, f("on_exhausted"));
      d->Compare(a.size_exponent, b.size_exponent, f("size_exponent"));
      return;
  }
}

std::string FormatDouble(double v) { return absl::StrCat(v); }

}  // namespace

const char* StrategyName(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kUniform:
      return "uniform";
    case StrategyKind::kWeighted:
      return "weighted";
    case StrategyKind::kWeightedWithReplacement:
      return "weighted_with_replacement";
    case StrategyKind::kTopK:
      return "top_k";
    case StrategyKind::kMixture:
      return "mixture";
    case StrategyKind::kOrdered:
      return "ordered";
    case StrategyKind::kClusterBalanced:
      return "cluster_balanced";
    case StrategyKind::kRepetitionBudget:
      return "repetition_budget";
  }
  return "unknown";
}

absl::Status ValidatePlanSpec(const PlanSpec& spec) {
  if (spec.num_epochs < 0) {
    return Invalid(
        absl::StrCat("num_epochs must be >= 0, got ", spec.num_epochs));
  }
  if (spec.samples_per_epoch < 0) {
    return Invalid(absl::StrCat("samples_per_epoch must be >= 0, got ",
                                spec.samples_per_epoch));
  }
  if (!spec.token_budget.has_value() && spec.batch_size < 1) {
    return Invalid(
        absl::StrCat("batch_size must be >= 1, got ", spec.batch_size));
  }
  if (absl::Status s = CheckStrategy(spec); !s.ok()) return s;
  if (spec.token_budget.has_value()) {
    return CheckTokenBudget(*spec.token_budget);
  }
  return absl::OkStatus();
}

PlanSpec WithDefaults(PlanSpec spec) {
  StrategySpec& s = spec.strategy;
  switch (s.kind) {
    case StrategyKind::kOrdered:
      if (s.direction == OrderDirection::kFolding && s.fold_count == 0) {
        s.fold_count = kDefaultFoldCount;
      }
      break;
    case StrategyKind::kClusterBalanced:
      if (s.cluster_score.empty()) s.cluster_score = kDefaultClusterScore;
      break;
    case StrategyKind::kRepetitionBudget:
      if (s.pools.empty()) s.pools = DefaultPools();
      break;
    case StrategyKind::kMixture:
      if (!s.size_exponent.has_value()) s.size_exponent = 1.0;
      break;
    default:
      break;
  }
  if (spec.token_budget.has_value() && spec.token_budget->bucket_count == 0 &&
      spec.token_budget->bucket_edges.empty()) {
    spec.token_budget->bucket_count = kDefaultBucketCount;
  }
  if (spec.token_budget.has_value()) spec.batch_size = 0;
  return spec;
}

std::vector<std::string> DiffPlanSpecs(const PlanSpec& a_in,
                                       const PlanSpec& b_in) {
  const PlanSpec a = WithDefaults(a_in);
  const PlanSpec b = WithDefaults(b_in);
  Differ d;
  d.Compare(a.collection, b.collection, "collection");
  d.Compare(a.filter, b.filter, "filter");
  DiffStrategies(a.strategy, b.strategy, &d);
  d.Compare(a.seed, b.seed, "seed");
  d.Compare(a.run_id, b.run_id, "run_id");
  d.Compare(a.num_epochs, b.num_epochs, "num_epochs");
  d.Compare(a.samples_per_epoch, b.samples_per_epoch, "samples_per_epoch");
  if (a.token_budget.has_value() != b.token_budget.has_value()) {
    d.Compare(a.token_budget.has_value(), b.token_budget.has_value(),
              a.token_budget.has_value() ? "token_budget" : "batch_size");
  } else if (a.token_budget.has_value()) {
    const TokenBudgetParams& x = *a.token_budget;
    const TokenBudgetParams& y = *b.token_budget;
    d.Compare(x.max_tokens, y.max_tokens, "token_budget.max_tokens");
    d.Compare(x.bucket_count, y.bucket_count, "token_budget.bucket_count");
    d.Compare(x.bucket_edges, y.bucket_edges, "token_budget.bucket_edges");
    d.Compare(x.bucket_batch_sizes, y.bucket_batch_sizes,
              "token_budget.bucket_batch_sizes");
  } else {
    d.Compare(a.batch_size, b.batch_size, "batch_size");
  }
  d.Compare(a.drop_last, b.drop_last, "drop_last");
  return d.Take();
}

std::string SummarizeStrategy(const StrategySpec& s) {
  std::vector<std::string> parts;
  auto weights = [&] {
    if (!s.score.empty()) parts.push_back(absl::StrCat("score=", s.score));
    if (s.score.empty()) return;
    switch (s.weight.function) {
      case WeightFunction::kRaw:
        parts.push_back("raw");
        break;
      case WeightFunction::kPower:
        parts.push_back("power");
        parts.push_back(absl::StrCat("alpha=", FormatDouble(s.weight.alpha)));
        break;
      case WeightFunction::kSoftmax:
        parts.push_back("softmax");
        parts.push_back(
            absl::StrCat("temperature=", FormatDouble(s.weight.temperature)));
        break;
    }
  };
  switch (s.kind) {
    case StrategyKind::kUniform:
      break;
    case StrategyKind::kWeighted:
    case StrategyKind::kWeightedWithReplacement:
      weights();
      break;
    case StrategyKind::kTopK:
      parts.push_back(absl::StrCat("score=", s.score));
      parts.push_back(s.k.has_value()
                          ? absl::StrCat("k=", *s.k)
                          : absl::StrCat("fraction=",
                                         FormatDouble(s.fraction.value_or(0))));
      parts.push_back(s.descending ? "descending" : "ascending");
      if (s.shuffle) parts.push_back("shuffled");
      break;
    case StrategyKind::kOrdered:
      parts.push_back(absl::StrCat("score=", s.score));
      if (s.direction == OrderDirection::kFolding) {
        parts.push_back(absl::StrCat("folding, folds=", s.fold_count == 0
                                                            ? kDefaultFoldCount
                                                            : s.fold_count));
      } else {
        parts.push_back(s.direction == OrderDirection::kDescending
                            ? "descending"
                            : "ascending");
      }
      break;
    case StrategyKind::kClusterBalanced:
      parts.push_back(absl::StrCat("cluster_score=", s.cluster_score.empty()
                                                         ? kDefaultClusterScore
                                                         : s.cluster_score));
      parts.push_back(absl::StrCat("budget=", s.budget));
      break;
    case StrategyKind::kRepetitionBudget:
      parts.push_back(absl::StrCat("score=", s.score));
      parts.push_back(absl::StrCat("sample_budget=", s.sample_budget));
      parts.push_back(absl::StrCat(
          "pools=", s.pools.empty() ? DefaultPools().size() : s.pools.size()));
      break;
    case StrategyKind::kMixture: {
      parts.push_back(s.live ? "live" : "static");
      if (s.domain_weights.empty()) {
        parts.push_back(absl::StrCat(
            "by size^", FormatDouble(s.size_exponent.value_or(1.0))));
      } else {
        std::vector<std::string> ws;
        for (const DomainWeightSpec& w : s.domain_weights) {
          ws.push_back(absl::StrCat(w.domain, "=", FormatDouble(w.weight)));
        }
        parts.push_back(absl::StrJoin(ws, " "));
      }
      if (!s.steps.empty()) {
        parts.push_back(absl::StrCat(s.steps.size(), " schedule steps"));
      }
      if (s.drop_exhausted) parts.push_back("drop exhausted");
      break;
    }
  }
  return absl::StrCat(StrategyName(s.kind), "(", absl::StrJoin(parts, ", "),
                      ")");
}

}  // namespace winnow
