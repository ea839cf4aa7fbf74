// The subcommands of `win`: each has a spec (synopsis, options, help) and a run function returning
// the exit code.
#pragma once

#include <string>
#include <vector>

#include "app/args.hpp"

namespace win::app {

struct Command {
  CommandSpec spec;
  int (*run)(const Args&);
  bool hidden = false;  // test hooks: not listed by `win --help`
};

const std::vector<Command>& commands();

// Entry point with the top-level error handling of DESIGN §8; returns the exit code.
int main_entry(int argc, char** argv);

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
