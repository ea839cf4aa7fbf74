// oneDNN's version and the CPU instruction set it dispatches to, read from the library.
#include <oneapi/dnnl/dnnl.h>

#include "backend/info.hpp"
#include "core/strcat.hpp"

namespace win::backend {

namespace {
const char* isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}
const char* runtime_name(unsigned r) {
  switch (r) {
    case DNNL_RUNTIME_OMP:
      return "OpenMP";
    case DNNL_RUNTIME_TBB:
      return "TBB";
    case DNNL_RUNTIME_SEQ:
      return "sequential";
    case DNNL_RUNTIME_THREADPOOL:
      return "threadpool";
    default:
      return "other";
  }
}
}  // namespace

std::string dnnl_version() {
  const dnnl_version_t* v = ::dnnl_version();
  return cat(v->major, '.', v->minor, '.', v->patch, " (", runtime_name(v->cpu_runtime),
             " runtime, ISA ", isa_name(dnnl_get_effective_cpu_isa()), ")");
}

}  // namespace win::backend
