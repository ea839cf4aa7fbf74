// Runs a shell command for the CLI tests and captures its exit code, stdout and stderr.
#pragma once

#include <string>

struct CommandResult {
  int code = -1;  // exit code; 128 + signal when killed
  std::string out;
  std::string err;
  double seconds = 0;
};

// Runs `command` through /bin/sh under `timeout` (so a hang fails the test instead of CI).
CommandResult run_command(const std::string& command, int timeout_s = 120);

// The win binary under test, quoted for the shell.
std::string win_cmd(const std::string& args);
