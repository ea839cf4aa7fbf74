// Reference matrix products: C = alpha op(A) op(B) + beta C, 2-d or batched over leading dims.
// Accumulates in double for every T, so the f32 reference is as exact as f32 storage allows.
#include "backend/ref/ref_ops.hpp"
#include "backend/ref/strided.hpp"

namespace win::backend {

namespace {

template <class T>
void gemm2d(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) {
  const int64_t m = c.size(0), n = c.size(1);
  const int64_t k = ta ? a.size(0) : a.size(1);
  WIN_CHECK((ta ? a.size(1) : a.size(0)) == m && (tb ? b.size(1) : b.size(0)) == k &&
                (tb ? b.size(0) : b.size(1)) == n,
            ErrorKind::Internal, "gemm: op(A) ", a.shape(), (ta ? "^T" : ""), " x op(B) ",
            b.shape(), (tb ? "^T" : ""), " -> C ", c.shape(), " do not fit");
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
  WIN_CHECK(a.dim() == b.dim() && a.dim() == c.dim() && a.dim() >= 2 && a.dim() <= 4,
            ErrorKind::Internal, "gemm: ranks ", a.dim(), ", ", b.dim(), ", ", c.dim());
  if (a.dim() == 2) return gemm2d<T>(ta, tb, alpha, a, b, beta, c);
  for (int d = 0; d < a.dim() - 2; ++d)
    WIN_CHECK(a.size(d) == c.size(d) && b.size(d) == c.size(d), ErrorKind::Internal,
              "gemm: batch dims of ", a.shape(), ", ", b.shape(), ", ", c.shape(), " differ");
  for (int64_t i = 0; i < c.size(0); ++i) {
    Tensor ci = c.select(0, i);
    gemm(ta, tb, alpha, a.select(0, i), b.select(0, i), beta, ci);
  }
}

template void RefOps<float>::gemm(bool, bool, double, const Tensor&, const Tensor&, double,
                                  Tensor&);
template void RefOps<double>::gemm(bool, bool, double, const Tensor&, const Tensor&, double,
                                   Tensor&);

}  // namespace win::backend
