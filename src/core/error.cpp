// Exit-code table and process identity for win::Error.
#include "core/error.hpp"

#include <atomic>
#include <cstdio>

namespace win {

namespace {
std::atomic<int> g_rank{0};
std::atomic<int> g_world{1};
}  // namespace

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Internal:
      return 1;
    case ErrorKind::Usage:
      return 2;
    case ErrorKind::Config:
      return 2;
    case ErrorKind::Data:
      return 3;
    case ErrorKind::Checkpoint:
      return 4;
    case ErrorKind::Numerics:
      return 5;
    case ErrorKind::Comm:
      return 6;
    case ErrorKind::Output:
      return 7;
    case ErrorKind::Stopped:
      return 75;
  }
  return 1;
}

const char* kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Internal:
      return "internal";
    case ErrorKind::Usage:
      return "usage";
    case ErrorKind::Config:
      return "config";
    case ErrorKind::Data:
      return "data";
    case ErrorKind::Checkpoint:
      return "checkpoint";
    case ErrorKind::Numerics:
      return "numerics";
    case ErrorKind::Comm:
      return "communication";
    case ErrorKind::Output:
      return "output";
    case ErrorKind::Stopped:
      return "stopped";
  }
  return "unknown";
}

Error::Error(ErrorKind kind, const std::string& message, std::source_location where)
    : std::runtime_error(message), kind_(kind), rank_(g_rank.load()), where_(where) {}

void set_process_identity(int rank, int world_size) {
  g_rank.store(rank);
  g_world.store(world_size);
}
int process_rank() {
  return g_rank.load();
}
int process_world_size() {
  return g_world.load();
}

std::string bytes_str(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace win
