// Always-on checks for oneDNN calls. The C API returns a status (WIN_DNNL_CHECK); the C++ API
// throws dnnl::error, which dnnl_call() turns into a win::Error naming the operation, so a
// primitive that cannot be created for a shape says which one instead of terminating.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.hpp"

namespace win::backend {

inline const char* dnnl_status_name(dnnl_status_t s) {
  switch (s) {
    case dnnl_success:
      return "success";
    case dnnl_out_of_memory:
      return "out of memory";
    case dnnl_invalid_arguments:
      return "invalid arguments";
    case dnnl_unimplemented:
      return "unimplemented (no implementation for these shapes/types)";
    case dnnl_iterator_ends:
      return "iterator ends";
    case dnnl_runtime_error:
      return "runtime error";
    case dnnl_not_required:
      return "not required";
    default:
      return "unknown status";
  }
}

// Runs f(), converting oneDNN's exceptions into win errors that name `what`.
template <class F>
decltype(auto) dnnl_call(const char* what, F&& f) {
  try {
    return f();
  } catch (const dnnl::error& e) {
    WIN_FAIL(ErrorKind::Internal, "oneDNN: ", what, ": ", e.what(), " (",
             dnnl_status_name(e.status), ")");
  }
}

}  // namespace win::backend

#define WIN_DNNL_CHECK(call)                                                \
  do {                                                                      \
    const dnnl_status_t win_dnnl_s_ = (call);                               \
    if (win_dnnl_s_ != dnnl_success) [[unlikely]]                           \
      WIN_FAIL(::win::ErrorKind::Internal, "oneDNN: ", #call,               \
               " failed: ", ::win::backend::dnnl_status_name(win_dnnl_s_)); \
  } while (0)
