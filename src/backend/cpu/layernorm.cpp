// f32 layer normalisation on oneDNN 2.6's layer_normalization primitives (forward_training, which
// also writes mean and biased variance, and a full backward with diff scale/shift). oneDNN 2.6
// takes gamma and beta as separate SCALE / SHIFT memories (use_scale | use_shift) and overwrites
// the diff scale/shift, so backward writes them into scratch tensors owned by the op and adds
// those into the accumulating gradients. Primitives and memory objects are rebuilt only when the
// data descriptor (shape, strides) or eps changes; a call otherwise only swaps data pointers.
#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"

namespace win::backend {

namespace {

using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;

// gamma and beta as separate memories (oneDNN 2.6's replacement of use_scaleshift).
normalization_flags flags() {
  return normalization_flags::use_scale | normalization_flags::use_shift;
}

class CpuLayerNorm final : public LayerNormOp {
 public:
  void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
               Tensor& var, Tensor& y) override {
    check(x, gamma, beta, mean, var);
    WIN_CHECK(x.shape() == y.shape() && x.strides() == y.strides(), ErrorKind::Internal,
              "layernorm: y must have x's shape and layout (one oneDNN data descriptor)");
    if (x.numel() == 0) return;
    dnnl_call("layer normalization forward", [&] {
      rebuild(x, eps);
      set(src_, x);
      set(dst_, y);
      set(scale_, gamma);
      set(shift_, beta);
      set(mean_, mean);
      set(var_, var);
      fwd_.execute(cpu_stream(), {{DNNL_ARG_SRC, src_},
                                  {DNNL_ARG_DST, dst_},
                                  {DNNL_ARG_SCALE, scale_},
                                  {DNNL_ARG_SHIFT, shift_},
                                  {DNNL_ARG_MEAN, mean_},
                                  {DNNL_ARG_VARIANCE, var_}});
    });
  }

  void backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                const Tensor& var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    check(x, gamma, dgamma, mean, var);
    WIN_CHECK(dbeta.shape() == gamma.shape(), ErrorKind::Internal, "layernorm: dbeta ",
              dbeta.shape());
    WIN_CHECK(dy.shape() == x.shape() && dx.shape() == x.shape() && dy.strides() == x.strides() &&
                  dx.strides() == x.strides(),
              ErrorKind::Internal, "layernorm backward: dy and dx must have x's shape and layout");
    if (x.numel() == 0) return;
    dnnl_call("layer normalization backward", [&] {
      rebuild(x, eps);
      if (!bwd_) {
        auto pd = dnnl::layer_normalization_backward::primitive_desc(
            dnnl::layer_normalization_backward::desc(prop_kind::backward, data_md_, data_md_,
                                                     stat_md_, static_cast<float>(eps), flags()),
            cpu_engine(), fwd_pd_);
        bwd_ = dnnl::layer_normalization_backward(pd);
        dscale_tmp_ = Tensor::empty(gamma.shape(), DType::F32);
        dshift_tmp_ = Tensor::empty(gamma.shape(), DType::F32);
      }
      set(src_, x);
      set(ddst_, dy);
      set(dsrc_, dx);
      set(scale_, gamma);
      // oneDNN 2.6 refuses to execute without a SHIFT argument although dx, dgamma and dbeta do
      // not depend on beta (which this interface does not pass): any (D) memory will do.
      set(shift_, gamma);
      set(mean_, mean);
      set(var_, var);
      set(dscale_, dscale_tmp_);
      set(dshift_, dshift_tmp_);
      bwd_.execute(cpu_stream(), {{DNNL_ARG_SRC, src_},
                                  {DNNL_ARG_DIFF_DST, ddst_},
                                  {DNNL_ARG_SCALE, scale_},
                                  {DNNL_ARG_SHIFT, shift_},
                                  {DNNL_ARG_MEAN, mean_},
                                  {DNNL_ARG_VARIANCE, var_},
                                  {DNNL_ARG_DIFF_SRC, dsrc_},
                                  {DNNL_ARG_DIFF_SCALE, dscale_},
                                  {DNNL_ARG_DIFF_SHIFT, dshift_}});
    });
    const float* ds = dscale_tmp_.data<float>();
    const float* db = dshift_tmp_.data<float>();
    float* pg = dgamma.data<float>();
    float* pb = dbeta.data<float>();
    const int64_t sg = dgamma.stride(0), sb = dbeta.stride(0);
    for (int64_t j = 0; j < gamma.size(0); ++j) {
      pg[j * sg] += ds[j];
      pb[j * sb] += db[j];
    }
  }

 private:
  static void check(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& mean,
                    const Tensor& var) {
    WIN_CHECK(x.dim() == 2, ErrorKind::Internal, "layernorm: x must be (rows, D), got ", x.shape());
    const Dims d{x.size(1)}, r{x.size(0)};
    WIN_CHECK(gamma.shape() == d && beta.shape() == d && mean.shape() == r && var.shape() == r,
              ErrorKind::Internal, "layernorm: gamma ", gamma.shape(), ", beta ", beta.shape(),
              ", mean ", mean.shape(), ", var ", var.shape(), " for x ", x.shape());
    // oneDNN takes dense 1-d scale/shift/statistics.
    for (const Tensor* t : {&gamma, &beta, &mean, &var})
      WIN_CHECK(t->stride(0) == 1 || t->size(0) <= 1, ErrorKind::Internal,
                "layernorm: parameters and statistics must be contiguous");
  }

  // (Re)creates the forward primitive and memory objects when x's descriptor or eps changes.
  void rebuild(const Tensor& x, double eps) {
    const memory::desc xd = md_of(x);
    if (fwd_ && xd == data_md_ && eps == eps_) return;
    data_md_ = xd;
    eps_ = eps;
    stat_md_ = memory::desc({x.size(0)}, memory::data_type::f32, memory::format_tag::a);
    const memory::desc pmd({x.size(1)}, memory::data_type::f32, memory::format_tag::a);
    fwd_pd_ = dnnl::layer_normalization_forward::primitive_desc(
        dnnl::layer_normalization_forward::desc(prop_kind::forward_training, data_md_, stat_md_,
                                                static_cast<float>(eps), flags()),
        cpu_engine());
    fwd_ = dnnl::layer_normalization_forward(fwd_pd_);
    bwd_ = dnnl::layer_normalization_backward();
    auto mk = [&](const memory::desc& md) { return memory(md, cpu_engine(), nullptr); };
    src_ = mk(data_md_);
    dst_ = mk(data_md_);
    ddst_ = mk(data_md_);
    dsrc_ = mk(data_md_);
    mean_ = mk(stat_md_);
    var_ = mk(stat_md_);
    scale_ = mk(pmd);
    shift_ = mk(pmd);
    dscale_ = mk(pmd);
    dshift_ = mk(pmd);
  }

  static void set(memory& m, const Tensor& t) { m.set_data_handle(t.raw()); }

  memory::desc data_md_, stat_md_;
  double eps_ = 0;
  dnnl::layer_normalization_forward::primitive_desc fwd_pd_;
  dnnl::layer_normalization_forward fwd_;
  dnnl::layer_normalization_backward bwd_;
  memory src_, dst_, ddst_, dsrc_, mean_, var_, scale_, shift_, dscale_, dshift_;
  Tensor dscale_tmp_, dshift_tmp_;
};

}  // namespace

std::unique_ptr<LayerNormOp> CpuOps::layernorm() {
  return std::make_unique<CpuLayerNorm>();
}

}  // namespace win::backend
