// Reference matrix products: C = alpha op(A) op(B) + beta C, 2-d or batched over leading dims.
// Accumulates in double for every T, so the f32 reference is as exact as f32 storage allows.
#include "backend/gemm_shapes.hpp"
#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

template <class T>
void gemm2d(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) {
  const auto [m, n, k] = gemm_dims(ta, tb, a, b, c);
  const ref::View<T> A(a), B(b), C(c);
  parallel_for(m, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t l = 0; l < k; ++l)
          s += static_cast<double>(ta ? A(l, i) : A(i, l)) *
               static_cast<double>(tb ? B(j, l) : B(l, j));
        const double old = beta == 0 ? 0.0 : beta * static_cast<double>(C(i, j));
        C(i, j) = static_cast<T>(alpha * s + old);
      }
  });
}

}  // namespace

template <class T>
void RefOps<T>::gemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
                     Tensor& c) {
  for_each_gemm(a, b, c, [&](const Tensor& ai, const Tensor& bi, Tensor& ci) {
    gemm2d<T>(ta, tb, alpha, ai, bi, beta, ci);
  });
}

template void RefOps<float>::gemm(bool, bool, double, const Tensor&, const Tensor&, double,
                                  Tensor&);
template void RefOps<double>::gemm(bool, bool, double, const Tensor&, const Tensor&, double,
                                   Tensor&);

}  // namespace win::backend
