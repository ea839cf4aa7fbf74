// Fused attention on bf16 tensor cores, for run.precision = "bf16": what attention.cuh computes
// (the same arguments, layouts, masks, dropout, -inf rules and refusals), with the products on
// wmma 16 x 16 x 16 bf16 tiles and fp32 accumulation instead of fp32 CUDA cores. Under bf16 every
// product on the GPU rounds its operands to bf16 (precision.hpp); these kernels do the same, and
// only that: Q, K, V and dO are rounded as they are loaded, the probabilities P (after dropout)
// before P V and P^T dO, and dS before dS K and dS^T Q. Scores, softmax, lse, delta and every
// accumulation stay fp32, so the results sit within bf16 rounding of the fp32 kernels'.
//
// The reason for a second set: the fp32 kernels compute the products on CUDA cores, whose fp32
// peak is about 1/15 of the bf16 tensor cores' on an H100/H200, which PyTorch's fused attention
// (SDPA) uses.
//
// Backward: the dQ kernel runs first and also writes delta (rowwise dO . O, from the unrounded
// values) into the scratch for the dK/dV kernel; no atomics, deterministic. Needs sm_80 or later
// (wmma bf16); CMake builds sm_80 and sm_90.
#pragma once

#include "attention.cuh"

namespace win::kernels {

[[nodiscard]] cudaError_t launch_attention_tc_forward_f32(
    const float* q, const float* k, const float* v, const float* mask_bias, const uint8_t* keep,
    double p, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
    AttentionStrides strides, float* o, float* lse, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_attention_tc_forward_bf16(
    const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, const float* mask_bias,
    const uint8_t* keep, double p, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
    AttentionStrides strides, __nv_bfloat16* o, float* lse, cudaStream_t stream);

[[nodiscard]] cudaError_t launch_attention_tc_backward_f32(
    const float* q, const float* k, const float* v, const float* mask_bias, const uint8_t* keep,
    double p, const float* o, const float* dout, const float* lse, int64_t batch, int64_t heads,
    int64_t t, int64_t dh, float scale, AttentionStrides strides, float* delta, float* dq,
    float* dk, float* dv, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_attention_tc_backward_bf16(
    const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, const float* mask_bias,
    const uint8_t* keep, double p, const __nv_bfloat16* o, const __nv_bfloat16* dout,
    const float* lse, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
    AttentionStrides strides, float* delta, __nv_bfloat16* dq, __nv_bfloat16* dk, __nv_bfloat16* dv,
    cudaStream_t stream);

}  // namespace win::kernels
