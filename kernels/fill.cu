// Grid-stride fill of a float buffer (see fill.cuh).
#include "fill.cuh"

namespace win::kernels {

namespace {
__global__ void fill_f32_kernel(float* dst, int64_t n, float value) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] = value;
}
}  // namespace

void launch_fill_f32(float* dst, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  constexpr int kThreads = 256;
  const int64_t want = (n + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(want < 65535 ? want : 65535);
  fill_f32_kernel<<<blocks, kThreads, 0, stream>>>(dst, n, value);
}

}  // namespace win::kernels
