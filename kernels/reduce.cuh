// Reductions of the CUDA backend: the sum of squares behind gradient norms (Ops::sum_squares) and
// global average pooling with its backward (Ops::global_avg_pool*). All are deterministic: every
// sum is taken in double over a fixed partition of the input that depends only on the sizes
// (never on the device, timing or atomics), so a result is reproducible bit for bit.
// Every launcher enqueues on `stream` and returns cudaGetLastError() (launch errors; execution
// errors surface at the next synchronisation): host code writes WIN_CUDA_CHECK(launch_...(...)).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// Doubles of device scratch launch_sum_squares_f32 needs for n elements: one partial sum per block
// of its first pass, min(1024, max(1, ceil(n / 4096))). A pure function of n.
int64_t sum_squares_scratch_doubles(int64_t n);

// *out = sum of x[i]^2 over [0, n), in double, by two passes: per-block partials (each block a
// fixed strided subset, summed as a fixed tree) into scratch, then one block sums the partials.
// out is a device pointer (copy it back after the stream synchronises); n == 0 writes 0.
// x (n), scratch (sum_squares_scratch_doubles(n)), out (1)
[[nodiscard]] cudaError_t launch_sum_squares_f32(const float* x, int64_t n, double* scratch,
                                                 double* out, cudaStream_t stream);

// y (N, C) = mean of x (N, C, H, W) over H and W, summed in double, then rounded to float.
// Strides in elements, any layout (NCHW, channels-last, views). Overwrites y.
// x (shape = N,C,H,W; x_strides), y (N, C; y_strides)
[[nodiscard]] cudaError_t launch_global_avg_pool_f32(const float* x, const int64_t shape[4],
                                                     const int64_t x_strides[4], float* y,
                                                     const int64_t y_strides[2],
                                                     cudaStream_t stream);

// dx (N, C, H, W) = dy (N, C) / (H * W) broadcast over H and W (computed in double, rounded once).
// Overwrites dx; written in dx's memory order.
// dy (N, C; dy_strides), dx (shape = N,C,H,W; dx_strides)
[[nodiscard]] cudaError_t launch_global_avg_pool_backward_f32(const float* dy,
                                                              const int64_t dy_strides[2],
                                                              float* dx, const int64_t shape[4],
                                                              const int64_t dx_strides[4],
                                                              cudaStream_t stream);

// The same with bf16 activations (bf16 activations, precision.hpp): x bf16, y fp32; dy fp32, dx
// bf16 (the double result rounded to float, then to bf16).
[[nodiscard]] cudaError_t launch_global_avg_pool_bf16(const __nv_bfloat16* x,
                                                      const int64_t shape[4],
                                                      const int64_t x_strides[4], float* y,
                                                      const int64_t y_strides[2],
                                                      cudaStream_t stream);
[[nodiscard]] cudaError_t launch_global_avg_pool_backward_bf16(
    const float* dy, const int64_t dy_strides[2], __nv_bfloat16* dx, const int64_t shape[4],
    const int64_t dx_strides[4], cudaStream_t stream);

}  // namespace win::kernels
