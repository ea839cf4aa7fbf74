// `win debug`: hooks for the tests of error handling (hidden from `win --help`). `win debug raise
// KIND --rank R` raises an error of that kind on rank R only while the other ranks wait in a
// collective, which is exactly the situation in which a job must end instead of hanging.
#include <thread>

#include "app/commands.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"

namespace win::app {

namespace {

[[noreturn]] void raise_kind(const std::string& kind, const std::string& msg) {
  const std::pair<const char*, ErrorKind> kinds[] = {{"internal", ErrorKind::Internal},
                                                     {"usage", ErrorKind::Usage},
                                                     {"config", ErrorKind::Config},
                                                     {"data", ErrorKind::Data},
                                                     {"checkpoint", ErrorKind::Checkpoint},
                                                     {"numerics", ErrorKind::Numerics},
                                                     {"comm", ErrorKind::Comm},
                                                     {"output", ErrorKind::Output},
                                                     {"stopped", ErrorKind::Stopped}};
  for (const auto& [name, k] : kinds)
    if (kind == name) WIN_FAIL(k, msg);
  if (kind == "std") throw std::runtime_error(msg);
  if (kind == "thread") {
    // An exception escaping a thread reaches std::terminate: the handler must report and exit.
    std::thread t([msg] { WIN_FAIL(ErrorKind::Data, msg); });
    t.join();
  }
  WIN_FAIL(ErrorKind::Usage, "win debug raise: unknown kind '", kind,
           "' (internal, usage, config, data, checkpoint, numerics, comm, output, stopped, std, "
           "thread)");
}

int run_debug(const Args& args) {
  if (args.positionals.size() != 2 || args.positionals[0] != "raise")
    WIN_FAIL(ErrorKind::Usage, "usage: win debug raise KIND [--rank R] [--message TEXT]");
  const std::string kind = args.positionals[1];
  const std::string msg = args.get("--message").value_or("raised by win debug (" + kind + ")");
  const auto rank = args.get_int("--rank");
  const auto& w = dist::world();
  if (!rank || *rank == w.rank()) raise_kind(kind, msg);
  // The other ranks enter a collective that the failing rank never joins.
  w.barrier();
  return 0;
}

}  // namespace

Command debug_command() {
  return {{.name = "debug",
           .synopsis = "raise KIND [--rank R] [--message TEXT]",
           .summary = "test hooks for error handling",
           .details = "Raises an error of KIND (internal, usage, config, data, checkpoint, "
                      "numerics, comm,\nstopped, std, thread) on rank R (all ranks when omitted) "
                      "while the others wait in a barrier.",
           .options = {{"--rank", "R", "only this rank raises", false},
                       {"--message", "TEXT", "the error message", false}},
           .min_positionals = 2,
           .max_positionals = 2},
          run_debug,
          true};
}

}  // namespace win::app
