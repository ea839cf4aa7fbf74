// Command-line parsing for subcommands (see args.hpp).
#include "app/args.hpp"

#include <charconv>
#include <sstream>

#include "core/error.hpp"

namespace win::app {

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<long long> Args::get_int(const std::string& name) const {
  auto v = get(name);
  if (!v) return std::nullopt;
  long long out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size())
    WIN_FAIL(ErrorKind::Usage, "win ", command_, ": ", name, " expects an integer, got '", *v, "'");
  return out;
}

Args parse_args(const CommandSpec& spec, const std::vector<std::string>& argv) {
  Args a;
  a.command_ = spec.name;
  const std::string see = " (see: win " + spec.name + " --help)";
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    // A command that passes its arguments on (win data SUB ...) leaves SUB's --help to SUB.
    if ((arg == "--help" || arg == "-h") && !(spec.accept_any && !a.positionals.empty())) {
      a.help = true;
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-' && arg != "-" && !spec.accept_any) {
      std::string name = arg, value;
      bool inline_value = false;
      if (auto eq = arg.find('='); eq != std::string::npos) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
        inline_value = true;
      }
      const OptionSpec* opt = nullptr;
      for (const auto& o : spec.options)
        if (o.name == name) opt = &o;
      if (!opt) WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": unknown option '", name, "'", see);
      if (opt->value_name.empty()) {
        if (inline_value)
          WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": option ", name, " takes no value", see);
      } else if (!inline_value) {
        if (i + 1 >= argv.size())
          WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": option ", name, " needs a value (",
                   opt->value_name, ")", see);
        value = argv[++i];
      }
      auto& slot = a.values_[name];
      if (!slot.empty() && !opt->repeatable)
        WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": option ", name, " given twice", see);
      slot.push_back(value);
      continue;
    }
    a.positionals.push_back(arg);
  }
  if (a.help) return a;
  const int n = static_cast<int>(a.positionals.size());
  if (n < spec.min_positionals)
    WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": missing argument: usage: win ", spec.name, ' ',
             spec.synopsis, see);
  if (n > spec.max_positionals)
    WIN_FAIL(ErrorKind::Usage, "win ", spec.name, ": unexpected argument '",
             a.positionals[static_cast<size_t>(spec.max_positionals)], "'", see);
  return a;
}

std::string help_text(const CommandSpec& spec) {
  std::ostringstream os;
  os << "usage: win " << spec.name << ' ' << spec.synopsis << "\n\n" << spec.summary << '\n';
  if (!spec.details.empty()) os << '\n' << spec.details << '\n';
  os << "\noptions:\n";
  for (const auto& o : spec.options) {
    std::string left = "  " + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
    if (left.size() < 26)
      left.resize(26, ' ');
    else
      left += "  ";
    os << left << o.help << (o.repeatable ? " (repeatable)" : "") << '\n';
  }
  os << "  -h, --help              show this help\n";  // the options' 26-column layout
  return os.str();
}

}  // namespace win::app
