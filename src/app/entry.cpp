// Top level of win: subcommand dispatch and the one place where errors become exit codes.
// Any rank that fails prints `win: error: ...` ([rank N] first when several run) and, in a
// multi-rank job, calls MPI_Abort so that no other rank waits forever in a collective.
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>

#include "app/commands.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/collective.hpp"
#include "dist/comm.hpp"

namespace win::app {

namespace {

std::string rank_prefix() {
  return dist::multi_rank() ? cat("[rank ", process_rank(), "] ") : std::string();
}

void print_error(const std::string& message) {
  std::fflush(stdout);
  const std::string line = rank_prefix() + "win: error: " + message + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

// Ends the process (the whole job when several ranks run) with code.
[[noreturn]] void die(int code) {
  dist::abort_job(code);
}

// Reached on an exception escaping a thread, or noexcept violations: same report, same exit.
[[noreturn]] void on_terminate() {
  int code = 1;
  if (auto ep = std::current_exception()) {
    try {
      std::rethrow_exception(ep);
    } catch (const Error& e) {
      code = e.exit_code();
      print_error(e.what());
    } catch (const std::exception& e) {
      print_error(cat("internal error (uncaught exception): ", e.what()));
    } catch (...) {
      print_error("internal error (uncaught non-standard exception)");
    }
  } else {
    print_error("internal error: std::terminate called without an exception");
  }
  die(code);
}

std::string top_help() {
  std::string s =
      "win: train compact deep-thin networks with \"Go Wide, Then Narrow\" (WIN)\n\n"
      "usage: win COMMAND [options]     (win COMMAND --help for details)\n\ncommands:\n";
  for (const auto& c : commands()) {
    if (c.hidden) continue;
    std::string left = "  " + c.spec.name;
    left.resize(12, ' ');
    s += left + c.spec.summary + "\n";
  }
  s += "\nexit codes: 0 ok, 1 internal error, 2 usage/config, 3 data, 4 checkpoint,\n"
       "            5 numerics (NaN/Inf), 6 communication, 75 checkpointed and stopped (requeue)\n";
  return s;
}

int dispatch(int argc, char** argv) {
  std::vector<std::string> rest(argv + 1, argv + argc);
  if (rest.empty()) {
    std::fputs(top_help().c_str(), stderr);
    return 2;
  }
  const std::string name = rest.front();
  rest.erase(rest.begin());
  if (name == "--help" || name == "-h" || name == "help") {
    std::fputs(top_help().c_str(), stdout);
    return 0;
  }
  if (name == "--version") return version_command().run(Args{});
  for (const auto& c : commands()) {
    if (c.spec.name != name) continue;
    Args args = parse_args(c.spec, rest);
    if (args.help) {
      std::fputs(help_text(c.spec).c_str(), stdout);
      return 0;
    }
    return c.run(args);
  }
  WIN_FAIL(ErrorKind::Usage, "unknown command '", name, "' (see: win --help)");
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = [] {
    std::vector<Command> v = {run_command()};
    v.push_back(eval_command());
    v.push_back(merge_command());
    v.push_back(data_command());
    v.push_back(bench_command());
    v.push_back(inspect_command());
    v.push_back(version_command());
    v.push_back(debug_command());
    return v;
  }();
  return all;
}

int main_entry(int argc, char** argv) {
  std::set_terminate(on_terminate);
  // Large blocks (oneDNN's scratchpads, temporaries) would otherwise be mmap'd and unmapped on
  // every use, and each new page faulted in and zeroed by the kernel: keep them in the heap.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int code = 0;
  try {
    dist::init(&argc, &argv);
    code = dispatch(argc, argv);
  } catch (const dist::CollectiveError& e) {
    // Every rank raised it together: report once, end cleanly with its code everywhere.
    if (e.whole_job()) {
      if (process_rank() == 0) print_error(e.what());
      code = e.exit_code();
    } else {
      print_error(e.what());
      die(e.exit_code());
    }
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Stopped) {
      // A collective, orderly stop (every rank checkpointed): exit 75 without aborting the job.
      log_info(e.what());
      code = e.exit_code();
    } else {
      print_error(e.what());
      if (log_enabled(LogLevel::Debug))
        print_error(cat("(raised at ", e.where().file_name(), ':', e.where().line(), ')'));
      if (dist::multi_rank()) die(e.exit_code());
      code = e.exit_code();
    }
  } catch (const std::exception& e) {
    print_error(cat("internal error: ", e.what()));
    if (dist::multi_rank()) die(1);
    code = 1;
  }
  std::fflush(stdout);
  dist::finalize();
  return code;
}

}  // namespace win::app
