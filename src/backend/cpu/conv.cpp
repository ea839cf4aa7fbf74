// f32 2-d convolution on oneDNN: convolution_forward, _backward_data and _backward_weights with
// the direct algorithm (exact summation order aside, the same arithmetic as the reference; no
// Winograd, whose error is larger). Activations are described with their actual strides
// (md_of), so win's channels-last activations go straight into the nhwc jit kernels with no
// reorder. Weights are plain OIHW parameters; each primitive picks its own blocked weight
// layout (format_tag::any), and cached reorder primitives translate: into a buffer owned here
// before forward and backward_data, and out of one, summed into the accumulating gradient by
// a reorder with a sum post-op, after backward_weights. Each primitive is rebuilt only when the
// descriptors it was built for change; a call then only swaps data handles.
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
using Args = std::unordered_map<int, memory>;

// A plain tensor read by a primitive that wants layout `want`: through a reorder into an owned
// buffer when the layouts differ, in place otherwise.
struct Incoming {
  memory user, prim;
  dnnl::reorder reorder;
  bool reordered = false;

  void build(const memory::desc& user_d, const memory::desc& want) {
    user = memory(user_d, cpu_engine(), DNNL_MEMORY_NONE);
    reordered = want != user_d;
    prim = reordered ? memory(want, cpu_engine()) : user;
    if (reordered) reorder = dnnl::reorder(user, prim);
  }
  void load(const Tensor& t) {
    user.set_data_handle(t.raw());
    if (reordered) reorder.execute(cpu_stream(), user, prim);
  }
};

// A gradient written by a primitive into an owned buffer of layout `have`, then added into the
// plain tensor (dst += buffer) by a reorder with a sum post-op: one pass, any layouts.
struct Accumulated {
  memory prim, user;
  dnnl::reorder add;

  void build(const memory::desc& have, const memory::desc& user_d) {
    prim = memory(have, cpu_engine());
    user = memory(user_d, cpu_engine(), DNNL_MEMORY_NONE);
    dnnl::post_ops po;
    po.append_sum(1.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(po);
    add = dnnl::reorder(dnnl::reorder::primitive_desc(prim, user, attr));
  }
  void store(const Tensor& t) {
    user.set_data_handle(t.raw());
    add.execute(cpu_stream(), prim, user);
  }
};

memory bind(const memory::desc& d) {
  return memory(d, cpu_engine(), DNNL_MEMORY_NONE);
}

class CpuConv2d final : public Conv2dOp {
 public:
  explicit CpuConv2d(const Conv2dDesc& d)
      : d_(d), strides_{d.stride, d.stride}, pad_{d.padding, d.padding} {
    WIN_CHECK(d.kernel_h > 0 && d.kernel_w > 0 && d.stride > 0 && d.padding >= 0,
              ErrorKind::Internal, "conv2d: kernel ", d.kernel_h, "x", d.kernel_w, ", stride ",
              d.stride, ", padding ", d.padding);
  }

  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    check(x, w, y, b, "conv2d forward");
    dnnl_call("convolution forward", [&] {
      const memory::desc xd = md_of(x), wd = md_of(w), yd = md_of(y);
      const memory::desc bd = b.defined() ? md_of(b) : memory::desc();
      if (!fwd_ || xd != f_x_ || wd != f_w_ || bd != f_b_ || yd != f_y_) {
        const auto pd = fwd_pd(xd, w, bd, yd);
        fwd_ = dnnl::convolution_forward(pd);
        f_wts_.build(wd, pd.weights_desc());
        f_args_ = {
            {DNNL_ARG_SRC, bind(xd)}, {DNNL_ARG_WEIGHTS, f_wts_.prim}, {DNNL_ARG_DST, bind(yd)}};
        if (b.defined()) f_args_[DNNL_ARG_BIAS] = bind(bd);
        f_x_ = xd, f_w_ = wd, f_b_ = bd, f_y_ = yd;
        log_debug("oneDNN convolution forward ", x.shape(), " -> ", y.shape(), ": ",
                  pd.impl_info_str());
      }
      f_wts_.load(w);
      f_args_[DNNL_ARG_SRC].set_data_handle(x.raw());
      f_args_[DNNL_ARG_DST].set_data_handle(y.raw());
      if (b.defined()) f_args_[DNNL_ARG_BIAS].set_data_handle(b.raw());
      fwd_.execute(cpu_stream(), f_args_);
    });
  }

  void backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    check(dx, w, dy, Tensor(), "conv2d backward_data");
    dnnl_call("convolution backward_data", [&] {
      const memory::desc dyd = md_of(dy), wd = md_of(w), dxd = md_of(dx);
      if (!bwd_d_ || dyd != d_dy_ || wd != d_w_ || dxd != d_dx_) {
        const auto hint = fwd_pd(dxd, w, memory::desc(), dyd);
        const dnnl::convolution_backward_data::primitive_desc pd(
            {algorithm::convolution_direct, dxd, md_any(w.shape()), dyd, strides_, pad_, pad_},
            cpu_engine(), hint);
        bwd_d_ = dnnl::convolution_backward_data(pd);
        d_wts_.build(wd, pd.weights_desc());
        d_args_ = {{DNNL_ARG_DIFF_DST, bind(dyd)},
                   {DNNL_ARG_WEIGHTS, d_wts_.prim},
                   {DNNL_ARG_DIFF_SRC, bind(dxd)}};
        d_dy_ = dyd, d_w_ = wd, d_dx_ = dxd;
        log_debug("oneDNN convolution backward_data ", dy.shape(), " -> ", dx.shape(), ": ",
                  pd.impl_info_str());
      }
      d_wts_.load(w);
      d_args_[DNNL_ARG_DIFF_DST].set_data_handle(dy.raw());
      d_args_[DNNL_ARG_DIFF_SRC].set_data_handle(dx.raw());
      bwd_d_.execute(cpu_stream(), d_args_);
    });
  }

  void backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) override {
    check(x, dw, dy, db, "conv2d backward_weights");
    dnnl_call("convolution backward_weights", [&] {
      const memory::desc xd = md_of(x), dyd = md_of(dy), dwd = md_of(dw);
      const memory::desc dbd = db.defined() ? md_of(db) : memory::desc();
      if (!bwd_w_ || xd != w_x_ || dyd != w_dy_ || dwd != w_dw_ || dbd != w_db_) {
        // The bias gradient is produced plain (it is a vector) and summed like dW.
        const memory::desc plain_b =
            db.defined() ? memory::desc({db.size(0)}, memory::data_type::f32, memory::format_tag::a)
                         : memory::desc();
        const auto hint = fwd_pd(xd, dw, plain_b, dyd);
        const auto wany = md_any(dw.shape());
        const auto desc =
            db.defined()
                ? dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, xd, wany,
                                                           plain_b, dyd, strides_, pad_, pad_)
                : dnnl::convolution_backward_weights::desc(algorithm::convolution_direct, xd, wany,
                                                           dyd, strides_, pad_, pad_);
        const dnnl::convolution_backward_weights::primitive_desc pd(desc, cpu_engine(), hint);
        bwd_w_ = dnnl::convolution_backward_weights(pd);
        w_dw_acc_.build(pd.diff_weights_desc(), dwd);
        w_args_ = {{DNNL_ARG_SRC, bind(xd)},
                   {DNNL_ARG_DIFF_DST, bind(dyd)},
                   {DNNL_ARG_DIFF_WEIGHTS, w_dw_acc_.prim}};
        if (db.defined()) {
          w_db_acc_.build(pd.diff_bias_desc(), dbd);
          w_args_[DNNL_ARG_DIFF_BIAS] = w_db_acc_.prim;
        }
        w_x_ = xd, w_dy_ = dyd, w_dw_ = dwd, w_db_ = dbd;
        log_debug("oneDNN convolution backward_weights ", x.shape(), ": ", pd.impl_info_str());
      }
      w_args_[DNNL_ARG_SRC].set_data_handle(x.raw());
      w_args_[DNNL_ARG_DIFF_DST].set_data_handle(dy.raw());
      bwd_w_.execute(cpu_stream(), w_args_);
      w_dw_acc_.store(dw);
      if (db.defined()) w_db_acc_.store(db);
    });
  }

 private:
  // The forward primitive descriptor (also the hint that backward primitives need).
  dnnl::convolution_forward::primitive_desc fwd_pd(const memory::desc& xd, const Tensor& w,
                                                   const memory::desc& bd,
                                                   const memory::desc& yd) const {
    const auto wany = md_any(w.shape());
    const auto desc = bd != memory::desc()
                          ? dnnl::convolution_forward::desc(prop_kind::forward_training,
                                                            algorithm::convolution_direct, xd, wany,
                                                            bd, yd, strides_, pad_, pad_)
                          : dnnl::convolution_forward::desc(prop_kind::forward_training,
                                                            algorithm::convolution_direct, xd, wany,
                                                            yd, strides_, pad_, pad_);
    return dnnl::convolution_forward::primitive_desc(desc, cpu_engine());
  }

  // The shapes must fit this desc (oneDNN would reject them too, but less legibly).
  void check(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& b,
             const char* what) const {
    WIN_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4, ErrorKind::Internal, what, ": x ",
              x.shape(), ", w ", w.shape(), ", y ", y.shape());
    const int64_t p = (x.size(2) + 2 * d_.padding - d_.kernel_h) / d_.stride + 1;
    const int64_t q = (x.size(3) + 2 * d_.padding - d_.kernel_w) / d_.stride + 1;
    const bool ok = x.size(2) + 2 * d_.padding >= d_.kernel_h &&
                    x.size(3) + 2 * d_.padding >= d_.kernel_w &&
                    w.shape() == Dims{w.size(0), x.size(1), d_.kernel_h, d_.kernel_w} &&
                    y.shape() == Dims{x.size(0), w.size(0), p, q} &&
                    (!b.defined() || b.shape() == Dims{w.size(0)});
    WIN_CHECK(ok, ErrorKind::Internal, what, ": x ", x.shape(), ", w ", w.shape(), ", y ",
              y.shape(), (b.defined() ? ", b " : ""), (b.defined() ? b.shape() : Dims{}),
              " do not fit kernel ", d_.kernel_h, "x", d_.kernel_w, ", stride ", d_.stride,
              ", padding ", d_.padding);
  }

  Conv2dDesc d_;
  memory::dims strides_, pad_;

  dnnl::convolution_forward fwd_;
  memory::desc f_x_, f_w_, f_b_, f_y_;
  Incoming f_wts_;
  Args f_args_;

  dnnl::convolution_backward_data bwd_d_;
  memory::desc d_dy_, d_w_, d_dx_;
  Incoming d_wts_;
  Args d_args_;

  dnnl::convolution_backward_weights bwd_w_;
  memory::desc w_x_, w_dy_, w_dw_, w_db_;
  Accumulated w_dw_acc_, w_db_acc_;
  Args w_args_;
};

}  // namespace

std::unique_ptr<Conv2dOp> CpuOps::conv2d(const Conv2dDesc& d) {
  return std::make_unique<CpuConv2d>(d);
}

}  // namespace win::backend
