// f32 matrix products on oneDNN's sgemm (row-major BLAS interface). Rows may be padded (leading
// dimension = row stride); a matrix without unit column stride is first copied. Batched products
// loop over the batch with one threaded sgemm each.
#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/gemm_shapes.hpp"

namespace win::backend {

namespace {

// A view with unit column stride (a copy when t has none).
Tensor unit_col(const Tensor& t) {
  return t.stride(1) == 1 && t.stride(0) >= t.size(1) ? t : t.contiguous();
}

void sgemm2d(bool ta, bool tb, double alpha, const Tensor& a0, const Tensor& b0, double beta,
             Tensor& c) {
  const auto [m, n, k] = gemm_dims(ta, tb, a0, b0, c);
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
  for_each_gemm(a, b, c, [&](const Tensor& ai, const Tensor& bi, Tensor& ci) {
    sgemm2d(ta, tb, alpha, ai, bi, beta, ci);
  });
}

}  // namespace win::backend
