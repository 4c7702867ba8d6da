#include "selection/filter/errors.h"

#include <string>

namespace winnow::filter {

absl::Status FilterError(std::string_view what, Position pos,
                         std::string_view hint) {
  std::string message(what);
  message += " at ";
  message += pos.ToString();
  if (!hint.empty()) {
    message += "; ";
    message += hint;
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace winnow::filter
