// Fused attention forward and backward (see attention.cuh). A straightforward tiled design on
// CUDA cores in fp32: 64-row tiles of Q, K, V (and dO) in shared memory, padded by one column so
// that the access patterns below are free of bank conflicts, and 256 threads as a 16 x 16 grid
// that each own a 4 x (tile / 16) register block of every product (rows ty + 16 r, columns
// tx + 16 c). Forward keeps the running row max m, sum l and rescales O per key tile (online
// softmax). Backward: a row-wise delta = dO . O pass, then one kernel per key tile (dK, dV) and
// one per query tile (dQ), each recomputing P = exp(S - lse); no atomics, so results are
// deterministic.
#include <cmath>
#include "device_common.cuh"

#include "attention.cuh"
#include "attention_common.cuh"

namespace win::kernels {

namespace {

using attention_detail::Args;
using attention_detail::block_tile;
using attention_detail::BlockTile;
using attention_detail::keep_factor;
using device::from_f;
using device::to_f;
using device::warp_max;
using device::warp_sum;

constexpr int kThreads = 256;                      // 16 x 16
constexpr int kTile = attention_detail::kRowTile;  // query and key rows per tile
constexpr int kLs = kTile + 1;                     // padded row of a score tile
constexpr int kMaxBlocks = 65535;

// Rows [0, kTile) of a (rows, dh) view at base (row stride sr) into dst[kTile][kD + 1], zero past
// `rows` and past dh.
template <int kD, class T>
__device__ __forceinline__ void load_tile(float* dst, const T* base, int64_t sr, int rows, int dh) {
  for (int idx = threadIdx.x; idx < kTile * kD; idx += kThreads) {
    const int r = idx / kD, d = idx % kD;
    float val = 0.0f;
    if (r < rows && d < dh) val = to_f(base[r * sr + d]);
    dst[r * (kD + 1) + d] = val;
  }
}

// acc[r][c] += sum_kk A(ti + 16 r, kk) * B(kk, tj + 16 c), with A(i, kk) = A[i * kAi + kk * kAk]
// and B(kk, j) = B[kk * kBk + j * kBj] in shared memory.
template <int kRm, int kRn, int kK, int kAi, int kAk, int kBk, int kBj>
__device__ __forceinline__ void tile_mm(float (&acc)[kRm][kRn], const float* a, const float* b,
                                        int ti, int tj) {
#pragma unroll 4
  for (int kk = 0; kk < kK; ++kk) {
    float av[kRm], bv[kRn];
#pragma unroll
    for (int r = 0; r < kRm; ++r) av[r] = a[(ti + 16 * r) * kAi + kk * kAk];
#pragma unroll
    for (int c = 0; c < kRn; ++c) bv[c] = b[kk * kBk + (tj + 16 * c) * kBj];
#pragma unroll
    for (int r = 0; r < kRm; ++r)
#pragma unroll
      for (int c = 0; c < kRn; ++c) acc[r][c] = fmaf(av[r], bv[c], acc[r][c]);
  }
}

template <int kD>
constexpr int fwd_smem_floats() {
  return 3 * kTile * (kD + 1) + kTile * kLs + 4 * kTile;
}
template <int kD>
constexpr int dkv_smem_floats() {
  return 4 * kTile * (kD + 1) + 2 * kTile * kLs + 3 * kTile;
}
template <int kD>
constexpr int dq_smem_floats() {
  return 4 * kTile * (kD + 1) + kTile * kLs + 3 * kTile;
}

// ---- forward: one block per (b, h, query tile) ---------------------------------------------

template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_fwd(Args<T> a) {
  constexpr int kLd = kD + 1, kRn = kD / 16;
  extern __shared__ float smem[];
  float* qs = smem;
  float* ks = qs + kTile * kLd;
  float* vs = ks + kTile * kLd;
  float* ss = vs + kTile * kLd;
  float* row_m = ss + kTile * kLs;
  float* row_l = row_m + kTile;
  float* row_a = row_l + kTile;
  float* mask_s = row_a + kTile;

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int q0 = bt.row0;
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4, lane = tid & 31, warp = tid >> 5;

  load_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, min(kTile, a.t - q0), a.dh);
  if (tid < kTile) {
    row_m[tid] = -INFINITY;
    row_l[tid] = 0.0f;
  }
  float acc[4][kRn];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < kRn; ++c) acc[r][c] = 0.0f;

  for (int k0 = 0; k0 < a.t; k0 += kTile) {
    __syncthreads();  // the previous tile's K, V and P are no longer read
    const int kv = min(kTile, a.t - k0);
    load_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
    load_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
    if (tid < kTile)
      mask_s[tid] = tid < kv ? (a.mask ? a.mask[b * a.t + k0 + tid] : 0.0f) : -INFINITY;
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) s[r][c] = 0.0f;
    tile_mm<4, 4, kD, kLd, 1, 1, kLd>(s, qs, ks, ty, tx);
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c)
        ss[(ty + 16 * r) * kLs + tx + 16 * c] = __fmaf_rn(s[r][c], a.scale, mask_s[tx + 16 * c]);
    __syncthreads();

    // Online softmax: warp w owns rows 8w .. 8w + 7, a lane two columns of each.
#pragma unroll
    for (int rr = 0; rr < kTile / 8; ++rr) {
      const int row = warp * (kTile / 8) + rr;
      float* sr = ss + row * kLs;
      const float v0 = sr[lane], v1 = sr[lane + 32];
      const float m_old = row_m[row];
      const float m_new = fmaxf(m_old, warp_max(fmaxf(v0, v1)));
      const float ref = m_new == -INFINITY ? 0.0f : m_new;  // all -inf so far: p = 0, no NaN
      const float p0 = expf(v0 - ref), p1 = expf(v1 - ref);
      // The row sum takes every probability; only the product with V sees the dropout.
      sr[lane] = a.keep ? p0 * keep_factor(a, bh, q0 + row, k0 + lane) : p0;
      sr[lane + 32] = a.keep ? p1 * keep_factor(a, bh, q0 + row, k0 + lane + 32) : p1;
      const float sum = warp_sum(p0 + p1);
      __syncwarp();  // every lane has read row_m[row]
      if (lane == 0) {
        const float alpha = expf(m_old - ref);
        row_a[row] = alpha;
        row_l[row] = row_l[row] * alpha + sum;
        row_m[row] = m_new;
      }
    }
    __syncthreads();

#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const float alpha = row_a[ty + 16 * r];
#pragma unroll
      for (int c = 0; c < kRn; ++c) acc[r][c] *= alpha;
    }
    tile_mm<4, kRn, kTile, kLs, 1, kLd, 1>(acc, ss, vs, ty, tx);
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int i = ty + 16 * r, qi = q0 + i;
    if (qi >= a.t) continue;
    const float l = row_l[i];
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    T* orow = a.o_out + base + qi * a.sr;
#pragma unroll
    for (int c = 0; c < kRn; ++c) {
      const int d = tx + 16 * c;
      if (d < a.dh) orow[d] = from_f<T>(acc[r][c] * inv);
    }
    if (tx == 0) a.lse_out[bh * a.t + qi] = l > 0.0f ? row_m[i] + logf(l) : -INFINITY;
  }
}

// ---- backward -------------------------------------------------------------------------------

// delta[row] = sum_d dout[row, d] * o[row, d], one warp per (b, h, i) row.
template <class T>
__global__ void __launch_bounds__(kThreads) attn_delta(Args<T> a, int64_t rows) {
  const int lane = threadIdx.x & 31;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * (kThreads / 32);
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * (kThreads / 32) + (threadIdx.x >> 5);
       r < rows; r += stride) {
    const int64_t bh = r / a.t, i = r % a.t;
    const int64_t off = (bh / a.heads) * a.sb + (bh % a.heads) * a.sh + i * a.sr;
    float s = 0.0f;
    for (int d = lane; d < a.dh; d += 32) s += to_f(a.dout[off + d]) * to_f(a.o[off + d]);
    s = warp_sum(s);
    if (lane == 0) a.delta[r] = s;
  }
}

// Per query row of the tile at q0: lse (with +inf where P must be 0: rows past T and rows whose
// keys are all -inf) and delta.
template <class T>
__device__ __forceinline__ void load_row_stats(const Args<T>& a, int64_t bh, int q0, float* lse_s,
                                               float* delta_s) {
  const int i = threadIdx.x;
  if (i < kTile) {
    const bool in = q0 + i < a.t;
    const float l = in ? a.lse[bh * a.t + q0 + i] : INFINITY;
    lse_s[i] = l == -INFINITY ? INFINITY : l;
    delta_s[i] = in ? a.delta[bh * a.t + q0 + i] : 0.0f;
  }
}

// P (recomputed) and dS = P (dP - delta) for the 4 x 4 block of a thread: rows (queries)
// ty + 16 r, columns (keys) tx + 16 c of the tiles at q0, k0. With dropout (a.keep), what dO V^T
// gives is the gradient of the dropped probabilities D = P * keep / (1 - p), so dP is that times
// the same factor, and p returns D (dV = D^T dO); delta = rowsum(dO * O) is rowsum(dP * P) either
// way, since O = D V.
template <int kD, class T>
__device__ __forceinline__ void probs_and_dscores(const Args<T>& a, int64_t bh, int q0, int k0,
                                                  const float* qs, const float* ks,
                                                  const float* dos, const float* vs,
                                                  const float* lse_s, const float* delta_s,
                                                  const float* mask_s, int ty, int tx,
                                                  float (&p)[4][4], float (&ds)[4][4]) {
  const float scale = a.scale;
  constexpr int kLd = kD + 1;
  float dp[4][4];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      p[r][c] = 0.0f;
      dp[r][c] = 0.0f;
    }
  tile_mm<4, 4, kD, kLd, 1, 1, kLd>(p, qs, ks, ty, tx);
  tile_mm<4, 4, kD, kLd, 1, 1, kLd>(dp, dos, vs, ty, tx);
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int i = ty + 16 * r;
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      // The forward's score, bit for bit (same products in the same order, the same fma).
      const float sv = __fmaf_rn(p[r][c], scale, mask_s[tx + 16 * c]);
      const float pv = expf(sv - lse_s[i]);
      const float f = a.keep ? keep_factor(a, bh, q0 + i, k0 + tx + 16 * c) : 1.0f;
      ds[r][c] = pv * (dp[r][c] * f - delta_s[i]);
      p[r][c] = pv * f;
    }
  }
}

// dK and dV of one key tile: one block per (b, h, key tile), looping over all query tiles.
template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_bwd_dkv(Args<T> a) {
  constexpr int kLd = kD + 1, kRn = kD / 16;
  extern __shared__ float smem[];
  float* ks = smem;
  float* vs = ks + kTile * kLd;
  float* qs = vs + kTile * kLd;
  float* dos = qs + kTile * kLd;
  float* ps = dos + kTile * kLd;
  float* dss = ps + kTile * kLs;
  float* lse_s = dss + kTile * kLs;
  float* delta_s = lse_s + kTile;
  float* mask_s = delta_s + kTile;

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int k0 = bt.row0;
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int kv = min(kTile, a.t - k0);

  load_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
  load_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
  if (tid < kTile)
    mask_s[tid] = tid < kv ? (a.mask ? a.mask[b * a.t + k0 + tid] : 0.0f) : -INFINITY;
  float dk[4][kRn], dv[4][kRn];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < kRn; ++c) {
      dk[r][c] = 0.0f;
      dv[r][c] = 0.0f;
    }

  for (int q0 = 0; q0 < a.t; q0 += kTile) {
    __syncthreads();  // the previous tile's Q, dO, P, dS are no longer read
    const int qv = min(kTile, a.t - q0);
    load_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, qv, a.dh);
    load_tile<kD>(dos, a.dout + base + q0 * a.sr, a.sr, qv, a.dh);
    load_row_stats(a, bh, q0, lse_s, delta_s);
    __syncthreads();

    float p[4][4], ds[4][4];
    probs_and_dscores<kD>(a, bh, q0, k0, qs, ks, dos, vs, lse_s, delta_s, mask_s, ty, tx, p, ds);
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        ps[(ty + 16 * r) * kLs + tx + 16 * c] = p[r][c];
        dss[(ty + 16 * r) * kLs + tx + 16 * c] = ds[r][c];
      }
    __syncthreads();

    // dV[j][d] += sum_i D[i][j] dO[i][d]; dK[j][d] += sum_i dS[i][j] Q[i][d] (times scale below).
    tile_mm<4, kRn, kTile, 1, kLs, kLd, 1>(dv, ps, dos, ty, tx);
    tile_mm<4, kRn, kTile, 1, kLs, kLd, 1>(dk, dss, qs, ty, tx);
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int kj = k0 + ty + 16 * r;
    if (kj >= a.t) continue;
    T* dkr = a.dk + base + kj * a.sr;
    T* dvr = a.dv + base + kj * a.sr;
#pragma unroll
    for (int c = 0; c < kRn; ++c) {
      const int d = tx + 16 * c;
      if (d < a.dh) {
        dkr[d] = from_f<T>(dk[r][c] * a.scale);
        dvr[d] = from_f<T>(dv[r][c]);
      }
    }
  }
}

// dQ of one query tile: one block per (b, h, query tile), looping over all key tiles.
template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_bwd_dq(Args<T> a) {
  constexpr int kLd = kD + 1, kRn = kD / 16;
  extern __shared__ float smem[];
  float* qs = smem;
  float* dos = qs + kTile * kLd;
  float* ks = dos + kTile * kLd;
  float* vs = ks + kTile * kLd;
  float* dss = vs + kTile * kLd;
  float* lse_s = dss + kTile * kLs;
  float* delta_s = lse_s + kTile;
  float* mask_s = delta_s + kTile;

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int q0 = bt.row0;
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int qv = min(kTile, a.t - q0);

  load_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, qv, a.dh);
  load_tile<kD>(dos, a.dout + base + q0 * a.sr, a.sr, qv, a.dh);
  load_row_stats(a, bh, q0, lse_s, delta_s);
  float dq[4][kRn];
#pragma unroll
  for (int r = 0; r < 4; ++r)
#pragma unroll
    for (int c = 0; c < kRn; ++c) dq[r][c] = 0.0f;

  for (int k0 = 0; k0 < a.t; k0 += kTile) {
    __syncthreads();  // the previous tile's K, V, dS are no longer read
    const int kv = min(kTile, a.t - k0);
    load_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
    load_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
    if (tid < kTile)
      mask_s[tid] = tid < kv ? (a.mask ? a.mask[b * a.t + k0 + tid] : 0.0f) : -INFINITY;
    __syncthreads();

    float p[4][4], ds[4][4];
    probs_and_dscores<kD>(a, bh, q0, k0, qs, ks, dos, vs, lse_s, delta_s, mask_s, ty, tx, p, ds);
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) dss[(ty + 16 * r) * kLs + tx + 16 * c] = ds[r][c];
    __syncthreads();

    // dQ[i][d] += sum_j dS[i][j] K[j][d] (times scale below).
    tile_mm<4, kRn, kTile, kLs, 1, kLd, 1>(dq, dss, ks, ty, tx);
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int qi = q0 + ty + 16 * r;
    if (qi >= a.t) continue;
    T* dqr = a.dq + base + qi * a.sr;
#pragma unroll
    for (int c = 0; c < kRn; ++c) {
      const int d = tx + 16 * c;
      if (d < a.dh) dqr[d] = from_f<T>(dq[r][c] * a.scale);
    }
  }
}

// ---- launchers ------------------------------------------------------------------------------

// The CUDA-core kernels, as attention_detail's launchers take a kernel set.
struct CudaCoreKernels {
  static cudaError_t ready() { return cudaSuccess; }

  template <class T, int kD>
  static cudaError_t forward(const Args<T>& a, int64_t blocks, cudaStream_t stream) {
    constexpr size_t bytes = sizeof(float) * fwd_smem_floats<kD>();
    const cudaError_t e =
        cudaFuncSetAttribute(attn_fwd<T, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
    attn_fwd<T, kD><<<static_cast<unsigned>(blocks), kThreads, bytes, stream>>>(a);
    return cudaGetLastError();
  }

  // delta first (its own pass), then the dK/dV and dQ kernels.
  template <class T, int kD>
  static cudaError_t backward(const Args<T>& a, int64_t blocks, cudaStream_t stream) {
    const int64_t rows = a.batch * a.heads * a.t;
    const int64_t want = (rows + kThreads / 32 - 1) / (kThreads / 32);
    attn_delta<T>
        <<<static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks), kThreads, 0, stream>>>(a, rows);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return e;
    constexpr size_t dkv_bytes = sizeof(float) * dkv_smem_floats<kD>();
    constexpr size_t dq_bytes = sizeof(float) * dq_smem_floats<kD>();
    e = cudaFuncSetAttribute(attn_bwd_dkv<T, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             dkv_bytes);
    if (e != cudaSuccess) return e;
    e = cudaFuncSetAttribute(attn_bwd_dq<T, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             dq_bytes);
    if (e != cudaSuccess) return e;
    attn_bwd_dkv<T, kD><<<static_cast<unsigned>(blocks), kThreads, dkv_bytes, stream>>>(a);
    attn_bwd_dq<T, kD><<<static_cast<unsigned>(blocks), kThreads, dq_bytes, stream>>>(a);
    return cudaGetLastError();
  }
};

}  // namespace

cudaError_t launch_attention_forward_f32(const float* q, const float* k, const float* v,
                                         const float* mask_bias, const uint8_t* keep, double p,
                                         int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                         float scale, AttentionStrides strides, float* o,
                                         float* lse, cudaStream_t stream) {
  return attention_detail::launch_forward<CudaCoreKernels>(
      q, k, v, mask_bias, keep, p, batch, heads, t, dh, scale, strides, o, lse, stream);
}

cudaError_t launch_attention_forward_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k,
                                          const __nv_bfloat16* v, const float* mask_bias,
                                          const uint8_t* keep, double p, int64_t batch,
                                          int64_t heads, int64_t t, int64_t dh, float scale,
                                          AttentionStrides strides, __nv_bfloat16* o, float* lse,
                                          cudaStream_t stream) {
  return attention_detail::launch_forward<CudaCoreKernels>(
      q, k, v, mask_bias, keep, p, batch, heads, t, dh, scale, strides, o, lse, stream);
}

cudaError_t launch_attention_backward_f32(const float* q, const float* k, const float* v,
                                          const float* mask_bias, const uint8_t* keep, double p,
                                          const float* o, const float* dout, const float* lse,
                                          int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                          float scale, AttentionStrides strides, float* delta,
                                          float* dq, float* dk, float* dv, cudaStream_t stream) {
  return attention_detail::launch_backward<CudaCoreKernels>(q, k, v, mask_bias, keep, p, o, dout,
                                                            lse, batch, heads, t, dh, scale,
                                                            strides, delta, dq, dk, dv, stream);
}

cudaError_t launch_attention_backward_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k,
                                           const __nv_bfloat16* v, const float* mask_bias,
                                           const uint8_t* keep, double p, const __nv_bfloat16* o,
                                           const __nv_bfloat16* dout, const float* lse,
                                           int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                           float scale, AttentionStrides strides, float* delta,
                                           __nv_bfloat16* dq, __nv_bfloat16* dk, __nv_bfloat16* dv,
                                           cudaStream_t stream) {
  return attention_detail::launch_backward<CudaCoreKernels>(q, k, v, mask_bias, keep, p, o, dout,
                                                            lse, batch, heads, t, dh, scale,
                                                            strides, delta, dq, dk, dv, stream);
}

}  // namespace win::kernels
