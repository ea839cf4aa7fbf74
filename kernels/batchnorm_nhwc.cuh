// Batch normalisation of channels-last fp32 or bf16 activations: x viewed as a (rows, C) matrix
// with C contiguous (rows = N H W), so the per-channel statistics are column sums. cuDNN's
// batch-norm API (backend/cuda/cudnn_batchnorm.cpp) is tuned for NCHW and slow on NHWC, which is
// what win's convolutions produce. Column sums are deterministic: chunks of rows (their length
// fixed by the shape) summed in double in a fixed order, then the chunks in order. Semantics are
// the op table's (backend/ops.hpp, BatchNormOp): biased batch variance out, running statistics
// moved with the unbiased one, optional fused ReLU. Only the host launchers are visible. Shapes: x,
// y, dy, dx (rows, C); gamma, beta, mean, var, running stats, dgamma, dbeta (C). The bf16 variants
// (bf16 activations, precision.hpp) read and write x, y, dy, dx in bf16; everything per channel
// stays fp32 and the arithmetic is the fp32 variants' (sums in double).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstddef>
#include <cstdint>

namespace win::kernels {

// Whether these kernels take the shape; otherwise the caller uses cuDNN.
bool bn_nhwc_supported(int64_t rows, int64_t channels);
// Device scratch the training forward and the backward need for these sizes, and the eval
// forward.
size_t bn_nhwc_scratch_bytes(int64_t rows, int64_t channels);
size_t bn_nhwc_eval_scratch_bytes(int64_t channels);

// y = (x - mean) / sqrt(var + eps) * gamma + beta (then max(., 0) when relu), with the batch
// mean and biased variance written to mean and var; running = (1 - momentum) running +
// momentum batch (unbiased variance for running_var). rows >= 2. With residual (like x, or
// nullptr): y = max(bn(x) + residual, 0), a residual block's last batch norm, shortcut sum and
// ReLU in one pass (relu must then be true).
[[nodiscard]] cudaError_t launch_bn_nhwc_forward_train_f32(
    const float* x, const float* residual, int64_t rows, int64_t channels, const float* gamma,
    const float* beta, double eps, double momentum, float* running_mean, float* running_var,
    float* mean, float* var, float* y, bool relu, void* scratch, cudaStream_t stream);

// y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta (then ReLU when relu).
[[nodiscard]] cudaError_t launch_bn_nhwc_forward_eval_f32(
    const float* x, int64_t rows, int64_t channels, const float* gamma, const float* beta,
    double eps, const float* running_mean, const float* running_var, float* y, bool relu,
    void* scratch, cudaStream_t stream);

// The training backward with the given mean and (biased) var: g = dy, zero where the fused ReLU
// cut the forward (y <= 0) when one of y and beta is given: with beta (the forward's, gamma and
// var the same), the mask is recomputed from x and y is not read (one pass less); else from y
// (which a forward with a residual requires). dbeta += sum g; dgamma += sum g xhat;
// dx = gamma / sqrt(var + eps) (g - mean(g) - xhat mean(g xhat)),
// xhat = (x - mean) / sqrt(var + eps). dx overwritten; so is dresidual (or nullptr) with g, the
// gradient of a fused residual sum's shortcut.
[[nodiscard]] cudaError_t launch_bn_nhwc_backward_f32(
    const float* x, const float* y, const float* beta, const float* dy, int64_t rows,
    int64_t channels, const float* gamma, const float* mean, const float* var, double eps,
    float* dx, float* dresidual, float* dgamma, float* dbeta, void* scratch, cudaStream_t stream);

[[nodiscard]] cudaError_t launch_bn_nhwc_forward_train_bf16(
    const __nv_bfloat16* x, const __nv_bfloat16* residual, int64_t rows, int64_t channels,
    const float* gamma, const float* beta, double eps, double momentum, float* running_mean,
    float* running_var, float* mean, float* var, __nv_bfloat16* y, bool relu, void* scratch,
    cudaStream_t stream);
[[nodiscard]] cudaError_t launch_bn_nhwc_forward_eval_bf16(
    const __nv_bfloat16* x, int64_t rows, int64_t channels, const float* gamma, const float* beta,
    double eps, const float* running_mean, const float* running_var, __nv_bfloat16* y, bool relu,
    void* scratch, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_bn_nhwc_backward_bf16(
    const __nv_bfloat16* x, const __nv_bfloat16* y, const float* beta, const __nv_bfloat16* dy,
    int64_t rows, int64_t channels, const float* gamma, const float* mean, const float* var,
    double eps, __nv_bfloat16* dx, __nv_bfloat16* dresidual, float* dgamma, float* dbeta,
    void* scratch, cudaStream_t stream);

}  // namespace win::kernels
