// Row softmax over the last dimension on the GPU: the CUDA backend's SoftmaxOp (backend/ops.hpp),
// attention's probabilities when the unfused path runs. Forward y = softmax(x) with the row
// maximum subtracted first; backward dx = y * (dy - sum(dy * y)). Both overwrite their output
// and read contiguous (rows, D) buffers. Rows of D <= 1024 go one warp per row with the row held
// in registers (one read, one write); wider rows go one block per row. Math is fp32; the bf16
// variants read and write bf16 and accumulate in fp32.
//
// Every launcher is asynchronous on `stream` and returns cudaGetLastError() after its launches
// (cudaSuccess when there was nothing to do), for the caller to check (WIN_CUDA_CHECK).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace win::kernels {

// y = softmax(x) per row.  // x, y (rows, d); y may alias x
[[nodiscard]] cudaError_t launch_softmax_forward_f32(const float* x, float* y, int64_t rows,
                                                     int64_t d, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_softmax_forward_bf16(const __nv_bfloat16* x, __nv_bfloat16* y,
                                                      int64_t rows, int64_t d, cudaStream_t stream);

// dx = y * (dy - sum_j(dy * y)) per row.  // y, dy, dx (rows, d); dx may alias dy
[[nodiscard]] cudaError_t launch_softmax_backward_f32(const float* y, const float* dy, float* dx,
                                                      int64_t rows, int64_t d, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_softmax_backward_bf16(const __nv_bfloat16* y,
                                                       const __nv_bfloat16* dy, __nv_bfloat16* dx,
                                                       int64_t rows, int64_t d,
                                                       cudaStream_t stream);

}  // namespace win::kernels
