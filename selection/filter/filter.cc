#include "selection/filter/filter.h"

#include <utility>

#include "selection/filter/ast.h"
#include "selection/filter/compiler.h"
#include "selection/filter/parser.h"
#include "selection/filter/plan.h"

namespace winnow {

struct Filter::State {
  filter::CompiledFilter compiled;
  std::string text;
};

Filter::Filter() : state_(std::make_shared<const State>()) {}

Filter::Filter(std::shared_ptr<const State> state) : state_(std::move(state)) {}

absl::StatusOr<Filter> Filter::Compile(std::string_view text,
                                       const ColumnSet& columns) {
  absl::StatusOr<filter::Node> tree = filter::Parse(text);
  if (!tree.ok()) return tree.status();
  absl::StatusOr<filter::CompiledFilter> compiled =
      filter::Compile(*tree, columns);
  if (!compiled.ok()) return compiled.status();
  auto state = std::make_shared<State>();
  state->compiled = *std::move(compiled);
  state->text = filter::ToString(*tree);
  return Filter(std::move(state));
}

Bitmap Filter::Evaluate(const ColumnSet& columns) const {
  Bitmap out;
  EvaluateInto(columns, &out);
  return out;
}

size_t Filter::EvaluateInto(const ColumnSet& columns, Bitmap* out) const {
  return state_->compiled.plan.Evaluate(columns, out);
}

bool Filter::uses_pct() const { return state_->compiled.uses_pct; }

const std::vector<std::string>& Filter::referenced_scores() const {
  return state_->compiled.referenced_scores;
}

const std::string& Filter::ToString() const { return state_->text; }

}  // namespace winnow
