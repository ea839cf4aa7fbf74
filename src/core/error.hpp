// Errors and exit codes (DESIGN §8). Every failure that reaches the user is a win::Error whose
// kind maps to the process exit code, so batch schedulers and scripts can react (75 = requeue).
// Errors remember where they were raised and on which rank, for bug reports.
#pragma once

#include <source_location>
#include <stdexcept>
#include <string>

#include "core/strcat.hpp"

namespace win {

enum class ErrorKind {
  Internal,    // a bug in win: exit 1
  Usage,       // bad command line: exit 2
  Config,      // bad deck or --set override: exit 2
  Data,        // bad or unreadable data shard: exit 3
  Checkpoint,  // bad or missing checkpoint: exit 4
  Numerics,    // NaN/Inf: exit 5
  Comm,        // communication failure or watchdog: exit 6
  Output,      // an output (run directory, checkpoint, weights, report) cannot be written: exit 7
  Stopped,     // checkpointed on a signal, requeue me: exit 75
};

int exit_code(ErrorKind kind);
const char* kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message,
        std::source_location where = std::source_location::current());
  ErrorKind kind() const { return kind_; }
  int exit_code() const { return win::exit_code(kind_); }
  int rank() const { return rank_; }
  const std::source_location& where() const { return where_; }

 private:
  ErrorKind kind_;
  int rank_;
  std::source_location where_;
};

// The rank and world size of this process, set once by the communicator so that errors and logs
// can say which rank they come from without core depending on MPI.
void set_process_identity(int rank, int world_size);
int process_rank();
int process_world_size();

}  // namespace win

// WIN_FAIL(kind, parts...): throw win::Error with the streamed parts as the message.
#define WIN_FAIL(kind, ...) throw ::win::Error((kind), ::win::cat(__VA_ARGS__))

// WIN_CHECK(cond, kind, parts...): always-on validation (never compiled out, unlike assert).
#define WIN_CHECK(cond, kind, ...)   \
  do {                               \
    if (!(cond)) [[unlikely]]        \
      WIN_FAIL((kind), __VA_ARGS__); \
  } while (0)

// Internal invariant: a failure here is a bug in win, reported with the condition text.
#define WIN_ASSERT(cond, ...)                                                                      \
  do {                                                                                             \
    if (!(cond)) [[unlikely]]                                                                      \
      WIN_FAIL(::win::ErrorKind::Internal, "internal error: (" #cond ") failed. ", ##__VA_ARGS__); \
  } while (0)
