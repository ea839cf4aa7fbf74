// Logging for an SPMD program: with N ranks, every message printed by every rank would be N copies
// of the same line, so info and debug come from rank 0 only, while warnings and errors (which may
// be rank-specific) print everywhere, tagged "[rank N] " when there are several ranks.
// The level comes from WIN_LOG_LEVEL (error|warn|info|debug) or set_log_level().
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/strcat.hpp"

namespace win {

enum class LogLevel { Error, Warn, Info, Debug };  // each level includes those before it

// "error" | "warn" | "info" | "debug" (also "warning"); nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view s);
const char* log_level_name(LogLevel level);

LogLevel log_level();
void set_log_level(LogLevel level);
// Reads WIN_LOG_LEVEL again (unset: info; invalid: one warning, then info). Done automatically on
// first use; exposed for tests and for programs that change the environment.
void log_level_from_env();

// Whether a message at `level` would be written by this process (level and rank filters).
bool log_enabled(LogLevel level);

// Writes one line (prefix + message + newline) in a single write under a mutex, if log_enabled.
// Info and debug go to stdout, warnings and errors to stderr; every line is flushed so that logs
// of batch jobs are complete up to the moment of a crash.
void log_write(LogLevel level, std::string_view message);

// Replaces the output for tests: the sink receives each complete line (prefix included, newline
// not) after the level and rank filters. nullptr restores stdout/stderr.
using LogSink = std::function<void(LogLevel, const std::string&)>;
void set_log_sink(LogSink sink);

// log_info("epoch ", e, " loss ", loss): parts are joined with win::cat, and only when the message
// will be written, so disabled debug logging costs one comparison.
template <class... Args>
void log_error(const Args&... args) {
  if (log_enabled(LogLevel::Error)) log_write(LogLevel::Error, cat(args...));
}
template <class... Args>
void log_warn(const Args&... args) {
  if (log_enabled(LogLevel::Warn)) log_write(LogLevel::Warn, cat(args...));
}
template <class... Args>
void log_info(const Args&... args) {
  if (log_enabled(LogLevel::Info)) log_write(LogLevel::Info, cat(args...));
}
template <class... Args>
void log_debug(const Args&... args) {
  if (log_enabled(LogLevel::Debug)) log_write(LogLevel::Debug, cat(args...));
}

}  // namespace win
