#include "server/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

#include "absl/strings/ascii.h"

namespace winnow::server {

void InitLogging(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("winnowd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l %v",
                      spdlog::pattern_time_type::utc);
  logger->set_level(
      spdlog::level::from_str(absl::AsciiStrToLower(std::string(level))));
  // Errors reach the log at once; the rest is flushed by the sink's buffer.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace winnow::server
