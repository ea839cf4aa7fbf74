// A small command-line parser for win's subcommands: named options (with or without a value,
// repeatable), positionals, and --help. Mistakes are usage errors (exit 2) that name the option
// and point at `win CMD --help`.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace win::app {

struct OptionSpec {
  std::string name;        // "--set"
  std::string value_name;  // "KEY=VALUE"; empty for a flag
  std::string help;
  bool repeatable = false;
};

struct CommandSpec {
  std::string name;      // "run"
  std::string synopsis;  // "DECK.toml [options]"
  std::string summary;   // one line
  std::string details;   // paragraphs after the synopsis
  std::vector<OptionSpec> options;
  int min_positionals = 0;
  int max_positionals = 0;
  bool accept_any = false;  // unknown options become positionals (a command that dispatches)
};

class Args {
 public:
  bool help = false;
  std::vector<std::string> positionals;

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  // The last value given for name, if any.
  std::optional<std::string> get(const std::string& name) const;
  // Every value given for a repeatable option, in order.
  std::vector<std::string> all(const std::string& name) const;
  // An integer option; a usage error naming the option when it is not one.
  std::optional<long long> get_int(const std::string& name) const;

 private:
  friend Args parse_args(const CommandSpec&, const std::vector<std::string>&);
  std::map<std::string, std::vector<std::string>> values_;
  std::string command_;
};

// Parses argv after the subcommand name. Accepts "--opt value" and "--opt=value".
Args parse_args(const CommandSpec& spec, const std::vector<std::string>& argv);

// The text of `win CMD --help`.
std::string help_text(const CommandSpec& spec);

}  // namespace win::app
