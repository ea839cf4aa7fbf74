// Reference optimizer updates on one flat parameter segment: SGD (momentum, Nesterov, coupled
// weight decay) and AdamW (decoupled weight decay), written as PyTorch's single-tensor code
// computes them, operation by operation in the parameter's precision, so f32 fixtures from
// PyTorch match to round-off. These loops are also the f32 CPU backend's updates: element-wise,
// vectorised, and threaded in fixed chunks.
#include <cmath>

#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

constexpr int64_t kGrain = 1 << 14;

void check_segment(const Tensor& p, const Tensor& t, const char* what) {
  WIN_CHECK(t.defined() && t.numel() == p.numel() && t.dtype() == p.dtype() && t.is_contiguous(),
            ErrorKind::Internal, what, ": segment of ", t.shape(), " for a parameter of ",
            p.shape(), ", expected contiguous with the same size and dtype");
}

}  // namespace

template <class T>
void RefOps<T>::sgd_update(Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
                           bool nesterov, double weight_decay, bool first_step) {
  WIN_CHECK(p.is_contiguous(), ErrorKind::Internal, "sgd_update: parameter not contiguous");
  check_segment(p, g, "sgd_update gradient");
  const bool use_buf = momentum != 0;
  if (use_buf) check_segment(p, buf, "sgd_update momentum buffer");
  T* pp = p.data<T>();
  const T* pg = g.data<T>();
  T* pb = use_buf ? buf.data<T>() : nullptr;
  const T lr_t = static_cast<T>(lr), mom = static_cast<T>(momentum);
  const T wd = static_cast<T>(weight_decay);
  const bool decay = weight_decay != 0;
  parallel_for(p.numel(), kGrain, [&](int64_t i0, int64_t i1) {
    if (!use_buf) {
#pragma omp simd
      for (int64_t i = i0; i < i1; ++i) {
        const T d = decay ? pg[i] + wd * pp[i] : pg[i];
        pp[i] = pp[i] - lr_t * d;
      }
      return;
    }
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      T d = decay ? pg[i] + wd * pp[i] : pg[i];
      const T b = first_step ? d : mom * pb[i] + d;
      pb[i] = b;
      d = nesterov ? d + mom * b : b;
      pp[i] = pp[i] - lr_t * d;
    }
  });
}

template <class T>
void RefOps<T>::adamw_update(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, double lr,
                             double beta1, double beta2, double eps, double weight_decay,
                             int64_t step) {
  WIN_CHECK(p.is_contiguous(), ErrorKind::Internal, "adamw_update: parameter not contiguous");
  WIN_CHECK(step >= 1, ErrorKind::Internal, "adamw_update: step ", step, " must be >= 1");
  check_segment(p, g, "adamw_update gradient");
  check_segment(p, m, "adamw_update first moment");
  check_segment(p, v, "adamw_update second moment");
  T* pp = p.data<T>();
  const T* pg = g.data<T>();
  T* pm = m.data<T>();
  T* pv = v.data<T>();
  const double t = static_cast<double>(step);
  const T decay = static_cast<T>(1.0 - lr * weight_decay);
  const bool decays = weight_decay != 0;
  // m.lerp_(g, 1 - b1): PyTorch's lerp takes the form that is exact at its nearer end.
  const double w = 1.0 - beta1;
  const bool low = w < 0.5;
  const T wt = static_cast<T>(w), w1 = static_cast<T>(1.0 - w);
  const T b2 = static_cast<T>(beta2), one_b2 = static_cast<T>(1.0 - beta2);
  const T step_size = static_cast<T>(lr / (1.0 - std::pow(beta1, t)));
  const T bc2_sqrt = static_cast<T>(std::sqrt(1.0 - std::pow(beta2, t)));
  const T eps_t = static_cast<T>(eps);
  parallel_for(p.numel(), kGrain, [&](int64_t i0, int64_t i1) {
#pragma omp simd
    for (int64_t i = i0; i < i1; ++i) {
      const T gi = pg[i];
      const T pi = decays ? pp[i] * decay : pp[i];
      const T mi = low ? pm[i] + wt * (gi - pm[i]) : gi - (gi - pm[i]) * w1;
      const T vi = pv[i] * b2 + one_b2 * gi * gi;
      const T denom = std::sqrt(vi) / bc2_sqrt + eps_t;
      pm[i] = mi;
      pv[i] = vi;
      pp[i] = pi - step_size * (mi / denom);
    }
  });
}

#define WIN_INSTANTIATE(T)                                                                        \
  template void RefOps<T>::sgd_update(Tensor&, const Tensor&, Tensor&, double, double, bool,      \
                                      double, bool);                                              \
  template void RefOps<T>::adamw_update(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, \
                                        double, double, double, int64_t);
WIN_INSTANTIATE(float)
WIN_INSTANTIATE(double)
#undef WIN_INSTANTIATE

}  // namespace win::backend
