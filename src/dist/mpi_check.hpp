// WIN_MPI_CHECK: always-on check of an MPI call. Communicators are set to MPI_ERRORS_RETURN, so a
// failed call returns here and becomes a communication error (exit 6) naming the call and MPI's
// own description, instead of MPI's default of killing the job without a word.
#pragma once

#include <mpi.h>

#include <string>

#include "core/error.hpp"

namespace win::dist {

inline std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, buf, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(code);
  return std::string(buf, static_cast<size_t>(len));
}

}  // namespace win::dist

#define WIN_MPI_CHECK(call)                                              \
  do {                                                                   \
    const int win_mpi_rc_ = (call);                                      \
    if (win_mpi_rc_ != MPI_SUCCESS) [[unlikely]]                         \
      WIN_FAIL(::win::ErrorKind::Comm, #call,                            \
               " failed: ", ::win::dist::mpi_error_string(win_mpi_rc_)); \
  } while (0)
