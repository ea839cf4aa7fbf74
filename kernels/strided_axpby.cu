// Strided y = alpha x + beta y (see strided_axpby.cuh): one thread per element, the flat index
// enumerating the logical shape in row-major order. Used for the few non-dense element-wise
// updates, so it is kept simple rather than tiled.
#include "strided_axpby.cuh"

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;

struct Shape4 {
  int64_t n[4], xs[4], ys[4];
};

template <bool kReadX>
__global__ void axpby_kernel(float alpha, const float* x, float beta, float* y, Shape4 s,
                             int64_t total) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    int64_t rest = i, xo = 0, yo = 0;
#pragma unroll
    for (int d = 3; d >= 0; --d) {
      const int64_t idx = rest % s.n[d];
      rest /= s.n[d];
      xo += idx * s.xs[d];
      yo += idx * s.ys[d];
    }
    if constexpr (kReadX)
      y[yo] = alpha * x[xo] + beta * y[yo];
    else
      y[yo] = beta * y[yo];
  }
}

}  // namespace

cudaError_t launch_strided_axpby_f32(float alpha, const float* x, const int64_t x_strides[4],
                                     float beta, float* y, const int64_t y_strides[4],
                                     const int64_t shape[4], cudaStream_t stream) {
  Shape4 s{};
  int64_t total = 1;
  for (int d = 0; d < 4; ++d) {
    s.n[d] = shape[d];
    s.xs[d] = x ? x_strides[d] : 0;
    s.ys[d] = y_strides[d];
    total *= shape[d];
  }
  if (total <= 0) return cudaSuccess;
  const int64_t want = (total + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
  if (x)
    axpby_kernel<true><<<blocks, kThreads, 0, stream>>>(alpha, x, beta, y, s, total);
  else
    axpby_kernel<false><<<blocks, kThreads, 0, stream>>>(alpha, x, beta, y, s, total);
  return cudaGetLastError();
}

}  // namespace win::kernels
