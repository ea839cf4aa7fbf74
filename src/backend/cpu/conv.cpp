// PENDING: until the oneDNN version is written, CpuOps::conv2d uses the reference loops.
#include "backend/cpu/cpu_ops.hpp"

namespace win::backend {

std::unique_ptr<Conv2dOp> CpuOps::conv2d(const Conv2dDesc& d) {
  return RefOps<float>::conv2d(d);
}

}  // namespace win::backend
