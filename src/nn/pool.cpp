// Pooling layers on the op table's pool2d and global_avg_pool (see pool.hpp).
#include "nn/pool.hpp"

#include "core/error.hpp"

namespace win::nn {

namespace {
bool is_channels_last(const Tensor& t) {
  const int64_t c = t.size(1), w = t.size(3);
  return t.strides() == Dims{t.size(2) * w * c, 1, w * c, c};
}

// Makes t an (N, C, H, W) tensor of this shape, channels-last when like is and contiguous
// otherwise, so that a pooling's input and output share one memory order (oneDNN's jit pooling
// needs that).
void ensure_layout_of(Tensor& t, const Dims& shape, DType dtype, const Tensor& like) {
  Allocator& a = allocator_for(like.device());
  if (is_channels_last(like)) {
    ensure_channels_last(t, shape, dtype, &a);
    if (!is_channels_last(t)) t = empty_channels_last(shape, dtype, a);
  } else {
    ensure(t, shape, dtype, nullptr, &a);
    if (!t.is_contiguous()) t = Tensor::empty(shape, dtype, a);
  }
}
}  // namespace

Pool2d::Pool2d(const char* type, backend::Pool2dDesc desc, DType dtype)
    : Module(type, dtype), desc_(desc) {
  WIN_CHECK(
      desc.kernel > 0 && desc.stride > 0 && desc.padding >= 0 && 2 * desc.padding <= desc.kernel,
      ErrorKind::Internal, type, "(kernel ", desc.kernel, ", stride ", desc.stride, ", padding ",
      desc.padding, "): padding must be at most half the kernel");
  op_ = ops().pool2d(desc_);
}

int64_t Pool2d::out_extent(int64_t in) const {
  return (in + 2 * desc_.padding - desc_.kernel) / desc_.stride + 1;
}

Tensor Pool2d::forward(const Tensor& x, Context&) {
  WIN_CHECK(x.dim() == 4 && x.size(2) + 2 * desc_.padding >= desc_.kernel &&
                x.size(3) + 2 * desc_.padding >= desc_.kernel,
            ErrorKind::Internal, type(), "(kernel ", desc_.kernel, "): input ", x.shape());
  x_ = x;
  ensure_layout_of(y_, {x.size(0), x.size(1), out_extent(x.size(2)), out_extent(x.size(3))},
                   x.dtype(), x);
  op_->forward(x, y_);
  return y_;
}

Tensor Pool2d::backward(const Tensor& dy0, Context&) {
  WIN_CHECK(x_.defined() && dy0.shape() == y_.shape(), ErrorKind::Internal, type(),
            " backward: dy ", dy0.shape(), " for output ", y_.shape());
  Tensor dy = dy0;
  if (dy0.strides() != y_.strides()) {
    // In x_'s memory order, as y_ (ensure_layout_of; empty_like would not keep a one-channel
    // tensor channels-last).
    dy = is_channels_last(x_) ? transient_channels_last(y_.shape(), y_.dtype())
                              : transient(y_.shape(), y_.dtype());
    ops().copy(dy0, dy);
  }
  Tensor dx = transient_like(x_);
  op_->backward(x_, y_, dy, dx);
  return dx;
}

MaxPool2d::MaxPool2d(int64_t kernel, int64_t stride, int64_t padding, DType dtype)
    : Pool2d("MaxPool2d", {backend::Pool2dDesc::Kind::Max, kernel, stride, padding}, dtype) {}

AvgPool2d::AvgPool2d(int64_t kernel, int64_t stride, int64_t padding, DType dtype)
    : Pool2d("AvgPool2d", {backend::Pool2dDesc::Kind::Avg, kernel, stride, padding}, dtype) {}

Tensor GlobalAvgPool::forward(const Tensor& x, Context&) {
  WIN_CHECK(x.dim() == 4, ErrorKind::Internal, "GlobalAvgPool: input ", x.shape(), " is not 4-d");
  x_ = x;
  ensure(y_, {x.size(0), x.size(1)}, dtype());  // the layer's dtype: bf16 activations end here
  ops().global_avg_pool(x, y_);
  return y_;
}

Tensor GlobalAvgPool::backward(const Tensor& dy, Context&) {
  WIN_CHECK(x_.defined() && dy.shape() == y_.shape(), ErrorKind::Internal,
            "GlobalAvgPool backward: dy ", dy.shape(), " for output ", y_.shape());
  Tensor dx = transient_like(x_);
  ops().global_avg_pool_backward(dy, dx);
  return dx;
}

}  // namespace win::nn
