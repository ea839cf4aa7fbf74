// f32 2-d max and average pooling on oneDNN's pooling primitives: pooling_max (padded positions
// never win, as with PyTorch's -inf padding) and pooling_avg_include_padding (PyTorch's
// count_include_pad = true; in floor mode every window divides by kernel^2, as PyTorch's does).
// Max pooling's forward keeps the argmax workspace inside this object for backward, which is why
// a backward must follow its own forward on the same shapes. Tensors are described with their
// actual strides, so channels-last activations use the nhwc jit kernels; a dy or dx in another
// layout than y or x goes through a temporary (win's layers never need it).
#include <unordered_map>

#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"
#include "core/log.hpp"

namespace win::backend {

namespace {

using dnnl::algorithm;
using dnnl::memory;
using dnnl::prop_kind;

memory bind(const memory::desc& d) {
  return memory(d, cpu_engine(), DNNL_MEMORY_NONE);
}

// t itself when it has like's layout, else a fresh tensor in like's layout (with t's values when
// `copy`).
Tensor in_layout_of(const Tensor& like, const Tensor& t, bool copy) {
  if (t.strides() == like.strides()) return t;
  Tensor u = empty_like(like);
  if (copy) u.copy_from(t);
  return u;
}

class CpuPool2d final : public Pool2dOp {
 public:
  explicit CpuPool2d(const Pool2dDesc& d)
      : d_(d),
        alg_(d.kind == Pool2dDesc::Kind::Max ? algorithm::pooling_max
                                             : algorithm::pooling_avg_include_padding),
        strides_{d.stride, d.stride},
        kernel_{d.kernel, d.kernel},
        pad_{d.padding, d.padding} {
    // PyTorch's own limits: beyond them a window could lie wholly in the padding.
    WIN_CHECK(d.kernel > 0 && d.stride > 0 && d.padding >= 0 && 2 * d.padding <= d.kernel,
              ErrorKind::Internal, "pool2d: kernel ", d.kernel, ", stride ", d.stride, ", padding ",
              d.padding, " (padding must be at most half the kernel)");
  }

  void forward(const Tensor& x, Tensor& y) override {
    check(x, y, "pool2d forward");
    dnnl_call("pooling forward", [&] {
      const memory::desc xd = md_of(x), yd = md_of(y);
      if (!fwd_ || xd != f_x_ || yd != f_y_) {
        fwd_pd_ = make_fwd_pd(xd, yd);
        fwd_ = dnnl::pooling_forward(fwd_pd_);
        f_src_ = bind(xd);
        f_dst_ = bind(yd);
        f_args_ = {{DNNL_ARG_SRC, f_src_}, {DNNL_ARG_DST, f_dst_}};
        if (is_max()) {
          ws_ = memory(fwd_pd_.workspace_desc(), cpu_engine());
          f_args_[DNNL_ARG_WORKSPACE] = ws_;
        }
        f_x_ = xd, f_y_ = yd;
        bwd_ = {};  // its workspace layout came from the old forward
        log_debug("oneDNN pooling forward ", x.shape(), " -> ", y.shape(), ": ",
                  fwd_pd_.impl_info_str());
      }
      f_src_.set_data_handle(x.raw());
      f_dst_.set_data_handle(y.raw());
      fwd_.execute(cpu_stream(), f_args_);
    });
  }

  void backward(const Tensor& x, const Tensor& y, const Tensor& dy0, Tensor& dx0) override {
    check(x, y, "pool2d backward");
    WIN_CHECK(dy0.shape() == y.shape() && dx0.shape() == x.shape(), ErrorKind::Internal,
              "pool2d backward: dy ", dy0.shape(), ", dx ", dx0.shape(), " for x ", x.shape(),
              ", y ", y.shape());
    const Tensor dy = in_layout_of(y, dy0, true);
    Tensor dx = in_layout_of(x, dx0, false);
    dnnl_call("pooling backward", [&] {
      const memory::desc xd = md_of(x), yd = md_of(y);
      // The argmax positions live in the workspace of the last forward: it must be this one's.
      WIN_CHECK(!is_max() || (fwd_ && xd == f_x_ && yd == f_y_), ErrorKind::Internal,
                "max pool2d backward without a forward on these shapes: x ", x.shape());
      if (!bwd_ || xd != b_x_ || yd != b_y_) {
        const auto hint = fwd_ && xd == f_x_ && yd == f_y_ ? fwd_pd_ : make_fwd_pd(xd, yd);
        const dnnl::pooling_backward::primitive_desc pd(
            {alg_, xd, yd, strides_, kernel_, pad_, pad_}, cpu_engine(), hint);
        bwd_ = dnnl::pooling_backward(pd);
        b_dst_ = bind(yd);
        b_src_ = bind(xd);
        b_args_ = {{DNNL_ARG_DIFF_DST, b_dst_}, {DNNL_ARG_DIFF_SRC, b_src_}};
        if (is_max()) b_args_[DNNL_ARG_WORKSPACE] = ws_;
        b_x_ = xd, b_y_ = yd;
        log_debug("oneDNN pooling backward ", x.shape(), ": ", pd.impl_info_str());
      }
      b_dst_.set_data_handle(dy.raw());
      b_src_.set_data_handle(dx.raw());
      bwd_.execute(cpu_stream(), b_args_);
    });
    if (!dx.shares_storage(dx0)) dx0.copy_from(dx);
  }

 private:
  bool is_max() const { return d_.kind == Pool2dDesc::Kind::Max; }

  dnnl::pooling_forward::primitive_desc make_fwd_pd(const memory::desc& xd,
                                                    const memory::desc& yd) const {
    return {{prop_kind::forward_training, alg_, xd, yd, strides_, kernel_, pad_, pad_},
            cpu_engine()};
  }

  void check(const Tensor& x, const Tensor& y, const char* what) const {
    WIN_CHECK(x.dim() == 4 && x.size(2) + 2 * d_.padding >= d_.kernel &&
                  x.size(3) + 2 * d_.padding >= d_.kernel,
              ErrorKind::Internal, what, ": input ", x.shape(), " for kernel ", d_.kernel);
    const int64_t p = (x.size(2) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    const int64_t q = (x.size(3) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    const Dims want{x.size(0), x.size(1), p, q};
    WIN_CHECK(y.shape() == want, ErrorKind::Internal, what, ": output ", y.shape(), " for input ",
              x.shape());
  }

  Pool2dDesc d_;
  algorithm alg_;
  memory::dims strides_, kernel_, pad_;

  dnnl::pooling_forward::primitive_desc fwd_pd_;
  dnnl::pooling_forward fwd_;
  memory::desc f_x_, f_y_;
  memory f_src_, f_dst_, ws_;
  std::unordered_map<int, memory> f_args_;

  dnnl::pooling_backward bwd_;
  memory::desc b_x_, b_y_;
  memory b_src_, b_dst_;
  std::unordered_map<int, memory> b_args_;
};

}  // namespace

std::unique_ptr<Pool2dOp> CpuOps::pool2d(const Pool2dDesc& d) {
  return std::make_unique<CpuPool2d>(d);
}

}  // namespace win::backend
