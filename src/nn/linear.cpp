// Linear forward/backward on the op table's gemm (see linear.hpp).
#include "nn/linear.hpp"

#include <cmath>

#include "backend/precision.hpp"
#include "core/error.hpp"

namespace win::nn {

Linear::Linear(int64_t in, int64_t out, bool bias, DType dtype, bool fuse_relu)
    : Module(fuse_relu ? "Linear+ReLU" : "Linear", dtype),
      in_(in),
      out_(out),
      relu_(fuse_relu),
      op_(ops().linear(fuse_relu)) {
  // PyTorch's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)), bias likewise.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  w_ = &add_param("weight", {out, in}, ParamKind::Weight, Init::uniform(bound));
  if (bias) b_ = &add_param("bias", {out}, ParamKind::Bias, Init::uniform(bound));
}

// Under bf16 precision on a GPU every product rounds its fp32 operands to bf16 (precision.hpp).
// Left to the products, x would be rounded twice (forward, dW) and dy twice (dW, dx); the layer
// rounds x and W once per forward and dy once per backward, and the products take the copies.
bool Linear::rounds_operands() const {
  return device() == Device::CUDA && dtype() == DType::F32 &&
         backend::precision() == backend::Precision::Bf16;
}

Tensor Linear::forward(const Tensor& x, Context& ctx) {
  WIN_CHECK(x.dim() >= 2 && x.size(-1) == in_, ErrorKind::Internal, "Linear(", in_, ", ", out_,
            "): input ", x.shape());
  x_shape_ = x.shape();
  x_ = x.contiguous().reshape({-1, in_});
  Dims out_shape = x_shape_;
  out_shape[out_shape.size() - 1] = out_;
  ensure(y_, out_shape, dtype());
  Tensor y2 = y_.reshape({-1, out_});
  rounded_ = rounds_operands();
  if (rounded_) {
    ensure(x16_, x_.shape(), DType::BF16);
    ops().convert(x_, x16_);
    ensure(w16_, w_->value.shape(), DType::BF16);
    ops().convert(w_->value, w16_);  // the weights stay as they are until backward is done
    op_->forward(x16_, w16_, b_ ? b_->value : Tensor(), y2);
  } else {
    op_->forward(x_, w_->value, b_ ? b_->value : Tensor(), y2);
  }
  ctx.macs += x_.size(0) * in_ * out_;
  return y_;
}

Tensor Linear::backward(const Tensor& dy0, Context&) {
  Tensor dy = transient_contiguous(dy0).reshape({-1, out_});
  if (relu_) {  // through the ReLU (from the saved output) and into the bias gradient, one pass
    Tensor dz = transient(dy.shape(), dtype());
    Tensor db = b_ ? b_->grad : Tensor();
    ops().relu_bias_backward(y_.reshape({-1, out_}), dy, dz, db);
    dy = dz;
  } else if (b_) {
    ops().bias_grad(dy, b_->grad);
  }
  const Tensor* x = &x_;
  const Tensor* w = &w_->value;
  if (rounded_) {
    Tensor dy16 = transient(dy.shape(), DType::BF16);
    ops().convert(dy, dy16);
    dy = dy16;
    x = &x16_;
    w = &w16_;
  }
  ops().gemm(true, false, 1.0, dy, *x, 1.0, w_->grad);  // dW += dy^T x
  Tensor dx = transient(x_shape_, dtype());
  Tensor dx2 = dx.reshape({-1, in_});
  ops().gemm(false, false, 1.0, dy, *w, 0.0, dx2);  // dx = dy W
  return dx;
}

}  // namespace win::nn
