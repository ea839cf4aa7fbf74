// Deterministic reductions (see reduce.cuh): sum of squares in two passes, global average pooling
// with one thread per output when channels are the fastest-moving dimension (channels-last: a warp
// reads 32 neighbouring channels) and one warp per output otherwise (NCHW: lanes read along the
// spatial plane), and its broadcast backward. Block sums use a fixed shuffle tree, so the order of
// every floating-point addition depends only on the sizes.
#include "device_common.cuh"
#include "reduce.cuh"

#include <algorithm>

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int64_t kMaxBlocks = 8192;
constexpr int64_t kSumSquaresPerBlock = 4096;  // elements per first-pass block (at least)
constexpr int64_t kSumSquaresMaxBlocks = 1024;

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

int64_t iabs(int64_t v) {
  return v < 0 ? -v : v;
}

__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;  // lane 0 holds the sum
}

// Sum of v over the block (blockDim.x == kThreads), valid in thread 0.
__device__ __forceinline__ double block_sum(double v) {
  __shared__ double warp_sums[kWarps];
  v = warp_sum(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (warp == 0) {
    total = lane < kWarps ? warp_sums[lane] : 0.0;
    total = warp_sum(total);
  }
  return total;
}

__global__ void sum_squares_partial_kernel(const float* x, int64_t n, double* partial) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  double acc = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const double v = static_cast<double>(x[i]);
    acc += v * v;
  }
  const double total = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

__global__ void sum_partials_kernel(const double* partial, int64_t count, double* out) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
  const double total = block_sum(acc);
  if (threadIdx.x == 0) *out = total;
}

struct Pool {
  int64_t n, c, h, w;
  int64_t xs[4];
  int64_t ys[2];
  double inv;  // 1 / (h * w)
};

// One thread per output; consecutive threads take consecutive channels. TX: float or bf16.
template <class TX>
__global__ void avg_pool_thread_kernel(const TX* x, float* y, Pool p) {
  const int64_t outputs = p.n * p.c;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs;
       o += stride) {
    const int64_t in = o / p.c, ic = o % p.c;
    const TX* base = x + in * p.xs[0] + ic * p.xs[1];
    double s = 0.0;
    for (int64_t a = 0; a < p.h; ++a)
      for (int64_t b = 0; b < p.w; ++b)
        s += static_cast<double>(device::to_f(base[a * p.xs[2] + b * p.xs[3]]));
    y[in * p.ys[0] + ic * p.ys[1]] = static_cast<float>(s * p.inv);
  }
}

// One warp per output; lanes stride over the h * w plane.
template <class TX>
__global__ void avg_pool_warp_kernel(const TX* x, float* y, Pool p) {
  const int64_t outputs = p.n * p.c;
  const int lane = threadIdx.x & 31;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  const int64_t plane = p.h * p.w;
  for (int64_t o = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32; o < outputs;
       o += warps) {
    const int64_t in = o / p.c, ic = o % p.c;
    const TX* base = x + in * p.xs[0] + ic * p.xs[1];
    double s = 0.0;
    for (int64_t j = lane; j < plane; j += 32) {
      const int64_t a = j / p.w, b = j % p.w;
      s += static_cast<double>(device::to_f(base[a * p.xs[2] + b * p.xs[3]]));
    }
    s = warp_sum(s);
    if (lane == 0) y[in * p.ys[0] + ic * p.ys[1]] = static_cast<float>(s * p.inv);
  }
}

// dx in dx's memory order: dims ordered by decreasing |dx stride| (dim 3 fastest); dys is dy's
// stride for the N and C dims and 0 for the broadcast H and W dims.
struct Broadcast {
  int64_t size[4];
  int64_t dxs[4];
  int64_t dys[4];
  double inv;
};

template <class TX>
__global__ void avg_pool_backward_kernel(const float* dy, TX* dx, Broadcast b, int64_t total) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    int64_t rest = i, od = 0, ox = 0;
#pragma unroll
    for (int d = 3; d >= 0; --d) {
      const int64_t idx = rest % b.size[d];
      rest /= b.size[d];
      od += idx * b.dys[d];
      ox += idx * b.dxs[d];
    }
    dx[ox] = device::from_f<TX>(static_cast<float>(static_cast<double>(dy[od]) * b.inv));
  }
}

}  // namespace

int64_t sum_squares_scratch_doubles(int64_t n) {
  const int64_t blocks = (n + kSumSquaresPerBlock - 1) / kSumSquaresPerBlock;
  return std::clamp<int64_t>(blocks, 1, kSumSquaresMaxBlocks);
}

cudaError_t launch_sum_squares_f32(const float* x, int64_t n, double* scratch, double* out,
                                   cudaStream_t stream) {
  if (n <= 0) {
    const cudaError_t e = cudaMemsetAsync(out, 0, sizeof(double), stream);
    return e != cudaSuccess ? e : cudaGetLastError();
  }
  const int64_t blocks = sum_squares_scratch_doubles(n);
  sum_squares_partial_kernel<<<static_cast<int>(blocks), kThreads, 0, stream>>>(x, n, scratch);
  sum_partials_kernel<<<1, kThreads, 0, stream>>>(scratch, blocks, out);
  return cudaGetLastError();
}

namespace {

template <class TX>
cudaError_t global_avg_pool(const TX* x, const int64_t shape[4], const int64_t x_strides[4],
                            float* y, const int64_t y_strides[2], cudaStream_t stream) {
  for (int d = 0; d < 4; ++d)
    if (shape[d] < 0) return cudaErrorInvalidValue;
  Pool p{};
  p.n = shape[0];
  p.c = shape[1];
  p.h = shape[2];
  p.w = shape[3];
  const int64_t outputs = p.n * p.c;
  if (outputs == 0) return cudaSuccess;
  for (int d = 0; d < 4; ++d) p.xs[d] = x_strides[d];
  p.ys[0] = y_strides[0];
  p.ys[1] = y_strides[1];
  p.inv = 1.0 / static_cast<double>(p.h * p.w);  // h * w == 0 gives NaN means, like the CPU
  // Channels moving faster than the plane (channels-last, or a 1x1 plane): thread per output.
  int64_t plane_stride = INT64_MAX;
  if (p.h > 1) plane_stride = std::min(plane_stride, iabs(p.xs[2]));
  if (p.w > 1) plane_stride = std::min(plane_stride, iabs(p.xs[3]));
  if (iabs(p.xs[1]) < plane_stride) {
    avg_pool_thread_kernel<TX><<<blocks_for(outputs), kThreads, 0, stream>>>(x, y, p);
  } else {
    const int64_t want = (outputs + kWarps - 1) / kWarps;
    const int blocks = static_cast<int>(std::min<int64_t>(want, kMaxBlocks));
    avg_pool_warp_kernel<TX><<<blocks, kThreads, 0, stream>>>(x, y, p);
  }
  return cudaGetLastError();
}

template <class TX>
cudaError_t global_avg_pool_backward(const float* dy, const int64_t dy_strides[2], TX* dx,
                                     const int64_t shape[4], const int64_t dx_strides[4],
                                     cudaStream_t stream) {
  int64_t total = 1;
  for (int d = 0; d < 4; ++d) {
    if (shape[d] < 0) return cudaErrorInvalidValue;
    total *= shape[d];
  }
  if (total == 0) return cudaSuccess;
  const int64_t dys[4] = {dy_strides[0], dy_strides[1], 0, 0};
  int order[4] = {0, 1, 2, 3};
  std::stable_sort(order, order + 4,
                   [&](int a, int b) { return iabs(dx_strides[a]) > iabs(dx_strides[b]); });
  Broadcast b{};
  for (int k = 0; k < 4; ++k) {
    b.size[k] = shape[order[k]];
    b.dxs[k] = dx_strides[order[k]];
    b.dys[k] = dys[order[k]];
  }
  b.inv = 1.0 / static_cast<double>(shape[2] * shape[3]);
  avg_pool_backward_kernel<TX><<<blocks_for(total), kThreads, 0, stream>>>(dy, dx, b, total);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_global_avg_pool_f32(const float* x, const int64_t shape[4],
                                       const int64_t x_strides[4], float* y,
                                       const int64_t y_strides[2], cudaStream_t stream) {
  return global_avg_pool(x, shape, x_strides, y, y_strides, stream);
}
cudaError_t launch_global_avg_pool_bf16(const __nv_bfloat16* x, const int64_t shape[4],
                                        const int64_t x_strides[4], float* y,
                                        const int64_t y_strides[2], cudaStream_t stream) {
  return global_avg_pool(x, shape, x_strides, y, y_strides, stream);
}
cudaError_t launch_global_avg_pool_backward_f32(const float* dy, const int64_t dy_strides[2],
                                                float* dx, const int64_t shape[4],
                                                const int64_t dx_strides[4], cudaStream_t stream) {
  return global_avg_pool_backward(dy, dy_strides, dx, shape, dx_strides, stream);
}
cudaError_t launch_global_avg_pool_backward_bf16(const float* dy, const int64_t dy_strides[2],
                                                 __nv_bfloat16* dx, const int64_t shape[4],
                                                 const int64_t dx_strides[4], cudaStream_t stream) {
  return global_avg_pool_backward(dy, dy_strides, dx, shape, dx_strides, stream);
}

}  // namespace win::kernels
