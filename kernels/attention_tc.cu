// Fused attention on bf16 tensor cores (see attention_tc.cuh). Blocks of 4 warps; a tile is 64
// rows (queries, or keys in the dK/dV kernel), 16 per warp, and each warp owns its 16 rows of
// every per-row buffer in shared memory, so within a tile only __syncwarp orders the warp's own
// fragment stores and scalar reads; __syncthreads guards the tiles all warps read (K, V, or Q, dO).
// Operand tiles are bf16 with rows padded by 16 bytes, fp32 tiles by 4 floats: padding keeps
// every fragment pointer 32-byte aligned and moves rows onto different banks.
// Forward: S = Q K^T per key tile into shared memory, online softmax there (running max m, sum l,
// the rescale factor of each row), the rows of O in shared memory rescaled and then O += P V on
// fragments loaded from and stored back to them. Backward recomputes P = exp(S - lse) in both
// kernels; the dQ kernel owns a query tile, the dK/dV kernel a key tile and computes the
// transposed products (S^T = K Q^T) so that its rows are its keys.
#include <mma.h>

#include <cmath>

#include "attention_common.cuh"
#include "attention_tc.cuh"
#include "device_common.cuh"

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
using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kThreads = 128;   // 4 warps
constexpr int kTile = 64;       // rows per tile, 16 per warp
constexpr int kLs = kTile + 4;  // fp32 row of a score tile
constexpr int kLp = kTile + 8;  // bf16 row of a probability tile
constexpr int kLk = kTile + 4;  // u8 row of a transposed dropout-mask tile (an odd word stride)

// wmma's bf16 fragments need sm_80 or later. A CUDA_ARCHITECTURES list that also names an older
// architecture still builds: there the kernels only trap, and the launchers never start them on
// such a device (TensorCoreKernels::ready).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#define WIN_ATTENTION_TC_UNSUPPORTED 1
#endif

using FragA = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using FragBRow = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using FragBCol = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using FragC = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// Element counts of one tile: bf16 operands (kD + 8 per row), fp32 scores, bf16 probabilities,
// fp32 rows of width kD (O, or the staging of a result).
template <int kD>
struct Tile {
  static constexpr int kLh = kD + 8;
  static constexpr int kLo = kD + 4;
  static constexpr int kOperand = kTile * kLh;
  static constexpr int kScores = kTile * kLs;
  static constexpr int kProbs = kTile * kLp;
  static constexpr int kRows = kTile * kLo;
};

// Rows [0, kTile) of a (rows, dh) view at base into a bf16 tile, zero past `rows` and past dh.
template <int kD, class T>
__device__ __forceinline__ void load_bf16_tile(bf16* dst, const T* base, int64_t sr, int rows,
                                               int dh) {
  for (int idx = threadIdx.x; idx < kTile * kD; idx += kThreads) {
    const int r = idx / kD, d = idx % kD;
    float val = 0.0f;
    if (r < rows && d < dh) val = to_f(base[r * sr + d]);
    dst[r * Tile<kD>::kLh + d] = __float2bfloat16_rn(val);
  }
}

// The mask bias of keys [k0, k0 + kTile), -inf past T.
template <class T>
__device__ __forceinline__ void load_key_mask(const Args<T>& a, int64_t b, int k0, float* mask_s) {
  const int j = threadIdx.x;
  if (j < kTile) mask_s[j] = k0 + j < a.t ? (a.mask ? a.mask[b * a.t + k0 + j] : 0.0f) : -INFINITY;
}

// out (16 x 64, fp32, row stride kLs) = A (16 x kD rows of a) times the 64 rows of b transposed:
// out[r][c] = sum_d a[r][d] b[c][d], both bf16 tiles with row stride lda = ldb.
template <int kD>
__device__ __forceinline__ void rows_times_rows_t(const bf16* a, const bf16* b, float* out) {
  constexpr int ld = Tile<kD>::kLh;
#pragma unroll
  for (int n = 0; n < kTile / 16; ++n) {
    FragC acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < kD / 16; ++kk) {
      FragA fa;
      FragBCol fb;
      wmma::load_matrix_sync(fa, a + kk * 16, ld);
      wmma::load_matrix_sync(fb, b + n * 16 * ld + kk * 16, ld);
      wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(out + n * 16, acc, kLs, wmma::mem_row_major);
  }
}

// acc[n] += P (16 x 64 bf16, row stride kLp) times columns [16 n, 16 n + 16) of the 64 x kD bf16
// tile b.
template <int kD>
__device__ __forceinline__ void probs_times_tile(const bf16* p, const bf16* b,
                                                 FragC (&acc)[kD / 16]) {
  constexpr int ld = Tile<kD>::kLh;
#pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    FragA fa;
    wmma::load_matrix_sync(fa, p + kk * 16, kLp);
#pragma unroll
    for (int n = 0; n < kD / 16; ++n) {
      FragBRow fb;
      wmma::load_matrix_sync(fb, b + kk * 16 * ld + n * 16, ld);
      wmma::mma_sync(acc[n], fa, fb, acc[n]);
    }
  }
}

// Writes the warp's 16 rows of acc (times `factor`) to rows [row0, row0 + 16) of the tile at out
// (a (rows, dh) view with row stride sr), skipping rows past `rows` and columns past dh, through
// the warp's 16 rows of an fp32 staging tile.
template <int kD, class T>
__device__ __forceinline__ void write_rows(FragC (&acc)[kD / 16], float factor, float* staging,
                                           T* out, int64_t sr, int row0, int rows, int dh) {
  constexpr int ld = Tile<kD>::kLo;
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) {
#pragma unroll
    for (int e = 0; e < acc[n].num_elements; ++e) acc[n].x[e] *= factor;
    wmma::store_matrix_sync(staging + n * 16, acc[n], ld, wmma::mem_row_major);
  }
  __syncwarp();
  for (int idx = lane; idx < 16 * kD; idx += 32) {
    const int r = idx / kD, d = idx % kD;
    if (row0 + r < rows && d < dh) out[(row0 + r) * sr + d] = from_f<T>(staging[r * ld + d]);
  }
  __syncwarp();  // the staging rows are free again
}

// ---- forward: one block per (b, h, query tile) ---------------------------------------------

template <int kD>
constexpr size_t fwd_smem_bytes() {
  using L = Tile<kD>;
  return 2 * (3 * L::kOperand + L::kProbs) + 4 * (L::kScores + L::kRows + 4 * kTile);
}

template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_tc_fwd(Args<T> a) {
#ifdef WIN_ATTENTION_TC_UNSUPPORTED
  __trap();
#else
  using L = Tile<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = qs + L::kOperand;
  bf16* vs = ks + L::kOperand;
  bf16* ps = vs + L::kOperand;
  float* ss = reinterpret_cast<float*>(ps + L::kProbs);
  float* os = ss + L::kScores;
  float* row_m = os + L::kRows;
  float* row_l = row_m + kTile;
  float* row_a = row_l + kTile;
  float* mask_s = row_a + kTile;

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int q0 = bt.row0;
  const int tid = threadIdx.x, lane = tid & 31, r0 = 16 * (tid >> 5);

  load_bf16_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, min(kTile, a.t - q0), a.dh);
  for (int idx = tid; idx < L::kRows; idx += kThreads) os[idx] = 0.0f;
  if (tid < kTile) {
    row_m[tid] = -INFINITY;
    row_l[tid] = 0.0f;
  }

  for (int k0 = 0; k0 < a.t; k0 += kTile) {
    __syncthreads();  // the previous tile's K and V are no longer read
    const int kv = min(kTile, a.t - k0);
    load_bf16_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
    load_bf16_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
    load_key_mask(a, b, k0, mask_s);
    __syncthreads();

    rows_times_rows_t<kD>(qs + r0 * L::kLh, ks, ss + r0 * kLs);
    __syncwarp();

    // Online softmax of the warp's rows, a lane two columns of each.
    for (int rr = 0; rr < 16; ++rr) {
      const int row = r0 + rr;
      const float v0 = __fmaf_rn(ss[row * kLs + lane], a.scale, mask_s[lane]);
      const float v1 = __fmaf_rn(ss[row * kLs + lane + 32], a.scale, mask_s[lane + 32]);
      const float m_old = row_m[row];
      const float m_new = fmaxf(m_old, warp_max(fmaxf(v0, v1)));
      const float ref = m_new == -INFINITY ? 0.0f : m_new;  // all -inf so far: p = 0, no NaN
      const float p0 = expf(v0 - ref), p1 = expf(v1 - ref);
      // The row sum takes every probability; only the product with V sees the dropout.
      ps[row * kLp + lane] = __float2bfloat16_rn(p0 * keep_factor(a, bh, q0 + row, k0 + lane));
      ps[row * kLp + lane + 32] =
          __float2bfloat16_rn(p1 * keep_factor(a, bh, q0 + row, k0 + lane + 32));
      const float sum = warp_sum(p0 + p1);
      __syncwarp();  // every lane has read row_m[row]
      if (lane == 0) {
        const float alpha = expf(m_old - ref);
        row_a[row] = alpha;
        row_l[row] = row_l[row] * alpha + sum;
        row_m[row] = m_new;
      }
    }
    __syncwarp();
    for (int idx = lane; idx < 16 * kD; idx += 32) {
      const int row = r0 + idx / kD;
      os[row * L::kLo + idx % kD] *= row_a[row];
    }
    __syncwarp();

    FragC acc[kD / 16];
#pragma unroll
    for (int n = 0; n < kD / 16; ++n)
      wmma::load_matrix_sync(acc[n], os + r0 * L::kLo + n * 16, L::kLo, wmma::mem_row_major);
    probs_times_tile<kD>(ps + r0 * kLp, vs, acc);
#pragma unroll
    for (int n = 0; n < kD / 16; ++n)
      wmma::store_matrix_sync(os + r0 * L::kLo + n * 16, acc[n], L::kLo, wmma::mem_row_major);
    __syncwarp();
  }

  for (int idx = lane; idx < 16 * kD; idx += 32) {
    const int r = r0 + idx / kD, d = idx % kD, qi = q0 + r;
    if (qi >= a.t || d >= a.dh) continue;
    const float l = row_l[r];
    a.o_out[base + qi * a.sr + d] = from_f<T>(l > 0.0f ? os[r * L::kLo + d] / l : 0.0f);
  }
  if (lane < 16 && q0 + r0 + lane < a.t) {
    const int r = r0 + lane;
    const float l = row_l[r];
    a.lse_out[bh * a.t + q0 + r] = l > 0.0f ? row_m[r] + logf(l) : -INFINITY;
  }
#endif
}

// ---- backward -------------------------------------------------------------------------------

// lse of each row of the tile at q0 (+inf where P must be 0: rows past T and rows whose keys are
// all -inf).
template <class T>
__device__ __forceinline__ void load_row_lse(const Args<T>& a, int64_t bh, int q0, float* lse_s) {
  const int i = threadIdx.x;
  if (i < kTile) {
    const float l = q0 + i < a.t ? a.lse[bh * a.t + q0 + i] : INFINITY;
    lse_s[i] = l == -INFINITY ? INFINITY : l;
  }
}

template <int kD>
constexpr size_t dq_smem_bytes() {
  using L = Tile<kD>;
  return 2 * (4 * L::kOperand + L::kProbs) + 4 * (2 * L::kScores + 3 * kTile);
}

// dQ of one query tile, looping over the key tiles; also delta = rowsum(dO * O) of its rows.
template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_tc_bwd_dq(Args<T> a) {
#ifdef WIN_ATTENTION_TC_UNSUPPORTED
  __trap();
#else
  using L = Tile<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* dos = qs + L::kOperand;
  bf16* ks = dos + L::kOperand;
  bf16* vs = ks + L::kOperand;
  bf16* dss = vs + L::kOperand;
  float* ss = reinterpret_cast<float*>(dss + L::kProbs);
  float* dps = ss + L::kScores;
  float* lse_s = dps + L::kScores;
  float* delta_s = lse_s + kTile;
  float* mask_s = delta_s + kTile;
  static_assert(L::kRows <= 2 * L::kScores, "the results are staged in the two score tiles");

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int q0 = bt.row0;
  const int tid = threadIdx.x, lane = tid & 31, r0 = 16 * (tid >> 5);
  const int qv = min(kTile, a.t - q0);

  load_bf16_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, qv, a.dh);
  load_bf16_tile<kD>(dos, a.dout + base + q0 * a.sr, a.sr, qv, a.dh);
  load_row_lse(a, bh, q0, lse_s);
  // delta of the warp's rows from the unrounded dO and O, for this kernel and the dK/dV one.
  for (int rr = 0; rr < 16; ++rr) {
    const int row = r0 + rr;
    float s = 0.0f;
    if (row < qv) {
      const int64_t off = base + (q0 + row) * a.sr;
      for (int d = lane; d < a.dh; d += 32) s += to_f(a.dout[off + d]) * to_f(a.o[off + d]);
    }
    s = warp_sum(s);
    if (lane == 0) {
      delta_s[row] = s;
      if (row < qv) a.delta[bh * a.t + q0 + row] = s;
    }
  }
  FragC dq[kD / 16];
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) wmma::fill_fragment(dq[n], 0.0f);

  for (int k0 = 0; k0 < a.t; k0 += kTile) {
    __syncthreads();  // the previous tile's K and V are no longer read
    const int kv = min(kTile, a.t - k0);
    load_bf16_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
    load_bf16_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
    load_key_mask(a, b, k0, mask_s);
    __syncthreads();

    rows_times_rows_t<kD>(qs + r0 * L::kLh, ks, ss + r0 * kLs);    // S = Q K^T
    rows_times_rows_t<kD>(dos + r0 * L::kLh, vs, dps + r0 * kLs);  // dP = dO V^T
    __syncwarp();
    for (int rr = 0; rr < 16; ++rr) {
      const int row = r0 + rr;
      for (int c = lane; c < kTile; c += 32) {
        const float sv = __fmaf_rn(ss[row * kLs + c], a.scale, mask_s[c]);
        const float pv = expf(sv - lse_s[row]);
        const float f = keep_factor(a, bh, q0 + row, k0 + c);
        dss[row * kLp + c] = __float2bfloat16_rn(pv * (dps[row * kLs + c] * f - delta_s[row]));
      }
    }
    __syncwarp();
    probs_times_tile<kD>(dss + r0 * kLp, ks, dq);  // dQ += dS K
  }

  __syncthreads();  // every warp is done with the score tiles, which now stage the results
  write_rows<kD>(dq, a.scale, ss + r0 * L::kLo, a.dq + base + q0 * a.sr, a.sr, r0, qv, a.dh);
#endif
}

template <int kD>
constexpr size_t dkv_smem_bytes() {
  using L = Tile<kD>;
  return 2 * (4 * L::kOperand + 2 * L::kProbs) + 4 * (2 * L::kScores + 3 * kTile) + kTile * kLk;
}

// keep_t[key][query] = whether probability (q0 + query, k0 + key) of head bh is kept, 0 outside
// the T x T matrix: read from global memory along keys (coalesced), stored transposed so that
// the dK/dV kernel's lanes, which walk the queries, read consecutive bytes.
template <class T>
__device__ __forceinline__ void load_keep_transposed(const Args<T>& a, int64_t bh, int q0, int k0,
                                                     uint8_t* keep_t) {
  for (int idx = threadIdx.x; idx < kTile * kTile; idx += kThreads) {
    const int i = idx / kTile, j = idx % kTile;
    uint8_t kept = 0;
    if (q0 + i < a.t && k0 + j < a.t) kept = a.keep[(bh * a.t + q0 + i) * a.t + k0 + j];
    keep_t[j * kLk + i] = kept;
  }
}

// dK and dV of one key tile, looping over the query tiles: the warp's rows are keys, so it
// computes S^T = K Q^T and dP^T = V dO^T, and dV += D^T dO, dK += dS^T Q with D = P * keep / (1-p).
template <class T, int kD>
__global__ void __launch_bounds__(kThreads) attn_tc_bwd_dkv(Args<T> a) {
#ifdef WIN_ATTENTION_TC_UNSUPPORTED
  __trap();
#else
  using L = Tile<kD>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* ks = reinterpret_cast<bf16*>(smem);
  bf16* vs = ks + L::kOperand;
  bf16* qs = vs + L::kOperand;
  bf16* dos = qs + L::kOperand;
  bf16* pts = dos + L::kOperand;
  bf16* dsts = pts + L::kProbs;
  float* sts = reinterpret_cast<float*>(dsts + L::kProbs);
  float* dpts = sts + L::kScores;
  float* lse_s = dpts + L::kScores;
  float* delta_s = lse_s + kTile;
  float* mask_s = delta_s + kTile;
  uint8_t* keep_t = reinterpret_cast<uint8_t*>(mask_s + kTile);
  static_assert(L::kRows <= 2 * L::kScores, "the results are staged in the two score tiles");

  const BlockTile bt = block_tile(a);
  const int64_t bh = bt.bh, b = bt.b, base = bt.base;
  const int k0 = bt.row0;
  const int tid = threadIdx.x, lane = tid & 31, r0 = 16 * (tid >> 5);
  const int kv = min(kTile, a.t - k0);

  load_bf16_tile<kD>(ks, a.k + base + k0 * a.sr, a.sr, kv, a.dh);
  load_bf16_tile<kD>(vs, a.v + base + k0 * a.sr, a.sr, kv, a.dh);
  load_key_mask(a, b, k0, mask_s);
  FragC dk[kD / 16], dv[kD / 16];
#pragma unroll
  for (int n = 0; n < kD / 16; ++n) {
    wmma::fill_fragment(dk[n], 0.0f);
    wmma::fill_fragment(dv[n], 0.0f);
  }

  for (int q0 = 0; q0 < a.t; q0 += kTile) {
    __syncthreads();  // the previous tile's Q and dO are no longer read
    const int qv = min(kTile, a.t - q0);
    load_bf16_tile<kD>(qs, a.q + base + q0 * a.sr, a.sr, qv, a.dh);
    load_bf16_tile<kD>(dos, a.dout + base + q0 * a.sr, a.sr, qv, a.dh);
    load_row_lse(a, bh, q0, lse_s);
    if (tid < kTile) delta_s[tid] = tid < qv ? a.delta[bh * a.t + q0 + tid] : 0.0f;
    if (a.keep) load_keep_transposed(a, bh, q0, k0, keep_t);
    __syncthreads();

    rows_times_rows_t<kD>(ks + r0 * L::kLh, qs, sts + r0 * kLs);    // S^T = K Q^T
    rows_times_rows_t<kD>(vs + r0 * L::kLh, dos, dpts + r0 * kLs);  // dP^T = V dO^T
    __syncwarp();
    for (int rr = 0; rr < 16; ++rr) {
      const int key = r0 + rr;
      for (int c = lane; c < kTile; c += 32) {  // c: the query
        const float sv = __fmaf_rn(sts[key * kLs + c], a.scale, mask_s[key]);
        const float pv = expf(sv - lse_s[c]);
        const float f = a.keep ? (keep_t[key * kLk + c] ? a.inv_keep : 0.0f) : 1.0f;
        pts[key * kLp + c] = __float2bfloat16_rn(pv * f);
        dsts[key * kLp + c] = __float2bfloat16_rn(pv * (dpts[key * kLs + c] * f - delta_s[c]));
      }
    }
    __syncwarp();
    probs_times_tile<kD>(pts + r0 * kLp, dos, dv);  // dV += D^T dO
    probs_times_tile<kD>(dsts + r0 * kLp, qs, dk);  // dK += dS^T Q
  }

  __syncthreads();  // every warp is done with the score tiles, which now stage the results
  float* staging = sts + r0 * L::kLo;
  write_rows<kD>(dk, a.scale, staging, a.dk + base + k0 * a.sr, a.sr, r0, kv, a.dh);
  write_rows<kD>(dv, 1.0f, staging, a.dv + base + k0 * a.sr, a.sr, r0, kv, a.dh);
#endif
}

// ---- launchers ------------------------------------------------------------------------------

// The tensor-core kernels, as attention_detail's launchers take a kernel set.
struct TensorCoreKernels {
  // cudaErrorNoKernelImageForDevice on a GPU without bf16 tensor cores (before sm_80).
  static cudaError_t ready() {
    int device = 0, major = 0;
    cudaError_t e = cudaGetDevice(&device);
    if (e == cudaSuccess)
      e = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (e != cudaSuccess) return e;
    return major >= 8 ? cudaSuccess : cudaErrorNoKernelImageForDevice;
  }

  template <class T, int kD>
  static cudaError_t forward(const Args<T>& a, int64_t blocks, cudaStream_t stream) {
    constexpr size_t bytes = fwd_smem_bytes<kD>();
    const cudaError_t e = cudaFuncSetAttribute(attn_tc_fwd<T, kD>,
                                               cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return e;
    attn_tc_fwd<T, kD><<<static_cast<unsigned>(blocks), kThreads, bytes, stream>>>(a);
    return cudaGetLastError();
  }

  // dQ first: it writes the delta the dK/dV kernel reads.
  template <class T, int kD>
  static cudaError_t backward(const Args<T>& a, int64_t blocks, cudaStream_t stream) {
    constexpr size_t dq_bytes = dq_smem_bytes<kD>(), dkv_bytes = dkv_smem_bytes<kD>();
    cudaError_t e = cudaFuncSetAttribute(attn_tc_bwd_dq<T, kD>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, dq_bytes);
    if (e != cudaSuccess) return e;
    e = cudaFuncSetAttribute(attn_tc_bwd_dkv<T, kD>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             dkv_bytes);
    if (e != cudaSuccess) return e;
    attn_tc_bwd_dq<T, kD><<<static_cast<unsigned>(blocks), kThreads, dq_bytes, stream>>>(a);
    attn_tc_bwd_dkv<T, kD><<<static_cast<unsigned>(blocks), kThreads, dkv_bytes, stream>>>(a);
    return cudaGetLastError();
  }
};

}  // namespace

cudaError_t launch_attention_tc_forward_f32(const float* q, const float* k, const float* v,
                                            const float* mask_bias, const uint8_t* keep, double p,
                                            int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                            float scale, AttentionStrides strides, float* o,
                                            float* lse, cudaStream_t stream) {
  return attention_detail::launch_forward<TensorCoreKernels>(
      q, k, v, mask_bias, keep, p, batch, heads, t, dh, scale, strides, o, lse, stream);
}

cudaError_t launch_attention_tc_forward_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k,
                                             const __nv_bfloat16* v, const float* mask_bias,
                                             const uint8_t* keep, double p, int64_t batch,
                                             int64_t heads, int64_t t, int64_t dh, float scale,
                                             AttentionStrides strides, __nv_bfloat16* o, float* lse,
                                             cudaStream_t stream) {
  return attention_detail::launch_forward<TensorCoreKernels>(
      q, k, v, mask_bias, keep, p, batch, heads, t, dh, scale, strides, o, lse, stream);
}

cudaError_t launch_attention_tc_backward_f32(const float* q, const float* k, const float* v,
                                             const float* mask_bias, const uint8_t* keep, double p,
                                             const float* o, const float* dout, const float* lse,
                                             int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                             float scale, AttentionStrides strides, float* delta,
                                             float* dq, float* dk, float* dv, cudaStream_t stream) {
  return attention_detail::launch_backward<TensorCoreKernels>(q, k, v, mask_bias, keep, p, o, dout,
                                                              lse, batch, heads, t, dh, scale,
                                                              strides, delta, dq, dk, dv, stream);
}

cudaError_t launch_attention_tc_backward_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k,
                                              const __nv_bfloat16* v, const float* mask_bias,
                                              const uint8_t* keep, double p, const __nv_bfloat16* o,
                                              const __nv_bfloat16* dout, const float* lse,
                                              int64_t batch, int64_t heads, int64_t t, int64_t dh,
                                              float scale, AttentionStrides strides, float* delta,
                                              __nv_bfloat16* dq, __nv_bfloat16* dk,
                                              __nv_bfloat16* dv, cudaStream_t stream) {
  return attention_detail::launch_backward<TensorCoreKernels>(q, k, v, mask_bias, keep, p, o, dout,
                                                              lse, batch, heads, t, dh, scale,
                                                              strides, delta, dq, dk, dv, stream);
}

}  // namespace win::kernels
