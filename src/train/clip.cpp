// Gradient-norm clipping and finiteness checks (see clip.hpp).
#include "train/clip.hpp"

#include <cmath>

#include "backend/ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::train {

double grad_norm(nn::ParamStore& store) {
  Tensor& g = store.grads();
  if (!g.defined() || g.numel() == 0) return 0.0;
  return std::sqrt(backend::ops_for(g).sum_squares(g));
}

double clip_grad_norm(nn::ParamStore& store, double max_norm) {
  const double norm = grad_norm(store);
  if (max_norm <= 0 || !std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef < 1.0) backend::ops_for(store.grads()).scale(coef, store.grads());
  return norm;
}

namespace {
template <class T>
bool finite_values(const Tensor& t) {
  const T* p = t.data<T>();
  const double bad = backend::ref::chunked_sum(
      t.numel(), [p](int64_t i) { return std::isfinite(p[i]) ? 0.0 : 1.0; });
  return bad == 0;
}
}  // namespace

bool all_finite(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return true;
  WIN_CHECK(t.is_contiguous(), ErrorKind::Internal, "all_finite of a non-contiguous tensor");
  // On a device: one reduction, no copy to the host; a NaN or an infinity makes the sum of
  // squares non-finite (so can a finite value above ~1e154, which no training survives anyway).
  if (t.device() != Device::CPU) return std::isfinite(backend::ops_for(t).sum_squares(t));
  if (t.dtype() == DType::F32) return finite_values<float>(t);
  if (t.dtype() == DType::F64) return finite_values<double>(t);
  WIN_FAIL(ErrorKind::Internal, "all_finite of a ", dtype_name(t.dtype()), " tensor");
}

bool grads_finite(nn::ParamStore& store) {
  return all_finite(store.grads());
}

}  // namespace win::train
