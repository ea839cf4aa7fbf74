// Helpers the kernels share: fp32 <-> storage conversions (f32, bf16), warp-wide reductions,
// and the chunking of deterministic column sums. Header-only; included by .cu files, never by
// host code.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace win::kernels::device {

__device__ __forceinline__ float to_f(float v) {
  return v;
}
__device__ __forceinline__ float to_f(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <class T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// Sum (float or double) / max over the 32 lanes of a warp; every lane gets the result.
template <class V>
__device__ __forceinline__ V warp_sum(V v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Deterministic column sums over a (rows, cols) matrix go in two levels: each chunk of rows gives
// one partial per column, then the chunks are added in order. Rows per chunk: min_rows, or more
// when that would make over max_chunks chunks, so the order depends on the row count only.
__host__ __device__ constexpr int64_t column_chunk_rows(int64_t rows, int64_t min_rows,
                                                        int64_t max_chunks) {
  const int64_t spread = (rows + max_chunks - 1) / max_chunks;
  return spread > min_rows ? spread : min_rows;
}
__host__ __device__ constexpr int64_t column_chunks(int64_t rows, int64_t min_rows,
                                                    int64_t max_chunks) {
  const int64_t len = column_chunk_rows(rows, min_rows, max_chunks);
  return (rows + len - 1) / len;
}

}  // namespace win::kernels::device
