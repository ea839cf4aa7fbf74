// Linear forward/backward on the op table's gemm (see linear.hpp).
#include "nn/linear.hpp"

#include <cmath>

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

Tensor Linear::forward(const Tensor& x, Context& ctx) {
  WIN_CHECK(x.dim() >= 2 && x.size(-1) == in_, ErrorKind::Internal, "Linear(", in_, ", ", out_,
            "): input ", x.shape());
  x_shape_ = x.shape();
  x_ = x.contiguous().reshape({-1, in_});
  Dims out_shape = x_shape_;
  out_shape[out_shape.size() - 1] = out_;
  ensure(y_, out_shape, dtype());
  Tensor y2 = y_.reshape({-1, out_});
  op_->forward(x_, w_->value, b_ ? b_->value : Tensor(), y2);
  ctx.macs += x_.size(0) * in_ * out_;
  return y_;
}

Tensor Linear::backward(const Tensor& dy0, Context&) {
  Tensor dy = dy0.contiguous().reshape({-1, out_});
  if (relu_) {  // through the ReLU (from the saved output) and into the bias gradient, one pass
    ensure(dz_, dy.shape(), dtype());
    Tensor db = b_ ? b_->grad : Tensor();
    ops().relu_bias_backward(y_.reshape({-1, out_}), dy, dz_, db);
    dy = dz_;
  } else if (b_) {
    ops().bias_grad(dy, b_->grad);
  }
  ops().gemm(true, false, 1.0, dy, x_, 1.0, w_->grad);  // dW += dy^T x
  ensure(dx_, x_shape_, dtype());
  Tensor dx2 = dx_.reshape({-1, in_});
  ops().gemm(false, false, 1.0, dy, w_->value, 0.0, dx2);  // dx = dy W
  return dx_;
}

}  // namespace win::nn
