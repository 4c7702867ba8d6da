// Process-wide logging setup: spdlog to stderr, one line per event, UTC
// timestamps, "key=value" fields (docs/operations.md, "Logs").
// stdout is left to the startup line that scripts wait for.
//
// Call once from main before any other thread logs.
#ifndef WINNOW_SERVER_LOGGING_H_
#define WINNOW_SERVER_LOGGING_H_

#include <string_view>

namespace winnow::server {

// `level` is one ServerOptions::log_level accepts (validated there).
void InitLogging(std::string_view level);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_LOGGING_H_
