// Deck loading: TOML syntax -> schema fields -> overrides -> per-key checks -> cross-key checks.
#include "config/load.hpp"

#include <toml++/toml.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "config/schema.hpp"
#include "core/error.hpp"

namespace win::config {

namespace {

// Checks that involve more than one key; each names the key a user should change.
void check_deck(const Deck& d, const SourceMap& srcs) {
  std::set<std::string> seen;
  for (const auto& st : d.run.stages)
    if (!seen.insert(st).second)
      config_error(srcs, "run.stages", "stage '" + st + "' listed twice");

  if (d.model.family == "bert" && d.model.bert.hidden % d.model.bert.heads != 0)
    config_error(
        srcs, "model.bert.heads",
        cat("heads (", d.model.bert.heads, ") must divide hidden (", d.model.bert.hidden, ")"));
  if (d.model.family == "bert" && d.model.bert.seq_length > d.model.bert.max_positions)
    config_error(srcs, "model.bert.seq_length",
                 cat("seq_length (", d.model.bert.seq_length, ") exceeds max_positions (",
                     d.model.bert.max_positions, ")"));

  auto check_optim = [&](const OptimConfig& o, const std::string& sec) {
    for (size_t i = 1; i < o.milestones.size(); ++i)
      if (o.milestones[i] <= o.milestones[i - 1])
        config_error(srcs, sec + ".milestones", "milestones must be strictly increasing");
    if (o.steps == 0 && o.epochs <= 0)
      config_error(srcs, sec + ".epochs", "set epochs > 0 or steps > 0");
  };
  check_optim(d.wide.optim, "wide");
  check_optim(d.narrow.optim, "narrow");
  check_optim(d.finetune.optim, "finetune");
  check_optim(d.vanilla.optim, "vanilla");
  check_optim(d.kd.optim, "kd");

  if (!d.data.downstream_train.empty() &&
      (d.model.family != "bert" || d.model.bert.head != "pretrain"))
    config_error(srcs, "data.downstream_train",
                 "a downstream task evaluates pretrained BERT models (model.bert.head = "
                 "\"pretrain\")");
  if (!d.data.downstream_train.empty() && d.data.downstream_test.empty())
    config_error(srcs, "data.downstream_test", "set it: data.downstream_train is set");
  if (!d.dist.partition.empty() && static_cast<int64_t>(d.dist.partition.size()) != d.dist.pipeline)
    config_error(
        srcs, "dist.partition",
        cat("has ", d.dist.partition.size(), " entries but dist.pipeline = ", d.dist.pipeline));
  for (size_t i = 0; i < d.dist.partition.size(); ++i)
    if (d.dist.partition[i] < 1)
      config_error(
          srcs, "dist.partition",
          cat("entry ", i, " is ", d.dist.partition[i], ": every pipeline stage needs a block"));
  if (d.narrow.schedule == "pipelined" && d.narrow.restarts > 1)
    config_error(
        srcs, "narrow.restarts",
        "restarts need the sequential schedule (the pipelined one trains all blocks at once)");
  if (d.narrow.schedule == "pipelined" && d.narrow.budget != "constant")
    config_error(
        srcs, "narrow.budget",
        "the pipelined schedule trains every block for steps_per_block steps: use \"constant\"");
  if (d.narrow.input == "teacher" && d.narrow.schedule != "pipelined")
    config_error(srcs, "narrow.input",
                 "\"teacher\" (teacher-forced) needs narrow.schedule = \"pipelined\"");
  if (d.run.precision != "fp32" && d.run.device != "cuda")
    config_error(
        srcs, "run.precision",
        "\"" + d.run.precision + "\" applies to GPU products: it needs run.device = \"cuda\"");
  if (!d.run.deterministic && d.run.device != "cuda")
    config_error(srcs, "run.deterministic",
                 "false applies to GPU algorithms: the CPU backend is deterministic; it needs "
                 "run.device = \"cuda\"");
  if (d.run.device == "cuda" && d.dist.sync_bn)
    config_error(srcs, "dist.sync_bn",
                 "synchronised BatchNorm runs on the CPU only: set it false with run.device = "
                 "\"cuda\"");
  if (d.narrow.input == "teacher" && d.narrow.bridge_mode != "free")
    config_error(srcs, "narrow.input",
                 "\"teacher\" needs narrow.bridge_mode = \"free\" (a block reads M2 of the "
                 "teacher's activation)");
}

Deck finish(Deck d, const toml::table& table, const std::string& source_name,
            const std::vector<std::string>& overrides) {
  Section root;
  describe(root, d);
  SourceMap srcs;
  srcs.set_file(source_name);
  // Every problem of the file and of the --set overrides at once; the cross-key checks only on a
  // deck whose every key is fine (on a half-read one they would chase the first problems' echoes).
  Problems problems(overrides);
  apply_table(root, table, srcs, problems);
  for (const auto& o : overrides) apply_override(root, o, srcs, problems);
  check_all(root, srcs, problems);
  problems.raise_if_any();
  check_deck(d, srcs);
  if (d.run.name.empty()) d.run.name = std::filesystem::path(source_name).stem().string();
  d.origin.sources = std::make_shared<const SourceMap>(std::move(srcs));
  return d;
}

toml::table parse_toml(const std::string& text, const std::string& source_name) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    WIN_FAIL(ErrorKind::Config, source_name, ':', b.line, ':', b.column,
             ": TOML syntax error: ", e.description());
  }
}

}  // namespace

std::string key_location(const Deck& deck, const std::string& key) {
  return deck.origin.sources ? deck.origin.sources->locate(key) : std::string("config");
}

void deck_error(const Deck& deck, const std::string& key, const std::string& message) {
  WIN_FAIL(ErrorKind::Config, key_location(deck, key), ": ", key, ": ", message);
}

Deck parse_deck(const std::string& text, const std::string& source_name,
                const std::vector<std::string>& overrides) {
  return finish(Deck{}, parse_toml(text, source_name), source_name, overrides);
}

std::string read_deck_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) WIN_FAIL(ErrorKind::Config, path, ": cannot read deck file: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Deck load_deck(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_deck(read_deck_text(path), path, overrides);
}

std::string deck_to_toml(const Deck& deck) {
  Deck copy = deck;
  Section root;
  describe(root, copy);
  return "# win deck, resolved: every key with its value (defaults included)\n" + to_toml(root);
}

std::vector<std::string> deck_differences(const Deck& before, const Deck& now) {
  Deck a = before, b = now;
  Section sa, sb;
  describe(sa, a);
  describe(sb, b);
  return differing_fields(sa, sb);
}

std::string deck_keys_help() {
  Deck d;
  Section root;
  describe(root, d);
  return describe_keys(root);
}

}  // namespace win::config
