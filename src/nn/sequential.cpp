// Sequential and Flatten (see sequential.hpp).
#include "nn/sequential.hpp"

namespace win::nn {

Tensor Sequential::forward(const Tensor& x, Context& ctx) {
  Tensor h = x;
  for (const auto& [name, m] : children()) h = m->forward(h, ctx);
  return h;
}

Tensor Sequential::backward(const Tensor& dy, Context& ctx) {
  Tensor g = dy;
  for (auto it = children().rbegin(); it != children().rend(); ++it)
    g = it->second->backward(g, ctx);
  return g;
}

Tensor Flatten::forward(const Tensor& x, Context&) {
  x_shape_ = x.shape();
  const Dims flat = {x.size(0), x.numel() / std::max<int64_t>(x.size(0), 1)};
  if (x.is_contiguous()) return x.reshape(flat);
  ensure(y_, x.shape(), dtype());
  ops().copy(x, y_);
  return y_.reshape(flat);
}

Tensor Flatten::backward(const Tensor& dy, Context&) {
  return transient_contiguous(dy).reshape(x_shape_);
}

}  // namespace win::nn
