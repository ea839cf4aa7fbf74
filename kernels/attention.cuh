// Fused scaled-dot-product attention on the GPU (FlashAttention-2 style): the scores, the softmax
// and the product with V happen tile by tile in shared memory, so the (B, H, T, T) probability
// tensor is never written, and backward recomputes it from the saved row logsumexp. It computes
// what nn::SelfAttention (src/nn/attention.cpp) does:
//   S = scale * Q K^T + mask_bias[b, key]   (scale = 1/sqrt(dh) there; mask 0 or -10000 there)
//   P = softmax_rows(S),   O = (P * keep / (1 - p)) V,   lse = logsumexp_rows(S)
// with attention dropout given as its mask: keep (B, H, T, T) u8, 1 = kept, drawn beforehand
// (launch_dropout_mask, the same draws as Ops::dropout of the probabilities), or nullptr for no
// dropout (p is then ignored). The mask is read, never written, so forward and backward see the
// same one, and it costs one byte per probability instead of the probabilities' four.
// A mask of -inf is accepted too: a row whose keys are all -inf gets O = 0 and lse = -inf, and no
// gradient (with -10000, as BERT uses, the constant drops out of such a row's softmax, which is
// softmax(scale * q K^T) as on the CPU; its lse is then about -1e4, which fp32 holds to ~1e-3, so
// that row's recomputed P and its gradients are good to ~3e-4 relative instead of ~1e-6; rows with
// at least one unmasked key are unaffected).
//
// Layout: q, k, v, o, dout, dq, dk, dv are (B, H, T, dh) views with unit stride along dh and the
// element strides of AttentionStrides (the same for all of them in one call), so both dense
// (B, H, T, dh) buffers and the heads of a (B, T, H * dh) projection output work without a copy.
// mask_bias (B, T) fp32 dense, or nullptr for none; lse and delta (B, H, T) fp32 dense.
// Sizes: dh in [1, 128] (tiles padded to 32, 64 or 128), any T >= 1 (built for T <= 512; the cost
// is O(T^2 dh) and memory O(T)). Math in fp32; the bf16 variants read q, k, v, o, dout and write
// o, dq, dk, dv in bf16 (mask, lse, delta stay fp32).
//
// Backward is deterministic and uses no atomics: one kernel owns a tile of keys and accumulates
// its dK and dV over all queries, another owns a tile of queries and accumulates dQ over all
// keys (S and P are recomputed in both). dq, dk, dv are overwritten.
//
// Every launcher is asynchronous on `stream` and returns cudaGetLastError() after its launches
// (cudaErrorInvalidValue, launching nothing, for dh outside [1, 128] or p outside [0, 1)).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace win::kernels {

// Element strides of a (B, H, T, dh) view; the dh dimension has unit stride.
struct AttentionStrides {
  int64_t batch, head, row;
};
// Dense (B, H, T, dh).
inline AttentionStrides attention_strides_bhtd(int64_t heads, int64_t t, int64_t dh) {
  return {heads * t * dh, t * dh, dh};
}
// The heads of a dense (B, T, H * dh) buffer (a Linear's output), viewed as (B, H, T, dh).
inline AttentionStrides attention_strides_bthd(int64_t heads, int64_t t, int64_t dh) {
  return {t * heads * dh, dh, heads * dh};
}

// o = (softmax(scale * q k^T + mask) * keep / (1 - p)) v and lse (natural log) per query row.
// q, k, v, o (B, H, T, dh) strided; mask_bias (B, T) or nullptr; keep (B, H, T, T) or nullptr;
// lse (B, H, T)
[[nodiscard]] cudaError_t launch_attention_forward_f32(const float* q, const float* k,
                                                       const float* v, const float* mask_bias,
                                                       const uint8_t* keep, double p, int64_t batch,
                                                       int64_t heads, int64_t t, int64_t dh,
                                                       float scale, AttentionStrides strides,
                                                       float* o, float* lse, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_attention_forward_bf16(
    const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, const float* mask_bias,
    const uint8_t* keep, double p, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
    AttentionStrides strides, __nv_bfloat16* o, float* lse, cudaStream_t stream);

// dq, dk, dv (overwritten) from dout, given the forward's inputs (the same keep and p), o and lse.
// delta: (B, H, T) fp32 scratch (rowwise dout . o).
// q, k, v, o, dout, dq, dk, dv (B, H, T, dh) strided; mask_bias (B, T) or nullptr;
// keep (B, H, T, T) or nullptr; lse, delta (B, H, T)
[[nodiscard]] cudaError_t launch_attention_backward_f32(
    const float* q, const float* k, const float* v, const float* mask_bias, const uint8_t* keep,
    double p, const float* o, const float* dout, const float* lse, int64_t batch, int64_t heads,
    int64_t t, int64_t dh, float scale, AttentionStrides strides, float* delta, float* dq,
    float* dk, float* dv, cudaStream_t stream);
[[nodiscard]] cudaError_t launch_attention_backward_bf16(
    const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v, const float* mask_bias,
    const uint8_t* keep, double p, const __nv_bfloat16* o, const __nv_bfloat16* dout,
    const float* lse, int64_t batch, int64_t heads, int64_t t, int64_t dh, float scale,
    AttentionStrides strides, float* delta, __nv_bfloat16* dq, __nv_bfloat16* dk, __nv_bfloat16* dv,
    cudaStream_t stream);

}  // namespace win::kernels
