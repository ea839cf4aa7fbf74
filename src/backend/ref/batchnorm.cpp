// Reference batch normalisation over (N, H, W) per channel, PyTorch semantics (ops.hpp): training
// normalises with the biased batch variance and moves the running statistics with the unbiased
// one. Statistics are two-pass sums in double (no E[x^2] - E[x]^2 cancellation), so the f64
// instantiation is an exact oracle; channels are independent, so they run in parallel.
#include <algorithm>
#include <cmath>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

// Indices per parallel chunk so that each chunk does at least ~32k multiply-adds: tiny problems
// (the f64 gradient checks run thousands of them) then stay on one thread instead of paying for
// a parallel region each.
int64_t grain_for(int64_t work_per_index) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(work_per_index, 1));
}

template <class T>
class RefBatchNorm final : public BatchNormOp {
 public:
  explicit RefBatchNorm(bool fuse_relu) : relu_(fuse_relu) {}

  void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                     double momentum, Tensor& running_mean, Tensor& running_var, Tensor& mean,
                     Tensor& var, Tensor& y) override {
    const int64_t c_n = check(x, y, gamma, beta, "batchnorm forward_train");
    for (const Tensor* t : {&running_mean, &running_var, &mean, &var})
      ref::check_shape(*t, {c_n}, "batchnorm forward_train statistics");
    const int64_t count = x.size(0) * x.size(2) * x.size(3);
    // PyTorch refuses too: the unbiased variance of one value is undefined.
    WIN_CHECK(count > 1, ErrorKind::Internal,
              "batchnorm: training needs more than one value per channel, got input ", x.shape());
    const ref::View<T> X(x), Y(y), G(gamma), B(beta), RM(running_mean), RV(running_var), M(mean),
        V(var);
    parallel_for(
        c_n, grain_for(3 * x.numel() / std::max<int64_t>(c_n, 1)), [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            double sum = 0;
            for_plane(x, [&](int64_t n, int64_t h, int64_t w) { sum += dbl(X(n, c, h, w)); });
            const double mu = sum / static_cast<double>(count);
            double ss = 0;
            for_plane(x, [&](int64_t n, int64_t h, int64_t w) {
              const double d = dbl(X(n, c, h, w)) - mu;
              ss += d * d;
            });
            const double v = ss / static_cast<double>(count);
            const double scale = dbl(G(c)) / std::sqrt(v + eps), shift = dbl(B(c));
            for_plane(x, [&](int64_t n, int64_t h, int64_t w) {
              Y(n, c, h, w) = act((dbl(X(n, c, h, w)) - mu) * scale + shift);
            });
            M(c) = static_cast<T>(mu);
            V(c) = static_cast<T>(v);
            const double unbiased = ss / static_cast<double>(count - 1);
            RM(c) = static_cast<T>((1 - momentum) * dbl(RM(c)) + momentum * mu);
            RV(c) = static_cast<T>((1 - momentum) * dbl(RV(c)) + momentum * unbiased);
          }
        });
  }

  void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                    const Tensor& running_mean, const Tensor& running_var, Tensor& y) override {
    const int64_t c_n = check(x, y, gamma, beta, "batchnorm forward_eval");
    ref::check_shape(running_mean, {c_n}, "batchnorm forward_eval running_mean");
    ref::check_shape(running_var, {c_n}, "batchnorm forward_eval running_var");
    const ref::View<T> X(x), Y(y), G(gamma), B(beta), RM(running_mean), RV(running_var);
    parallel_for(
        c_n, grain_for(3 * x.numel() / std::max<int64_t>(c_n, 1)), [&](int64_t c0, int64_t c1) {
          for (int64_t c = c0; c < c1; ++c) {
            const double mu = dbl(RM(c));
            const double scale = dbl(G(c)) / std::sqrt(dbl(RV(c)) + eps), shift = dbl(B(c));
            for_plane(x, [&](int64_t n, int64_t h, int64_t w) {
              Y(n, c, h, w) = act((dbl(X(n, c, h, w)) - mu) * scale + shift);
            });
          }
        });
  }

  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& gamma,
                const Tensor& mean, const Tensor& var, double eps, Tensor& dx, Tensor& dgamma,
                Tensor& dbeta) override {
    const int64_t c_n = check(x, dx, gamma, dgamma, "batchnorm backward");
    ref::check_same_shape(x, dy, "batchnorm backward dy");
    ref::check_shape(dbeta, {c_n}, "batchnorm backward dbeta");
    ref::check_shape(mean, {c_n}, "batchnorm backward mean");
    ref::check_shape(var, {c_n}, "batchnorm backward var");
    const double count = static_cast<double>(x.size(0) * x.size(2) * x.size(3));
    if (relu_) ref::check_same_shape(x, y, "batchnorm backward y");
    const ref::View<T> X(x), D(dy), GX(dx), G(gamma), M(mean), V(var), DG(dgamma), DB(dbeta);
    const T* py = relu_ ? y.data<T>() : nullptr;
    const Dims ys = y.strides();
    // dy through the fused ReLU: zero where the output was clipped.
    auto grad = [&](int64_t n, int64_t c, int64_t h, int64_t w) {
      if (py && py[n * ys[0] + c * ys[1] + h * ys[2] + w * ys[3]] <= T(0)) return 0.0;
      return dbl(D(n, c, h, w));
    };
    parallel_for(c_n, grain_for(3 * x.numel() / std::max<int64_t>(c_n, 1)),
                 [&](int64_t c0, int64_t c1) {
                   for (int64_t c = c0; c < c1; ++c) {
                     const double mu = dbl(M(c)), rstd = 1.0 / std::sqrt(dbl(V(c)) + eps);
                     double sum_dy = 0, sum_dy_xhat = 0;
                     for_plane(x, [&](int64_t n, int64_t h, int64_t w) {
                       const double g = grad(n, c, h, w);
                       sum_dy += g;
                       sum_dy_xhat += g * (dbl(X(n, c, h, w)) - mu) * rstd;
                     });
                     // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)): the gradient
                     // through the batch mean and variance as well as through the normalisation
                     // itself.
                     const double a = dbl(G(c)) * rstd;
                     const double mean_dy = sum_dy / count, mean_dy_xhat = sum_dy_xhat / count;
                     for_plane(x, [&](int64_t n, int64_t h, int64_t w) {
                       const double xhat = (dbl(X(n, c, h, w)) - mu) * rstd;
                       GX(n, c, h, w) =
                           static_cast<T>(a * (grad(n, c, h, w) - mean_dy - xhat * mean_dy_xhat));
                     });
                     DG(c) = static_cast<T>(dbl(DG(c)) + sum_dy_xhat);
                     DB(c) = static_cast<T>(dbl(DB(c)) + sum_dy);
                   }
                 });
  }

 private:
  static double dbl(T v) { return static_cast<double>(v); }
  T act(double v) const { return static_cast<T>(relu_ && v < 0 ? 0.0 : v); }
  bool relu_;

  // f(n, h, w) over one channel's plane.
  template <class F>
  static void for_plane(const Tensor& x, F&& f) {
    for (int64_t n = 0; n < x.size(0); ++n)
      for (int64_t h = 0; h < x.size(2); ++h)
        for (int64_t w = 0; w < x.size(3); ++w) f(n, h, w);
  }

  // Checks x (N,C,H,W), y like x, and two per-channel vectors; returns C.
  static int64_t check(const Tensor& x, const Tensor& y, const Tensor& a, const Tensor& b,
                       const char* what) {
    WIN_CHECK(x.dim() == 4, ErrorKind::Internal, what, ": input ", x.shape(), " is not 4-d");
    ref::check_same_shape(x, y, what);
    ref::check_shape(a, {x.size(1)}, what);
    ref::check_shape(b, {x.size(1)}, what);
    return x.size(1);
  }
};

}  // namespace

template <class T>
std::unique_ptr<BatchNormOp> RefOps<T>::batchnorm(bool fuse_relu) {
  return std::make_unique<RefBatchNorm<T>>(fuse_relu);
}
template std::unique_ptr<BatchNormOp> RefOps<float>::batchnorm(bool);
template std::unique_ptr<BatchNormOp> RefOps<double>::batchnorm(bool);

}  // namespace win::backend
