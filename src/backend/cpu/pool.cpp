// PENDING: until the oneDNN version is written, CpuOps::pool2d uses the reference loops.
#include "backend/cpu/cpu_ops.hpp"

namespace win::backend {

std::unique_ptr<Pool2dOp> CpuOps::pool2d(const Pool2dDesc& d) {
  return RefOps<float>::pool2d(d);
}

}  // namespace win::backend
