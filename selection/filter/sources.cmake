# The filter language (selection/filter/), compiled into winnow_selection.
# Paths are relative to selection/.
set(WINNOW_FILTER_SOURCES
  filter/ast.cc
  filter/compiler.cc
  filter/errors.cc
  filter/filter.cc
  filter/kernels.cc
  filter/lexer.cc
  filter/parser.cc
  filter/percentile.cc
  filter/plan.cc
  filter/suggest.cc
  filter/thresholds.cc
)
