// CudaOps' fused attention for inference (see Ops::fused_attention_inference): the forward of
// kernels/attention.cu, which never writes the (B, H, T, T) probabilities. Taken when the views
// fit the kernel (f32, one set of strides, unit stride along dh, dh <= 128, a dense (B, 1, T)
// mask); otherwise the caller composes gemm and softmax as in training.
#include "attention.cuh"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "backend/cuda/op_timer.hpp"

namespace win::backend {

namespace {

bool fits(const Tensor& t, const Tensor& like) {
  return t.defined() && t.device() == Device::CUDA && t.dtype() == DType::F32 && t.dim() == 4 &&
         t.shape() == like.shape() && t.strides() == like.strides() && t.stride(3) == 1;
}

}  // namespace

bool CudaOps::fused_attention_inference(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& mask_bias, double scale, Tensor& o) {
  if (!fits(q, q) || !fits(k, q) || !fits(v, q) || !fits(o, q)) return false;
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), dh = q.size(3);
  if (b == 0 || h == 0 || t == 0 || dh < 1 || dh > 128) return false;
  if (mask_bias.defined() &&
      (mask_bias.device() != Device::CUDA || mask_bias.dtype() != DType::F32 ||
       mask_bias.shape() != Dims{b, 1, t} || !mask_bias.is_contiguous()))
    return false;
  WIN_CUDA_TIMED("attention.inference");
  CudaContext& ctx = cuda_context();
  // The row logsumexp the kernel also writes (what a backward would need): scratch here.
  auto* lse = static_cast<float*>(ctx.workspace(static_cast<size_t>(b * h * t) * sizeof(float)));
  const kernels::AttentionStrides st{q.stride(0), q.stride(1), q.stride(2)};
  WIN_CUDA_CHECK(kernels::launch_attention_forward_f32(
      static_cast<const float*>(q.raw()), static_cast<const float*>(k.raw()),
      static_cast<const float*>(v.raw()),
      mask_bias.defined() ? static_cast<const float*>(mask_bias.raw()) : nullptr, b, h, t, dh,
      static_cast<float>(scale), st, static_cast<float*>(o.raw()), lse, ctx.stream()));
  return true;
}

}  // namespace win::backend
