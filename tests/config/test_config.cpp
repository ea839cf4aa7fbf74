// Config: strict parsing of decks with file:line:col + key-path errors (exit 2), --set overrides
// with the same checks, and the resolved deck written back as TOML that parses to the same Deck.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/load.hpp"
#include "config/schema.hpp"
#include "core/error.hpp"

using namespace win;
using namespace win::config;

namespace {

const std::string kDecks = std::string(WIN_SOURCE_DIR) + "/tests/config/decks/";
const std::string kMinimal = "[model]\nfamily = \"mlp\"\n";

// Parses text and returns the Config error's message; fails the test if it parses.
std::string config_error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  try {
    parse_deck(text, "deck.toml", sets);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
    EXPECT_EQ(e.exit_code(), 2);
    return e.what();
  }
  ADD_FAILURE() << "deck parsed without error:\n" << text;
  return "";
}

}  // namespace

TEST(Config, ValidDeckParsesWithValuesAndDefaults) {
  const Deck d = load_deck(kDecks + "valid.toml");
  EXPECT_EQ(d.run.name, "demo");
  EXPECT_EQ(d.run.seed, 7);
  EXPECT_EQ(d.model.family, "resnet");
  EXPECT_EQ(d.model.resnet.layers, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(d.model.resnet.width_multiplier, 0.5);
  EXPECT_EQ(d.teacher.widen, 4);
  EXPECT_DOUBLE_EQ(d.wide.optim.epochs, 2.0);  // integer accepted for a float key
  EXPECT_EQ(d.wide.optim.milestones, (std::vector<double>{1.0, 1.5}));
  EXPECT_EQ(d.narrow.bridge_init, "teacher_subsample");
  // Defaults for keys the deck does not set.
  EXPECT_EQ(d.narrow.schedule, "sequential");
  EXPECT_EQ(d.checkpoint.keep, 2);
  EXPECT_EQ(d.kd.loss, "ce+kd");
}

TEST(Config, RunNameDefaultsToDeckStem) {
  const Deck d = parse_deck(kMinimal, "inputs/fashion_mnist_mlp.toml");
  EXPECT_EQ(d.run.name, "fashion_mnist_mlp");
}

TEST(Config, UnknownKeyNamesLineColumnAndSuggests) {
  const std::string msg = config_error_of(kMinimal + "\n[narrow]\nstep_per_block = 3\n");
  EXPECT_NE(msg.find("deck.toml:5:1: narrow.step_per_block: unknown key"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("did you mean 'steps_per_block'"), std::string::npos) << msg;
}

TEST(Config, UnknownSectionIsAnError) {
  const std::string msg = config_error_of(kMinimal + "[nrrow]\nrestarts = 2\n");
  EXPECT_NE(msg.find("deck.toml:3:2: nrrow: unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'narrow'"), std::string::npos) << msg;
}

TEST(Config, WrongTypeNamesKeyAndTypes) {
  const std::string msg = config_error_of(kMinimal + "[wide]\nbatch_size = \"big\"\n");
  EXPECT_NE(msg.find("deck.toml:4:1: wide.batch_size: expected an integer, got a string"),
            std::string::npos)
      << msg;
  // A float where an integer is required is not silently truncated.
  const std::string msg2 = config_error_of(kMinimal + "[wide]\nbatch_size = 12.5\n");
  EXPECT_NE(msg2.find("wide.batch_size: expected an integer, got a float"), std::string::npos)
      << msg2;
}

TEST(Config, WrongElementTypeInListNamesIndex) {
  const std::string msg = config_error_of(
      "[model]\nfamily = \"resnet\"\n[model.resnet]\nlayers = [3, 4, \"six\", 3]\n");
  EXPECT_NE(msg.find("model.resnet.layers[2]: expected an integer, got a string"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("deck.toml:4:"), std::string::npos) << msg;
}

TEST(Config, OutOfRangeValue) {
  const std::string msg = config_error_of(kMinimal + "[checkpoint]\nkeep = 1\n");
  EXPECT_NE(msg.find("deck.toml:4:1: checkpoint.keep: value 1 out of range: must be in [2, inf)"),
            std::string::npos)
      << msg;
  const std::string msg2 = config_error_of(kMinimal + "[wide]\nlr = 0\n");
  EXPECT_NE(msg2.find("wide.lr: value 0.0 out of range: must be in (0.0, inf)"), std::string::npos)
      << msg2;
}

TEST(Config, InvalidChoice) {
  const std::string msg = config_error_of(kMinimal + "[narrow]\nloss = \"l1\"\n");
  EXPECT_NE(
      msg.find("deck.toml:4:1: narrow.loss: 'l1' is not a valid choice: must be one of: mse, kl"),
      std::string::npos)
      << msg;
}

TEST(Config, MissingRequiredValue) {
  const std::string msg = config_error_of("[model]\nclasses = 10\n");
  EXPECT_NE(msg.find("model.family: missing required value"), std::string::npos) << msg;
  EXPECT_NE(msg.find("deck.toml:1:2"), std::string::npos) << msg;  // the [model] header
  const std::string msg2 = config_error_of("[run]\nseed = 1\n");
  EXPECT_NE(msg2.find("deck.toml: model.family: missing required value"), std::string::npos)
      << msg2;
}

TEST(Config, TomlSyntaxErrorHasPosition) {
  const std::string msg = config_error_of(kMinimal + "[wide]\nlr = = 3\n");
  EXPECT_NE(msg.find("deck.toml:4:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TOML syntax error"), std::string::npos) << msg;
}

TEST(Config, KeysOfInactiveFamilySectionAreRejected) {
  const std::string msg = config_error_of(kMinimal + "[model.bert]\nlayers = 4\n");
  EXPECT_NE(msg.find("model.bert.layers: applies only when model.family = \"bert\""),
            std::string::npos)
      << msg;
}

TEST(Config, CrossKeyChecks) {
  std::string msg =
      config_error_of("[model]\nfamily = \"bert\"\n[model.bert]\nhidden = 100\nheads = 3\n");
  EXPECT_NE(msg.find("model.bert.heads: heads (3) must divide hidden (100)"), std::string::npos)
      << msg;
  msg = config_error_of(kMinimal + "[run]\nstages = [\"wide\", \"wide\"]\n");
  EXPECT_NE(msg.find("run.stages: stage 'wide' listed twice"), std::string::npos) << msg;
  msg = config_error_of(kMinimal + "[wide]\nmilestones = [30, 20]\n");
  EXPECT_NE(msg.find("wide.milestones: milestones must be strictly increasing"), std::string::npos)
      << msg;
}

TEST(Config, MissingFileIsConfigError) {
  try {
    load_deck("/nonexistent/deck.toml");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), 2);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/deck.toml: cannot read deck file"),
              std::string::npos)
        << e.what();
  }
}

TEST(Config, OverridesAreTypedAndApplied) {
  const Deck d = load_deck(
      kDecks + "valid.toml",
      {"narrow.restarts=3", "model.resnet.layers=[2, 2, 2, 2]", "run.name=override_name",
       "wide.nesterov=true", "wide.lr=1e-3", "run.stages=wide,narrow", "data.train=\"/x/y.h5\""});
  EXPECT_EQ(d.narrow.restarts, 3);
  EXPECT_EQ(d.model.resnet.layers, (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(d.run.name, "override_name");
  EXPECT_TRUE(d.wide.optim.nesterov);
  EXPECT_DOUBLE_EQ(d.wide.optim.lr, 1e-3);
  EXPECT_EQ(d.run.stages, (std::vector<std::string>{"wide", "narrow"}));
  EXPECT_EQ(d.data.train, "/x/y.h5");
}

TEST(Config, OverrideErrors) {
  std::string msg = config_error_of(kMinimal, {"narrow.restarts=two"});
  EXPECT_NE(msg.find("--set narrow.restarts=two: narrow.restarts: expected an integer, got 'two'"),
            std::string::npos)
      << msg;
  msg = config_error_of(kMinimal, {"narow.restarts=2"});
  EXPECT_NE(msg.find("narow: unknown section (did you mean 'narrow'?)"), std::string::npos) << msg;
  msg = config_error_of(kMinimal, {"narrow.restart=2"});
  EXPECT_NE(msg.find("narrow.restart: unknown key (did you mean 'restarts'?)"), std::string::npos)
      << msg;
  msg = config_error_of(kMinimal, {"checkpoint.keep=0"});
  EXPECT_NE(msg.find("--set checkpoint.keep=0: checkpoint.keep: value 0 out of range"),
            std::string::npos)
      << msg;
  msg = config_error_of(kMinimal, {"narrow.restarts"});
  EXPECT_NE(msg.find("--set narrow.restarts: expected key.path=value"), std::string::npos) << msg;
  msg = config_error_of(kMinimal, {"model.resnet.layers=1,x"});
  EXPECT_NE(msg.find("element 1: expected an integer, got 'x'"), std::string::npos) << msg;
}

TEST(Config, OverrideCanSetTheRequiredKey) {
  const Deck d = parse_deck("", "empty.toml", {"model.family=bert"});
  EXPECT_EQ(d.model.family, "bert");
}

TEST(Config, ResolvedDeckRoundTrips) {
  // Values that stress the writer: awkward doubles, quotes and backslashes, empty lists.
  const Deck d = load_deck(
      kDecks + "valid.toml",
      {"wide.lr=0.1", "wide.weight_decay=3.3333333333333335e-05", "finetune.kd_temperature=2.5",
       "run.name=a \"quoted\" \\ name", "dist.partition=[]", "teacher.checkpoint=/tmp/t.h5"});
  const std::string text = deck_to_toml(d);
  const Deck back = parse_deck(text, "resolved.toml");
  EXPECT_TRUE(back == d) << text;
  EXPECT_EQ(back.run.name, "a \"quoted\" \\ name");
  // Every section is written, with defaults, but not the inactive model families.
  for (const char* s :
       {"[run]", "[model]", "[model.resnet]", "[teacher]", "[data]", "[wide]", "[narrow]",
        "[finetune]", "[merge]", "[eval]", "[vanilla]", "[kd]", "[checkpoint]", "[dist]"})
    EXPECT_NE(text.find(s), std::string::npos) << s;
  EXPECT_EQ(text.find("[model.bert]"), std::string::npos);
  // Printing twice gives the same text (stable order).
  EXPECT_EQ(deck_to_toml(back), text);
}

TEST(Config, EveryKeyIsDocumented) {
  const std::string help = deck_keys_help();
  for (const char* k : {"run.seed", "model.resnet.layers", "narrow.bridge_mode", "dist.sync_bn",
                        "merge.when", "kd.kd_temperature"})
    EXPECT_NE(help.find(k), std::string::npos) << k;
  EXPECT_NE(help.find("model.family"), std::string::npos);
  EXPECT_NE(help.find("required"), std::string::npos);
}

TEST(ConfigSchema, DuplicateKeyIsCaught) {
  Section s;
  int64_t a = 0, b = 0;
  s.add("x", a, "first");
  EXPECT_THROW(s.add("x", b, "second"), Error);
  EXPECT_THROW(s.section("x", "a section"), Error);
}

// What `win run` names when a run directory's deck and the new one differ: every changed key,
// nested sections and lists included, with the old value first; nothing for equal decks.
TEST(Config, DeckDifferencesNameEachChangedKeyWithBothValues) {
  Deck a;
  EXPECT_TRUE(deck_differences(a, a).empty());
  Deck b = a;
  b.wide.optim.steps = a.wide.optim.steps + 5;
  b.model.resnet.layers = {2, 2};
  b.run.name = "other";
  const std::vector<std::string> d = deck_differences(a, b);
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], "run.name = \"\" there, \"other\" here");
  EXPECT_EQ(d[1], "model.resnet.layers = [3, 4, 6, 3] there, [2, 2] here");
  EXPECT_EQ(d[2],
            cat("wide.steps = ", a.wide.optim.steps, " there, ", b.wide.optim.steps, " here"));
}

// Every problem of a deck at once, in the order of its lines (the TOML table's own order is by
// key name: [kd] would come before [narrow] and [wide]), then the --set ones.
TEST(Config, AllProblemsOfADeckAreReportedInLineOrder) {
  const std::string types = config_error_of(kMinimal +
                                            "[wide]\nsteps = \"many\"\n"
                                            "[narrow]\nsteps_per_block = true\n"
                                            "[kd]\nsteps = 1.5\n");
  const size_t wide = types.find("deck.toml:4:1: wide.steps: expected an integer");
  const size_t narrow = types.find("deck.toml:6:1: narrow.steps_per_block: expected an integer");
  const size_t kd = types.find("deck.toml:8:1: kd.steps: expected an integer");
  ASSERT_NE(wide, std::string::npos) << types;
  ASSERT_NE(narrow, std::string::npos) << types;
  ASSERT_NE(kd, std::string::npos) << types;
  EXPECT_EQ(wide, 0u) << types;
  EXPECT_LT(wide, narrow);
  EXPECT_LT(narrow, kd);

  const std::string ranges = config_error_of(kMinimal +
                                                 "[checkpoint]\nkeep = 1\n"
                                                 "[wide]\nlr = 0\n",
                                             {"kd.steps=-5"});
  const size_t keep = ranges.find("deck.toml:4:1: checkpoint.keep: value 1 out of range");
  const size_t lr = ranges.find("deck.toml:6:1: wide.lr: value 0.0 out of range");
  const size_t set = ranges.find("--set kd.steps=-5: kd.steps: value -5 out of range");
  ASSERT_NE(keep, std::string::npos) << ranges;
  ASSERT_NE(lr, std::string::npos) << ranges;
  ASSERT_NE(set, std::string::npos) << ranges;
  EXPECT_LT(keep, lr);
  EXPECT_LT(lr, set);
}

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t from = 0;
  while (from <= s.size()) {
    const size_t nl = s.find('\n', from);
    out.push_back(s.substr(from, nl == std::string::npos ? std::string::npos : nl - from));
    if (nl == std::string::npos) break;
    from = nl + 1;
  }
  return out;
}

// Each line of msg starts with the matching prefix, and there are as many lines as prefixes.
void expect_lines_start_with(const std::string& msg, const std::vector<std::string>& prefixes) {
  const std::vector<std::string> lines = lines_of(msg);
  ASSERT_EQ(lines.size(), prefixes.size()) << msg;
  for (size_t i = 0; i < prefixes.size(); ++i)
    EXPECT_EQ(lines[i].rfind(prefixes[i], 0), 0u) << "line " << i << " of:\n" << msg;
}

}  // namespace

// Every --set problem at once, in command-line order, each naming its --set text: unparsable
// values, unknown keys and sections, wrong types, a missing '=' and ranges alike.
TEST(Config, AllOverrideProblemsAreReportedInCommandLineOrder) {
  const std::string msg = config_error_of(
      kMinimal, {"checkpoint.keep=0", "wide.lr=abc", "nosuch.key=1", "narrow.restart=2",
                 "run.stages=wide", "wide.nesterov=3", "narrow.restarts", "model.mlp.width=0"});
  expect_lines_start_with(
      msg, {"--set checkpoint.keep=0: checkpoint.keep: value 0 out of range",
            "--set wide.lr=abc: wide.lr: expected a number, got 'abc'",
            "--set nosuch.key=1: nosuch: unknown section",
            "--set narrow.restart=2: narrow.restart: unknown key (did you mean 'restarts'?)",
            "--set wide.nesterov=3: wide.nesterov: expected a boolean (true or false), got '3'",
            "--set narrow.restarts: expected key.path=value",
            "--set model.mlp.width=0: model.mlp.width: value 0 out of range"});
}

// A deck's problems (wrong keys, types and ranges together, by line) and then the --set ones:
// neither hides the other. A --set that could not be read leaves the file's value, which is
// still checked (wide.lr below).
TEST(Config, DeckProblemsAndOverrideProblemsAreReportedTogether) {
  const std::string msg = config_error_of(kMinimal +
                                              "[wide]\nlr = -1.0\n"              // 4: range
                                              "[narrow]\nstep_per_block = 10\n"  // 6: unknown key
                                              "[kd]\nsteps = \"many\"\n",        // 8: type
                                          {"wide.lr=abc", "kd.restarts=0"});
  expect_lines_start_with(
      msg, {"deck.toml:4:1: wide.lr: value -1.0 out of range",
            "deck.toml:6:1: narrow.step_per_block: unknown key (did you mean 'steps_per_block'?)",
            "deck.toml:8:1: kd.steps: expected an integer, got a string",
            "--set wide.lr=abc: wide.lr: expected a number, got 'abc'",
            "--set kd.restarts=0: kd.restarts: value 0 out of range"});
}

// A value that could not be read is reported once: its key is not also range-checked at its
// default, and the keys that depend on it (an inactive family's section) are not reported.
TEST(Config, AProblemIsNotFollowedByItsConsequences) {
  std::string msg = config_error_of("[model]\nfamily = 3\n[model.mlp]\nwidth = 8\n");
  expect_lines_start_with(msg, {"deck.toml:2:1: model.family: expected a string, got an integer"});
  msg = config_error_of("model = 3\n");
  expect_lines_start_with(msg,
                          {"deck.toml:1:1: model: expected a table ([model]), got an integer"});
  msg = config_error_of("[model]\nfamily = \"mlp\"\n", {"model.family=3", "model.mlp.width=x"});
  expect_lines_start_with(
      msg, {"--set model.family=3: model.family: '3' is not a valid choice",
            "--set model.mlp.width=x: model.mlp.width: expected an integer, got 'x'"});
}
