// Reading ServerOptions from a TOML config file and the command line
// (docs/operations.md, "Flags and the config file").
//
// Precedence, lowest first: the defaults in options.h, the file named by
// --config, then the flags given on the command line. Keys and flags are
// those of OptionFields(); an unknown key, a value of the wrong type or an
// unknown flag is an error rather than silently ignored, because a typo in
// a durability setting should stop the server, not weaken it.
//
// Pure functions apart from reading the config file; thread-safe.
#ifndef WINNOW_SERVER_CONFIG_H_
#define WINNOW_SERVER_CONFIG_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/options.h"

namespace winnow::server {

// Sets the fields of *options that `toml_text` names. `origin` (a file name)
// prefixes error messages. INVALID_ARGUMENT for a syntax error, an unknown
// key or a value of the wrong type, naming the key and its line.
absl::Status ApplyConfigToml(std::string_view toml_text,
                             std::string_view origin, ServerOptions* options);

// Reads `path` and applies it as ApplyConfigToml does. NOT_FOUND if the
// file cannot be read.
absl::Status ApplyConfigFile(const std::string& path, ServerOptions* options);

// The outcome of parsing a command line.
struct CommandLine {
  ServerOptions options;
  // The path given with --config, or empty.
  std::string config_path;
  // Set for --help and --version: print `output` to stdout and exit 0
  // without starting.
  bool exit_now = false;
  std::string output;
};

// Parses argv (argv[0] is the program name): defaults, then --config FILE,
// then the other flags, then ValidateOptions. INVALID_ARGUMENT with a
// message fit for the terminal when a flag, the file or a value is bad.
absl::StatusOr<CommandLine> ParseCommandLine(int argc, const char* const* argv);

}  // namespace winnow::server

#endif  // WINNOW_SERVER_CONFIG_H_
