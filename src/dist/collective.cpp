// Root-only actions with a collective outcome (see collective.hpp).
#include "dist/collective.hpp"

#include <cstdint>
#include <exception>

#include "core/error.hpp"

namespace win::dist {

namespace {

// The root's outcome, shared: -1 = success, otherwise the ErrorKind, with its message.
std::string run_and_share(const Comm& comm, const std::function<std::string()>& fn) {
  int32_t kind = -1;
  std::string text;
  if (comm.is_root()) {
    try {
      text = fn();
    } catch (const Error& e) {
      if (comm.size() == 1) throw;
      kind = static_cast<int32_t>(e.kind());
      text = e.what();
    } catch (const std::exception& e) {
      if (comm.size() == 1) throw;
      kind = static_cast<int32_t>(ErrorKind::Internal);
      text = cat("internal error: ", e.what());
    }
  }
  if (comm.size() == 1) return text;
  comm.bcast(std::span<int32_t>(&kind, 1), 0);
  comm.bcast(text, 0);
  if (kind >= 0)
    throw CollectiveError(static_cast<ErrorKind>(kind), text, comm.size() == world().size());
  return text;
}

}  // namespace

void on_root(const Comm& comm, const std::function<void()>& fn) {
  run_and_share(comm, [&] {
    fn();
    return std::string();
  });
  comm.barrier();
}

std::string from_root(const Comm& comm, const std::function<std::string()>& fn) {
  return run_and_share(comm, fn);
}

}  // namespace win::dist
