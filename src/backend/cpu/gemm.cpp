// f32 matrix products on oneDNN's sgemm (row-major BLAS interface). Rows may be padded (leading
// dimension = row stride); a matrix without unit column stride is first copied. Batched products
// loop over the batch with one threaded sgemm each.
#include "backend/cpu/cpu_ops.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/cpu/dnnl_context.hpp"
#include "backend/gemm_shapes.hpp"
#include "core/log.hpp"

#include <deque>
#include <unordered_map>

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

// Batched products (attention's per-head matrices) go to one oneDNN matmul over all batch dims
// instead of a loop of small sgemms: the batch is threaded as a whole. Primitives are cached by
// descriptor (a handful of shapes per model) and keep their argument memories.
class BatchedMatmuls {
 public:
  void run(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
           Tensor& c) {
    const int d = a.dim();
    const Tensor av = ta ? a.transpose(d - 2, d - 1) : a;
    const Tensor bv = tb ? b.transpose(d - 2, d - 1) : b;
    const dnnl::memory::desc ad = md_of(av), bd = md_of(bv), cd = md_of(c);
    Entry* e = nullptr;
    for (auto& x : entries_)
      if (x.a == ad && x.b == bd && x.c == cd && x.alpha == alpha && x.beta == beta) e = &x;
    if (!e) {
      dnnl::primitive_attr attr;
      if (alpha != 1.0) attr.set_output_scales(0, {static_cast<float>(alpha)});
      if (beta != 0.0) {
        dnnl::post_ops po;
        po.append_sum(static_cast<float>(beta));
        attr.set_post_ops(po);
      }
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), attr, cpu_engine());
      entries_.push_back({ad,
                          bd,
                          cd,
                          alpha,
                          beta,
                          dnnl::matmul(pd),
                          {{DNNL_ARG_SRC, dnnl::memory(ad, cpu_engine(), DNNL_MEMORY_NONE)},
                           {DNNL_ARG_WEIGHTS, dnnl::memory(bd, cpu_engine(), DNNL_MEMORY_NONE)},
                           {DNNL_ARG_DST, dnnl::memory(cd, cpu_engine(), DNNL_MEMORY_NONE)}}});
      e = &entries_.back();
      log_debug("oneDNN batched matmul ", av.shape(), " x ", bv.shape(), ": ", pd.impl_info_str());
    }
    e->args[DNNL_ARG_SRC].set_data_handle(av.raw());
    e->args[DNNL_ARG_WEIGHTS].set_data_handle(bv.raw());
    e->args[DNNL_ARG_DST].set_data_handle(c.raw());
    e->prim.execute(cpu_stream(), e->args);
  }

 private:
  struct Entry {
    dnnl::memory::desc a, b, c;
    double alpha, beta;
    dnnl::matmul prim;
    std::unordered_map<int, dnnl::memory> args;
  };
  std::deque<Entry> entries_;
};

}  // namespace

void CpuOps::gemm(bool ta, bool tb, double alpha, const Tensor& a, const Tensor& b, double beta,
                  Tensor& c) {
  if (a.dim() > 2 && a.dim() == b.dim() && a.dim() == c.dim()) {
    static BatchedMatmuls batched;
    for (int d = 0; d < a.dim() - 2; ++d)
      WIN_CHECK(a.size(d) == c.size(d) && b.size(d) == c.size(d), ErrorKind::Internal,
                "gemm: batch dims of ", a.shape(), ", ", b.shape(), ", ", c.shape(), " differ");
    auto first = [](const Tensor& t) {  // the first matrix of a batch, for the shape check
      Tensor m = t;
      while (m.dim() > 2) m = m.select(0, 0);
      return m;
    };
    gemm_dims(ta, tb, first(a), first(b), first(c));
    dnnl_call("batched matmul", [&] { batched.run(ta, tb, alpha, a, b, beta, c); });
    return;
  }
  for_each_gemm(a, b, c, [&](const Tensor& ai, const Tensor& bi, Tensor& ci) {
    sgemm2d(ta, tb, alpha, ai, bi, beta, ci);
  });
}

}  // namespace win::backend
