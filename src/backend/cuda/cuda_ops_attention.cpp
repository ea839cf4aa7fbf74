// CudaOps' fused attention (see Ops::fuses_attention, attention_forward/backward): the kernels of
// kernels/attention.cu (fp32 on CUDA cores) or, under run.precision = "bf16", of
// kernels/attention_tc.cu (bf16 tensor cores, the operands rounded as every bf16 product is),
// neither of which writes the (B, H, T, T) probabilities; attention dropout is their keep mask,
// drawn by the dropout kernel with the composed path's counters. Taken when the views fit the
// kernels (f32, one set of strides, unit stride along dh, dh <= 128, a dense (B, 1, T) mask);
// otherwise the caller composes gemm, softmax and dropout.
#include "attention.cuh"
#include "attention_tc.cuh"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "backend/cuda/op_timer.hpp"
#include "backend/precision.hpp"
#include "core/error.hpp"
#include "dropout.cuh"

namespace win::backend {

namespace {

bool fits(const Tensor& t, const Tensor& like) {
  return t.defined() && t.device() == Device::CUDA && t.dtype() == DType::F32 && t.dim() == 4 &&
         t.shape() == like.shape() && t.strides() == like.strides() && t.stride(3) == 1;
}

bool mask_fits(const Tensor& mask_bias, int64_t b, int64_t t) {
  return !mask_bias.defined() ||
         (mask_bias.device() == Device::CUDA && mask_bias.dtype() == DType::F32 &&
          mask_bias.shape() == Dims{b, 1, t} && mask_bias.is_contiguous());
}

const float* f32(const Tensor& t) {
  return t.defined() ? static_cast<const float*>(t.raw()) : nullptr;
}
float* f32_out(Tensor& t) {
  return static_cast<float*>(t.raw());
}

kernels::AttentionStrides strides_of(const Tensor& q) {
  return {q.stride(0), q.stride(1), q.stride(2)};
}

// Read in forward and in backward alike: the precision is process-wide and changes only around
// the merge (ScopedPrecision), which runs no backward. A GPU before sm_80 has no bf16 tensor
// cores (the tensor-core launchers refuse it): it keeps the fp32 kernels.
bool on_tensor_cores() {
  if (precision() != Precision::Bf16) return false;
  int major = 0;
  WIN_CUDA_CHECK(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, cuda_context().device()));
  return major >= 8;
}

// The dense (B, H, T, T) u8 mask and (B, H, T) f32 row statistics the kernels take.
void check_aux(const Tensor& t, const Dims& shape, DType dtype, const char* what) {
  WIN_CHECK(t.defined() && t.device() == Device::CUDA && t.dtype() == dtype && t.shape() == shape &&
                t.is_contiguous(),
            ErrorKind::Internal, "cuda attention: ", what, " must be a dense ", dtype_name(dtype),
            " ", shape, " on the GPU, got ", t.defined() ? t.shape() : Dims{});
}

}  // namespace

bool CudaOps::fuses_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& mask_bias) {
  if (!fused_attention() || !fits(q, q) || !fits(k, q) || !fits(v, q)) return false;
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), dh = q.size(3);
  return b > 0 && h > 0 && t > 0 && dh >= 1 && dh <= 128 && mask_fits(mask_bias, b, t);
}

void CudaOps::attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                const Tensor& mask_bias, double scale, const AttentionDropout& drop,
                                Tensor& keep, Tensor& o, Tensor& lse) {
  WIN_CHECK(fuses_attention(q, k, v, mask_bias) && fits(o, q), ErrorKind::Internal,
            "cuda attention_forward: operands q ", q.shape(), " o ", o.shape(),
            " do not fit the fused kernel");
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), dh = q.size(3);
  check_aux(lse, {b, h, t}, DType::F32, "lse");
  WIN_CHECK(drop.p >= 0.0 && drop.p < 1.0 && (drop.p == 0.0 || drop.rng), ErrorKind::Internal,
            "cuda attention_forward: dropout p = ", drop.p);
  CudaContext& ctx = cuda_context();
  const uint8_t* keep_ptr = nullptr;
  if (drop.p > 0.0) {
    WIN_CUDA_TIMED("attention.dropout_mask");
    check_aux(keep, {b, h, t, t}, DType::U8, "dropout mask");
    WIN_CUDA_CHECK(kernels::launch_dropout_mask(keep.numel(), drop.p, drop.rng->key()[0],
                                                drop.rng->key()[1], drop.hi_counter, drop.lo_offset,
                                                static_cast<uint8_t*>(keep.raw()), ctx.stream()));
    keep_ptr = static_cast<const uint8_t*>(keep.raw());
  }
  const bool tc = on_tensor_cores();
  WIN_CUDA_TIMED(tc ? "attention.forward_tc" : "attention.forward");
  WIN_CUDA_CHECK(
      (tc ? kernels::launch_attention_tc_forward_f32 : kernels::launch_attention_forward_f32)(
          f32(q), f32(k), f32(v), f32(mask_bias), keep_ptr, drop.p, b, h, t, dh,
          static_cast<float>(scale), strides_of(q), f32_out(o), f32_out(lse), ctx.stream()));
}

void CudaOps::attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask_bias, double scale, const Tensor& keep,
                                 double p, const Tensor& o, const Tensor& lse, const Tensor& dout,
                                 Tensor& dq, Tensor& dk, Tensor& dv) {
  WIN_CHECK(fuses_attention(q, k, v, mask_bias) && fits(o, q) && fits(dout, q) && fits(dq, q) &&
                fits(dk, q) && fits(dv, q),
            ErrorKind::Internal, "cuda attention_backward: operands q ", q.shape(), " dout ",
            dout.shape(), " do not fit the fused kernel");
  const int64_t b = q.size(0), h = q.size(1), t = q.size(2), dh = q.size(3);
  check_aux(lse, {b, h, t}, DType::F32, "lse");
  WIN_CHECK(p >= 0.0 && p < 1.0, ErrorKind::Internal, "cuda attention_backward: p = ", p);
  if (p > 0.0) check_aux(keep, {b, h, t, t}, DType::U8, "dropout mask");
  const bool tc = on_tensor_cores();
  WIN_CUDA_TIMED(tc ? "attention.backward_tc" : "attention.backward");
  CudaContext& ctx = cuda_context();
  // delta (B, H, T): rowwise dO . O, scratch for this call.
  auto* delta = static_cast<float*>(ctx.workspace(static_cast<size_t>(b * h * t) * sizeof(float)));
  WIN_CUDA_CHECK(
      (tc ? kernels::launch_attention_tc_backward_f32 : kernels::launch_attention_backward_f32)(
          f32(q), f32(k), f32(v), f32(mask_bias),
          p > 0.0 ? static_cast<const uint8_t*>(keep.raw()) : nullptr, p, f32(o), f32(dout),
          f32(lse), b, h, t, dh, static_cast<float>(scale), strides_of(q), delta, f32_out(dq),
          f32_out(dk), f32_out(dv), ctx.stream()));
}

}  // namespace win::backend
