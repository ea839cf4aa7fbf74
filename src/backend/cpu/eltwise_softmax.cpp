// f32 ReLU / erf-GELU / tanh and last-dimension softmax on oneDNN eltwise and softmax primitives.
// Primitives are rebuilt only when the tensor descriptors (shape and strides) change.
#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"

namespace win::backend {

namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

class CpuEltwise final : public EltwiseOp {
 public:
  explicit CpuEltwise(Eltwise kind)
      : alg_(kind == Eltwise::Relu   ? algorithm::eltwise_relu
             : kind == Eltwise::Tanh ? algorithm::eltwise_tanh
                                     : algorithm::eltwise_gelu_erf) {}

  void forward(const Tensor& x, Tensor& y) override {
    WIN_CHECK(x.shape() == y.shape(), ErrorKind::Internal, "eltwise: shapes ", x.shape(), " and ",
              y.shape());
    dnnl_call("eltwise forward", [&] {
      const auto xd = md_of(x), yd = md_of(y);
      if (!fwd_ || xd != fwd_x_ || yd != fwd_y_) {
        fwd_pd_ = dnnl::eltwise_forward::primitive_desc(
            dnnl::eltwise_forward::desc(prop_kind::forward_training, alg_, xd, 0.f, 0.f),
            cpu_engine());
        // The primitive writes its own dst layout; y must match it.
        WIN_CHECK(fwd_pd_.dst_desc() == yd, ErrorKind::Internal,
                  "eltwise: output layout differs from input layout");
        fwd_ = dnnl::eltwise_forward(fwd_pd_);
        fwd_x_ = xd;
        fwd_y_ = yd;
      }
      fwd_.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(xd, cpu_engine(), x.raw())},
                                  {DNNL_ARG_DST, dnnl::memory(yd, cpu_engine(), y.raw())}});
    });
  }

  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override {
    dnnl_call("eltwise backward", [&] {
      const auto xd = md_of(x), dyd = md_of(dy), dxd = md_of(dx);
      if (!bwd_ || xd != bwd_x_ || dyd != bwd_dy_ || dxd != bwd_dx_) {
        auto hint = dnnl::eltwise_forward::primitive_desc(
            dnnl::eltwise_forward::desc(prop_kind::forward_training, alg_, xd, 0.f, 0.f),
            cpu_engine());
        auto pd = dnnl::eltwise_backward::primitive_desc(
            dnnl::eltwise_backward::desc(alg_, dyd, xd, 0.f, 0.f), cpu_engine(), hint);
        WIN_CHECK(pd.diff_src_desc() == dxd, ErrorKind::Internal,
                  "eltwise backward: dx layout differs from dy layout");
        bwd_ = dnnl::eltwise_backward(pd);
        bwd_x_ = xd;
        bwd_dy_ = dyd;
        bwd_dx_ = dxd;
      }
      bwd_.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(xd, cpu_engine(), x.raw())},
                                  {DNNL_ARG_DIFF_DST, dnnl::memory(dyd, cpu_engine(), dy.raw())},
                                  {DNNL_ARG_DIFF_SRC, dnnl::memory(dxd, cpu_engine(), dx.raw())}});
    });
  }

 private:
  algorithm alg_;
  dnnl::eltwise_forward::primitive_desc fwd_pd_;
  dnnl::eltwise_forward fwd_;
  dnnl::memory::desc fwd_x_, fwd_y_;
  dnnl::eltwise_backward bwd_;
  dnnl::memory::desc bwd_x_, bwd_dy_, bwd_dx_;
};

class CpuSoftmax final : public SoftmaxOp {
 public:
  void forward(const Tensor& x, Tensor& y) override {
    dnnl_call("softmax forward", [&] {
      const auto xd = md_of(x), yd = md_of(y);
      WIN_CHECK(xd == yd, ErrorKind::Internal, "softmax: x and y layouts differ");
      if (!fwd_ || xd != fwd_x_) {
        fwd_pd_ = dnnl::softmax_forward::primitive_desc(
            dnnl::softmax_forward::desc(prop_kind::forward_training, xd, x.dim() - 1),
            cpu_engine());
        fwd_ = dnnl::softmax_forward(fwd_pd_);
        fwd_x_ = xd;
      }
      fwd_.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(xd, cpu_engine(), x.raw())},
                                  {DNNL_ARG_DST, dnnl::memory(yd, cpu_engine(), y.raw())}});
    });
  }

  void backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    dnnl_call("softmax backward", [&] {
      const auto yd = md_of(y), dyd = md_of(dy), dxd = md_of(dx);
      WIN_CHECK(yd == dyd && yd == dxd, ErrorKind::Internal, "softmax backward: layouts differ");
      if (!bwd_ || yd != bwd_y_) {
        auto hint = dnnl::softmax_forward::primitive_desc(
            dnnl::softmax_forward::desc(prop_kind::forward_training, yd, y.dim() - 1),
            cpu_engine());
        auto pd = dnnl::softmax_backward::primitive_desc(
            dnnl::softmax_backward::desc(dyd, yd, y.dim() - 1), cpu_engine(), hint);
        bwd_ = dnnl::softmax_backward(pd);
        bwd_y_ = yd;
      }
      bwd_.execute(cpu_stream(), {{DNNL_ARG_DST, dnnl::memory(yd, cpu_engine(), y.raw())},
                                  {DNNL_ARG_DIFF_DST, dnnl::memory(dyd, cpu_engine(), dy.raw())},
                                  {DNNL_ARG_DIFF_SRC, dnnl::memory(dxd, cpu_engine(), dx.raw())}});
    });
  }

 private:
  dnnl::softmax_forward::primitive_desc fwd_pd_;
  dnnl::softmax_forward fwd_;
  dnnl::memory::desc fwd_x_;
  dnnl::softmax_backward bwd_;
  dnnl::memory::desc bwd_y_;
};

}  // namespace

std::unique_ptr<EltwiseOp> CpuOps::eltwise(Eltwise kind) {
  return std::make_unique<CpuEltwise>(kind);
}
std::unique_ptr<SoftmaxOp> CpuOps::softmax() {
  return std::make_unique<CpuSoftmax>();
}

}  // namespace win::backend
