// The subcommands of `win`: each has a spec (synopsis, options, help) and a run function returning
// the exit code.
#pragma once

#include <string>
#include <vector>

#include "app/args.hpp"
#include "config/deck.hpp"

namespace win::app {

struct Command {
  CommandSpec spec;
  int (*run)(const Args&);
  bool hidden = false;  // test hooks: not listed by `win --help`
};

const std::vector<Command>& commands();

// Entry point with the top-level error handling of DESIGN §8; returns the exit code.
int main_entry(int argc, char** argv);

// The deck of a command on every rank: rank 0 reads and validates the file and broadcasts its
// text, so a job of N ranks reads it once and all ranks run the same deck; a bad deck is the same
// Config error on every rank (deck_input.cpp).
config::Deck load_deck_everywhere(const std::string& path,
                                  const std::vector<std::string>& overrides);

// Each subcommand, defined in its own cmd_*.cpp.
Command run_command();
Command version_command();
Command inspect_command();
Command debug_command();
Command bench_command();
Command data_command();
Command eval_command();
Command merge_command();

}  // namespace win::app
