// PENDING: until the oneDNN version is written, CpuOps::batchnorm uses the reference loops.
#include "backend/cpu/cpu_ops.hpp"

namespace win::backend {

std::unique_ptr<BatchNormOp> CpuOps::batchnorm() {
  return RefOps<float>::batchnorm();
}

}  // namespace win::backend
