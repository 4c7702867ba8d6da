// The one shape of every filter error message:
//
//   <what> at <line>:<column>[; <hint>]
//
// for example "unknown score 'qualty' at 1:1; did you mean 'quality'?".
// docs/filter-language.md lists every message.
#ifndef WINNOW_SELECTION_FILTER_ERRORS_H_
#define WINNOW_SELECTION_FILTER_ERRORS_H_

#include <string_view>

#include "absl/status/status.h"
#include "selection/filter/lexer.h"

namespace winnow::filter {

// INVALID_ARGUMENT with the message above.
absl::Status FilterError(std::string_view what, Position pos,
                         std::string_view hint = {});

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_ERRORS_H_
