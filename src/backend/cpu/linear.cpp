// f32 fused Linear forward on oneDNN's matmul primitive: y = act(x W^T + b) with the bias and an
// optional ReLU in the kernel's epilogue, so a Linear + ReLU writes its output once. W (N, K) is
// described as its transpose (K, N) with strides (1, K): no copy. The primitive is rebuilt only
// when the descriptors change; a call swaps data handles.
#include <unordered_map>

#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"
#include "core/log.hpp"

namespace win::backend {

namespace {

using dnnl::memory;

class CpuLinear final : public LinearOp {
 public:
  explicit CpuLinear(bool relu) : relu_(relu) {}

  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    WIN_CHECK(x.dim() == 2 && w.dim() == 2 && y.dim() == 2 && x.size(1) == w.size(1) &&
                  y.size(0) == x.size(0) && y.size(1) == w.size(0),
              ErrorKind::Internal, "linear: x ", x.shape(), ", W ", w.shape(), " -> y ", y.shape());
    dnnl_call("matmul (linear forward)", [&] {
      const Tensor wt = w.transpose(0, 1);
      const memory::desc xd = md_of(x), wd = md_of(wt), yd = md_of(y);
      const bool bias = b.defined();
      if (!prim_ || xd != x_ || wd != w_ || yd != y_ || bias != bias_) {
        memory::desc bd;
        if (bias) bd = memory::desc({1, y.size(1)}, memory::data_type::f32, {y.size(1), 1});
        dnnl::primitive_attr attr;
        if (relu_) {
          dnnl::post_ops po;
          po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          attr.set_post_ops(po);
        }
        const auto desc =
            bias ? dnnl::matmul::desc(xd, wd, bd, yd) : dnnl::matmul::desc(xd, wd, yd);
        const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
        prim_ = dnnl::matmul(pd);
        args_ = {{DNNL_ARG_SRC, memory(xd, cpu_engine(), DNNL_MEMORY_NONE)},
                 {DNNL_ARG_WEIGHTS, memory(wd, cpu_engine(), DNNL_MEMORY_NONE)},
                 {DNNL_ARG_DST, memory(yd, cpu_engine(), DNNL_MEMORY_NONE)}};
        if (bias) args_[DNNL_ARG_BIAS] = memory(bd, cpu_engine(), DNNL_MEMORY_NONE);
        x_ = xd, w_ = wd, y_ = yd, bias_ = bias;
        log_debug("oneDNN matmul ", x.shape(), " x ", w.shape(), "^T: ", pd.impl_info_str());
      }
      args_[DNNL_ARG_SRC].set_data_handle(x.raw());
      args_[DNNL_ARG_WEIGHTS].set_data_handle(wt.raw());
      args_[DNNL_ARG_DST].set_data_handle(y.raw());
      if (bias) args_[DNNL_ARG_BIAS].set_data_handle(b.raw());
      prim_.execute(cpu_stream(), args_);
    });
  }

 private:
  bool relu_;
  dnnl::matmul prim_;
  memory::desc x_, w_, y_;
  bool bias_ = false;
  std::unordered_map<int, memory> args_;
};

}  // namespace

std::unique_ptr<LinearOp> CpuOps::linear(bool fuse_relu) {
  return std::make_unique<CpuLinear>(fuse_relu);
}

}  // namespace win::backend
