// SelfAttention forward/backward (see attention.hpp). Every product is the op table's batched
// gemm on 4-d views, so no head is ever copied: Q (B, T, hidden) reshaped to (B, T, H, dh) and
// permuted to (B, H, T, dh) has rows with unit column stride and row stride hidden, which gemm
// takes as a leading dimension; the context is written the same way into a (B, T, hidden)
// buffer, so the heads come out concatenated. The padding mask is added with gemm too (a rank-1
// product ones x bias), which keeps the whole layer on the op table for every backend.
#include "nn/attention.hpp"

#include <cmath>
#include <vector>

#include "backend/transfer.hpp"

#include "core/error.hpp"

namespace win::nn {

namespace {
constexpr double kMaskedLogit = -10000.0;  // the original BERT's additive mask value

// (B, T, hidden) contiguous -> the per-head view (B, H, T, dh).
Tensor heads_view(const Tensor& t, int64_t heads) {
  const int64_t b = t.size(0), n = t.size(1), d = t.size(2);
  return t.reshape({b, n, heads, d / heads}).permute({0, 2, 1, 3});
}
}  // namespace

SelfAttention::SelfAttention(int64_t hidden, int64_t heads, double attention_dropout_p,
                             uint64_t stream_id, DType dtype)
    : Module("SelfAttention", dtype), hidden_(hidden), heads_(heads) {
  WIN_CHECK(hidden > 0 && heads > 0 && hidden % heads == 0, ErrorKind::Internal,
            "SelfAttention: hidden ", hidden, " is not a multiple of heads ", heads);
  dh_ = hidden / heads;
  q_ = &add_child("query", std::make_unique<Linear>(hidden, hidden, true, dtype));
  k_ = &add_child("key", std::make_unique<Linear>(hidden, hidden, true, dtype));
  v_ = &add_child("value", std::make_unique<Linear>(hidden, hidden, true, dtype));
  drop_ = &add_child("dropout", std::make_unique<Dropout>(attention_dropout_p, stream_id, dtype));
  softmax_ = ops().softmax();
}

void SelfAttention::set_mask(const Tensor& mask) {
  if (!mask.defined()) {
    mask_bias_ = Tensor();
    return;
  }
  WIN_CHECK(mask.dim() == 2 && (mask.dtype() == DType::I32 || mask.dtype() == DType::I8),
            ErrorKind::Internal, "SelfAttention: mask must be (B, T) i32 or i8, got ",
            dtype_name(mask.dtype()), " ", mask.shape());
  const int64_t b = mask.size(0), n = mask.size(1);
  std::vector<double> bias = mask.to_vector();  // (a device mask is read back)
  for (size_t i = 0; i < bias.size(); ++i) {
    WIN_CHECK(bias[i] == 0.0 || bias[i] == 1.0, ErrorKind::Data, "attention mask value ", bias[i],
              " at sample ", static_cast<int64_t>(i) / n, ", position ",
              static_cast<int64_t>(i) % n, " is neither 0 nor 1");
    bias[i] = bias[i] == 0.0 ? kMaskedLogit : 0.0;
  }
  // Written in place (no tensor allocated per step): directly on the host, through a host
  // staging tensor onto a device.
  ensure(mask_bias_, {b, 1, n}, dtype());
  Tensor& host = device() == Device::CPU ? mask_bias_ : mask_bias_host_;
  nn::ensure(host, {b, 1, n}, dtype());
  dispatch_dtype(dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_floating_point_v<T>) {
      T* p = host.data<T>();
      for (size_t i = 0; i < bias.size(); ++i) p[i] = static_cast<T>(bias[i]);
    }
  });
  if (device() != Device::CPU) backend::copy_across(host, mask_bias_);
}

Tensor SelfAttention::forward(const Tensor& x, Context& ctx) {
  WIN_CHECK(x.dim() == 3 && x.size(2) == hidden_, ErrorKind::Internal, "SelfAttention(", hidden_,
            "): input ", x.shape(), ", expected (B, T, ", hidden_, ")");
  const int64_t b = x.size(0), n = x.size(1), h = heads_;
  x_shape_ = x.shape();
  qh_ = heads_view(q_->forward(x, ctx), h);
  kh_ = heads_view(k_->forward(x, ctx), h);
  vh_ = heads_view(v_->forward(x, ctx), h);

  inference_ = !ctx.training;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh_));
  // A backend's fused kernel, where it has one: no (B, H, T, T) tensor is written, and dropout
  // is its mask, drawn with the counters the Dropout layer would use (the same mask).
  fused_ = ops().fuses_attention(qh_, kh_, vh_, mask_bias_);
  if (fused_) {
    ensure(ctx_, x_shape_, dtype());
    Tensor ch = heads_view(ctx_, h);
    ensure(lse_, {b, h, n}, DType::F32);
    const backend::Ops::AttentionDropout drop = drop_->fused_draw({b, h, n, n}, ctx);
    if (drop.p > 0.0) ensure(keep_, {b, h, n, n}, DType::U8);
    ops().attention_forward(qh_, kh_, vh_, mask_bias_, scale, drop, keep_, ch, lse_);
    fused_p_ = drop.p;
    ctx.macs += 2 * b * h * n * n * dh_;
    return ctx_;
  }

  // scores = Q K^T / sqrt(dh) (+ mask), softmax in place: backward needs only the probabilities.
  ensure(probs_, {b, h, n, n}, dtype());
  ops().gemm(false, true, scale, qh_, kh_, 0.0, probs_);
  if (mask_bias_.defined()) {
    WIN_CHECK(mask_bias_.size(0) == b && mask_bias_.size(2) == n, ErrorKind::Internal,
              "SelfAttention: mask (", mask_bias_.size(0), ", ", mask_bias_.size(2), ") for input ",
              x.shape());
    if (!ones_.defined() || ones_.shape() != Dims{b, h * n, 1}) {
      ones_ = Tensor::empty({b, h * n, 1}, dtype(), alloc());
      backend::fill(ones_, 1.0);
    }
    Tensor scores = probs_.reshape({b, h * n, n});  // scores[b, (h, i), j] += 1 * bias[b, j]
    ops().gemm(false, false, 1.0, ones_, mask_bias_, 1.0, scores);
  }
  softmax_->forward(probs_, probs_);
  pdrop_ = drop_->forward(probs_, ctx);

  ensure(ctx_, x_shape_, dtype());
  Tensor ch = heads_view(ctx_, h);
  ops().gemm(false, false, 1.0, pdrop_, vh_, 0.0, ch);
  ctx.macs += 2 * b * h * n * n * dh_;  // Q K^T and P V (the projections count in Linear)
  return ctx_;
}

Tensor SelfAttention::backward(const Tensor& dy0, Context& ctx) {
  WIN_CHECK(dy0.shape() == x_shape_, ErrorKind::Internal, "SelfAttention backward: dy ",
            dy0.shape(), " for input ", x_shape_);
  WIN_CHECK(!inference_, ErrorKind::Internal,
            "SelfAttention backward after a forward in inference mode (ctx.training = false)");
  const int64_t h = heads_;
  const Tensor dch = heads_view(transient_contiguous(dy0), h);
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh_));
  Tensor dq = transient(x_shape_, dtype()), dk = transient(x_shape_, dtype()),
         dv = transient(x_shape_, dtype());
  Tensor dqh = heads_view(dq, h), dkh = heads_view(dk, h), dvh = heads_view(dv, h);

  if (fused_) {
    ops().attention_backward(qh_, kh_, vh_, mask_bias_, scale, keep_, fused_p_, heads_view(ctx_, h),
                             lse_, dch, dqh, dkh, dvh);
  } else {
    composed_backward(dch, scale, ctx, dqh, dkh, dvh);
  }

  // x feeds all three projections: dx is the sum of their input gradients, summed into the
  // query projection's dx buffer (read nowhere else) rather than a buffer of this layer's own.
  Tensor dx = q_->backward(dq, ctx);
  const Tensor dxk = k_->backward(dk, ctx);
  const Tensor dxv = v_->backward(dv, ctx);
  ops().add(dx, dxk, dx);
  ops().axpy(1.0, dxv, dx);
  return dx;
}

void SelfAttention::composed_backward(const Tensor& dch, double scale, Context& ctx, Tensor& dqh,
                                      Tensor& dkh, Tensor& dvh) {
  Tensor dprobs = transient(probs_.shape(), dtype());
  ops().gemm(false, true, 1.0, dch, vh_, 0.0, dprobs);  // dP = dC V^T
  ops().gemm(true, false, 1.0, pdrop_, dch, 0.0, dvh);  // dV = P^T dC
  Tensor dp = drop_->backward(dprobs, ctx);
  dprobs = Tensor();  // dropout made its own dx (or passed dprobs on): one (B, H, T, T) less
  Tensor dscores = transient(probs_.shape(), dtype());
  softmax_->backward(probs_, dp, dscores);  // the mask is a constant: nothing to add
  dp = Tensor();
  ops().gemm(false, false, scale, dscores, kh_, 0.0, dqh);  // dQ = dS K / sqrt(dh)
  ops().gemm(true, false, scale, dscores, qh_, 0.0, dkh);   // dK = dS^T Q / sqrt(dh)
}

}  // namespace win::nn
