#include "server/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <memory>
#include <sstream>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace winnow::server {
namespace {

std::string Where(std::string_view origin, const toml::node& node) {
  const toml::source_position& pos = node.source().begin;
  if (!pos) return std::string(origin);
  return absl::StrFormat("%s:%d", origin, pos.line);
}

const OptionField* FindField(std::string_view key) {
  for (const OptionField& field : OptionFields()) {
    if (field.key == key) return &field;
  }
  return nullptr;
}

// Sets options->*member from a TOML value of the member's type.
absl::Status SetFromToml(const OptionField& field, const toml::node& node,
                         std::string_view origin, ServerOptions* options) {
  return std::visit(
      [&](auto member) -> absl::Status {
        using T = std::remove_reference_t<decltype(options->*member)>;
        std::optional<T> value;
        const char* type = "";
        if constexpr (std::is_same_v<T, std::string>) {
          value = node.value_exact<std::string>();
          type = "a string";
        } else if constexpr (std::is_same_v<T, bool>) {
          value = node.value_exact<bool>();
          type = "a boolean";
        } else {
          value = node.value_exact<int64_t>();
          type = "an integer";
        }
        if (!value) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s: %s: expected %s", Where(origin, node), field.key, type));
        }
        options->*member = *std::move(value);
        return absl::OkStatus();
      },
      field.member);
}

}  // namespace

absl::Status ApplyConfigToml(std::string_view toml_text,
                             std::string_view origin, ServerOptions* options) {
  toml::table table;
  try {
    table = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s:%d:%d: %s", origin, e.source().begin.line,
                        e.source().begin.column, e.description()));
  }
  for (const auto& [key, node] : table) {
    const OptionField* field = FindField(key.str());
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s: unknown config key '%s'", Where(origin, node), key.str()));
    }
    if (absl::Status s = SetFromToml(*field, node, origin, options); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(const std::string& path, ServerOptions* options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("config: cannot read '", path, "'"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ApplyConfigToml(text.str(), path, options);
}

absl::StatusOr<CommandLine> ParseCommandLine(int argc,
                                             const char* const* argv) {
  CLI::App app("winnowd: the Winnow data-selection server", "winnowd");
  app.set_version_flag("--version", std::string(WINNOW_VERSION));
  // Every field is bound to `flags`; only those given on the command line
  // are copied over the file's values afterwards.
  ServerOptions flags;
  CommandLine result;
  app.add_option("--config", result.config_path,
                 "TOML config file; its keys are the long flag names with "
                 "underscores, and flags override it");
  std::vector<std::pair<const OptionField*, CLI::Option*>> bound;
  for (const OptionField& field : OptionFields()) {
    std::string name = FlagName(field.key);
    std::string help(field.help);
    CLI::Option* opt = std::visit(
        [&](auto member) -> CLI::Option* {
          using T = std::remove_reference_t<decltype(flags.*member)>;
          if constexpr (std::is_same_v<T, bool>) {
            // Both "--sync-writes" and "--sync-writes=false".
            return app.add_flag(name, flags.*member, help);
          } else {
            return app.add_option(name, flags.*member, help)
                ->default_val(ServerOptions{}.*member);
          }
        },
        field.member);
    bound.emplace_back(&field, opt);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    result.exit_now = true;
    result.output = app.help();
    return result;
  } catch (const CLI::CallForVersion&) {
    result.exit_now = true;
    result.output = absl::StrCat("winnowd ", WINNOW_VERSION, "\n");
    return result;
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  if (!result.config_path.empty()) {
    if (absl::Status s = ApplyConfigFile(result.config_path, &result.options);
        !s.ok()) {
      return s;
    }
  }
  for (const auto& [field, opt] : bound) {
    if (opt->count() == 0) continue;
    std::visit([&](auto member) { result.options.*member = flags.*member; },
               field->member);
  }
  if (absl::Status s = ValidateOptions(result.options); !s.ok()) return s;
  return result;
}

}  // namespace winnow::server
