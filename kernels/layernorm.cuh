// Layer normalisation over the last dimension on the GPU: the CUDA backend's LayerNormOp
// (backend/ops.hpp, semantics of backend/ref/layernorm.cpp). Forward overwrites y, mean and the
// biased variance; rstd = 1 / sqrt(var + eps). Backward overwrites dx and ACCUMULATES (+=) dgamma
// and dbeta. x, y, dy, dx are contiguous (rows, d); gamma, beta, dgamma, dbeta (d) and mean, var
// (rows) are contiguous fp32 in every variant (fp32 master parameters and statistics); the bf16
// variants read x/dy and write y/dx in bf16 and compute in fp32. y may alias x and dx may alias dy.
//
// dgamma and dbeta are column sums over rows, made deterministic without atomics: rows are cut
// into layernorm_backward_chunks(rows) fixed chunks (a function of rows only, never of the
// device), each chunk's column sums go to the caller's scratch (double), and a second kernel adds
// the chunks in one fixed order. Same inputs, same bits, on any GPU.
//
// Every launcher is asynchronous on `stream` and returns cudaGetLastError() after its launches
// (cudaSuccess when rows == 0 or d == 0 and nothing was launched).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace win::kernels {

// Number of row chunks the backward cuts rows into (>= 1 for rows >= 1, at most 128).
int64_t layernorm_backward_chunks(int64_t rows);
// Size in doubles of the backward's scratch: 2 * layernorm_backward_chunks(rows) * d.
int64_t layernorm_backward_scratch_doubles(int64_t rows, int64_t d);

// y = (x - mean) * rstd * gamma + beta; writes mean and var (biased) per row.
// x, y (rows, d); gamma, beta (d); mean, var (rows)
[[nodiscard]] cudaError_t launch_layernorm_forward_f32(const float* x, const float* gamma,
                                                       const float* beta, float eps, int64_t rows,
                                                       int64_t d, float* mean, float* var, float* y,
                                                       cudaStream_t stream);
[[nodiscard]] cudaError_t launch_layernorm_forward_bf16(const __nv_bfloat16* x, const float* gamma,
                                                        const float* beta, float eps, int64_t rows,
                                                        int64_t d, float* mean, float* var,
                                                        __nv_bfloat16* y, cudaStream_t stream);

// With xhat = (x - mean) * rstd and g = dy * gamma:
//   dx = rstd * (g - mean_j(g) - xhat * mean_j(g * xhat))   (overwrites)
//   dgamma += sum_rows(dy * xhat), dbeta += sum_rows(dy)     (accumulate)
// scratch: layernorm_backward_scratch_doubles(rows, d) doubles of device memory, not aliased.
// x, dy, dx (rows, d); gamma, dgamma, dbeta (d); mean, var (rows)
[[nodiscard]] cudaError_t launch_layernorm_backward_f32(const float* x, const float* dy,
                                                        const float* gamma, const float* mean,
                                                        const float* var, float eps, int64_t rows,
                                                        int64_t d, float* dx, float* dgamma,
                                                        float* dbeta, double* scratch,
                                                        cudaStream_t stream);
[[nodiscard]] cudaError_t launch_layernorm_backward_bf16(
    const __nv_bfloat16* x, const __nv_bfloat16* dy, const float* gamma, const float* mean,
    const float* var, float eps, int64_t rows, int64_t d, __nv_bfloat16* dx, float* dgamma,
    float* dbeta, double* scratch, cudaStream_t stream);

}  // namespace win::kernels
