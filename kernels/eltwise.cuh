// Element-wise kernels of the CUDA backend: the Ops table's add, add_relu, relu_backward, axpy,
// scale and activations (f32 and bf16 storage, f32 math), and the bias ops of Linear layers
// (add_bias, bias_grad, relu_bias_backward; f32). Semantics follow backend/ref/elementwise.cpp and
// backend/ref/eltwise_softmax.cpp. Element-wise launchers take dense buffers of n elements in the
// same order (the caller makes strided operands dense first); outputs may alias inputs. Bias
// launchers take row-major (rows, cols) matrices.
//
// Every launcher enqueues its kernels on `stream` and returns cudaGetLastError() (launch errors
// only; execution errors surface at the next synchronisation), so host code writes
// WIN_CUDA_CHECK(kernels::launch_add_f32(...)). n == 0 (or rows == 0) launches nothing.
//
// Column sums (bias_grad, relu_bias_backward) are deterministic: rows are cut into fixed chunks
// whose partial sums (double) are added in chunk order, with no atomics, and the cut depends only
// on the shape, so results are reproducible run to run and device to device.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// The activations of backend::Eltwise (same order): ReLU, GELU in its exact erf form
// x * Phi(x) (as the CPU backend: oneDNN eltwise_gelu_erf), tanh.
enum class Activation { Relu, Gelu, Tanh };

// ---- f32 ----------------------------------------------------------------------------------------

// y = a + b.  // a, b, y (n)
[[nodiscard]] cudaError_t launch_add_f32(const float* a, const float* b, float* y, int64_t n,
                                         cudaStream_t stream);
// y = max(a + b, 0).  // a, b, y (n)
[[nodiscard]] cudaError_t launch_add_relu_f32(const float* a, const float* b, float* y, int64_t n,
                                              cudaStream_t stream);
// dx = dy where y > 0, else 0 (ReLU's backward from its output).  // y, dy, dx (n)
[[nodiscard]] cudaError_t launch_relu_backward_f32(const float* y, const float* dy, float* dx,
                                                   int64_t n, cudaStream_t stream);
// y += alpha * x.  // x, y (n)
[[nodiscard]] cudaError_t launch_axpy_f32(float alpha, const float* x, float* y, int64_t n,
                                          cudaStream_t stream);
// x *= alpha.  // x (n)
[[nodiscard]] cudaError_t launch_scale_f32(float alpha, float* x, int64_t n, cudaStream_t stream);
// y = f(x).  // x, y (n)
[[nodiscard]] cudaError_t launch_activation_forward_f32(Activation kind, const float* x, float* y,
                                                        int64_t n, cudaStream_t stream);
// dx = f'(x) * dy, from the activation's input x.  // x, dy, dx (n)
[[nodiscard]] cudaError_t launch_activation_backward_f32(Activation kind, const float* x,
                                                         const float* dy, float* dx, int64_t n,
                                                         cudaStream_t stream);

// ---- bf16 storage, f32 math (each result rounded once to bf16, nearest-even) --------------------

// y = a + b.  // a, b, y (n)
[[nodiscard]] cudaError_t launch_add_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b,
                                          __nv_bfloat16* y, int64_t n, cudaStream_t stream);
// y = max(a + b, 0).  // a, b, y (n)
[[nodiscard]] cudaError_t launch_add_relu_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b,
                                               __nv_bfloat16* y, int64_t n, cudaStream_t stream);
// dx = dy where y > 0, else 0.  // y, dy, dx (n)
[[nodiscard]] cudaError_t launch_relu_backward_bf16(const __nv_bfloat16* y, const __nv_bfloat16* dy,
                                                    __nv_bfloat16* dx, int64_t n,
                                                    cudaStream_t stream);
// y += alpha * x.  // x, y (n)
[[nodiscard]] cudaError_t launch_axpy_bf16(float alpha, const __nv_bfloat16* x, __nv_bfloat16* y,
                                           int64_t n, cudaStream_t stream);
// x *= alpha.  // x (n)
[[nodiscard]] cudaError_t launch_scale_bf16(float alpha, __nv_bfloat16* x, int64_t n,
                                            cudaStream_t stream);
// y = f(x).  // x, y (n)
[[nodiscard]] cudaError_t launch_activation_forward_bf16(Activation kind, const __nv_bfloat16* x,
                                                         __nv_bfloat16* y, int64_t n,
                                                         cudaStream_t stream);
// dx = f'(x) * dy.  // x, dy, dx (n)
[[nodiscard]] cudaError_t launch_activation_backward_bf16(Activation kind, const __nv_bfloat16* x,
                                                          const __nv_bfloat16* dy,
                                                          __nv_bfloat16* dx, int64_t n,
                                                          cudaStream_t stream);

// ---- bias ops (f32, row-major dense matrices) ---------------------------------------------------

// y += bias broadcast over rows.  // bias (cols), y (rows, cols)
[[nodiscard]] cudaError_t launch_add_bias_f32(const float* bias, float* y, int64_t rows,
                                              int64_t cols, cudaStream_t stream);

// Doubles of device scratch that launch_bias_grad_f32 and launch_relu_bias_backward_f32 need for
// this shape: chunks * cols when rows > 256, else 0 (scratch may then be nullptr), where rows are
// cut into chunks of max(256, ceil(rows / 128)) rows (so chunks <= 128), one partial row of column
// sums per chunk. A pure function of the shape.
int64_t bias_grad_scratch_doubles(int64_t rows, int64_t cols);

// db += sum over rows of dy (accumulates; deterministic, no atomics). scratch holds
// bias_grad_scratch_doubles(rows, cols) doubles and must not be used concurrently by other work.
// cols <= 65535 * 32.  // dy (rows, cols), db (cols), scratch (bias_grad_scratch_doubles)
[[nodiscard]] cudaError_t launch_bias_grad_f32(const float* dy, float* db, int64_t rows,
                                               int64_t cols, double* scratch, cudaStream_t stream);

// Backward of a fused Linear + ReLU epilogue: dz = dy where y > 0 else 0 (overwrites dz, which may
// alias dy), and db += column sums of dz when db != nullptr (deterministic, as bias_grad; scratch
// as there, unused when db == nullptr).
// y, dy, dz (rows, cols), db (cols) or nullptr, scratch (bias_grad_scratch_doubles)
[[nodiscard]] cudaError_t launch_relu_bias_backward_f32(const float* y, const float* dy, float* dz,
                                                        float* db, int64_t rows, int64_t cols,
                                                        double* scratch, cudaStream_t stream);

}  // namespace win::kernels
