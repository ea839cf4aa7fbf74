// Activation module over the op table's eltwise op (see activation.hpp).
#include "nn/activation.hpp"

namespace win::nn {

Activation::Activation(backend::Eltwise kind, DType dtype)
    : Module(kind == backend::Eltwise::Relu ? "ReLU" : "GELU", dtype),
      kind_(kind),
      op_(ops().eltwise(kind)) {}

Tensor Activation::forward(const Tensor& x, Context&) {
  x_ = x;
  ensure(y_, x.shape(), dtype(), &x);
  if (y_.strides() != x.strides()) y_ = empty_like(x);
  op_->forward(x, y_);
  return y_;
}

Tensor Activation::backward(const Tensor& dy, Context&) {
  Tensor dx = transient_grad_for(dy);
  // oneDNN's eltwise backward wants x and dy in one layout.
  const Tensor x = x_.strides() == dy.strides() ? x_ : [&] {
    Tensor t = transient_like(dy);
    ops().copy(x_, t);
    return t;
  }();
  op_->backward(x, dy, dx);
  return dx;
}

}  // namespace win::nn
