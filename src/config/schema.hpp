// The config schema: every deck key is declared once, in a describe() function next to its struct
// (deck.cpp), as a typed field with a default, a range or a set of choices, and a help line. The
// one declaration drives parsing (strict: unknown keys, wrong types, out-of-range and missing
// values are errors naming file:line:col and the key path), --set overrides, writing the resolved
// deck back as TOML, and `win run --help-config`. Nothing else in win reads TOML.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace win::config {

using FieldRef = std::variant<bool*, int64_t*, double*, std::string*, std::vector<int64_t>*,
                              std::vector<double>*, std::vector<std::string>*>;

// One typed key. Builder-style constraints: deck.add("epochs", c.epochs, "...").min(1).
class Field {
 public:
  Field(std::string key, FieldRef ref, std::string help)
      : key_(std::move(key)), ref_(ref), help_(std::move(help)) {}

  Field& min(double v, bool exclusive = false) {
    min_ = v;
    min_exclusive_ = exclusive;
    return *this;
  }
  Field& max(double v, bool exclusive = false) {
    max_ = v;
    max_exclusive_ = exclusive;
    return *this;
  }
  Field& one_of(std::vector<std::string> choices) {
    choices_ = std::move(choices);
    return *this;
  }
  Field& required() {
    required_ = true;
    return *this;
  }
  Field& non_empty() {
    non_empty_ = true;
    return *this;
  }

  const std::string& key() const { return key_; }
  const std::string& help() const { return help_; }
  const FieldRef& ref() const { return ref_; }
  bool is_required() const { return required_; }
  // "integer", "list of floats", ...
  std::string type_name() const;
  // Human constraint summary for help: "in [1, inf)", "one of: sgd, adamw".
  std::string constraint_str() const;
  // Checks the current value; returns an error message or "" when fine.
  std::string check() const;

 private:
  std::string check_number(double v) const;
  std::string number_str(double v) const;
  std::string key_;
  FieldRef ref_;
  std::string help_;
  std::optional<double> min_, max_;
  bool min_exclusive_ = false, max_exclusive_ = false;
  std::vector<std::string> choices_;
  bool required_ = false;
  bool non_empty_ = false;
};

// A TOML table of fields and sub-sections.
class Section {
 public:
  explicit Section(std::string key = "", std::string help = "")
      : key_(std::move(key)), help_(std::move(help)) {}

  template <class T>
  Field& add(std::string key, T& value, std::string help) {
    check_new_key(key);
    fields_.emplace_back(std::move(key), FieldRef(&value), std::move(help));
    return fields_.back();
  }
  Section& section(std::string key, std::string help) {
    check_new_key(key);
    sections_.emplace_back(std::move(key), std::move(help));
    return sections_.back();
  }

  // The section applies only while pred() holds (e.g. [model.resnet] when model.family is
  // "resnet"): keys set in an inactive section are an error, and to_toml() leaves it out.
  // depends_on is the key pred() reads: while that key has a problem of its own, keys set in the
  // section are not reported as inactive.
  Section& only_when(std::function<bool()> pred, std::string condition, std::string depends_on) {
    active_ = std::move(pred);
    condition_ = std::move(condition);
    depends_on_ = std::move(depends_on);
    return *this;
  }
  bool active() const { return !active_ || active_(); }
  const std::string& condition() const { return condition_; }
  const std::string& depends_on() const { return depends_on_; }

  const std::string& key() const { return key_; }
  const std::string& help() const { return help_; }
  // Deques: add() and section() hand out references that stay valid as siblings are added.
  const std::deque<Field>& fields() const { return fields_; }
  const std::deque<Section>& sections() const { return sections_; }
  const Field* find_field(const std::string& key) const;
  // A key declared twice in one section would make one of them unreachable: a bug in win.
  void check_new_key(const std::string& key) const;
  const Section* find_section(const std::string& key) const;

 private:
  std::string key_;
  std::string help_;
  std::deque<Field> fields_;
  std::deque<Section> sections_;
  std::function<bool()> active_;
  std::string condition_;
  std::string depends_on_;
};

// Where each key of a parsed deck came from, for error messages: "deck.toml:12:3" or
// "--set model.depth=4".
class SourceMap {
 public:
  void set(const std::string& path, std::string where) { where_[path] = std::move(where); }
  // The location of path, or of its nearest parent that has one, or the file itself.
  std::string locate(const std::string& path) const;
  bool has(const std::string& path) const { return where_.count(path) != 0; }
  void set_file(std::string file) { file_ = std::move(file); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, std::string> where_;
};

// A deck's problems, reported together (one error per run would cost a user a queued job per
// typo): first the file's, by line and column; then the file's without a position (a missing
// key); then the --set ones, in command-line order.
class Problems {
 public:
  // overrides: the --set texts, in command-line order, to order their problems by.
  explicit Problems(std::vector<std::string> overrides = {}) : overrides_(std::move(overrides)) {}

  // Runs fn; a Config error it raises is kept instead of thrown (other errors pass through).
  // path, when given, is the key the problem is about: it and the keys under it count as failed.
  void collect(const std::function<void()>& fn, const std::string& path = "");
  // Whether path, or a section above it, had a problem (its later checks would only echo it).
  bool failed(const std::string& path) const;
  bool empty() const { return items_.empty(); }
  // Throws one Config error holding every problem, one per line, in the order above.
  void raise_if_any();

 private:
  struct Item {
    std::array<uint64_t, 4> order;  // group, then line and column or --set index, then arrival
    std::string message;
  };
  std::array<uint64_t, 4> order_of(const std::string& msg, uint64_t arrival) const;
  std::vector<std::string> overrides_;
  std::vector<Item> items_;
  std::set<std::string> failed_;
};

// Fills the schema's fields from a parsed TOML table, collecting source positions into srcs and
// every problem ("where: key.path: message") into problems.
void apply_table(const Section& root, const toml::table& table, SourceMap& srcs,
                 Problems& problems);

// Parses one --set "a.b=value" against the schema and applies it. Values are read as the field's
// type: strings need no quotes, lists are TOML arrays ("[2, 2]") or comma-separated ("2,2"). A
// problem ("--set a.b=value: a.b: message") goes to problems, and the key keeps the value and
// location it had.
void apply_override(const Section& root, const std::string& assignment, SourceMap& srcs,
                    Problems& problems);

// Checks every field's constraints (range, choices, required, inactive sections) after parsing
// and overrides, into problems; keys that already failed to be read are not checked again.
void check_all(const Section& root, const SourceMap& srcs, Problems& problems);

// The current values of every field as TOML text (defaults included), with help comments.
std::string to_toml(const Section& root);

// The fields whose values differ between two schemas of one shape (describe() over two decks), in
// declaration order: "wide.steps = 20 there, 10 here" (a's value, then b's).
std::vector<std::string> differing_fields(const Section& a, const Section& b);

// One line per key: "model.resnet.layers  list of integers  [3, 4, 6, 3]  blocks per stage".
std::string describe_keys(const Section& root);

// Throws win::Error(Config) formatted as "where: key.path: message".
[[noreturn]] void config_error(const SourceMap& srcs, const std::string& path,
                               const std::string& message);

}  // namespace win::config
