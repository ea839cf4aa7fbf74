// Parsing, overriding, checking and writing decks through the schema (see schema.hpp).
#include "config/schema.hpp"

#include <toml++/toml.h>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include "core/error.hpp"

namespace win::config {

namespace {

std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// " (did you mean 'layers'?)" when a known key is close to the unknown one.
std::string suggestion(const Section& s, const std::string& key) {
  std::string best;
  size_t best_d = 3;
  auto consider = [&](const std::string& k) {
    const size_t d = edit_distance(key, k);
    if (d < best_d) {
      best_d = d;
      best = k;
    }
  };
  for (const auto& f : s.fields()) consider(f.key());
  for (const auto& c : s.sections()) consider(c.key());
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

std::string known_keys(const Section& s) {
  std::string out;
  for (const auto& f : s.fields()) out += (out.empty() ? "" : ", ") + f.key();
  for (const auto& c : s.sections()) out += (out.empty() ? "" : ", ") + c.key();
  return out;
}

std::string where_of(const toml::source_region& r, const std::string& fallback) {
  if (!r.begin) return fallback;
  const std::string file = r.path ? *r.path : fallback;
  return cat(file, ':', r.begin.line, ':', r.begin.column);
}

std::string toml_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date/time";
    default:
      return "an unknown value";
  }
}

// Reads one scalar TOML node as T; returns an error message or "".
template <class T>
std::string read_scalar(const toml::node& n, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n.as_boolean()) return out = v->get(), "";
    return "expected a boolean (true or false), got " + toml_type_name(n);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    if (auto v = n.as_integer()) return out = v->get(), "";
    return "expected an integer, got " + toml_type_name(n);
  } else if constexpr (std::is_same_v<T, double>) {
    if (auto v = n.as_floating_point()) return out = v->get(), "";
    if (auto v = n.as_integer()) return out = static_cast<double>(v->get()), "";
    return "expected a number, got " + toml_type_name(n);
  } else {
    if (auto v = n.as_string()) return out = v->get(), "";
    return "expected a string, got " + toml_type_name(n);
  }
}

void assign(const Field& f, const toml::node& n, const std::string& path, SourceMap& srcs) {
  std::visit(
      [&](auto* p) {
        using V = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<V, bool> || std::is_same_v<V, int64_t> ||
                      std::is_same_v<V, double> || std::is_same_v<V, std::string>) {
          std::string err = read_scalar(n, *p);
          if (!err.empty()) config_error(srcs, path, err);
        } else {
          const toml::array* arr = n.as_array();
          if (!arr)
            config_error(srcs, path, "expected " + f.type_name() + ", got " + toml_type_name(n));
          V out;
          for (size_t i = 0; i < arr->size(); ++i) {
            typename V::value_type v{};
            std::string err = read_scalar((*arr)[i], v);
            if (!err.empty()) {
              const std::string ipath = cat(path, '[', i, ']');
              srcs.set(ipath, where_of((*arr)[i].source(), srcs.file()));
              config_error(srcs, ipath, err);
            }
            out.push_back(std::move(v));
          }
          *p = std::move(out);
        }
      },
      f.ref());
}

void walk(const Section& s, const toml::table& t, const std::string& prefix, SourceMap& srcs,
          Problems& problems) {
  for (auto&& [k, node] : t) {
    const std::string key(k.str());
    const std::string path = join(prefix, key);
    srcs.set(path, where_of(k.source(), where_of(node.source(), srcs.file())));
    problems.collect(
        [&] {
          if (const Field* f = s.find_field(key)) {
            assign(*f, node, path, srcs);
          } else if (const Section* sub = s.find_section(key)) {
            const toml::table* st = node.as_table();
            if (!st)
              config_error(srcs, path,
                           "expected a table ([" + path + "]), got " + toml_type_name(node));
            walk(*sub, *st, path, srcs, problems);
          } else {
            config_error(
                srcs, path,
                "unknown key" + suggestion(s, key) +
                    (prefix.empty() ? "; sections are: " : "; keys of [" + prefix + "] are: ") +
                    known_keys(s));
          }
        },
        path);
  }
}

std::string trim(std::string s) {
  const auto b = s.find_first_not_of(" \t");
  const auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string unquote(std::string s) {
  s = trim(s);
  if (s.size() >= 2 &&
      ((s.front() == '"' && s.back() == '"') || (s.front() == '\'' && s.back() == '\'')))
    return s.substr(1, s.size() - 2);
  return s;
}

// Parses override text as T; returns an error message or "".
template <class T>
std::string parse_text(const std::string& raw, T& out) {
  const std::string s = trim(raw);
  if constexpr (std::is_same_v<T, bool>) {
    if (s == "true") return out = true, "";
    if (s == "false") return out = false, "";
    return "expected a boolean (true or false), got '" + s + "'";
  } else if constexpr (std::is_same_v<T, int64_t>) {
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return out = v, "";
    return "expected an integer, got '" + s + "'";
  } else if constexpr (std::is_same_v<T, double>) {
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && ptr == s.data() + s.size() && !s.empty()) return out = v, "";
    return "expected a number, got '" + s + "'";
  } else {
    out = unquote(s);
    return "";
  }
}

// A --set's problem: "--set text: key: message".
[[noreturn]] void set_error(const std::string& where, const std::string& key,
                            const std::string& message) {
  WIN_FAIL(ErrorKind::Config, where, ": ", key, ": ", message);
}

// Sets the field at path ("a.b") from --set text, as the field's type; a Config error names the
// --set (where) and the key, or the section on the way that does not exist.
void set_field(const Section& root, const std::string& path, const std::string& text,
               const std::string& where) {
  const Section* s = &root;
  std::string prefix;
  std::string rest = path;
  while (true) {
    const auto dot = rest.find('.');
    const std::string key = rest.substr(0, dot);
    const std::string here = join(prefix, key);
    if (dot == std::string::npos) {
      const Field* f = s->find_field(key);
      if (!f) {
        if (s->find_section(key)) set_error(where, here, "is a section; name one of its keys");
        set_error(where, here, "unknown key" + suggestion(*s, key));
      }
      std::visit(
          [&](auto* p) {
            using V = std::remove_pointer_t<decltype(p)>;
            std::string err;
            if constexpr (std::is_same_v<V, bool> || std::is_same_v<V, int64_t> ||
                          std::is_same_v<V, double> || std::is_same_v<V, std::string>) {
              err = parse_text(text, *p);
            } else {
              std::string body = trim(text);
              if (body.size() >= 2 && body.front() == '[' && body.back() == ']')
                body = body.substr(1, body.size() - 2);
              V out;
              std::stringstream ss(body);
              std::string item;
              size_t i = 0;
              if (!trim(body).empty()) {
                while (std::getline(ss, item, ',')) {
                  typename V::value_type v{};
                  const std::string e = parse_text(item, v);
                  if (!e.empty()) {
                    err = cat("element ", i, ": ", e);
                    break;
                  }
                  out.push_back(std::move(v));
                  ++i;
                }
              }
              if (err.empty()) *p = std::move(out);
            }
            if (!err.empty()) set_error(where, path, err);
          },
          f->ref());
      return;
    }
    const Section* sub = s->find_section(key);
    if (!sub) {
      if (s->find_field(key)) set_error(where, here, "is a value, not a section");
      set_error(where, here, "unknown section" + suggestion(*s, key));
    }
    s = sub;
    prefix = here;
    rest = rest.substr(dot + 1);
  }
}

std::string format_double(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, ptr);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

template <class T>
std::string value_str(const T& v) {
  if constexpr (std::is_same_v<T, bool>)
    return v ? "true" : "false";
  else if constexpr (std::is_same_v<T, int64_t>)
    return std::to_string(v);
  else if constexpr (std::is_same_v<T, double>)
    return format_double(v);
  else if constexpr (std::is_same_v<T, std::string>)
    return quote(v);
  else {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + value_str(v[i]);
    return out + "]";
  }
}

std::string field_value(const Field& f) {
  return std::visit([](auto* p) { return value_str(*p); }, f.ref());
}

void emit(const Section& s, const std::string& prefix, std::ostringstream& os) {
  if (!s.active()) return;
  if (!prefix.empty() && !s.fields().empty()) {
    os << "\n[" << prefix << "]";
    if (!s.help().empty()) os << "  # " << s.help();
    os << '\n';
  }
  for (const auto& f : s.fields()) {
    std::string line = f.key() + " = " + field_value(f);
    if (!f.help().empty()) {
      if (line.size() < 38) line.resize(38, ' ');
      line += "  # " + f.help();
    }
    os << line << '\n';
  }
  for (const auto& sub : s.sections()) emit(sub, join(prefix, sub.key()), os);
}

void differing(const Section& a, const Section& b, const std::string& prefix,
               std::vector<std::string>& out) {
  for (size_t i = 0; i < a.fields().size() && i < b.fields().size(); ++i) {
    const std::string va = field_value(a.fields()[i]), vb = field_value(b.fields()[i]);
    if (va != vb)
      out.push_back(join(prefix, a.fields()[i].key()) + " = " + va + " there, " + vb + " here");
  }
  for (size_t i = 0; i < a.sections().size() && i < b.sections().size(); ++i)
    differing(a.sections()[i], b.sections()[i], join(prefix, a.sections()[i].key()), out);
}

void list_keys(const Section& s, const std::string& prefix, std::ostringstream& os) {
  for (const auto& f : s.fields()) {
    std::string line = join(prefix, f.key());
    line.resize(std::max<size_t>(line.size() + 2, 34), ' ');
    line += f.type_name();
    line.resize(std::max<size_t>(line.size() + 2, 54), ' ');
    line += (f.is_required() ? std::string("required") : "= " + field_value(f));
    std::string c = f.constraint_str();
    if (!s.condition().empty())
      c += (c.empty() ? "" : "; ") + std::string("only when ") + s.condition();
    os << line << "\n      " << f.help() << (c.empty() ? "" : " (" + c + ")") << '\n';
  }
  for (const auto& sub : s.sections()) list_keys(sub, join(prefix, sub.key()), os);
}

void check_section(const Section& s, const std::string& prefix, const SourceMap& srcs,
                   const std::set<std::string>& present, Problems& problems) {
  if (!s.active()) {
    // Anything set here is a mistake: it would be silently ignored. Unless the key that decides
    // (model.family) is itself wrong: then the section's keys may well be right.
    if (problems.failed(s.depends_on())) return;
    for (const auto& path : present)
      if (path.rfind(prefix + ".", 0) == 0 && !problems.failed(path))
        problems.collect([&] { config_error(srcs, path, "applies only when " + s.condition()); },
                         path);
    return;
  }
  for (const auto& f : s.fields()) {
    const std::string path = join(prefix, f.key());
    // A key whose value could not be read holds its default: checking that would say nothing.
    if (problems.failed(path)) continue;
    problems.collect(
        [&] {
          if (f.is_required() && !present.count(path))
            config_error(srcs, path, "missing required value (" + f.help() + ")");
          const std::string err = f.check();
          if (!err.empty()) config_error(srcs, path, err);
        },
        path);
  }
  for (const auto& sub : s.sections())
    check_section(sub, join(prefix, sub.key()), srcs, present, problems);
}

}  // namespace

// ---- Field ------------------------------------------------------------------------------------

std::string Field::type_name() const {
  return std::visit(
      [](auto* p) -> std::string {
        using V = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<V, bool>)
          return "boolean";
        else if constexpr (std::is_same_v<V, int64_t>)
          return "integer";
        else if constexpr (std::is_same_v<V, double>)
          return "number";
        else if constexpr (std::is_same_v<V, std::string>)
          return "string";
        else if constexpr (std::is_same_v<V, std::vector<int64_t>>)
          return "list of integers";
        else if constexpr (std::is_same_v<V, std::vector<double>>)
          return "list of numbers";
        else
          return "list of strings";
      },
      ref_);
}

// An integer key's bounds and values print as integers ("[1, inf)", not "[1.0, inf)").
std::string Field::number_str(double v) const {
  const bool integral =
      std::holds_alternative<int64_t*>(ref_) || std::holds_alternative<std::vector<int64_t>*>(ref_);
  if (integral && std::isfinite(v) && v == std::trunc(v) && std::abs(v) < 9.2e18)
    return std::to_string(static_cast<int64_t>(v));
  return format_double(v);
}

std::string Field::constraint_str() const {
  std::string out;
  if (min_ || max_) {
    out += "in ";
    out += min_ && !min_exclusive_ ? "[" : "(";
    out += min_ ? number_str(*min_) : "-inf";
    out += ", ";
    out += max_ ? number_str(*max_) : "inf";
    out += max_ && !max_exclusive_ ? "]" : ")";
  }
  if (!choices_.empty()) {
    out += out.empty() ? "one of: " : "; one of: ";
    for (size_t i = 0; i < choices_.size(); ++i) out += (i ? ", " : "") + choices_[i];
  }
  if (non_empty_) out += out.empty() ? "non-empty" : "; non-empty";
  return out;
}

std::string Field::check_number(double v) const {
  const bool low = min_ && (min_exclusive_ ? v <= *min_ : v < *min_);
  const bool high = max_ && (max_exclusive_ ? v >= *max_ : v > *max_);
  if (low || high || std::isnan(v))
    return "value " + number_str(v) + " out of range: must be " + constraint_str();
  return "";
}

std::string Field::check() const {
  return std::visit(
      [&](auto* p) -> std::string {
        using V = std::remove_pointer_t<decltype(p)>;
        auto check_string = [&](const std::string& s) -> std::string {
          if (non_empty_ && s.empty()) return "must not be empty";
          if (choices_.empty()) return "";
          for (const auto& c : choices_)
            if (c == s) return "";
          return "'" + s + "' is not a valid choice: must be " + constraint_str();
        };
        if constexpr (std::is_same_v<V, bool>) {
          return "";
        } else if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, double>) {
          return check_number(static_cast<double>(*p));
        } else if constexpr (std::is_same_v<V, std::string>) {
          return check_string(*p);
        } else {
          if (non_empty_ && p->empty()) return "list must not be empty";
          for (size_t i = 0; i < p->size(); ++i) {
            std::string err;
            if constexpr (std::is_same_v<typename V::value_type, std::string>)
              err = check_string((*p)[i]);
            else
              err = check_number(static_cast<double>((*p)[i]));
            if (!err.empty()) return cat("element ", i, ": ", err);
          }
          return "";
        }
      },
      ref_);
}

// ---- Section ----------------------------------------------------------------------------------

const Field* Section::find_field(const std::string& key) const {
  for (const auto& f : fields_)
    if (f.key() == key) return &f;
  return nullptr;
}

void Section::check_new_key(const std::string& key) const {
  WIN_CHECK(!find_field(key) && !find_section(key), ErrorKind::Internal, "config schema: key '",
            key, "' declared twice in section '", key_, "'");
}

const Section* Section::find_section(const std::string& key) const {
  for (const auto& s : sections_)
    if (s.key() == key) return &s;
  return nullptr;
}

// ---- SourceMap --------------------------------------------------------------------------------

std::string SourceMap::locate(const std::string& path) const {
  std::string p = path;
  while (true) {
    auto it = where_.find(p);
    if (it != where_.end()) return it->second;
    const auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p = p.substr(0, cut);
  }
  return file_.empty() ? "config" : file_;
}

// ---- Problems ---------------------------------------------------------------------------------

void Problems::collect(const std::function<void()>& fn, const std::string& path) {
  try {
    fn();
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Config) throw;
    items_.push_back({order_of(e.what(), items_.size()), e.what()});
    if (!path.empty()) failed_.insert(path);
  }
}

bool Problems::failed(const std::string& path) const {
  if (path.empty()) return false;
  std::string p = path;
  while (true) {
    if (failed_.count(p)) return true;
    const auto cut = p.find_last_of(".[");
    if (cut == std::string::npos) return false;
    p = p.substr(0, cut);
  }
}

void Problems::raise_if_any() {
  if (items_.empty()) return;
  std::sort(items_.begin(), items_.end(),
            [](const Item& a, const Item& b) { return a.order < b.order; });
  std::string msg = items_.front().message;
  for (size_t i = 1; i < items_.size(); ++i) msg += "\n" + items_[i].message;
  WIN_FAIL(ErrorKind::Config, msg);
}

// {0, line, column} for a message that starts "file:line:col: "; {2, i} for one that starts with
// the i-th override's "--set text: "; {1, arrival} for the rest (the file without a position).
std::array<uint64_t, 4> Problems::order_of(const std::string& msg, uint64_t arrival) const {
  if (msg.rfind("--set ", 0) == 0) {
    // The longest matching text, should one --set text begin another.
    uint64_t index = overrides_.size();
    size_t best = 0;
    for (size_t i = 0; i < overrides_.size(); ++i) {
      const std::string where = "--set " + overrides_[i] + ": ";
      if (where.size() > best && msg.rfind(where, 0) == 0) {
        best = where.size();
        index = i;
      }
    }
    return {2, index, 0, arrival};
  }
  const size_t end = msg.find(": ");
  const size_t c = msg.rfind(':', end == std::string::npos ? 0 : end - 1);
  const size_t l = c == std::string::npos || c == 0 ? std::string::npos : msg.rfind(':', c - 1);
  auto digits = [&](size_t from, size_t to) {
    return from < to && msg.find_first_not_of("0123456789", from) >= to;
  };
  if (end != std::string::npos && l != std::string::npos && digits(l + 1, c) && digits(c + 1, end))
    return {0, std::stoull(msg.substr(l + 1, c - l - 1)),
            std::stoull(msg.substr(c + 1, end - c - 1)), arrival};
  return {1, arrival, 0, arrival};
}

// ---- operations -------------------------------------------------------------------------------

void config_error(const SourceMap& srcs, const std::string& path, const std::string& message) {
  WIN_FAIL(ErrorKind::Config, srcs.locate(path), ": ", path, ": ", message);
}

void apply_table(const Section& root, const toml::table& table, SourceMap& srcs,
                 Problems& problems) {
  walk(root, table, "", srcs, problems);
}

void apply_override(const Section& root, const std::string& assignment, SourceMap& srcs,
                    Problems& problems) {
  const std::string where = "--set " + assignment;
  const auto eq = assignment.find('=');
  if (eq == std::string::npos) {
    problems.collect([&] { WIN_FAIL(ErrorKind::Config, where, ": expected key.path=value"); });
    return;
  }
  const std::string path = trim(assignment.substr(0, eq));
  const std::string text = assignment.substr(eq + 1);
  // A key is the --set's once it took the value: until then it keeps the one it had (the file's
  // or the default), which is checked as usual, where it was set.
  problems.collect([&] {
    set_field(root, path, text, where);
    srcs.set(path, where);
  });
}

void check_all(const Section& root, const SourceMap& srcs, Problems& problems) {
  // A key is present when the file or an override named it.
  std::set<std::string> present;
  std::function<void(const Section&, const std::string&)> collect = [&](const Section& s,
                                                                        const std::string& prefix) {
    for (const auto& f : s.fields()) {
      const std::string path = join(prefix, f.key());
      if (srcs.has(path)) present.insert(path);
    }
    for (const auto& sub : s.sections()) collect(sub, join(prefix, sub.key()));
  };
  collect(root, "");
  check_section(root, "", srcs, present, problems);
}

std::string to_toml(const Section& root) {
  std::ostringstream os;
  emit(root, "", os);
  return os.str();
}

std::vector<std::string> differing_fields(const Section& a, const Section& b) {
  std::vector<std::string> out;
  differing(a, b, "", out);
  return out;
}

std::string describe_keys(const Section& root) {
  std::ostringstream os;
  list_keys(root, "", os);
  return os.str();
}

}  // namespace win::config
