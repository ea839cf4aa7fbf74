// Row softmax forward and backward over the last dimension (see softmax.cuh). Narrow rows
// (D <= 1024) take one warp per row with the row in registers, so each element is read once and
// written once; wider rows take one block per row and re-read the row (from L1/L2) per pass.
// Outputs may alias inputs: every pass reads an element before the same thread writes it.
#include <cmath>
#include "device_common.cuh"

#include "softmax.cuh"

namespace win::kernels {

namespace {

using device::from_f;
using device::to_f;
using device::warp_max;
using device::warp_sum;

constexpr int kThreads = 256;  // 8 warps: 8 rows per block on the warp path
constexpr int kMaxBlocks = 65535;

// Block-wide reductions; every thread gets the result. red: 32 floats of shared memory.
__device__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // red may still be read by a previous reduction
  if (lane == 0) red[w] = v;
  __syncthreads();
  return warp_sum(lane < nw ? red[lane] : 0.0f);
}
__device__ float block_max(float v, float* red) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) red[w] = v;
  __syncthreads();
  return warp_max(lane < nw ? red[lane] : -INFINITY);
}

// ---- one warp per row, the row in registers (kVpt values per lane, d <= 32 * kVpt) ----------

template <class T, int kVpt>
__global__ void __launch_bounds__(kThreads)
    softmax_fwd_warp(const T* x, T* y, int64_t rows, int d) {
  const int lane = threadIdx.x & 31;
  const int64_t wpb = blockDim.x >> 5;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * wpb;
  for (int64_t r = blockIdx.x * wpb + (threadIdx.x >> 5); r < rows; r += stride) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    float v[kVpt];
    float m = -INFINITY;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      v[k] = j < d ? to_f(xr[j]) : -INFINITY;
      m = fmaxf(m, v[k]);
    }
    m = warp_max(m);
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      v[k] = j < d ? expf(v[k] - m) : 0.0f;
      s += v[k];
    }
    s = warp_sum(s);
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      if (j < d) yr[j] = from_f<T>(v[k] / s);
    }
  }
}

template <class T, int kVpt>
__global__ void __launch_bounds__(kThreads)
    softmax_bwd_warp(const T* y, const T* dy, T* dx, int64_t rows, int d) {
  const int lane = threadIdx.x & 31;
  const int64_t wpb = blockDim.x >> 5;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * wpb;
  for (int64_t r = blockIdx.x * wpb + (threadIdx.x >> 5); r < rows; r += stride) {
    const int64_t o = r * d;
    float yv[kVpt], gv[kVpt];
    float dot = 0.0f;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      yv[k] = j < d ? to_f(y[o + j]) : 0.0f;
      gv[k] = j < d ? to_f(dy[o + j]) : 0.0f;
      dot += yv[k] * gv[k];
    }
    dot = warp_sum(dot);
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      if (j < d) dx[o + j] = from_f<T>(yv[k] * (gv[k] - dot));
    }
  }
}

// ---- one block per row (any d) ------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kThreads)
    softmax_fwd_block(const T* x, T* y, int64_t rows, int64_t d) {
  __shared__ float red[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * d;
    T* yr = y + r * d;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) m = fmaxf(m, to_f(xr[j]));
    m = block_max(m, red);
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += expf(to_f(xr[j]) - m);
    s = block_sum(s, red);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
      yr[j] = from_f<T>(expf(to_f(xr[j]) - m) / s);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    softmax_bwd_block(const T* y, const T* dy, T* dx, int64_t rows, int64_t d) {
  __shared__ float red[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * d;
    float dot = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) dot += to_f(y[o + j]) * to_f(dy[o + j]);
    dot = block_sum(dot, red);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
      dx[o + j] = from_f<T>(to_f(y[o + j]) * (to_f(dy[o + j]) - dot));
  }
}

int blocks_for(int64_t work, int64_t per_block) {
  const int64_t want = (work + per_block - 1) / per_block;
  return static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
}

// The register width of the warp path for d, or 0 when d needs the block path.
int vpt_for(int64_t d) {
  for (int v = 1; v <= 32; v *= 2)
    if (d <= 32 * v) return v;
  return 0;
}

template <class T>
cudaError_t forward(const T* x, T* y, int64_t rows, int64_t d, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaGetLastError();
  const int vpt = vpt_for(d);
  const int wb = blocks_for(rows, kThreads / 32);
  const int di = static_cast<int>(vpt > 0 ? d : 0);
  switch (vpt) {
    case 1:
      softmax_fwd_warp<T, 1><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    case 2:
      softmax_fwd_warp<T, 2><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    case 4:
      softmax_fwd_warp<T, 4><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    case 8:
      softmax_fwd_warp<T, 8><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    case 16:
      softmax_fwd_warp<T, 16><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    case 32:
      softmax_fwd_warp<T, 32><<<wb, kThreads, 0, stream>>>(x, y, rows, di);
      break;
    default:
      softmax_fwd_block<T><<<blocks_for(rows, 1), kThreads, 0, stream>>>(x, y, rows, d);
  }
  return cudaGetLastError();
}

template <class T>
cudaError_t backward(const T* y, const T* dy, T* dx, int64_t rows, int64_t d, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaGetLastError();
  const int vpt = vpt_for(d);
  const int wb = blocks_for(rows, kThreads / 32);
  const int di = static_cast<int>(vpt > 0 ? d : 0);
  switch (vpt) {
    case 1:
      softmax_bwd_warp<T, 1><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    case 2:
      softmax_bwd_warp<T, 2><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    case 4:
      softmax_bwd_warp<T, 4><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    case 8:
      softmax_bwd_warp<T, 8><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    case 16:
      softmax_bwd_warp<T, 16><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    case 32:
      softmax_bwd_warp<T, 32><<<wb, kThreads, 0, stream>>>(y, dy, dx, rows, di);
      break;
    default:
      softmax_bwd_block<T><<<blocks_for(rows, 1), kThreads, 0, stream>>>(y, dy, dx, rows, d);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_softmax_forward_f32(const float* x, float* y, int64_t rows, int64_t d,
                                       cudaStream_t stream) {
  return forward(x, y, rows, d, stream);
}
cudaError_t launch_softmax_forward_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, int64_t rows,
                                        int64_t d, cudaStream_t stream) {
  return forward(x, y, rows, d, stream);
}
cudaError_t launch_softmax_backward_f32(const float* y, const float* dy, float* dx, int64_t rows,
                                        int64_t d, cudaStream_t stream) {
  return backward(y, dy, dx, rows, d, stream);
}
cudaError_t launch_softmax_backward_bf16(const __nv_bfloat16* y, const __nv_bfloat16* dy,
                                         __nv_bfloat16* dx, int64_t rows, int64_t d,
                                         cudaStream_t stream) {
  return backward(y, dy, dx, rows, d, stream);
}

}  // namespace win::kernels
