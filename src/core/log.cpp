// Rank-aware, thread-safe line logging (see log.hpp). The level lives in an atomic so the check
// in log_info & co. is lock-free; only writing takes the mutex.
#include "core/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "core/error.hpp"

namespace win {

namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};
std::once_flag g_env_once;
std::mutex g_mutex;  // guards g_sink and the writes, so lines from threads never interleave
LogSink g_sink;

// Formats and emits one line without the filters (used also for the warning about a bad
// WIN_LOG_LEVEL, which must not recurse into the lazy initialisation).
void write_line(LogLevel level, std::string_view message) {
  std::string line;
  const bool urgent = level == LogLevel::Error || level == LogLevel::Warn;
  if (urgent && process_world_size() > 1) line = cat("[rank ", process_rank(), "] ");
  switch (level) {
    case LogLevel::Error:
      line += "win: error: ";
      break;
    case LogLevel::Warn:
      line += "win: warning: ";
      break;
    case LogLevel::Info:
      line += "win: ";
      break;
    case LogLevel::Debug:
      line += "win: debug: ";
      break;
  }
  line += message;
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_sink) {
    g_sink(level, line);
    return;
  }
  line += '\n';
  std::FILE* out = urgent ? stderr : stdout;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

void read_env() {
  const char* env = std::getenv("WIN_LOG_LEVEL");
  if (env == nullptr || *env == '\0') {
    g_level.store(static_cast<int>(LogLevel::Info));
    return;
  }
  const std::optional<LogLevel> parsed = parse_log_level(env);
  g_level.store(static_cast<int>(parsed.value_or(LogLevel::Info)));
  if (!parsed)
    write_line(LogLevel::Warn,
               cat("WIN_LOG_LEVEL='", env, "' is not one of error, warn, info, debug; using info"));
}

void ensure_init() {
  std::call_once(g_env_once, read_env);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view s) {
  if (s == "error") return LogLevel::Error;
  if (s == "warn" || s == "warning") return LogLevel::Warn;
  if (s == "info") return LogLevel::Info;
  if (s == "debug") return LogLevel::Debug;
  return std::nullopt;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::Error:
      return "error";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Info:
      return "info";
    case LogLevel::Debug:
      return "debug";
  }
  return "?";
}

LogLevel log_level() {
  ensure_init();
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

void set_log_level(LogLevel level) {
  ensure_init();  // so a later lazy read of the environment cannot override this
  g_level.store(static_cast<int>(level));
}

void log_level_from_env() {
  bool fresh = false;
  std::call_once(g_env_once, [&fresh] {
    read_env();
    fresh = true;
  });
  if (!fresh) read_env();
}

bool log_enabled(LogLevel level) {
  if (level > log_level()) return false;
  // Info and debug would be identical on every rank; warnings and errors may not be.
  return level <= LogLevel::Warn || process_rank() == 0;
}

void log_write(LogLevel level, std::string_view message) {
  if (log_enabled(level)) write_line(level, message);
}

void set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_sink = std::move(sink);
}

}  // namespace win
