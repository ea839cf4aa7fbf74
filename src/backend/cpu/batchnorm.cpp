// f32 batch normalisation on oneDNN's batch_normalization primitives: training forward (scale
// and shift as separate memories, batch mean and biased variance as outputs), inference forward
// with the running statistics (use_global_stats) and the full backward (prop_kind::backward,
// giving diff scale and shift). oneDNN does not move running statistics, so forward_train does
// that here with PyTorch's unbiased factor n / (n - 1). oneDNN uses one descriptor for x and y
// (and for dy and dx), so an output or dy in another layout goes through a temporary in x's
// layout; win's layers never need it. Primitives are rebuilt only when the descriptors or eps
// change.
#include <cmath>
#include <unordered_map>

#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"
#include "core/log.hpp"

namespace win::backend {

namespace {

using dnnl::memory;
using dnnl::normalization_flags;
using dnnl::prop_kind;
using Args = std::unordered_map<int, memory>;

memory bind(const memory::desc& d) {
  return memory(d, cpu_engine(), DNNL_MEMORY_NONE);
}

// t itself when it has x's layout, else a fresh tensor in x's layout (holding t's values when
// `copy`).
Tensor in_layout_of(const Tensor& x, const Tensor& t, bool copy) {
  if (t.strides() == x.strides()) return t;
  Tensor u = empty_like(x);
  if (copy) u.copy_from(t);
  return u;
}

void check(const Tensor& x, const Tensor& y, std::initializer_list<const Tensor*> per_channel,
           const char* what) {
  WIN_CHECK(x.dim() == 4 && y.shape() == x.shape(), ErrorKind::Internal, what, ": x ", x.shape(),
            ", y ", y.shape());
  for (const Tensor* t : per_channel)
    WIN_CHECK(t->shape() == Dims{x.size(1)} && t->stride(0) == 1, ErrorKind::Internal, what,
              ": per-channel tensor ", t->shape(), " for input ", x.shape());
}

class CpuBatchNorm final : public BatchNormOp {
 public:
  explicit CpuBatchNorm(bool fuse_relu)
      : flags_(normalization_flags::use_scale | normalization_flags::use_shift |
               (fuse_relu ? normalization_flags::fuse_norm_relu : normalization_flags::none)),
        relu_(fuse_relu) {}

  void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                     double momentum, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                     Tensor& var, Tensor& y) override {
    check(x, y, {&gamma, &beta, &running_mean, &running_var, &mean, &var},
          "batchnorm forward_train");
    const int64_t count = x.size(0) * x.size(2) * x.size(3);
    // PyTorch refuses too: the unbiased variance of one value is undefined.
    WIN_CHECK(count > 1, ErrorKind::Internal,
              "batchnorm: training needs more than one value per channel, got input ", x.shape());
    Tensor out = in_layout_of(x, y, false);
    dnnl_call("batch_normalization forward_train", [&] {
      const memory::desc xd = md_of(x);
      const auto e = static_cast<float>(eps);
      if (!train_ || xd != t_x_ || e != t_eps_) {
        const auto pd = pd_train(xd, e);
        train_ = dnnl::batch_normalization_forward(pd);
        // The fused ReLU's mask: written by the training forward, read by backward.
        if (relu_) workspace_ = memory(pd.workspace_desc(), cpu_engine());
        t_args_ = {{DNNL_ARG_SRC, bind(xd)},
                   {DNNL_ARG_DST, bind(xd)},
                   {DNNL_ARG_SCALE, bind(pd.weights_desc())},
                   {DNNL_ARG_SHIFT, bind(pd.weights_desc())},
                   {DNNL_ARG_MEAN, bind(pd.mean_desc())},
                   {DNNL_ARG_VARIANCE, bind(pd.variance_desc())}};
        if (relu_) t_args_[DNNL_ARG_WORKSPACE] = workspace_;
        t_x_ = xd, t_eps_ = e;
        log_debug("oneDNN batch_normalization forward ", x.shape(), ": ", pd.impl_info_str());
      }
      set(t_args_, {{DNNL_ARG_SRC, &x},
                    {DNNL_ARG_DST, &out},
                    {DNNL_ARG_SCALE, &gamma},
                    {DNNL_ARG_SHIFT, &beta},
                    {DNNL_ARG_MEAN, &mean},
                    {DNNL_ARG_VARIANCE, &var}});
      train_.execute(cpu_stream(), t_args_);
    });
    if (!out.shares_storage(y)) y.copy_from(out);
    const float* m = mean.data<float>();
    const float* v = var.data<float>();
    float* rm = running_mean.data<float>();
    float* rv = running_var.data<float>();
    const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
    for (int64_t c = 0; c < x.size(1); ++c) {
      rm[c] = static_cast<float>((1 - momentum) * rm[c] + momentum * m[c]);
      rv[c] = static_cast<float>((1 - momentum) * rv[c] + momentum * unbias * v[c]);
    }
  }

  void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                    const Tensor& running_mean, const Tensor& running_var, Tensor& y) override {
    check(x, y, {&gamma, &beta, &running_mean, &running_var}, "batchnorm forward_eval");
    Tensor out = in_layout_of(x, y, false);
    dnnl_call("batch_normalization forward_eval", [&] {
      const memory::desc xd = md_of(x);
      const auto e = static_cast<float>(eps);
      if (!eval_ || xd != e_x_ || e != e_eps_) {
        const dnnl::batch_normalization_forward::primitive_desc pd(
            {prop_kind::forward_inference, xd, e, flags_ | normalization_flags::use_global_stats},
            cpu_engine());
        eval_ = dnnl::batch_normalization_forward(pd);
        e_args_ = {{DNNL_ARG_SRC, bind(xd)},
                   {DNNL_ARG_DST, bind(xd)},
                   {DNNL_ARG_SCALE, bind(pd.weights_desc())},
                   {DNNL_ARG_SHIFT, bind(pd.weights_desc())},
                   {DNNL_ARG_MEAN, bind(pd.mean_desc())},
                   {DNNL_ARG_VARIANCE, bind(pd.variance_desc())}};
        e_x_ = xd, e_eps_ = e;
      }
      set(e_args_, {{DNNL_ARG_SRC, &x},
                    {DNNL_ARG_DST, &out},
                    {DNNL_ARG_SCALE, &gamma},
                    {DNNL_ARG_SHIFT, &beta},
                    {DNNL_ARG_MEAN, &running_mean},
                    {DNNL_ARG_VARIANCE, &running_var}});
      eval_.execute(cpu_stream(), e_args_);
    });
    if (!out.shares_storage(y)) y.copy_from(out);
  }

  // y is not read: the fused ReLU's mask comes from the workspace of the training forward.
  void backward(const Tensor& x, const Tensor&, const Tensor& dy0, const Tensor& gamma,
                const Tensor& mean, const Tensor& var, double eps, Tensor& dx, Tensor& dgamma,
                Tensor& dbeta) override {
    WIN_CHECK(!relu_ || (train_ && md_of(x) == t_x_), ErrorKind::Internal,
              "batchnorm+relu backward needs the training forward of the same input first");
    check(x, dx, {&gamma, &mean, &var, &dgamma, &dbeta}, "batchnorm backward");
    WIN_CHECK(dy0.shape() == x.shape(), ErrorKind::Internal, "batchnorm backward: dy ", dy0.shape(),
              " for x ", x.shape());
    const Tensor dy = in_layout_of(x, dy0, true);
    Tensor out = in_layout_of(x, dx, false);
    const int64_t c_n = x.size(1);
    dnnl_call("batch_normalization backward", [&] {
      const memory::desc xd = md_of(x);
      const auto e = static_cast<float>(eps);
      if (!bwd_ || xd != b_x_ || e != b_eps_) {
        const auto hint = pd_train(xd, e);
        const dnnl::batch_normalization_backward::primitive_desc pd(
            {prop_kind::backward, xd, xd, e, flags_}, cpu_engine(), hint);
        bwd_ = dnnl::batch_normalization_backward(pd);
        // diff scale/shift go to owned buffers, then are added: the gradients accumulate.
        dscale_ = memory(pd.diff_weights_desc(), cpu_engine());
        dshift_ = memory(pd.diff_weights_desc(), cpu_engine());
        b_args_ = {{DNNL_ARG_SRC, bind(xd)},
                   {DNNL_ARG_DIFF_DST, bind(xd)},
                   {DNNL_ARG_DIFF_SRC, bind(xd)},
                   {DNNL_ARG_SCALE, bind(pd.weights_desc())},
                   // oneDNN 2.6 counts SHIFT among backward's inputs under use_shift (and
                   // rejects the call without it) though dx never depends on beta: a dummy.
                   {DNNL_ARG_SHIFT, memory(pd.weights_desc(), cpu_engine())},
                   {DNNL_ARG_MEAN, bind(pd.mean_desc())},
                   {DNNL_ARG_VARIANCE, bind(pd.variance_desc())},
                   {DNNL_ARG_DIFF_SCALE, dscale_},
                   {DNNL_ARG_DIFF_SHIFT, dshift_}};
        if (relu_) b_args_[DNNL_ARG_WORKSPACE] = workspace_;
        b_x_ = xd, b_eps_ = e;
        log_debug("oneDNN batch_normalization backward ", x.shape(), ": ", pd.impl_info_str());
      }
      set(b_args_, {{DNNL_ARG_SRC, &x},
                    {DNNL_ARG_DIFF_DST, &dy},
                    {DNNL_ARG_DIFF_SRC, &out},
                    {DNNL_ARG_SCALE, &gamma},
                    {DNNL_ARG_MEAN, &mean},
                    {DNNL_ARG_VARIANCE, &var}});
      bwd_.execute(cpu_stream(), b_args_);
    });
    if (!out.shares_storage(dx)) dx.copy_from(out);
    const auto* gs = static_cast<const float*>(dscale_.get_data_handle());
    const auto* gb = static_cast<const float*>(dshift_.get_data_handle());
    float* pg = dgamma.data<float>();
    float* pb = dbeta.data<float>();
    for (int64_t c = 0; c < c_n; ++c) {
      pg[c] += gs[c];
      pb[c] += gb[c];
    }
  }

 private:
  dnnl::batch_normalization_forward::primitive_desc pd_train(const memory::desc& xd,
                                                             float eps) const {
    return {{prop_kind::forward_training, xd, eps, flags_}, cpu_engine()};
  }

  static void set(Args& args, std::initializer_list<std::pair<int, const Tensor*>> ts) {
    for (const auto& [arg, t] : ts) args[arg].set_data_handle(t->raw());
  }

  normalization_flags flags_;
  bool relu_;
  memory workspace_;
  dnnl::batch_normalization_forward train_, eval_;
  memory::desc t_x_, e_x_;
  float t_eps_ = 0, e_eps_ = 0;
  Args t_args_, e_args_;

  dnnl::batch_normalization_backward bwd_;
  memory::desc b_x_;
  float b_eps_ = 0;
  memory dscale_, dshift_;
  Args b_args_;
};

}  // namespace

std::unique_ptr<BatchNormOp> CpuOps::batchnorm(bool fuse_relu) {
  return std::make_unique<CpuBatchNorm>(fuse_relu);
}

}  // namespace win::backend
