// Shape rules of the op table's gemm, shared by every backend: the (m, n, k) of a 2-d product
// with its checks, and the loop over the leading batch dimensions of a batched one.
#pragma once

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace win::backend {

struct GemmDims {
  int64_t m, n, k;
};

// C (m, n) = op(A) (m, k) op(B) (k, n); an internal error when the shapes do not fit.
inline GemmDims gemm_dims(bool ta, bool tb, const Tensor& a, const Tensor& b, const Tensor& c) {
  const GemmDims d{c.size(0), c.size(1), ta ? a.size(0) : a.size(1)};
  WIN_CHECK((ta ? a.size(1) : a.size(0)) == d.m && (tb ? b.size(1) : b.size(0)) == d.k &&
                (tb ? b.size(0) : b.size(1)) == d.n,
            ErrorKind::Internal, "gemm: op(A) ", a.shape(), (ta ? "^T" : ""), " x op(B) ",
            b.shape(), (tb ? "^T" : ""), " -> C ", c.shape(), " do not fit");
  return d;
}

// Calls gemm2d(a_i, b_i, c_i) for every matrix of same-batched 2-d, 3-d or 4-d operands.
template <class Gemm2d>
void for_each_gemm(const Tensor& a, const Tensor& b, Tensor& c, Gemm2d&& gemm2d) {
  WIN_CHECK(a.dim() == b.dim() && a.dim() == c.dim() && a.dim() >= 2 && a.dim() <= 4,
            ErrorKind::Internal, "gemm: ranks ", a.dim(), ", ", b.dim(), ", ", c.dim());
  if (a.dim() == 2) return gemm2d(a, b, c);
  for (int d = 0; d < a.dim() - 2; ++d)
    WIN_CHECK(a.size(d) == c.size(d) && b.size(d) == c.size(d), ErrorKind::Internal,
              "gemm: batch dims of ", a.shape(), ", ", b.shape(), ", ", c.shape(), " differ");
  for (int64_t i = 0; i < c.size(0); ++i) {
    Tensor ci = c.select(0, i);
    for_each_gemm(a.select(0, i), b.select(0, i), ci, gemm2d);
  }
}

}  // namespace win::backend
