// f32 matrix products on oneDNN's sgemm (row-major BLAS interface). Rows may be padded (leading
// dimension = row stride); a matrix without unit column stride is first copied. Batched products
// loop over the batch with one threaded sgemm each.
#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"

namespace win::backend {

namespace {

// A view with unit column stride (a copy when t has none).
Tensor unit_col(const Tensor& t) {
  return t.stride(1) == 1 && t.stride(0) >= t.size(1) ? t : t.contiguous();
}

void sgemm2d(bool ta, bool tb, double alpha, const Tensor& a0, const Tensor& b0, double beta,
             Tensor& c) {
  const int64_t m = c.size(0), n = c.size(1);
  const int64_t k = ta ? a0.size(0) : a0.size(1);
  WIN_CHECK((ta ? a0.size(1) : a0.size(0)) == m && (tb ? b0.size(1) : b0.size(0)) == k &&
                (tb ? b0.size(0) : b0.size(1)) == n,
            ErrorKind::Internal, "gemm: op(A) ", a0.shape(), (ta ? "^T" : ""), " x op(B) ",
            b0.shape(), (tb ? "^T" : ""), " -> C ", c.shape(), " do not fit");
  WIN_CHECK(c.stride(1) == 1 && c.stride(0) >= n, ErrorKind::Internal,
            "gemm: C needs unit column stride, got strides ", c.strides());
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta * C
    float* pc = c.data<float>();
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        pc[i * c.stride(0) + j] =
            beta == 0 ? 0.0f : static_cast<float>(beta) * pc[i * c.stride(0) + j];
    return;
  }
  const Tensor a = unit_col(a0), b = unit_col(b0);
  WIN_DNNL_CHECK(dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, static_cast<float>(alpha),
                            a.data<float>(), std::max<int64_t>(a.stride(0), 1), b.data<float>(),
                            std::max<int64_t>(b.stride(0), 1), static_cast<float>(beta),
                            c.data<float>(), std::max<int64_t>(c.stride(0), 1)));
}

}  // namespace

void CpuOps::gemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
                  Tensor& c) {
  WIN_CHECK(a.dim() == b.dim() && a.dim() == c.dim() && a.dim() >= 2 && a.dim() <= 4,
            ErrorKind::Internal, "gemm: ranks ", a.dim(), ", ", b.dim(), ", ", c.dim());
  if (a.dim() == 2) return sgemm2d(ta, tb, alpha, a, b, beta, c);
  for (int d = 0; d < a.dim() - 2; ++d)
    WIN_CHECK(a.size(d) == c.size(d) && b.size(d) == c.size(d), ErrorKind::Internal,
              "gemm: batch dims of ", a.shape(), ", ", b.shape(), ", ", c.shape(), " differ");
  for (int64_t i = 0; i < c.size(0); ++i) {
    Tensor ci = c.select(0, i);
    gemm(ta, tb, alpha, a.select(0, i), b.select(0, i), beta, ci);
  }
}

}  // namespace win::backend
