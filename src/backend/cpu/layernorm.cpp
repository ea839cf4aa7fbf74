// PENDING: until the oneDNN version is written, CpuOps::layernorm uses the reference loops.
#include "backend/cpu/cpu_ops.hpp"

namespace win::backend {

std::unique_ptr<LayerNormOp> CpuOps::layernorm() {
  return RefOps<float>::layernorm();
}

}  // namespace win::backend
