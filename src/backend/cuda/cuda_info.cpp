// The CUDA half of backend/info.hpp: runtime, devices, cuDNN and NCCL versions, read from the
// libraries. Works on machines without a GPU or driver (it reports why there is no device).
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "backend/info.hpp"
#include "core/strcat.hpp"

namespace win::backend {

bool cuda_compiled() {
  return true;
}

std::string cuda_runtime_version() {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) return "unknown";
  return cat(v / 1000, '.', (v % 1000) / 10);
}

std::string cuda_devices() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return cat("none (", cudaGetErrorName(e), ")");
  if (n == 0) return "none";
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return cat(n, " x unknown device");
  return cat(n, " x ", p.name, " (sm_", p.major, p.minor, ")");
}

std::string cudnn_version() {
  const size_t v = cudnnGetVersion();  // e.g. 91002 = 9.10.2
  return cat(v / 10000, '.', (v % 10000) / 100, '.', v % 100);
}

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "unknown";
  return cat(v / 10000, '.', (v % 10000) / 100, '.', v % 100);
}

}  // namespace win::backend
