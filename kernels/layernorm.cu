// Layer normalisation forward and backward over the last dimension (see layernorm.cuh).
// Rows of d <= 1024 take one warp per row with the row in registers; wider rows take one block
// per row. The backward's parameter gradients are deterministic column sums: each block of the
// warp path owns one fixed chunk of rows, its warps accumulate their rows' dy * xhat and dy per
// column in registers (a lane always owns the same columns), the warps are combined in warp
// order in shared memory and the chunk's sums are stored (double) in the scratch; wide rows get
// the same chunk sums from a separate column kernel. A final kernel adds the chunks in a fixed
// order into dgamma and dbeta. No atomics anywhere.
#include <cmath>
#include "device_common.cuh"

#include "layernorm.cuh"

namespace win::kernels {

namespace {

using device::from_f;
using device::to_f;
using device::warp_max;
using device::warp_sum;

constexpr int kThreads = 256;  // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kMaxBlocks = 65535;
constexpr int kMaxWarpD = 1024;  // widest row of the warp path
// Backward chunks (device::column_chunk_rows: all of one length but the last, none empty): 64
// rows each (8 per warp), so that the per-block fixed costs (the ordered combine of the warps,
// the chunk's column sums written in double) are spread over enough rows, or more when that
// would make over 128 of them (one wave of blocks on a large GPU; BERT-base's 8192 rows give
// 128 chunks of 64).
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 128;

// Block-wide sum; every thread gets the result. red: 32 floats of shared memory.
__device__ float block_sum(float v, float* red) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // red may still be read by a previous reduction
  if (lane == 0) red[w] = v;
  __syncthreads();
  return warp_sum(lane < nw ? red[lane] : 0.0f);
}

__device__ __forceinline__ float rstd_of(float var, float eps) {
  return 1.0f / sqrtf(var + eps);
}

// ---- forward --------------------------------------------------------------------------------

template <class T, int kVpt>
__global__ void __launch_bounds__(kThreads)
    ln_fwd_warp(const T* x, const float* gamma, const float* beta, float eps, int64_t rows, int d,
                float* mean, float* var, T* y) {
  const int lane = threadIdx.x & 31;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kWarps;
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int64_t r = blockIdx.x * static_cast<int64_t>(kWarps) + (threadIdx.x >> 5); r < rows;
       r += stride) {
    const int64_t o = r * d;
    float v[kVpt];
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      v[k] = j < d ? to_f(x[o + j]) : 0.0f;
      s += v[k];
    }
    const float mu = warp_sum(s) * inv_d;
    float q = 0.0f;  // two passes over the registers: no cancellation when |mean| >> std
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      const float c = v[k] - mu;
      q += j < d ? c * c : 0.0f;
    }
    const float vr = warp_sum(q) * inv_d;
    const float rs = rstd_of(vr, eps);
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      if (j < d) y[o + j] = from_f<T>((v[k] - mu) * rs * gamma[j] + beta[j]);
    }
    if (lane == 0) {
      mean[r] = mu;
      var[r] = vr;
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    ln_fwd_block(const T* x, const float* gamma, const float* beta, float eps, int64_t rows,
                 int64_t d, float* mean, float* var, T* y) {
  __shared__ float red[32];
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * d;
    float s = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) s += to_f(x[o + j]);
    const float mu = block_sum(s, red) * inv_d;
    float q = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      const float c = to_f(x[o + j]) - mu;
      q += c * c;
    }
    const float vr = block_sum(q, red) * inv_d;
    const float rs = rstd_of(vr, eps);
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x)
      y[o + j] = from_f<T>((to_f(x[o + j]) - mu) * rs * gamma[j] + beta[j]);
    if (threadIdx.x == 0) {
      mean[r] = mu;
      var[r] = vr;
    }
  }
}

// ---- backward -------------------------------------------------------------------------------
// Scratch layout: dgamma partials (chunks, d), then dbeta partials (chunks, d), double.

// Warp path: block c = chunk c of rpc rows; writes dx and the chunk's column sums.
template <class T, int kVpt>
__global__ void __launch_bounds__(kThreads)
    ln_bwd_warp(const T* x, const T* dy, const float* gamma, const float* mean, const float* var,
                float eps, int64_t rows, int d, int64_t rpc, int64_t chunks, T* dx, double* part) {
  __shared__ double acc_g[kMaxWarpD];
  __shared__ double acc_b[kMaxWarpD];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t chunk = blockIdx.x;
  const int64_t r0 = chunk * rpc;
  const int64_t r1 = r0 + rpc < rows ? r0 + rpc : rows;
  const float inv_d = 1.0f / static_cast<float>(d);
  float gm[kVpt], ag[kVpt], ab[kVpt];
#pragma unroll
  for (int k = 0; k < kVpt; ++k) {
    const int j = lane + 32 * k;
    gm[k] = j < d ? gamma[j] : 0.0f;
    ag[k] = 0.0f;
    ab[k] = 0.0f;
  }
  for (int64_t r = r0 + warp; r < r1; r += kWarps) {
    const int64_t o = r * d;
    const float mu = mean[r], rs = rstd_of(var[r], eps);
    float xh[kVpt], gv[kVpt];
    float sg = 0.0f, sgx = 0.0f;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      const bool in = j < d;
      xh[k] = in ? (to_f(x[o + j]) - mu) * rs : 0.0f;
      gv[k] = in ? to_f(dy[o + j]) : 0.0f;
      const float g = gv[k] * gm[k];
      sg += g;
      sgx += g * xh[k];
    }
    const float mg = warp_sum(sg) * inv_d, mgx = warp_sum(sgx) * inv_d;
#pragma unroll
    for (int k = 0; k < kVpt; ++k) {
      const int j = lane + 32 * k;
      if (j < d) dx[o + j] = from_f<T>(rs * (gv[k] * gm[k] - mg - xh[k] * mgx));
      ag[k] += gv[k] * xh[k];
      ab[k] += gv[k];
    }
  }
  // Combine the warps in warp order: the same sums whatever the scheduling.
  for (int w = 0; w < kWarps; ++w) {
    if (warp == w) {
#pragma unroll
      for (int k = 0; k < kVpt; ++k) {
        const int j = lane + 32 * k;
        if (j < d) {
          acc_g[j] = (w == 0 ? 0.0 : acc_g[j]) + static_cast<double>(ag[k]);
          acc_b[j] = (w == 0 ? 0.0 : acc_b[j]) + static_cast<double>(ab[k]);
        }
      }
    }
    __syncthreads();
  }
  for (int j = threadIdx.x; j < d; j += blockDim.x) {
    part[chunk * d + j] = acc_g[j];
    part[(chunks + chunk) * d + j] = acc_b[j];
  }
}

// Block path: dx of one row per block (any d); the column sums come from ln_bwd_partials.
template <class T>
__global__ void __launch_bounds__(kThreads)
    ln_bwd_block(const T* x, const T* dy, const float* gamma, const float* mean, const float* var,
                 float eps, int64_t rows, int64_t d, T* dx) {
  __shared__ float red[32];
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t o = r * d;
    const float mu = mean[r], rs = rstd_of(var[r], eps);
    float sg = 0.0f, sgx = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      const float g = to_f(dy[o + j]) * gamma[j];
      sg += g;
      sgx += g * (to_f(x[o + j]) - mu) * rs;
    }
    const float mg = block_sum(sg, red) * inv_d;
    const float mgx = block_sum(sgx, red) * inv_d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      const float xh = (to_f(x[o + j]) - mu) * rs;
      dx[o + j] = from_f<T>(rs * (to_f(dy[o + j]) * gamma[j] - mg - xh * mgx));
    }
  }
}

// Column sums of one chunk (blockIdx.y) for 32 columns (blockIdx.x); block (32, 8).
template <class T>
__global__ void __launch_bounds__(256)
    ln_bwd_partials(const T* x, const T* dy, const float* mean, const float* var, float eps,
                    int64_t rows, int64_t d, int64_t rpc, int64_t chunks, double* part) {
  __shared__ float sg[8][32];
  __shared__ float sb[8][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * rpc;
  const int64_t r1 = r0 + rpc < rows ? r0 + rpc : rows;
  float ag = 0.0f, ab = 0.0f;
  if (j < d) {
    for (int64_t r = r0 + ty; r < r1; r += 8) {
      const float g = to_f(dy[r * d + j]);
      ag += g * ((to_f(x[r * d + j]) - mean[r]) * rstd_of(var[r], eps));
      ab += g;
    }
  }
  sg[ty][tx] = ag;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && j < d) {
    double g = 0.0, b = 0.0;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      g += static_cast<double>(sg[t][tx]);
      b += static_cast<double>(sb[t][tx]);
    }
    part[chunk * d + j] = g;
    part[(chunks + chunk) * d + j] = b;
  }
}

// dgamma[j] += the sum over chunks of the partials; the same for dbeta. Block (32, 8) per 32
// columns: row ty of the block adds chunks ty, ty + 8, ... in order, and the 8 row sums are
// added in row order, so the sum has one fixed order whatever the scheduling.
__global__ void __launch_bounds__(256)
    ln_bwd_finalize(const double* part, int64_t chunks, int64_t d, float* dgamma, float* dbeta) {
  __shared__ double sg[8][32];
  __shared__ double sb[8][32];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * 32 + tx;
  double g = 0.0, b = 0.0;
  if (j < d)
    for (int64_t c = ty; c < chunks; c += 8) {
      g += part[c * d + j];
      b += part[(chunks + c) * d + j];
    }
  sg[ty][tx] = g;
  sb[ty][tx] = b;
  __syncthreads();
  if (ty == 0 && j < d) {
    double tg = 0.0, tb = 0.0;
#pragma unroll
    for (int t = 0; t < 8; ++t) {
      tg += sg[t][tx];
      tb += sb[t][tx];
    }
    dgamma[j] = static_cast<float>(static_cast<double>(dgamma[j]) + tg);
    dbeta[j] = static_cast<float>(static_cast<double>(dbeta[j]) + tb);
  }
}

int blocks_for(int64_t work, int64_t per_block) {
  const int64_t want = (work + per_block - 1) / per_block;
  return static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
}

// The register width of the warp path for d (values per lane), or 0 when d needs the block
// path. 12 and 24 fit BERT's 384 and 768 exactly instead of leaving a quarter of the lanes idle.
int vpt_for(int64_t d) {
  for (const int v : {1, 2, 4, 8, 12, 16, 24, 32})
    if (d <= 32 * v) return v;
  return 0;
}

template <class T>
cudaError_t forward(const T* x, const float* gamma, const float* beta, float eps, int64_t rows,
                    int64_t d, float* mean, float* var, T* y, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaGetLastError();
  const int wb = blocks_for(rows, kWarps);
  const int di = static_cast<int>(d <= kMaxWarpD ? d : 0);
#define WIN_LN_FWD(V) \
  ln_fwd_warp<T, V><<<wb, kThreads, 0, stream>>>(x, gamma, beta, eps, rows, di, mean, var, y)
  switch (vpt_for(d)) {
    case 1:
      WIN_LN_FWD(1);
      break;
    case 2:
      WIN_LN_FWD(2);
      break;
    case 4:
      WIN_LN_FWD(4);
      break;
    case 8:
      WIN_LN_FWD(8);
      break;
    case 12:
      WIN_LN_FWD(12);
      break;
    case 16:
      WIN_LN_FWD(16);
      break;
    case 24:
      WIN_LN_FWD(24);
      break;
    case 32:
      WIN_LN_FWD(32);
      break;
    default:
      ln_fwd_block<T><<<blocks_for(rows, 1), kThreads, 0, stream>>>(x, gamma, beta, eps, rows, d,
                                                                    mean, var, y);
  }
#undef WIN_LN_FWD
  return cudaGetLastError();
}

template <class T>
cudaError_t backward(const T* x, const T* dy, const float* gamma, const float* mean,
                     const float* var, float eps, int64_t rows, int64_t d, T* dx, float* dgamma,
                     float* dbeta, double* scratch, cudaStream_t stream) {
  if (rows <= 0 || d <= 0) return cudaGetLastError();
  const int64_t chunks = layernorm_backward_chunks(rows);
  const int64_t rpc = device::column_chunk_rows(rows, kMinChunkRows, kMaxChunks);
  const int cb = static_cast<int>(chunks);
  const int di = static_cast<int>(d <= kMaxWarpD ? d : 0);
#define WIN_LN_BWD(V)                                                                         \
  ln_bwd_warp<T, V><<<cb, kThreads, 0, stream>>>(x, dy, gamma, mean, var, eps, rows, di, rpc, \
                                                 chunks, dx, scratch)
  switch (vpt_for(d)) {
    case 1:
      WIN_LN_BWD(1);
      break;
    case 2:
      WIN_LN_BWD(2);
      break;
    case 4:
      WIN_LN_BWD(4);
      break;
    case 8:
      WIN_LN_BWD(8);
      break;
    case 12:
      WIN_LN_BWD(12);
      break;
    case 16:
      WIN_LN_BWD(16);
      break;
    case 24:
      WIN_LN_BWD(24);
      break;
    case 32:
      WIN_LN_BWD(32);
      break;
    default: {
      // Partials first: they read dy, which dx may alias.
      const dim3 grid(static_cast<unsigned>((d + 31) / 32), static_cast<unsigned>(chunks));
      ln_bwd_partials<T>
          <<<grid, dim3(32, 8), 0, stream>>>(x, dy, mean, var, eps, rows, d, rpc, chunks, scratch);
      ln_bwd_block<T>
          <<<blocks_for(rows, 1), kThreads, 0, stream>>>(x, dy, gamma, mean, var, eps, rows, d, dx);
    }
  }
#undef WIN_LN_BWD
  ln_bwd_finalize<<<static_cast<unsigned>((d + 31) / 32), dim3(32, 8), 0, stream>>>(
      scratch, chunks, d, dgamma, dbeta);
  return cudaGetLastError();
}

}  // namespace

int64_t layernorm_backward_chunks(int64_t rows) {
  if (rows <= 0) return 0;
  return device::column_chunks(rows, kMinChunkRows, kMaxChunks);
}

int64_t layernorm_backward_scratch_doubles(int64_t rows, int64_t d) {
  return 2 * layernorm_backward_chunks(rows) * (d > 0 ? d : 0);
}

cudaError_t launch_layernorm_forward_f32(const float* x, const float* gamma, const float* beta,
                                         float eps, int64_t rows, int64_t d, float* mean,
                                         float* var, float* y, cudaStream_t stream) {
  return forward(x, gamma, beta, eps, rows, d, mean, var, y, stream);
}
cudaError_t launch_layernorm_forward_bf16(const __nv_bfloat16* x, const float* gamma,
                                          const float* beta, float eps, int64_t rows, int64_t d,
                                          float* mean, float* var, __nv_bfloat16* y,
                                          cudaStream_t stream) {
  return forward(x, gamma, beta, eps, rows, d, mean, var, y, stream);
}
cudaError_t launch_layernorm_backward_f32(const float* x, const float* dy, const float* gamma,
                                          const float* mean, const float* var, float eps,
                                          int64_t rows, int64_t d, float* dx, float* dgamma,
                                          float* dbeta, double* scratch, cudaStream_t stream) {
  return backward(x, dy, gamma, mean, var, eps, rows, d, dx, dgamma, dbeta, scratch, stream);
}
cudaError_t launch_layernorm_backward_bf16(const __nv_bfloat16* x, const __nv_bfloat16* dy,
                                           const float* gamma, const float* mean, const float* var,
                                           float eps, int64_t rows, int64_t d, __nv_bfloat16* dx,
                                           float* dgamma, float* dbeta, double* scratch,
                                           cudaStream_t stream) {
  return backward(x, dy, gamma, mean, var, eps, rows, d, dx, dgamma, dbeta, scratch, stream);
}

}  // namespace win::kernels
