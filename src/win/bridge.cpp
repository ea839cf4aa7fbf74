// Bridge forward/backward on the op table's gemm (see bridge.hpp).
#include "win/bridge.hpp"

#include <cmath>

#include "core/error.hpp"

namespace win::method {

namespace {

// A tensor shaped like h with `channels` channels, in h's layout family.
void ensure_like_with_channels(Tensor& t, const Tensor& h, int64_t channels, DType dtype) {
  Dims s = h.shape();
  if (h.dim() == 4) {
    s[1] = channels;
    nn::ensure_channels_last(t, s, dtype, &allocator_for(h.device()));
  } else {
    s[s.size() - 1] = channels;
    nn::ensure(t, s, dtype, nullptr, &allocator_for(h.device()));
  }
}

}  // namespace

Tensor channel_rows(const Tensor& t) {
  if (t.dim() == 4) {
    WIN_CHECK(t.is_channels_last(), ErrorKind::Internal, "bridge: conv activation ", t.shape(),
              " is not channels-last (strides ", t.strides(), ")");
    return t.permute({0, 2, 3, 1}).reshape({-1, t.size(1)});
  }
  WIN_CHECK(t.is_contiguous() && t.dim() >= 2, ErrorKind::Internal, "bridge: activation ",
            t.shape(), " must be contiguous");
  return t.reshape({-1, t.size(-1)});
}

Bridge::Bridge(int64_t thin, int64_t wide, BridgeMode mode, DType dtype)
    : nn::Module(mode == BridgeMode::Tied ? "Bridge(tied)" : "Bridge", dtype),
      thin_(thin),
      wide_(wide),
      mode_(mode) {
  WIN_CHECK(thin >= 1 && wide >= thin, ErrorKind::Internal, "bridge ", thin, " -> ", wide,
            ": the wide side must be at least as wide as the thin one");
  // Defaults (orthogonal-like scale); method::init_bridges sets the deck's initialisation.
  const double bound = 1.0 / std::sqrt(static_cast<double>(thin));
  m1_ = &add_param("m1", {wide, thin}, nn::ParamKind::Bridge, nn::Init::uniform(bound));
  if (mode == BridgeMode::Free)
    m2_ = &add_param("m2", {thin, wide}, nn::ParamKind::Bridge,
                     nn::Init::uniform(1.0 / std::sqrt(static_cast<double>(wide))));
}

const Tensor& Bridge::lift(const Tensor& h0, nn::Context& ctx) {
  const int64_t c = h0.dim() == 4 ? h0.size(1) : h0.size(-1);
  WIN_CHECK(c == thin_, ErrorKind::Internal, "bridge (", thin_, " -> ", wide_, "): input ",
            h0.shape());
  Tensor h = h0;
  if (h0.dim() == 4 && !h0.is_channels_last()) {
    h = empty_channels_last(h0.shape(), dtype(), alloc());
    h.copy_from(h0);
  } else if (h0.dim() != 4 && !h0.is_contiguous()) {
    h = h0.contiguous();
  }
  h_shape_ = h.shape();
  h_rows_ = channel_rows(h);
  ensure_like_with_channels(z_, h, wide_, dtype());
  Tensor z_rows = channel_rows(z_);
  ops().gemm(false, true, 1.0, h_rows_, m1_->value, 0.0, z_rows);  // z = h M1^T
  ctx.macs += h_rows_.size(0) * thin_ * wide_;
  lifted_ = h;
  return z_;
}

Tensor Bridge::forward(const Tensor& h0, nn::Context& ctx) {
  const Tensor& z = lift(h0, ctx);
  const Tensor h = lifted_;
  lifted_ = Tensor();
  if (mode_ == BridgeMode::Tied) return h;
  const Tensor z_rows = channel_rows(z);
  ensure_like_with_channels(out_, h, thin_, dtype());
  Tensor out_rows = channel_rows(out_);
  ops().gemm(false, true, 1.0, z_rows, m2_->value, 0.0, out_rows);  // out = z M2^T
  ctx.macs += h_rows_.size(0) * thin_ * wide_;
  return out_;
}

Tensor Bridge::backward(const Tensor& dy, nn::Context&) {
  const Tensor z_rows = channel_rows(z_);
  // dz: from the path (free mode) plus the imitation loss.
  Tensor dz_rows;
  if (mode_ == BridgeMode::Free && dy.defined()) {
    // z_'s layout family (empty_like would not keep a one-channel tensor channels-last).
    dz_rows = channel_rows(z_.dim() == 4 ? transient_channels_last(z_.shape(), dtype())
                                         : transient(z_.shape(), dtype()));
    Tensor dyc = dy;
    if (dy.dim() == 4 && !dy.is_channels_last()) {
      dyc = transient_channels_last(dy.shape(), dtype());
      dyc.copy_from(dy);
    }
    const Tensor dy_rows = channel_rows(dyc.dim() == 4 ? dyc : transient_contiguous(dyc));
    ops().gemm(true, false, 1.0, dy_rows, z_rows, 1.0, m2_->grad);     // dM2 += dy^T z
    ops().gemm(false, false, 1.0, dy_rows, m2_->value, 0.0, dz_rows);  // dz = dy M2
    if (dz_in_.defined()) ops().axpy(1.0, channel_rows(dz_in_), dz_rows);
  } else if (dz_in_.defined()) {
    dz_rows = channel_rows(dz_in_);
  }
  Tensor dh = h_shape_.size() == 4 ? transient_channels_last(h_shape_, dtype())
                                   : transient(h_shape_, dtype());
  Tensor dh_rows = channel_rows(dh);
  if (dz_rows.defined()) {
    ops().gemm(true, false, 1.0, dz_rows, h_rows_, 1.0, m1_->grad);    // dM1 += dz^T h
    ops().gemm(false, false, 1.0, dz_rows, m1_->value, 0.0, dh_rows);  // dh = dz M1
  } else {
    dh.zero();
  }
  // Tied: the path itself is the identity, so the output gradient passes straight through.
  if (mode_ == BridgeMode::Tied && dy.defined()) {
    Tensor dyc = dy;
    if (dy.dim() == 4 && !dy.is_channels_last()) {
      dyc = transient_channels_last(dy.shape(), dtype());
      dyc.copy_from(dy);
    }
    ops().axpy(1.0, channel_rows(dyc.dim() == 4 ? dyc : transient_contiguous(dyc)), dh_rows);
  }
  dz_in_ = Tensor();
  return dh;
}

Tensor Bridge::lower(const Tensor& w0, nn::Context& ctx) {
  WIN_CHECK(mode_ == BridgeMode::Free, ErrorKind::Internal, "bridge: lower() of a tied bridge");
  const int64_t c = w0.dim() == 4 ? w0.size(1) : w0.size(-1);
  WIN_CHECK(c == wide_, ErrorKind::Internal, "bridge (", thin_, " -> ", wide_, "): lower of ",
            w0.shape());
  Tensor w = w0;
  if (w0.dim() == 4 && !w0.is_channels_last()) {
    w = empty_channels_last(w0.shape(), dtype(), alloc());
    w.copy_from(w0);
  } else if (w0.dim() != 4 && !w0.is_contiguous()) {
    w = w0.contiguous();
  }
  w_rows_ = channel_rows(w);
  ensure_like_with_channels(low_out_, w, thin_, dtype());
  Tensor out_rows = channel_rows(low_out_);
  ops().gemm(false, true, 1.0, w_rows_, m2_->value, 0.0, out_rows);  // out = w M2^T
  ctx.macs += w_rows_.size(0) * thin_ * wide_;
  return low_out_;
}

void Bridge::lower_backward(const Tensor& dy) {
  WIN_CHECK(w_rows_.defined(), ErrorKind::Internal, "bridge: lower_backward before lower");
  Tensor dyc = dy;
  if (dy.dim() == 4 && !dy.is_channels_last()) {
    dyc = transient_channels_last(dy.shape(), dtype());
    dyc.copy_from(dy);
  }
  const Tensor dy_rows = channel_rows(dyc.dim() == 4 ? dyc : transient_contiguous(dyc));
  ops().gemm(true, false, 1.0, dy_rows, w_rows_, 1.0, m2_->grad);  // dM2 += dy^T w
}

Tensor Bridge::product() const {
  if (mode_ == BridgeMode::Tied) {  // the identity, made on the host
    Tensor p = Tensor::zeros({thin_, thin_}, dtype());
    for (int64_t i = 0; i < thin_; ++i)
      dispatch_dtype(dtype(), [&](auto tag) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) p.at<T>({i, i}) = T(1);
      });
    return p.clone(alloc());
  }
  Tensor p = Tensor::empty({thin_, thin_}, dtype(), alloc());
  ops().gemm(false, false, 1.0, m2_->value, m1_->value, 0.0, p);
  return p;
}

}  // namespace win::method
