// Dropout forward/backward on the op table's dropout ops (see dropout.hpp).
#include "nn/dropout.hpp"

#include <algorithm>
#include <cstdint>

#include "core/error.hpp"

namespace win::nn {

namespace {
constexpr int kStreamBits = 16;
}

Dropout::Dropout(double p, uint64_t stream_id, DType dtype)
    : Module("Dropout", dtype), p_(p), stream_id_(stream_id) {
  WIN_CHECK(p >= 0.0 && p < 1.0, ErrorKind::Internal, "Dropout: p = ", p, " not in [0, 1)");
  WIN_CHECK(stream_id < (uint64_t{1} << kStreamBits), ErrorKind::Internal, "Dropout: stream id ",
            stream_id, " does not fit in ", kStreamBits, " bits");
}

uint64_t Dropout::counter(uint64_t step, uint64_t stream_id) {
  WIN_CHECK(step < (uint64_t{1} << (64 - kStreamBits)), ErrorKind::Internal, "Dropout: step ", step,
            " too large for the counter layout");
  return (step << kStreamBits) | stream_id;
}

backend::Ops::AttentionDropout Dropout::fused_draw(const Dims& shape, const Context& ctx) const {
  backend::Ops::AttentionDropout d;
  if (!ctx.training || p_ == 0.0) return d;
  const int64_t samples = shape.empty() ? 1 : std::max<int64_t>(shape[0], 1);
  // Masks are keyed by global element position: the same for any split of the global batch.
  const auto per_sample = static_cast<uint64_t>(shape.product() / samples);
  d.p = p_;
  d.rng = &ctx.rng;
  d.hi_counter = counter(ctx.step, stream_id_);
  d.lo_offset = static_cast<uint64_t>(ctx.sample_offset) * per_sample;
  // Every backend draws position lo_offset + i with a 64-bit counter: none may wrap.
  const auto n = static_cast<uint64_t>(shape.product());
  WIN_CHECK(n == 0 || n - 1 <= UINT64_MAX - d.lo_offset, ErrorKind::Internal, "Dropout: ", n,
            " positions from ", d.lo_offset, " pass the last one a 64-bit counter names");
  return d;
}

Tensor Dropout::forward(const Tensor& x, Context& ctx) {
  active_ = ctx.training && p_ > 0.0;
  if (!active_) return x;
  ensure(mask_, x.shape(), DType::U8);
  ensure(y_, x.shape(), dtype(), &x);
  if (y_.strides() != x.strides()) y_ = empty_like(x);  // keep the input's layout
  const backend::Ops::AttentionDropout d = fused_draw(x.shape(), ctx);
  ops().dropout(x, p_, ctx.rng, d.hi_counter, d.lo_offset, mask_, y_);
  return y_;
}

Tensor Dropout::backward(const Tensor& dy, Context&) {
  if (!active_) return dy;
  WIN_CHECK(dy.shape() == mask_.shape(), ErrorKind::Internal, "Dropout backward: dy ", dy.shape(),
            " for mask ", mask_.shape());
  Tensor dx = transient_grad_for(dy);
  ops().dropout_backward(dy, mask_, p_, dx);
  return dx;
}

}  // namespace win::nn
