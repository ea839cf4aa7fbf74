// Cross-entropy, MSE and Hinton-KD losses (see loss.cuh). Rows are handled by one warp each
// (c <= 1024) or one block each (wider rows: a BERT vocabulary); element sums per row are in
// double like the CPU op's, and the loss over rows is reduced deterministically: the number of
// blocks is a function of the problem size only, every block adds its rows (warps in warp order)
// into one partial, and a one-block kernel adds the partials in a fixed order. Cross-entropy's
// gradient needs the count of non-ignored rows, so it is a separate pass that reads the count the
// reduction left in device memory.
#include <climits>
#include <cmath>
#include "device_common.cuh"

#include "loss.cuh"

namespace win::kernels {

namespace {

using device::from_f;
using device::to_f;
using device::warp_max;
using device::warp_sum;

constexpr int kThreads = 256;  // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kMaxBlocks = 65535;
constexpr int64_t kMaxWarpRow = 1024;  // widest row handled by one warp

// (value, index) pairs: the larger value wins, the smaller index on ties; NaN never wins, so the
// result is the first maximum over the non-NaN values (index `none` when there is none).
__device__ __forceinline__ void argmax_merge(float& m, int64_t& i, float om, int64_t oi) {
  if (om > m || (om == m && oi < i)) {
    m = om;
    i = oi;
  }
}
__device__ __forceinline__ void warp_argmax(float& m, int64_t& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float om = __shfl_xor_sync(0xffffffffu, m, o);
    const int64_t oi = __shfl_xor_sync(0xffffffffu, i, o);
    argmax_merge(m, i, om, oi);
  }
}

// Shared scratch of the block reductions.
struct Red {
  double d[32];
  float f[32];
  int64_t i[32];
};

// Reductions over the group that owns a row: a warp (kBlock = false) or the whole block. Every
// thread of the group gets the result; the order of additions is fixed.
template <bool kBlock>
__device__ double group_sum(double v, Red& red) {
  v = warp_sum(v);
  if constexpr (kBlock) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();  // red may still be read by a previous reduction
    if (lane == 0) red.d[w] = v;
    __syncthreads();
    v = warp_sum(lane < nw ? red.d[lane] : 0.0);
  }
  return v;
}
template <bool kBlock>
__device__ float group_max(float v, Red& red) {
  v = warp_max(v);
  if constexpr (kBlock) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red.f[w] = v;
    __syncthreads();
    v = warp_max(lane < nw ? red.f[lane] : -INFINITY);
  }
  return v;
}
template <bool kBlock>
__device__ void group_argmax(float& m, int64_t& i, Red& red) {
  warp_argmax(m, i);
  if constexpr (kBlock) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) {
      red.f[w] = m;
      red.i[w] = i;
    }
    __syncthreads();
    // Lanes past nw carry (-inf, INT64_MAX), which loses to every warp's result.
    m = lane < nw ? red.f[lane] : -INFINITY;
    i = lane < nw ? red.i[lane] : INT64_MAX;
    warp_argmax(m, i);
  }
}

// Rows of a group: warp w of block b starts at row b * 8 + w (warp mode) or block b at row b.
template <bool kBlock>
struct RowLoop {
  int64_t first, stride;
  int rank, size;
  __device__ RowLoop() {
    if constexpr (kBlock) {
      first = blockIdx.x;
      stride = gridDim.x;
      rank = threadIdx.x;
      size = blockDim.x;
    } else {
      first = static_cast<int64_t>(blockIdx.x) * kWarps + (threadIdx.x >> 5);
      stride = static_cast<int64_t>(gridDim.x) * kWarps;
      rank = threadIdx.x & 31;
      size = 32;
    }
  }
};

// A block's share of a double sum held by each group's rank 0, added in group order; thread 0
// gets the result. slots: kWarps doubles of shared memory.
template <bool kBlock>
__device__ double block_total(double v, double* slots) {
  if constexpr (kBlock) {
    return v;
  } else {
    if ((threadIdx.x & 31) == 0) slots[threadIdx.x >> 5] = v;
    __syncthreads();
    double s = 0.0;
    if (threadIdx.x == 0)
      for (int w = 0; w < kWarps; ++w) s += slots[w];
    return s;
  }
}

// ---- cross-entropy --------------------------------------------------------------------------

__device__ __forceinline__ bool ce_counted(int32_t l, int64_t c, int64_t ignore) {
  return static_cast<int64_t>(l) != ignore && l >= 0 && l < c;
}

template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    ce_pass1(const T* x, const int32_t* labels, int64_t n, int64_t c, int64_t ignore,
             float* row_loss, float* stats, CeDeviceResult* partials, int32_t* bad) {
  __shared__ Red red;
  __shared__ double s_loss[kWarps];
  __shared__ double s_cnt[kWarps];
  __shared__ double s_cor[kWarps];
  const RowLoop<kBlock> g;
  double my_loss = 0.0;
  int64_t my_cnt = 0, my_cor = 0;  // held by each group's rank 0
  for (int64_t r = g.first; r < n; r += g.stride) {
    const int32_t l = labels[r];
    if (!ce_counted(l, c, ignore)) {  // uniform over the group: one label per row
      if (g.rank == 0) {
        if (static_cast<int64_t>(l) != ignore)
          atomicMin(bad, static_cast<int32_t>(r < INT32_MAX ? r : INT32_MAX - 1));
        if (row_loss) row_loss[r] = 0.0f;
      }
      continue;
    }
    const T* xr = x + r * c;
    float m = -INFINITY;
    int64_t arg = c;
    for (int64_t j = g.rank; j < c; j += g.size) argmax_merge(m, arg, to_f(xr[j]), j);
    group_argmax<kBlock>(m, arg, red);
    double s = 0.0;
    for (int64_t j = g.rank; j < c; j += g.size) s += static_cast<double>(expf(to_f(xr[j]) - m));
    s = group_sum<kBlock>(s, red);
    if (g.rank == 0) {
      const double loss = log(s) + static_cast<double>(m) - static_cast<double>(to_f(xr[l]));
      stats[2 * r] = m;
      stats[2 * r + 1] = static_cast<float>(s);
      if (row_loss) row_loss[r] = static_cast<float>(loss);
      my_loss += loss;
      ++my_cnt;
      my_cor += arg == l ? 1 : 0;
    }
  }
  // Counts fit a double exactly (< 2^53), so one reduction helper serves all three sums.
  const double tl = block_total<kBlock>(my_loss, s_loss);
  const double tc = block_total<kBlock>(static_cast<double>(my_cnt), s_cnt);
  const double to = block_total<kBlock>(static_cast<double>(my_cor), s_cor);
  if (threadIdx.x == 0)
    partials[blockIdx.x] = {tl, static_cast<int64_t>(tc), static_cast<int64_t>(to)};
}

// One block of kThreads: adds np partials in a fixed order into *result.
__global__ void __launch_bounds__(kThreads)
    ce_final(const CeDeviceResult* partials, int np, CeDeviceResult* result) {
  __shared__ double sl[kThreads];
  __shared__ int64_t sc[kThreads];
  __shared__ int64_t so[kThreads];
  const int t = threadIdx.x;
  double l = 0.0;
  int64_t cn = 0, co = 0;
  for (int p = t; p < np; p += kThreads) {
    l += partials[p].loss_sum;
    cn += partials[p].counted;
    co += partials[p].correct;
  }
  sl[t] = l;
  sc[t] = cn;
  so[t] = co;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (t < s) {
      sl[t] += sl[t + s];
      sc[t] += sc[t + s];
      so[t] += so[t + s];
    }
    __syncthreads();
  }
  if (t == 0) *result = {sl[0], sc[0], so[0]};
}

template <class T, bool kBlock>
__global__ void __launch_bounds__(kThreads)
    ce_pass2(const T* x, const int32_t* labels, int64_t n, int64_t c, int64_t ignore,
             double grad_scale, const float* stats, const CeDeviceResult* result, T* dx) {
  const RowLoop<kBlock> g;
  const int64_t counted = result->counted;
  const double gs = counted > 0 ? grad_scale / static_cast<double>(counted) : 0.0;
  const float gf = static_cast<float>(gs);
  for (int64_t r = g.first; r < n; r += g.stride) {
    const int32_t l = labels[r];
    const T* xr = x + r * c;
    T* dr = dx + r * c;
    if (counted == 0 || !ce_counted(l, c, ignore)) {
      for (int64_t j = g.rank; j < c; j += g.size) dr[j] = from_f<T>(0.0f);
      continue;
    }
    const float m = stats[2 * r];
    const float k = static_cast<float>(gs / static_cast<double>(stats[2 * r + 1]));
    for (int64_t j = g.rank; j < c; j += g.size) {
      float e = expf(to_f(xr[j]) - m) * k;
      if (j == l) e -= gf;
      dr[j] = from_f<T>(e);
    }
  }
}

// ---- shared pieces of mse and kl_div ----------------------------------------------------------

// Whole-block double sum with a fixed order; thread 0 gets the result. red: shared scratch.
__device__ double block_sum_all(double v, Red& red) {
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) red.d[w] = v;
  __syncthreads();
  return warp_sum(lane < nw ? red.d[lane] : 0.0);
}

// *out = (mul * sum of np partials) / div, in a fixed order. One block of kThreads.
__global__ void __launch_bounds__(kThreads)
    sum_partials(const double* partials, int np, double mul, double div, double* out) {
  __shared__ double s[kThreads];
  const int t = threadIdx.x;
  double v = 0.0;
  for (int p = t; p < np; p += kThreads) v += partials[p];
  s[t] = v;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h >>= 1) {
    if (t < h) s[t] += s[t + h];
    __syncthreads();
  }
  if (t == 0) *out = mul * s[0] / div;
}

__global__ void __launch_bounds__(kThreads)
    mse_kernel(const float* x, const float* target, int64_t n, float k, float* dx,
               double* partials) {
  __shared__ Red red;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  double s = 0.0;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const float diff = x[i] - target[i];
    dx[i] = k * diff;
    s += static_cast<double>(diff) * static_cast<double>(diff);
  }
  s = block_sum_all(s, red);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

template <bool kBlock>
__global__ void __launch_bounds__(kThreads)
    kl_kernel(const float* student, const float* teacher, int64_t n, int64_t c, float inv_t,
              double temp, double coef, float* d, double* partials) {
  __shared__ Red red;
  __shared__ double s_loss[kWarps];
  const RowLoop<kBlock> g;
  double my_loss = 0.0;
  for (int64_t r = g.first; r < n; r += g.stride) {
    const float* sr = student + r * c;
    const float* tr = teacher + r * c;
    float* dr = d + r * c;
    float ms = -INFINITY, mt = -INFINITY;
    for (int64_t j = g.rank; j < c; j += g.size) {
      ms = fmaxf(ms, sr[j]);
      mt = fmaxf(mt, tr[j]);
    }
    ms = group_max<kBlock>(ms, red);
    mt = group_max<kBlock>(mt, red);
    // sum_j p_j (log p_j - log q_j) = sum_j et_j ((t_j - mt) - (s_j - ms)) / (T st) + log(ss / st)
    double ss = 0.0, stt = 0.0, w = 0.0;
    for (int64_t j = g.rank; j < c; j += g.size) {
      const float ds = sr[j] - ms, dt = tr[j] - mt;
      const double es = static_cast<double>(expf(ds * inv_t));
      const double et = static_cast<double>(expf(dt * inv_t));
      ss += es;
      stt += et;
      w += et * (static_cast<double>(dt) - static_cast<double>(ds));
    }
    ss = group_sum<kBlock>(ss, red);
    stt = group_sum<kBlock>(stt, red);
    w = group_sum<kBlock>(w, red);
    // coef (es/ss - et/st) = (es - et ss/st) coef/ss: exactly 0 where student and teacher agree.
    const float ratio = static_cast<float>(ss / stt), k = static_cast<float>(coef / ss);
    for (int64_t j = g.rank; j < c; j += g.size) {
      const float es = expf((sr[j] - ms) * inv_t), et = expf((tr[j] - mt) * inv_t);
      dr[j] = (es - et * ratio) * k;
    }
    if (g.rank == 0) my_loss += w / (temp * stt) + log(ss) - log(stt);
  }
  const double tl = block_total<kBlock>(my_loss, s_loss);
  if (threadIdx.x == 0) partials[blockIdx.x] = tl;
}

// ---- launch helpers ---------------------------------------------------------------------------

int blocks_for(int64_t work, int64_t per_block, int64_t cap) {
  const int64_t want = (work + per_block - 1) / per_block;
  return static_cast<int>(want < cap ? want : cap);
}

template <class T>
cudaError_t cross_entropy(const T* logits, const int32_t* labels, int64_t n, int64_t c,
                          int64_t ignore, double grad_scale, T* dlogits, float* row_loss,
                          float* stats, CeDeviceResult* partials, CeDeviceResult* result,
                          int32_t* bad, cudaStream_t stream) {
  if (n <= 0) {
    cudaError_t e = cudaMemsetAsync(result, 0, sizeof(CeDeviceResult), stream);
    return e != cudaSuccess ? e : cudaGetLastError();
  }
  if (c > kMaxWarpRow) {
    const int b1 = blocks_for(n, 1, kLossMaxPartials);
    ce_pass1<T, true>
        <<<b1, kThreads, 0, stream>>>(logits, labels, n, c, ignore, row_loss, stats, partials, bad);
    ce_final<<<1, kThreads, 0, stream>>>(partials, b1, result);
    ce_pass2<T, true><<<blocks_for(n, 1, kMaxBlocks), kThreads, 0, stream>>>(
        logits, labels, n, c, ignore, grad_scale, stats, result, dlogits);
  } else {
    const int b1 = blocks_for(n, kWarps, kLossMaxPartials);
    ce_pass1<T, false>
        <<<b1, kThreads, 0, stream>>>(logits, labels, n, c, ignore, row_loss, stats, partials, bad);
    ce_final<<<1, kThreads, 0, stream>>>(partials, b1, result);
    ce_pass2<T, false><<<blocks_for(n, kWarps, kMaxBlocks), kThreads, 0, stream>>>(
        logits, labels, n, c, ignore, grad_scale, stats, result, dlogits);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_cross_entropy_f32(const float* logits, const int32_t* labels, int64_t n,
                                     int64_t c, int64_t ignore_index, double grad_scale,
                                     float* dlogits, float* row_loss, float* row_stats,
                                     CeDeviceResult* partials, CeDeviceResult* result, int32_t* bad,
                                     cudaStream_t stream) {
  return cross_entropy(logits, labels, n, c, ignore_index, grad_scale, dlogits, row_loss, row_stats,
                       partials, result, bad, stream);
}

cudaError_t launch_cross_entropy_bf16(const __nv_bfloat16* logits, const int32_t* labels, int64_t n,
                                      int64_t c, int64_t ignore_index, double grad_scale,
                                      __nv_bfloat16* dlogits, float* row_loss, float* row_stats,
                                      CeDeviceResult* partials, CeDeviceResult* result,
                                      int32_t* bad, cudaStream_t stream) {
  return cross_entropy(logits, labels, n, c, ignore_index, grad_scale, dlogits, row_loss, row_stats,
                       partials, result, bad, stream);
}

cudaError_t launch_mse_f32(const float* x, const float* target, int64_t n, double grad_scale,
                           float* dx, double* partials, double* loss, cudaStream_t stream) {
  if (n <= 0) {
    cudaError_t e = cudaMemsetAsync(loss, 0, sizeof(double), stream);
    return e != cudaSuccess ? e : cudaGetLastError();
  }
  const float k = static_cast<float>(2.0 * grad_scale / static_cast<double>(n));
  const int b = blocks_for(n, 4 * kThreads, kLossMaxPartials);
  mse_kernel<<<b, kThreads, 0, stream>>>(x, target, n, k, dx, partials);
  sum_partials<<<1, kThreads, 0, stream>>>(partials, b, 1.0, static_cast<double>(n), loss);
  return cudaGetLastError();
}

cudaError_t launch_kl_div_f32(const float* student, const float* teacher, int64_t n, int64_t c,
                              double temperature, double grad_scale, float* dstudent,
                              double* partials, double* loss, cudaStream_t stream) {
  if (n <= 0 || c <= 0 || !(temperature > 0)) {
    if (!(temperature > 0)) return cudaErrorInvalidValue;
    cudaError_t e = cudaMemsetAsync(loss, 0, sizeof(double), stream);
    return e != cudaSuccess ? e : cudaGetLastError();
  }
  const double coef = grad_scale * temperature / static_cast<double>(n);
  const float inv_t = static_cast<float>(1.0 / temperature);
  const double mul = temperature * temperature, div = static_cast<double>(n);
  if (c > kMaxWarpRow) {
    const int b = blocks_for(n, 1, kLossMaxPartials);
    kl_kernel<true><<<b, kThreads, 0, stream>>>(student, teacher, n, c, inv_t, temperature, coef,
                                                dstudent, partials);
    sum_partials<<<1, kThreads, 0, stream>>>(partials, b, mul, div, loss);
  } else {
    const int b = blocks_for(n, kWarps, kLossMaxPartials);
    kl_kernel<false><<<b, kThreads, 0, stream>>>(student, teacher, n, c, inv_t, temperature, coef,
                                                 dstudent, partials);
    sum_partials<<<1, kThreads, 0, stream>>>(partials, b, mul, div, loss);
  }
  return cudaGetLastError();
}

}  // namespace win::kernels
