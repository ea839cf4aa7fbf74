// What the two fused attention kernel sets share (attention.cu on CUDA cores, attention_tc.cu on
// tensor cores; both implement attention.cuh's contract): the kernels' argument block, the
// launchers' size checks and dispatch on the head-dim tile, a block's (b, h, row tile), and the
// dropout factor. Internal to those two files.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "attention.cuh"

namespace win::kernels::attention_detail {

// Both sets tile T by 64 rows; a block owns one (b, h, 64-row tile).
constexpr int kRowTile = 64;

template <class T>
struct Args {
  const T* q;
  const T* k;
  const T* v;
  const T* o;     // backward
  const T* dout;  // backward
  const float* mask;
  const float* lse;     // backward
  const uint8_t* keep;  // (B, H, T, T) dropout mask of the probabilities, or nullptr for none
  float inv_keep;       // 1 / (1 - p) with the mask
  float* lse_out;       // forward
  float* delta;         // backward: rowwise dO . O
  T* o_out;             // forward
  T* dq;
  T* dk;
  T* dv;
  int64_t sb, sh, sr;  // element strides of batch, head, row
  int64_t batch;
  int heads, t, dh;
  float scale;
};

// The launchers' refusals (attention.cuh): dh within the tiles, p in [0, 1), and a grid of one
// block per (b, h, row tile) within int. *blocks: that grid's size (0: nothing to do).
inline bool valid_call(int64_t batch, int64_t heads, int64_t t, int64_t dh, double p,
                       int64_t* blocks) {
  const int64_t tiles = (t + kRowTile - 1) / kRowTile;
  *blocks = batch * heads * tiles;
  return dh >= 1 && dh <= 128 && t <= INT32_MAX && heads <= INT32_MAX && *blocks <= INT32_MAX &&
         p >= 0.0 && p < 1.0;
}

template <class T>
Args<T> make_args(const T* q, const T* k, const T* v, const float* mask, const uint8_t* keep,
                  double p, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
                  AttentionStrides s) {
  Args<T> a{};
  a.batch = batch;
  a.q = q;
  a.k = k;
  a.v = v;
  a.mask = mask;
  a.keep = keep;
  // Rounded to float once, as the composed path's dropout rounds x / (1 - p) from double: the
  // fused product differs from it by float rounding only.
  a.inv_keep = static_cast<float>(1.0 / (1.0 - p));
  a.sb = s.batch;
  a.sh = s.head;
  a.sr = s.row;
  a.heads = static_cast<int>(heads);
  a.t = static_cast<int>(t);
  a.dh = static_cast<int>(dh);
  a.scale = scale;
  return a;
}

// f(std::integral_constant<int, kD>{}) for the head-dim tile kD (32, 64 or 128) that dh pads to.
template <class F>
cudaError_t with_head_dim_tile(int64_t dh, F&& f) {
  if (dh <= 32) return f(std::integral_constant<int, 32>{});
  if (dh <= 64) return f(std::integral_constant<int, 64>{});
  return f(std::integral_constant<int, 128>{});
}

// The launchers' shared steps for a kernel set: the refusals, nothing to do for empty sizes, the
// set's device check (Set::ready()), the argument block, and the kernels of the head-dim tile dh
// pads to (Set::forward<T, kD> / Set::backward<T, kD>(args, blocks, stream)).
// The refusals, the empty case (cudaSuccess with *blocks = 0: nothing to launch) and the set's
// device check.
template <class Set>
cudaError_t ready_to_launch(int64_t batch, int64_t heads, int64_t t, int64_t dh, double p,
                            int64_t* blocks) {
  if (!valid_call(batch, heads, t, dh, p, blocks)) return cudaErrorInvalidValue;
  if (*blocks <= 0) {
    *blocks = 0;
    return cudaGetLastError();
  }
  return Set::ready();
}

template <class Set, class T>
cudaError_t launch_forward(const T* q, const T* k, const T* v, const float* mask,
                           const uint8_t* keep, double p, int64_t batch, int64_t heads, int64_t t,
                           int64_t dh, float scale, AttentionStrides s, T* o, float* lse,
                           cudaStream_t stream) {
  int64_t blocks = 0;
  if (const cudaError_t e = ready_to_launch<Set>(batch, heads, t, dh, p, &blocks);
      e != cudaSuccess || blocks == 0)
    return e;
  Args<T> a = make_args(q, k, v, mask, keep, p, batch, heads, t, dh, scale, s);
  a.o_out = o;
  a.lse_out = lse;
  return with_head_dim_tile(dh, [&](auto kd) {
    return Set::template forward<T, decltype(kd)::value>(a, blocks, stream);
  });
}

template <class Set, class T>
cudaError_t launch_backward(const T* q, const T* k, const T* v, const float* mask,
                            const uint8_t* keep, double p, const T* o, const T* dout,
                            const float* lse, int64_t batch, int64_t heads, int64_t t, int64_t dh,
                            float scale, AttentionStrides s, float* delta, T* dq, T* dk, T* dv,
                            cudaStream_t stream) {
  int64_t blocks = 0;
  if (const cudaError_t e = ready_to_launch<Set>(batch, heads, t, dh, p, &blocks);
      e != cudaSuccess || blocks == 0)
    return e;
  Args<T> a = make_args(q, k, v, mask, keep, p, batch, heads, t, dh, scale, s);
  a.o = o;
  a.dout = dout;
  a.lse = lse;
  a.delta = delta;
  a.dq = dq;
  a.dk = dk;
  a.dv = dv;
  return with_head_dim_tile(dh, [&](auto kd) {
    return Set::template backward<T, decltype(kd)::value>(a, blocks, stream);
  });
}

// The (b, h) and first row of the row tile that this block owns.
struct BlockTile {
  int64_t bh, b, base;  // base: element offset of (b, h) in the views
  int row0;
};
template <class T>
__device__ __forceinline__ BlockTile block_tile(const Args<T>& a) {
  const int tiles = (a.t + kRowTile - 1) / kRowTile;
  BlockTile bt;
  bt.bh = blockIdx.x / tiles;
  bt.row0 = static_cast<int>(blockIdx.x % tiles) * kRowTile;
  bt.b = bt.bh / a.heads;
  bt.base = bt.b * a.sb + (bt.bh % a.heads) * a.sh;
  return bt;
}

// The dropout factor of probability (query i, key j) of head bh: keep[bh, i, j] / (1 - p), 0
// outside the T x T matrix (padded tile rows and columns), and 1 without dropout.
template <class T>
__device__ __forceinline__ float keep_factor(const Args<T>& a, int64_t bh, int i, int j) {
  if (!a.keep) return 1.0f;
  if (i >= a.t || j >= a.t) return 0.0f;
  return a.keep[(bh * a.t + i) * a.t + j] ? a.inv_keep : 0.0f;
}

}  // namespace win::kernels::attention_detail
