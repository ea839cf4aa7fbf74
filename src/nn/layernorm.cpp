// LayerNorm forward/backward on the op table's layernorm op (see layernorm.hpp).
#include "nn/layernorm.hpp"

#include "core/error.hpp"

namespace win::nn {

LayerNorm::LayerNorm(int64_t dim, double eps, DType dtype)
    : Module("LayerNorm", dtype), dim_(dim), eps_(eps), op_(ops().layernorm()) {
  WIN_CHECK(dim > 0 && eps > 0, ErrorKind::Internal, "LayerNorm(", dim, ", eps ", eps, ")");
  w_ = &add_param("weight", {dim}, ParamKind::LayerNorm, Init::ones());
  b_ = &add_param("bias", {dim}, ParamKind::LayerNorm, Init::zeros());
}

Tensor LayerNorm::forward(const Tensor& x, Context&) {
  WIN_CHECK(x.dim() >= 1 && x.size(-1) == dim_, ErrorKind::Internal, "LayerNorm(", dim_,
            "): input ", x.shape());
  x_shape_ = x.shape();
  x_ = x.contiguous().reshape({-1, dim_});
  const int64_t rows = x_.size(0);
  ensure(y_, x_shape_, dtype());
  ensure(mean_, {rows}, dtype());
  ensure(var_, {rows}, dtype());
  Tensor y2 = y_.reshape({rows, dim_});
  op_->forward(x_, w_->value, b_->value, eps_, mean_, var_, y2);
  return y_;
}

Tensor LayerNorm::backward(const Tensor& dy0, Context&) {
  WIN_CHECK(dy0.shape() == x_shape_, ErrorKind::Internal, "LayerNorm backward: dy ", dy0.shape(),
            " for input ", x_shape_);
  const Tensor dy = transient_contiguous(dy0).reshape({-1, dim_});
  Tensor dx = transient(x_shape_, dtype());
  Tensor dx2 = dx.reshape({-1, dim_});
  op_->backward(x_, dy, w_->value, mean_, var_, eps_, dx2, w_->grad, b_->grad);
  return dx;
}

}  // namespace win::nn
