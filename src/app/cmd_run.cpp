// `win run DECK`: load and validate the deck (with --set overrides), print the resolved config on
// rank 0, then run the deck's stages into runs/<name> (--dry-run stops after the validation
// and the pre-flight check of the data and the grid).
#include <cstdio>

#include "app/commands.hpp"
#include "config/load.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "dist/comm.hpp"
#include "train/signals.hpp"
#include "win/preflight.hpp"
#include "win/stages.hpp"

namespace win::app {

namespace {

int run_run(const Args& args) {
  if (args.has("--help-config")) {
    std::fputs(config::deck_keys_help().c_str(), stdout);
    return 0;
  }
  if (args.positionals.empty())
    WIN_FAIL(ErrorKind::Usage, "win run: missing argument: usage: win run DECK.toml [options]");
  std::vector<std::string> overrides = args.all("--set");
  if (auto st = args.get("--stages")) overrides.push_back("run.stages=" + *st);
  const config::Deck deck = load_deck_everywhere(args.positionals[0], overrides);

  set_log_level(*parse_log_level(deck.run.log_level));
  set_num_threads(static_cast<int>(deck.run.threads));
  const std::string resolved = config::deck_to_toml(deck);
  if (args.has("--dry-run")) {
    method::preflight(deck);  // the data and the grid too: shard metadata only, no RunContext
    if (dist::world().is_root()) std::fputs(resolved.c_str(), stdout);
    return 0;
  }
  log_info("deck ", args.positionals[0], " (resolved):\n", resolved);
  train::install_stop_handlers();
  method::run_pipeline(method::RunContext(deck, resolved));
  return 0;
}

}  // namespace

Command run_command() {
  return {
      {.name = "run",
       .synopsis =
           "DECK.toml [--set key.path=value]... [--stages a,b,...] [--dry-run] | --help-config",
       .summary = "run a deck's stages (wide, narrow, finetune, merge, eval, vanilla, kd)",
       .details =
           "The deck is strict TOML: unknown keys, wrong types and out-of-range values are\n"
           "errors naming file:line:col and the key (exit 2). --set overrides any key with the\n"
           "same checks. Rank 0 prints the resolved deck (every key, defaults included).",
       .options =
           {{"--set", "KEY=VALUE", "override a deck key, e.g. --set narrow.restarts=3", true},
            {"--stages", "LIST", "run only these stages (same as --set run.stages=...)", false},
            {"--dry-run", "", "validate the deck, print it resolved, run nothing", false},
            {"--help-config", "", "list every deck key with type, default and meaning", false}},
       .min_positionals = 0,
       .max_positionals = 1},
      run_run};
}

}  // namespace win::app
