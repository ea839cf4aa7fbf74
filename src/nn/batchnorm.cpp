// BatchNorm2d forward/backward on the op table's batchnorm op, or on the synchronised loops of
// batchnorm_sync.cpp when the batch statistics span every replica (see batchnorm.hpp).
#include "nn/batchnorm.hpp"

#include "core/error.hpp"

namespace win::nn {

namespace {
// Makes t a tensor shaped and laid out like x (reusing its memory when it already is one).
void ensure_like(Tensor& t, const Tensor& x, DType dtype) {
  ensure(t, x.shape(), dtype, &x);
  if (t.strides() != x.strides()) t = empty_like(x);
}
}  // namespace

BatchNorm2d::BatchNorm2d(int64_t channels, double eps, double momentum, DType dtype, bool fuse_relu)
    : Module(fuse_relu ? "BatchNorm2d+ReLU" : "BatchNorm2d", dtype),
      channels_(channels),
      eps_(eps),
      momentum_(momentum),
      fuse_relu_(fuse_relu) {
  WIN_CHECK(channels > 0 && eps > 0 && momentum >= 0 && momentum <= 1, ErrorKind::Internal,
            "BatchNorm2d(", channels, ", eps ", eps, ", momentum ", momentum, ")");
  op_ = ops().batchnorm(fuse_relu);
  gamma_ = &add_param("weight", {channels}, ParamKind::BatchNorm, Init::ones());
  beta_ = &add_param("bias", {channels}, ParamKind::BatchNorm, Init::zeros());
  running_mean_ = &add_buffer("running_mean", {channels}, 0.0);
  running_var_ = &add_buffer("running_var", {channels}, 1.0);
  mean_ = Tensor::zeros({channels}, dtype, alloc());
  var_ = Tensor::zeros({channels}, dtype, alloc());
  zeros_ = Tensor::zeros({channels}, dtype, alloc());
}

Tensor BatchNorm2d::forward(const Tensor& x, Context& ctx) {
  WIN_CHECK(x.dim() == 4 && x.size(1) == channels_, ErrorKind::Internal, "BatchNorm2d(", channels_,
            "): input ", x.shape());
  x_ = x;
  trained_ = ctx.training;
  synced_ = ctx.training && ctx.replicas != nullptr;
  WIN_CHECK(!synced_ || device() == Device::CPU, ErrorKind::Config,
            "dist.sync_bn: synchronised BatchNorm runs on the CPU only; set dist.sync_bn = false "
            "with run.device = \"",
            device_name(device()), "\"");
  ensure_like(y_, x, x.dtype());  // bf16 activations stay bf16 (precision.hpp)
  if (synced_) {
    sync_batchnorm_forward(x, gamma_->value, beta_->value, eps_, momentum_, fuse_relu_,
                           *ctx.replicas, *running_mean_, *running_var_, sync_, y_);
  } else if (ctx.training) {
    op_->forward_train(x, gamma_->value, beta_->value, eps_, momentum_, *running_mean_,
                       *running_var_, mean_, var_, y_);
  } else {
    op_->forward_eval(x, gamma_->value, beta_->value, eps_, *running_mean_, *running_var_, y_);
  }
  return y_;
}

Tensor BatchNorm2d::forward_add_relu(const Tensor& x, const Tensor& r, Context& ctx) {
  WIN_CHECK(!fuse_relu_ && r.shape() == x.shape(), ErrorKind::Internal,
            "BatchNorm2d forward_add_relu: residual ", r.shape(), " for input ", x.shape(),
            fuse_relu_ ? " on a layer with a fused ReLU" : "");
  res_fused_ = false;
  if (ctx.training && ctx.replicas == nullptr && x.dim() == 4 && x.size(1) == channels_) {
    ensure_like(y_, x, x.dtype());
    if (op_->forward_train_add_relu(x, r, gamma_->value, beta_->value, eps_, momentum_,
                                    *running_mean_, *running_var_, mean_, var_, y_)) {
      x_ = x;
      trained_ = true;
      synced_ = false;
      res_fused_ = true;
      return y_;
    }
  }
  const Tensor h = forward(x, ctx);
  ensure_like(res_out_, h, h.dtype());
  ops().add_relu(h, r, res_out_);
  return res_out_;
}

Tensor BatchNorm2d::backward_add_relu(const Tensor& dy, Context& ctx, Tensor* dr) {
  WIN_CHECK(x_.defined() && dy.shape() == x_.shape() && dr != nullptr, ErrorKind::Internal,
            "BatchNorm2d backward_add_relu: dy ", dy.shape(), " for input ", x_.shape());
  *dr = transient_like(x_);
  if (res_fused_) {
    Tensor g = dy;
    if (dy.strides() != x_.strides()) {  // the fused op takes one layout
      g = transient_like(x_);
      ops().copy(dy, g);
    }
    Tensor dx = transient_like(x_);
    WIN_CHECK(op_->backward_add_relu(x_, y_, g, gamma_->value, mean_, var_, eps_, dx, *dr,
                                     gamma_->grad, beta_->grad),
              ErrorKind::Internal,
              "BatchNorm2d backward_add_relu: the backend fused the forward but not the backward");
    return dx;
  }
  ops().relu_backward(res_out_, dy, *dr);
  return backward(*dr, ctx);
}

Tensor BatchNorm2d::backward(const Tensor& dy0, Context& ctx) {
  WIN_CHECK(x_.defined() && dy0.shape() == x_.shape(), ErrorKind::Internal,
            "BatchNorm2d backward: dy ", dy0.shape(), " for input ", x_.shape());
  Tensor dy = dy0;
  if (dy0.strides() != x_.strides()) {  // oneDNN takes x, dy and dx in one layout
    dy = transient_like(x_);
    ops().copy(dy0, dy);
  }
  Tensor dx = transient_like(x_);
  if (synced_) {
    // The backward is collective too: every replica that synchronised its forward must join.
    WIN_CHECK(ctx.replicas != nullptr, ErrorKind::Internal,
              "BatchNorm2d backward: the forward was synchronised over replicas, the backward's "
              "context has none");
    sync_batchnorm_backward(x_, y_, dy, gamma_->value, fuse_relu_, *ctx.replicas, sync_, dx,
                            gamma_->grad, beta_->grad);
    return dx;
  }
  if (trained_) {
    op_->backward(x_, y_, dy, gamma_->value, mean_, var_, eps_, dx, gamma_->grad, beta_->grad);
    return dx;
  }
  if (fuse_relu_) {  // through the ReLU first, then the affine map below with an unfused op
    Tensor g = transient_like(x_);
    ops().relu_backward(y_, dy, g);
    dy = g;
    if (!plain_op_) plain_op_ = ops().batchnorm(false);
  }
  backend::BatchNormOp& op = fuse_relu_ ? *plain_op_ : *op_;
  // Eval mode: y = gamma * (x - rm) / sqrt(rv + eps) + beta with fixed statistics. The training
  // backward given (rm, rv) as the statistics computes exactly this map's dgamma = sum(dy * xhat)
  // and dbeta = sum(dy) (those do not depend on where the statistics came from), but a dx that
  // also flows through the batch statistics; so dx is then overwritten with the affine map's
  // dx = dy * gamma / sqrt(rv + eps), which is forward_eval of dy with zero mean and shift.
  op.backward(x_, y_, dy, gamma_->value, *running_mean_, *running_var_, eps_, dx, gamma_->grad,
              beta_->grad);
  op.forward_eval(dy, gamma_->value, zeros_, eps_, zeros_, *running_var_, dx);
  return dx;
}

}  // namespace win::nn
