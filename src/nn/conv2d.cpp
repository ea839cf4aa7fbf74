// Conv2d forward/backward on the op table's conv2d op (see conv2d.hpp).
#include "nn/conv2d.hpp"

#include <cmath>

#include "backend/precision.hpp"
#include "core/error.hpp"

namespace win::nn {

namespace {
// True when t is a dense (N, C, H, W) tensor stored N, H, W, C: what oneDNN's nhwc kernels take.
bool is_channels_last(const Tensor& t) {
  const int64_t c = t.size(1), w = t.size(3);
  return t.strides() == Dims{t.size(2) * w * c, 1, w * c, c};
}
}  // namespace

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias,
               DType dtype)
    : Module("Conv2d", dtype), in_(in), out_(out), desc_{kernel, kernel, stride, padding} {
  WIN_CHECK(in > 0 && out > 0 && kernel > 0 && stride > 0 && padding >= 0, ErrorKind::Internal,
            "Conv2d(", in, ", ", out, ", kernel ", kernel, ", stride ", stride, ", padding ",
            padding, ")");
  op_ = ops().conv2d(desc_);
  // PyTorch's default: kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
  // fan_in = in * k * k, and the bias from the same bound.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
  w_ = &add_param("weight", {out, in, kernel, kernel}, ParamKind::Weight, Init::uniform(bound));
  if (bias) b_ = &add_param("bias", {out}, ParamKind::Bias, Init::uniform(bound));
}

int64_t Conv2d::out_extent(int64_t in) const {
  return (in + 2 * desc_.padding - desc_.kernel_h) / desc_.stride + 1;
}

Tensor Conv2d::forward(const Tensor& x, Context& ctx) {
  WIN_CHECK(x.dim() == 4 && x.size(1) == in_ && x.size(2) + 2 * desc_.padding >= desc_.kernel_h &&
                x.size(3) + 2 * desc_.padding >= desc_.kernel_w,
            ErrorKind::Internal, "Conv2d(", in_, ", ", out_, ", kernel ", desc_.kernel_h,
            ", padding ", desc_.padding, "): input ", x.shape());
  // The output's dtype: bf16 where bf16 activations are on (a GPU run in bf16, precision.hpp),
  // else the input's. The product's dtype: the output's, except that cuDNN's bf16 kernels want
  // channel counts in multiples of 8 (an image's 1 or 3 are not, nor a thin student's odd
  // widths) and the bf16 path has no fp32 bias: such a layer computes in fp32 and rounds its
  // output to bf16 after.
  const DType out = backend::activation_dtype(device(), x.dtype());
  const bool bf16_fits = b_ == nullptr && in_ % 8 == 0 && out_ % 8 == 0;
  compute_ = out == DType::BF16 && !bf16_fits ? DType::F32 : out;
  if (is_channels_last(x) && x.dtype() == compute_) {
    x_ = x;
    x_layout_ = Tensor();
  } else {
    ensure_channels_last(x_cl_, x.shape(), compute_);
    move_into(x, x_cl_);
    x_ = x_cl_;
    x_layout_ = x;
  }
  const Dims ys{x.size(0), out_, out_extent(x.size(2)), out_extent(x.size(3))};
  ensure_channels_last(y_, ys, out);
  // An fp32 product under bf16 activations goes through scratch, rounded into y_ at once.
  Tensor yc = compute_ == out ? y_ : transient_channels_last(ys, compute_);
  op_->forward(x_, w_->value, b_ ? b_->value : Tensor(), yc);
  if (compute_ != out) ops().convert(yc, y_);
  ctx.macs += y_.numel() * in_ * desc_.kernel_h * desc_.kernel_w;
  return y_;
}

// dst = src in dst's layout and dtype.
void Conv2d::move_into(const Tensor& src, Tensor& dst) const {
  if (src.dtype() == dst.dtype())
    ops().copy(src, dst);
  else
    ops().convert(src.is_contiguous() || is_channels_last(src) ? src : src.contiguous(), dst);
}

Tensor Conv2d::backward(const Tensor& dy0, Context&) {
  WIN_CHECK(x_.defined() && dy0.shape() == y_.shape(), ErrorKind::Internal, "Conv2d backward: dy ",
            dy0.shape(), " for output ", y_.shape());
  // dy channels-last in the product's dtype (a head's gradient may come contiguous or in fp32;
  // an fp32 product under bf16 activations gets a bf16 dy).
  Tensor dy = dy0;
  if (!is_channels_last(dy0) || dy0.dtype() != compute_) {
    dy = transient_channels_last(dy0.shape(), compute_);
    move_into(dy0, dy);
  }
  Tensor db = b_ ? b_->grad : Tensor();
  op_->backward_weights(x_, dy, w_->grad, db);
  if (!input_grad_) return Tensor();
  Tensor dx_cl = transient_channels_last(x_.shape(), x_.dtype());
  op_->backward_data(dy, w_->value, dx_cl);
  if (!x_layout_.defined()) return dx_cl;
  // Back to the caller's layout and dtype.
  Tensor dx = transient_like(x_layout_);
  move_into(dx_cl, dx);
  return dx;
}

}  // namespace win::nn
