// Spatial batch normalisation: channels-last fp32 or bf16 activations (what win's convolutions
// make) on own kernels (kernels/batchnorm_nhwc.cuh: cuDNN's batch-norm API below is tuned for
// NCHW and public reports find it several times slower on NHWC), everything else (fp32 only) on
// cuDNN's batch-norm API (cudnnBatchNormalizationForwardTraining, ForwardInference, Backward
// with CUDNN_BATCHNORM_SPATIAL), adapted to the op table's contract:
//
// - Statistics. The op must output the batch mean and the BIASED batch variance, and move the
//   running statistics with PyTorch's rule (the unbiased variance). cuDNN outputs only a saved
//   mean and inverse standard deviation 1/sqrt(var + eps) (named "inv variance"), and updates
//   running statistics as running = factor * batch + (1 - factor) * running, where its batch
//   variance is the unbiased one: PyTorch's cuDNN path passes its running_var and momentum
//   straight through for exactly that reason. So the cuDNN training forward is run with factor 1 on
//   the op's own mean and var outputs (zeroed first: 0 * NaN from uninitialised memory would
//   poison them), which leaves mean = batch mean and var = unbiased batch variance; then
//   running = momentum * batch + (1 - momentum) * running (cudnnAddTensor), and var is scaled by
//   (n - 1) / n to the biased variance.
// - Backward takes mean and var from the caller (the layer's eval-mode backward passes the
//   running statistics), so cuDNN's saved inverse std is recomputed from var: a cuDNN inference
//   forward over a (1, C, 1, 1) tensor of ones with mean 0, scale 1, shift 0 and variance var
//   gives exactly 1 / sqrt(var + eps). Parameter gradients accumulate through the backward's
//   beta = 1 for them.
// - fuse_relu: the forward applies cudnnActivationForward in place on y, and backward first
//   masks dy by y > 0 with cudnnActivationBackward into a buffer owned here. (cuDNN's fused
//   BN_ACTIVATION op is limited to NHWC half-precision persistent kernels; one extra pass over y
//   is the price of taking f32 and any layout.)
#include "backend/cuda/cudnn_batchnorm.hpp"

#include <array>
#include <initializer_list>
#include <vector>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/op_timer.hpp"
#include "batchnorm_nhwc.cuh"

namespace win::backend {

namespace {

constexpr float kOne = 1.0f, kZero = 0.0f;

// Descriptors of a call's activation tensors (in the order given) and the per-channel descriptor
// cuDNN derives from the first, rebuilt only when a dtype, shape or stride changes.
struct Described {
  std::vector<int64_t> key;
  std::array<TensorDesc, 5> t;
  TensorDesc channel;

  void describe(std::initializer_list<const Tensor*> ts) {
    std::vector<int64_t> k;
    for (const Tensor* x : ts) append_key(k, *x);
    if (k == key) return;
    key.clear();  // stays invalid if a descriptor below fails
    const bool nhwc = channels_last(**ts.begin(), true);
    size_t i = 0;
    for (const Tensor* x : ts) set_tensor_desc(t[i++], *x, nhwc);
    WIN_CUDNN_CALL(cudnnDeriveBNTensorDescriptor(channel, t[0], CUDNN_BATCHNORM_SPATIAL));
    key = std::move(k);
  }
};

void check(const Tensor& x, const Tensor& y, std::initializer_list<const Tensor*> per_channel,
           const char* what) {
  check_on_device(x, what);
  check_on_device(y, what);
  WIN_CHECK(x.dim() == 4 && y.shape() == x.shape() && y.dtype() == x.dtype(), ErrorKind::Internal,
            what, ": x ", x.shape(), ' ', dtype_name(x.dtype()), ", output ", y.shape(), ' ',
            dtype_name(y.dtype()));
  for (const Tensor* t : per_channel) {
    check_on_device(*t, what);
    WIN_CHECK(t->shape() == Dims{x.size(1)} && (x.size(1) == 1 || t->stride(0) == 1) &&
                  t->dtype() == DType::F32,
              ErrorKind::Internal, what, ": per-channel tensor ", t->shape(), ' ',
              dtype_name(t->dtype()), " for input ", x.shape(), " (f32 vectors of unit stride)");
  }
}

class CudnnBatchNorm final : public BatchNormOp {
 public:
  explicit CudnnBatchNorm(bool fuse_relu) : relu_(fuse_relu) {
    if (relu_)
      WIN_CUDNN_CALL(
          cudnnSetActivationDescriptor(act_, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0.0));
  }

  void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                     double momentum, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                     Tensor& var, Tensor& y) override {
    WIN_CUDA_TIMED("batchnorm.forward_train");
    check(x, y, {&gamma, &beta, &running_mean, &running_var, &mean, &var},
          "batchnorm forward_train");
    const int64_t count = x.size(0) * x.size(2) * x.size(3);
    // PyTorch refuses too: the unbiased variance of one value is undefined.
    WIN_CHECK(count > 1, ErrorKind::Internal,
              "batchnorm: training needs more than one value per channel, got input ", x.shape());
    CudaContext& ctx = cuda_context();
    beta_ = beta;  // the backward recomputes the ReLU's mask from x with it
    if (own_kernels({&x, &y})) {
      const int64_t c = x.size(1);
      void* scratch = ctx.workspace(kernels::bn_nhwc_scratch_bytes(count, c));
      if (x.dtype() == DType::BF16)
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_train_bf16(
            h16(x), nullptr, count, c, f(gamma), f(beta), eps, momentum, f(running_mean),
            f(running_var), f(mean), f(var), h16(y), relu_, scratch, ctx.stream()));
      else
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_train_f32(
            f(x), nullptr, count, c, f(gamma), f(beta), eps, momentum, f(running_mean),
            f(running_var), f(mean), f(var), f(y), relu_, scratch, ctx.stream()));
      return;
    }
    refuse_bf16(x, "batchnorm forward_train");
    cudnnHandle_t h = ctx.cudnn();
    train_.describe({&x, &y});
    const TensorDesc &xd = train_.t[0], &yd = train_.t[1], &cd = train_.channel;
    const size_t bytes = static_cast<size_t>(x.size(1)) * sizeof(float);
    WIN_CUDA_CHECK(cudaMemsetAsync(mean.raw(), 0, bytes, ctx.stream()));
    WIN_CUDA_CHECK(cudaMemsetAsync(var.raw(), 0, bytes, ctx.stream()));
    // Factor 1: mean <- batch mean, var <- unbiased batch variance (see the top comment).
    WIN_CUDNN_CALL(cudnnBatchNormalizationForwardTraining(
        h, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd, x.raw(), yd, y.raw(), cd, gamma.raw(),
        beta.raw(), 1.0, mean.raw(), var.raw(), eps, nullptr, nullptr));
    const auto m = static_cast<float>(momentum), keep = static_cast<float>(1 - momentum);
    WIN_CUDNN_CALL(cudnnAddTensor(h, &m, cd, mean.raw(), &keep, cd, running_mean.raw()));
    WIN_CUDNN_CALL(cudnnAddTensor(h, &m, cd, var.raw(), &keep, cd, running_var.raw()));
    const auto biased = static_cast<float>(static_cast<double>(count - 1) / count);
    WIN_CUDNN_CALL(cudnnScaleTensor(h, cd, var.raw(), &biased));
    if (relu_)
      WIN_CUDNN_CALL(cudnnActivationForward(h, act_, &kOne, yd, y.raw(), &kZero, yd, y.raw()));
  }

  // The residual form on the NHWC kernels (the residual read in the output pass, the
  // shortcut's gradient written in the dx pass); cuDNN's path composes.
  bool forward_train_add_relu(const Tensor& x, const Tensor& r, const Tensor& gamma,
                              const Tensor& beta, double eps, double momentum, Tensor& running_mean,
                              Tensor& running_var, Tensor& mean, Tensor& var, Tensor& y) override {
    check_on_device(r, "batchnorm forward_train_add_relu");
    WIN_CHECK(r.shape() == x.shape(), ErrorKind::Internal,
              "batchnorm forward_train_add_relu: residual ", r.shape(), " for input ", x.shape());
    if (relu_ || !own_kernels({&x, &r, &y}) || r.strides() != x.strides() ||
        y.strides() != x.strides() || r.dtype() != x.dtype())
      return false;
    WIN_CUDA_TIMED("batchnorm.forward_train_add_relu");
    check(x, y, {&gamma, &beta, &running_mean, &running_var, &mean, &var},
          "batchnorm forward_train_add_relu");
    const int64_t count = x.size(0) * x.size(2) * x.size(3), c = x.size(1);
    WIN_CHECK(count > 1, ErrorKind::Internal,
              "batchnorm: training needs more than one value per channel, got input ", x.shape());
    CudaContext& ctx = cuda_context();
    void* scratch = ctx.workspace(kernels::bn_nhwc_scratch_bytes(count, c));
    if (x.dtype() == DType::BF16)
      WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_train_bf16(
          h16(x), h16(r), count, c, f(gamma), f(beta), eps, momentum, f(running_mean),
          f(running_var), f(mean), f(var), h16(y), true, scratch, ctx.stream()));
    else
      WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_train_f32(
          f(x), f(r), count, c, f(gamma), f(beta), eps, momentum, f(running_mean), f(running_var),
          f(mean), f(var), f(y), true, scratch, ctx.stream()));
    return true;
  }

  bool backward_add_relu(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& gamma,
                         const Tensor& mean, const Tensor& var, double eps, Tensor& dx, Tensor& dr,
                         Tensor& dgamma, Tensor& dbeta) override {
    if (relu_ || !own_kernels({&x, &y, &dy, &dx, &dr})) return false;
    for (const Tensor* t : std::initializer_list<const Tensor*>{&y, &dy, &dx, &dr})
      if (t->strides() != x.strides() || t->dtype() != x.dtype()) return false;
    WIN_CUDA_TIMED("batchnorm.backward_add_relu");
    check(x, dx, {&gamma, &mean, &var, &dgamma, &dbeta}, "batchnorm backward_add_relu");
    CudaContext& ctx = cuda_context();
    const int64_t rows = x.size(0) * x.size(2) * x.size(3), c = x.size(1);
    void* scratch = ctx.workspace(kernels::bn_nhwc_scratch_bytes(rows, c));
    // The mask from y: the residual is not at hand to recompute it from x.
    if (x.dtype() == DType::BF16)
      WIN_CUDA_CHECK(kernels::launch_bn_nhwc_backward_bf16(
          h16(x), h16(y), nullptr, h16(dy), rows, c, f(gamma), f(mean), f(var), eps, h16(dx),
          h16(dr), f(dgamma), f(dbeta), scratch, ctx.stream()));
    else
      WIN_CUDA_CHECK(kernels::launch_bn_nhwc_backward_f32(
          f(x), f(y), nullptr, f(dy), rows, c, f(gamma), f(mean), f(var), eps, f(dx), f(dr),
          f(dgamma), f(dbeta), scratch, ctx.stream()));
    return true;
  }

  void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                    const Tensor& running_mean, const Tensor& running_var, Tensor& y) override {
    WIN_CUDA_TIMED("batchnorm.forward_eval");
    check(x, y, {&gamma, &beta, &running_mean, &running_var}, "batchnorm forward_eval");
    CudaContext& ctx = cuda_context();
    if (own_kernels({&x, &y})) {
      const int64_t rows = x.size(0) * x.size(2) * x.size(3), c = x.size(1);
      void* scratch = ctx.workspace(kernels::bn_nhwc_eval_scratch_bytes(c));
      if (x.dtype() == DType::BF16)
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_eval_bf16(
            h16(x), rows, c, f(gamma), f(beta), eps, f(running_mean), f(running_var), h16(y), relu_,
            scratch, ctx.stream()));
      else
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_forward_eval_f32(
            f(x), rows, c, f(gamma), f(beta), eps, f(running_mean), f(running_var), f(y), relu_,
            scratch, ctx.stream()));
      return;
    }
    refuse_bf16(x, "batchnorm forward_eval");
    eval_.describe({&x, &y});
    const TensorDesc &xd = eval_.t[0], &yd = eval_.t[1];
    WIN_CUDNN_CALL(cudnnBatchNormalizationForwardInference(
        ctx.cudnn(), CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, xd, x.raw(), yd, y.raw(),
        eval_.channel, gamma.raw(), beta.raw(), running_mean.raw(), running_var.raw(), eps));
    if (relu_)
      WIN_CUDNN_CALL(
          cudnnActivationForward(ctx.cudnn(), act_, &kOne, yd, y.raw(), &kZero, yd, y.raw()));
  }

  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& gamma,
                const Tensor& mean, const Tensor& var, double eps, Tensor& dx, Tensor& dgamma,
                Tensor& dbeta) override {
    WIN_CUDA_TIMED("batchnorm.backward");
    check(x, dx, {&gamma, &mean, &var, &dgamma, &dbeta}, "batchnorm backward");
    check(x, dy, {}, "batchnorm backward (dy)");
    if (relu_) check(x, y, {}, "batchnorm backward (y)");
    CudaContext& ctx = cuda_context();
    if (own_kernels({&x, &dy, &dx}) && (!relu_ || own_kernels({&y}))) {
      const int64_t rows = x.size(0) * x.size(2) * x.size(3), c = x.size(1);
      void* scratch = ctx.workspace(kernels::bn_nhwc_scratch_bytes(rows, c));
      // With the fused ReLU the mask comes from x and the forward's beta (y is not read).
      const bool from_x = relu_ && beta_.defined();
      const float* fb = from_x ? f(beta_) : nullptr;
      if (x.dtype() == DType::BF16)
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_backward_bf16(
            h16(x), relu_ && !from_x ? h16(y) : nullptr, fb, h16(dy), rows, c, f(gamma), f(mean),
            f(var), eps, h16(dx), nullptr, f(dgamma), f(dbeta), scratch, ctx.stream()));
      else
        WIN_CUDA_CHECK(kernels::launch_bn_nhwc_backward_f32(
            f(x), relu_ && !from_x ? f(y) : nullptr, fb, f(dy), rows, c, f(gamma), f(mean), f(var),
            eps, f(dx), nullptr, f(dgamma), f(dbeta), scratch, ctx.stream()));
      return;
    }
    refuse_bf16(x, "batchnorm backward");
    cudnnHandle_t h = ctx.cudnn();
    const void* inv_std = inverse_std(var, eps, ctx);
    const void* g = dy.raw();
    if (relu_) {
      if (!masked_.defined() || masked_.shape() != dy.shape() || masked_.dtype() != dy.dtype())
        masked_ = empty_like(dy, cuda_allocator());
      bwd_.describe({&x, &dy, &dx, &y, &masked_});
      // dz = dy where y > 0: ReLU's backward from its output (x = y is as good for the mask).
      WIN_CUDNN_CALL(cudnnActivationBackward(h, act_, &kOne, bwd_.t[3], y.raw(), bwd_.t[1],
                                             dy.raw(), bwd_.t[3], y.raw(), &kZero, bwd_.t[4],
                                             masked_.raw()));
      g = masked_.raw();
    } else {
      bwd_.describe({&x, &dy, &dx});
    }
    const TensorDesc& gd = relu_ ? bwd_.t[4] : bwd_.t[1];
    // Data: dx = 1 * result + 0 * dx; parameters: dgamma, dbeta = 1 * result + 1 * old.
    WIN_CUDNN_CALL(cudnnBatchNormalizationBackward(
        h, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, &kOne, &kOne, bwd_.t[0], x.raw(), gd, g,
        bwd_.t[2], dx.raw(), bwd_.channel, gamma.raw(), dgamma.raw(), dbeta.raw(), eps, mean.raw(),
        inv_std));
  }

 private:
  // Channels-last fp32 activations go to kernels/batchnorm_nhwc (cuDNN's batch-norm API is slow
  // on NHWC); other layouts and dtypes to cuDNN.
  // (packed_as: NHWC memory order, size-1 dimensions' strides ignored, so (N, C, 1, 1) counts.)
  // bf16 activations (all of one call's in bf16) too; check() has made their dtypes equal.
  static bool own_kernels(std::initializer_list<const Tensor*> ts) {
    for (const Tensor* t : ts)
      if ((t->dtype() != DType::F32 && t->dtype() != DType::BF16) || !packed_as(*t, true))
        return false;
    const Tensor& x = **ts.begin();
    return kernels::bn_nhwc_supported(x.size(0) * x.size(2) * x.size(3), x.size(1));
  }
  // bf16 activations come from convolutions, which make them channels-last: only the own
  // kernels take them.
  static void refuse_bf16(const Tensor& x, const char* what) {
    WIN_CHECK(x.dtype() != DType::BF16, ErrorKind::Internal, what, ": bf16 activations ", x.shape(),
              " with strides ", x.strides(),
              " are not channels-last (only the NHWC kernels take bf16)");
  }
  static float* f(const Tensor& t) { return static_cast<float*>(t.raw()); }
  static __nv_bfloat16* h16(const Tensor& t) { return static_cast<__nv_bfloat16*>(t.raw()); }

  // 1 / sqrt(var + eps) per channel, into the owned stats_ (see the top comment).
  const void* inverse_std(const Tensor& var, double eps, CudaContext& ctx) {
    const int64_t c = var.size(0);
    cudnnHandle_t h = ctx.cudnn();
    if (!stats_.defined() || stats_.size(1) != c) {
      stats_ = Tensor::empty({3, c}, DType::F32, cuda_allocator());  // ones, zeros, inverse std
      set_channel_desc(chan_, c, DType::F32);
      WIN_CUDNN_CALL(cudnnSetTensor(h, chan_, stats_.select(0, 0).raw(), &kOne));
      WIN_CUDNN_CALL(cudnnSetTensor(h, chan_, stats_.select(0, 1).raw(), &kZero));
    }
    const void* ones = stats_.select(0, 0).raw();
    const void* zeros = stats_.select(0, 1).raw();
    void* inv_std = stats_.select(0, 2).raw();
    // y = scale * (x - mean) / sqrt(var + eps) + shift with x = 1, mean = 0, scale = 1, shift = 0.
    WIN_CUDNN_CALL(cudnnBatchNormalizationForwardInference(
        h, CUDNN_BATCHNORM_SPATIAL, &kOne, &kZero, chan_, ones, chan_, inv_std, chan_, ones, zeros,
        zeros, var.raw(), eps));
    return inv_std;
  }

  bool relu_;
  ActivationDesc act_;
  Described train_, eval_, bwd_;
  Tensor masked_;  // dy masked by the fused ReLU
  Tensor beta_;    // the last forward_train's beta (a parameter: unchanged until after backward)
  Tensor stats_;   // (3, C) f32: ones, zeros, inverse std
  TensorDesc chan_;
};

}  // namespace

std::unique_ptr<BatchNormOp> make_cuda_batchnorm(bool fuse_relu) {
  return std::make_unique<CudnnBatchNorm>(fuse_relu);
}

}  // namespace win::backend
