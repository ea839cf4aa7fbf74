// Shell runner for the CLI tests (see run_command.hpp).
#include "run_command.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

CommandResult run_command(const std::string& command, int timeout_s) {
  namespace fs = std::filesystem;
  static int counter = 0;
  const fs::path dir = fs::temp_directory_path() /
                       ("win_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  fs::create_directories(dir);
  const std::string out = (dir / "out").string(), err = (dir / "err").string();
  const std::string script = (dir / "cmd.sh").string();
  std::ofstream(script) << command << "\n";
  const std::string full =
      "timeout -k 5 " + std::to_string(timeout_s) + " sh " + script + " >" + out + " 2>" + err;
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(full.c_str());
  CommandResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status))
    r.code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    r.code = 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove_all(dir);
  return r;
}

std::string win_cmd(const std::string& args) {
  return std::string(WIN_BINARY) + " " + args;
}
