// cuBLASLt products (see cuda_gemm.hpp). win's matrices are row-major; cuBLASLt's are
// column-major, where a row-major X is X^T. So C = op(A) op(B) runs as the column-major product
// C^T = op(B)^T op(A)^T: B's storage is cuBLASLt's first operand and A's its second, with no copy.
// A batch goes to one strided-batch matmul when each operand's batch dims collapse to one stride,
// else to a loop over the smaller of the two batch dims (attention's heads: 12 calls rather than
// one per sequence). Under run.precision = "bf16" a batched product's fp32 factors are rounded
// to bf16 once, whole, before any of its calls. Each product shape (dims, leading dims, batch
// strides, epilogue, pointer alignments) gets its matmul descriptor, layouts and heuristic
// algorithm once, cached per thread; a call then only launches.
#include "backend/cuda/cuda_gemm.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdint>
#include <map>
#include <type_traits>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/op_timer.hpp"
#include "backend/gemm_shapes.hpp"
#include "backend/precision.hpp"
#include "cast.cuh"
#include "core/log.hpp"

namespace win::backend {

namespace {

// cuBLASLt's recommended workspace on Hopper; heuristics only offer algorithms that fit.
constexpr uint64_t kMaxWorkspace = uint64_t{32} << 20;

// One operand as cuBLASLt stores it: a column-major rows x cols matrix with leading dimension ld,
// used transposed or not.
struct Operand {
  const void* ptr = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  cublasOperation_t op = CUBLAS_OP_N;
};

// Operand of op(X)^T for a factor X of the row-major product (see the top comment), from the
// first matrix x of X's batch.
Operand operand(const Tensor& x, bool trans, const char* name) {
  const int64_t r = x.size(0), c = x.size(1);
  // Row-major (unit column stride): stored as X^T; op(X)^T is that matrix itself unless trans.
  if ((c == 1 || x.stride(1) == 1) && (r == 1 || x.stride(0) >= c))
    return {x.raw(), c, r, r == 1 ? c : x.stride(0), trans ? CUBLAS_OP_T : CUBLAS_OP_N};
  // Column-major (unit row stride, e.g. a transposed view): stored as X itself.
  if ((r == 1 || x.stride(0) == 1) && (c == 1 || x.stride(1) >= r))
    return {x.raw(), r, c, c == 1 ? r : x.stride(1), trans ? CUBLAS_OP_N : CUBLAS_OP_T};
  WIN_FAIL(ErrorKind::Internal, "gemm: ", name, " ", x.shape(), " with strides ", x.strides(),
           " has no unit stride in its last two dims");
}

// The largest power of two (up to 256) that divides the address: what cuBLASLt may assume.
int64_t alignment(const void* p) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  return u == 0 ? 256 : static_cast<int64_t>(std::min<uintptr_t>(u & (~u + 1), 256));
}

// One cuBLASLt call: D = C = alpha op(A) op(B) + beta C, all column-major, `batch` times with
// the given element strides between matrices.
struct Call {
  cudaDataType_t type = CUDA_R_32F;     // C (and D)
  cudaDataType_t ab_type = CUDA_R_32F;  // A and B: bf16 copies under run.precision = "bf16"
  Operand a, b;
  void* c = nullptr;
  int64_t m = 0, n = 0, k = 0, ldc = 0;
  int64_t batch = 1, stride_a = 0, stride_b = 0, stride_c = 0;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;  // m values, for the BIAS epilogues
  bool operands_bf16 = false;  // a and b are bf16 (copies of fp32 operands, or rounded factors)
};

using Key = std::array<int64_t, 20>;

Key key_of(const Call& g, int device) {
  return {device,
          g.type,
          g.a.op,
          g.b.op,
          g.m,
          g.n,
          g.k,
          g.a.ld,
          g.b.ld,
          g.ldc,
          g.batch,
          g.stride_a,
          g.stride_b,
          g.stride_c,
          g.epilogue,
          alignment(g.a.ptr),
          alignment(g.b.ptr),
          alignment(g.c),
          alignment(g.bias),
          static_cast<int64_t>(precision()) * 1000 + g.ab_type};
}

template <class T>
void set(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t attr, T value) {
  WIN_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d, attr, &value, sizeof value));
}

struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld,
                                   int64_t batch, int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  WIN_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, static_cast<uint64_t>(rows),
                                              static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    const auto count = static_cast<int32_t>(batch);
    WIN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count,
                                                      sizeof count));
    WIN_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
  }
  return l;
}

std::unique_ptr<Plan> make_plan(const Call& g, cublasLtHandle_t lt) {
  auto p = std::make_unique<Plan>();
  // fp32 operands under tf32: TF32 tensor cores; bf16 operands (bf16 tensors, or fp32 ones
  // rounded under run.precision = "bf16", see run()) accumulate in fp32.
  const cublasComputeType_t compute = g.ab_type == CUDA_R_32F && precision() == Precision::Tf32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;
  WIN_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, compute, CUDA_R_32F));
  set<int32_t>(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, g.a.op);
  set<int32_t>(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, g.b.op);
  set<uint32_t>(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, g.epilogue);
  // The heuristic reads the bias pointer's alignment, so it is set before asking.
  if (g.bias) {
    set<const void*>(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
    set<int32_t>(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, static_cast<int32_t>(g.type));
  }
  p->a = make_layout(g.ab_type, g.a.rows, g.a.cols, g.a.ld, g.batch, g.stride_a);
  p->b = make_layout(g.ab_type, g.b.rows, g.b.cols, g.b.ld, g.batch, g.stride_b);
  p->c = make_layout(g.type, g.m, g.n, g.ldc, g.batch, g.stride_c);

  cublasLtMatmulPreference_t pref = nullptr;
  WIN_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>,
                        decltype(&cublasLtMatmulPreferenceDestroy)>
      owned(pref, cublasLtMatmulPreferenceDestroy);
  WIN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kMaxWorkspace, sizeof kMaxWorkspace));
  // The default assumes 256-byte aligned buffers; views into a flat parameter buffer or a
  // per-head slice of attention are often less aligned.
  const std::array<std::pair<cublasLtMatmulPreferenceAttributes_t, const void*>, 4> aligned{{
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, g.a.ptr},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, g.b.ptr},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, g.c},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, g.c},
  }};
  for (const auto& [attr, ptr] : aligned) {
    const auto bytes = static_cast<uint32_t>(alignment(ptr));
    WIN_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, &bytes, sizeof bytes));
  }
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  WIN_CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, p->desc, p->a, p->b, p->c, p->c, pref, 1,
                                                  &result, &found));
  WIN_CHECK(found > 0, ErrorKind::Internal, "cuBLASLt has no algorithm for the product ", g.m, "x",
            g.k, (g.a.op == CUBLAS_OP_T ? "^T" : ""), " * ", g.k, "x", g.n,
            (g.b.op == CUBLAS_OP_T ? "^T" : ""), " (column-major, lda ", g.a.ld, ", ldb ", g.b.ld,
            ", ldc ", g.ldc, ", batch ", g.batch, ", epilogue ", static_cast<int>(g.epilogue),
            ", type ", static_cast<int>(g.type), ")");
  p->algo = result.algo;
  p->workspace = result.workspaceSize;
  log_debug("cuBLASLt plan ", g.m, "x", g.n, "x", g.k, " batch ", g.batch, ": workspace ",
            p->workspace, " bytes");
  return p;
}

// C = beta * C for a product with k == 0 (nothing to multiply): cuBLAS's gemm keeps the BLAS
// contract for it, which cuBLASLt does not promise.
void scale_only(const Call& g, float alpha, float beta, CudaContext& ctx) {
  const char* what = "gemm with k = 0";
  WIN_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
      ctx.cublas(), CUBLAS_OP_N, CUBLAS_OP_N, to_int(g.m, what), to_int(g.n, what), 0, &alpha, g.c,
      g.type, to_int(std::max<int64_t>(g.m, 1), what), 0, g.c, g.type, 1, 0, &beta, g.c, g.type,
      to_int(g.ldc, what), g.stride_c, to_int(g.batch, what), CUBLAS_COMPUTE_32F,
      CUBLAS_GEMM_DEFAULT));
}

// Elements an operand's matrices span in memory: from its first element to the last of its
// last matrix, gaps between columns and matrices included (they are converted too, and never read
// by the product), so the bf16 copy keeps the same ld and batch stride.
int64_t span_of(const Operand& o, int64_t batch, int64_t stride) {
  return (batch > 1 ? (batch - 1) * stride : 0) + (o.cols - 1) * o.ld + o.rows;
}

// n fp32 values from src rounded to bf16 into buf (a u8 device tensor grown as needed; growing
// waits for the stream, as the workspace does, so no queued product loses its operand); returns
// the copy.
const char* cast_to_bf16(const void* src, int64_t n, Tensor& buf, CudaContext& ctx) {
  const auto bytes = static_cast<size_t>(n) * 2;
  if (!buf.defined() || buf.nbytes() < bytes) {
    WIN_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
    buf = Tensor::empty({static_cast<int64_t>(std::max<size_t>(bytes, 2))}, DType::U8,
                        cuda_allocator());
  }
  if (n > 0)
    WIN_CUDA_CHECK(kernels::launch_cast_f32_to_bf16(
        static_cast<const float*>(src), static_cast<__nv_bfloat16*>(buf.raw()), n, ctx.stream()));
  return static_cast<const char*>(buf.raw());
}

// o rounded to bf16 into buf.
Operand to_bf16(const Operand& o, int64_t batch, int64_t stride, Tensor& buf, CudaContext& ctx) {
  Operand r = o;
  r.ptr = cast_to_bf16(o.ptr, span_of(o, batch, stride), buf, ctx);
  return r;
}

void run(const Call& g0, float alpha, float beta) {
  if (g0.m == 0 || g0.n == 0 || g0.batch == 0) return;
  CudaContext& ctx = cuda_context();
  if (g0.k == 0) return scale_only(g0, alpha, beta, ctx);
  WIN_CHECK(g0.batch <= INT32_MAX, ErrorKind::Internal, "gemm: batch of ", g0.batch);
  Call g = g0;
  g.ab_type = g.operands_bf16 ? CUDA_R_16BF : g.type;  // bf16 tensors are bf16 operands
  if (g.type == CUDA_R_32F && !g.operands_bf16 && precision() == Precision::Bf16) {
    thread_local Tensor buf_a, buf_b;
    g.a = to_bf16(g.a, g.batch, g.stride_a, buf_a, ctx);
    g.b = to_bf16(g.b, g.batch, g.stride_b, buf_b, ctx);
    g.ab_type = CUDA_R_16BF;
  }

  thread_local std::map<Key, std::unique_ptr<Plan>> plans;
  const Key key = key_of(g, ctx.device());
  auto it = plans.find(key);
  if (it == plans.end()) {
    if (plans.size() >= 4096) plans.clear();  // a bound, in case shapes never repeat
    it = plans.emplace(key, make_plan(g, ctx.cublaslt())).first;
  }
  const Plan& p = *it->second;
  if (g.bias) set<const void*>(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
  void* ws = ctx.workspace(p.workspace);
  WIN_CUBLAS_CHECK(cublasLtMatmul(ctx.cublaslt(), p.desc, &alpha, g.a.ptr, p.a, g.b.ptr, p.b, &beta,
                                  g.c, p.c, g.c, p.c, &p.algo, ws, p.workspace, ctx.stream()));
}

// The first matrix of a batch (a 2-d view).
Tensor first_matrix(const Tensor& t) {
  Tensor m = t;
  while (m.dim() > 2) m = m.select(0, 0);
  return m;
}

// The batch of t (3-d or 4-d) as (count, stride) when its batch dims collapse to one stride.
bool one_batch_stride(const Tensor& t, int64_t& count, int64_t& stride) {
  if (t.dim() == 3) {
    count = t.size(0), stride = t.stride(0);
    return true;
  }
  count = t.size(0) * t.size(1);
  stride = t.size(1) == 1 ? t.stride(0) : t.stride(1);
  return t.size(0) == 1 || t.size(1) == 1 || t.stride(0) == t.size(1) * t.stride(1);
}

// bf16 copies of a product's two fp32 factors (whole spans, same strides), made once for all
// the calls of a batched product; null pointers: none (run() rounds per call if it must).
struct Bf16Copies {
  const char *a32 = nullptr, *a16 = nullptr, *b32 = nullptr, *b16 = nullptr;
};

// Elements from t's first element to its last (gaps included); strides are non-negative.
int64_t span_elements(const Tensor& t) {
  int64_t span = 1;
  for (int i = 0; i < t.dim(); ++i) {
    if (t.size(i) == 0) return 0;
    span += (t.size(i) - 1) * t.stride(i);
  }
  return span;
}

// t's span rounded to bf16 into buf; returns the copy of t's first element.
const char* bf16_span(const Tensor& t, Tensor& buf, CudaContext& ctx) {
  return cast_to_bf16(t.raw(), span_elements(t), buf, ctx);
}

// Where the bf16 copy of the fp32 element at p lies (p inside the factor whose copy starts at
// c16 and whose fp32 first element is c32).
const void* in_copy(const void* p, const char* c32, const char* c16) {
  return c16 + (static_cast<const char*>(p) - c32) / 2;
}

// The product on row-major C, whose first matrix has unit column stride (checked).
void gemm_rowmajor_c(bool ta, bool tb, float alpha, const Tensor& a, const Tensor& b, float beta,
                     Tensor& c, const Bf16Copies& copies) {
  const int d = c.dim();
  if (d == 4) {
    int64_t na = 0, nb = 0, nc = 0, sa = 0, sb = 0, sc = 0;
    if (!one_batch_stride(a, na, sa) || !one_batch_stride(b, nb, sb) ||
        !one_batch_stride(c, nc, sc)) {
      // Any 3-d slice has one batch stride: loop over the smaller batch dim.
      const int dim = c.size(1) < c.size(0) ? 1 : 0;
      for (int64_t i = 0; i < c.size(dim); ++i) {
        Tensor ci = c.select(dim, i);
        gemm_rowmajor_c(ta, tb, alpha, a.select(dim, i), b.select(dim, i), beta, ci, copies);
      }
      return;
    }
  }
  const Tensor a0 = first_matrix(a), b0 = first_matrix(b), c0 = first_matrix(c);
  const GemmDims dims = gemm_dims(ta, tb, a0, b0, c0);
  Call g;
  g.type = cuda_dtype(c.dtype(), "gemm");
  // C^T = op(B)^T op(A)^T: cuBLASLt's (m, n, k) are (n, m, k) of win's product.
  g.m = dims.n, g.n = dims.m, g.k = dims.k;
  if (g.m == 0 || g.n == 0) return;
  WIN_CHECK(dims.m == 1 || c0.stride(0) >= dims.n, ErrorKind::Internal, "gemm: C ", c.shape(),
            " with strides ", c.strides(), " has overlapping rows");
  g.c = c0.raw();
  g.ldc = dims.m == 1 ? dims.n : c0.stride(0);
  if (dims.k > 0) {
    g.a = operand(b0, tb, "B");
    g.b = operand(a0, ta, "A");
    g.operands_bf16 = a.dtype() == DType::BF16;  // factors already rounded (check_factors)
    if (copies.a16) {                            // cuBLASLt's a is win's B, its b win's A
      g.a.ptr = in_copy(g.a.ptr, copies.b32, copies.b16);
      g.b.ptr = in_copy(g.b.ptr, copies.a32, copies.a16);
      g.operands_bf16 = true;
    }
  }
  if (d > 2) {
    // cuBLASLt's first operand is win's B and its second win's A (see the top comment): their
    // batch strides go with them. (They were once crossed, which went unseen while both factors
    // had one stride, as Q and K do, and read out of bounds for the attention mask's rank-1
    // product; OpParity.GemmWithUnequalBatchStrides holds it now.)
    int64_t n = 0;
    one_batch_stride(b, n, g.stride_a);
    one_batch_stride(a, n, g.stride_b);
    one_batch_stride(c, g.batch, g.stride_c);
  }
  run(g, alpha, beta);
}

// The product, with the factors rounded to bf16 once when the run's precision asks for it and
// the product takes several calls (one call rounds its own operands, in run()).
void gemm_rowmajor_c(bool ta, bool tb, float alpha, const Tensor& a, const Tensor& b, float beta,
                     Tensor& c) {
  Bf16Copies copies;
  int64_t n = 0, s = 0;
  const bool several = c.dim() == 4 && !(one_batch_stride(a, n, s) && one_batch_stride(b, n, s) &&
                                         one_batch_stride(c, n, s));
  if (several && a.dtype() == DType::F32 && precision() == Precision::Bf16 && c.numel() > 0) {
    CudaContext& ctx = cuda_context();
    thread_local Tensor whole_a, whole_b;
    copies.a32 = static_cast<const char*>(a.raw());
    copies.a16 = bf16_span(a, whole_a, ctx);
    copies.b32 = static_cast<const char*>(b.raw());
    copies.b16 = bf16_span(b, whole_b, ctx);
  }
  gemm_rowmajor_c(ta, tb, alpha, a, b, beta, c, copies);
}

void check_operand(const Tensor& t, DType dtype, const char* what) {
  check_on_device(t, what);
  WIN_CHECK(t.dtype() == dtype, ErrorKind::Internal, "gemm: ", what, " is ", dtype_name(t.dtype()),
            ", C is ", dtype_name(dtype));
}

// The two factors of a product into C: C's dtype, or both bf16 into an fp32 C (factors a layer
// rounded once for several products, as nn::Linear does under bf16 precision).
void check_factors(const Tensor& a, const Tensor& b, DType c, const char* what_a,
                   const char* what_b) {
  const bool rounded = c == DType::F32 && a.dtype() == DType::BF16 && b.dtype() == DType::BF16;
  check_operand(a, rounded ? DType::BF16 : c, what_a);
  check_operand(b, rounded ? DType::BF16 : c, what_b);
}

class CudaLinear final : public LinearOp {
 public:
  explicit CudaLinear(bool relu) : relu_(relu) {}

  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    WIN_CUDA_TIMED("linear.forward");
    WIN_CHECK(x.dim() == 2 && w.dim() == 2 && y.dim() == 2 && x.size(1) == w.size(1) &&
                  y.size(0) == x.size(0) && y.size(1) == w.size(0) &&
                  (!b.defined() || b.shape() == Dims{w.size(0)}),
              ErrorKind::Internal, "linear: x ", x.shape(), ", W ", w.shape(), ", b ",
              (b.defined() ? b.shape() : Dims{}), " -> y ", y.shape());
    const DType dt = y.dtype();
    check_factors(x, w, dt, "linear x", "linear W");
    check_operand(y, dt, "linear y");
    if (b.defined()) {
      check_operand(b, dt, "linear b");
      WIN_CHECK(b.size(0) == 1 || b.stride(0) == 1, ErrorKind::Internal,
                "linear: b needs unit stride, got ", b.strides());
    }
    const int64_t m = x.size(0), n = w.size(0), k = x.size(1);
    WIN_CHECK(k > 0, ErrorKind::Internal, "linear: no input features, x ", x.shape());
    // The epilogue's bias runs along the rows of cuBLASLt's column-major D = y^T: y must be
    // row-major for them to be y's features.
    WIN_CHECK((n == 1 || y.stride(1) == 1) && (m == 1 || y.stride(0) >= n), ErrorKind::Internal,
              "linear: y needs unit column stride, got strides ", y.strides());
    if (m == 0 || n == 0) return;
    Call g;
    g.type = cuda_dtype(dt, "linear");
    g.m = n, g.n = m, g.k = k;
    g.a = operand(w, true, "W");   // y = x W^T: B = W, used transposed
    g.b = operand(x, false, "x");  // A = x
    g.operands_bf16 = x.dtype() == DType::BF16;
    g.c = y.raw();
    g.ldc = m == 1 ? n : y.stride(0);
    g.bias = b.defined() ? b.raw() : nullptr;
    g.epilogue = relu_ ? (g.bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                       : (g.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    run(g, 1.0f, 0.0f);
  }

 private:
  bool relu_;
};

}  // namespace

void cuda_gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
               double beta, Tensor& c) {
  WIN_CUDA_TIMED("gemm");
  check_on_device(c, "gemm C");
  check_factors(a, b, c.dtype(), "A", "B");
  WIN_CHECK(a.dim() == b.dim() && a.dim() == c.dim() && a.dim() >= 2 && a.dim() <= 4,
            ErrorKind::Internal, "gemm: ranks ", a.dim(), ", ", b.dim(), ", ", c.dim());
  const int d = c.dim();
  for (int i = 0; i < d - 2; ++i)
    WIN_CHECK(a.size(i) == c.size(i) && b.size(i) == c.size(i), ErrorKind::Internal,
              "gemm: batch dims of ", a.shape(), ", ", b.shape(), ", ", c.shape(), " differ");
  const auto fa = static_cast<float>(alpha), fb = static_cast<float>(beta);
  // A column-major C (unit row stride) is the row-major C^T = op(B)^T op(A)^T.
  if (c.size(d - 1) > 1 && c.stride(d - 1) != 1 && (c.size(d - 2) == 1 || c.stride(d - 2) == 1)) {
    Tensor ct = c.transpose(d - 2, d - 1);
    return gemm_rowmajor_c(!trans_b, !trans_a, fa, b, a, fb, ct);
  }
  WIN_CHECK(c.size(d - 1) == 1 || c.stride(d - 1) == 1, ErrorKind::Internal,
            "gemm: C needs a unit stride in its last two dims, got strides ", c.strides());
  gemm_rowmajor_c(trans_a, trans_b, fa, a, b, fb, c);
}

std::unique_ptr<LinearOp> make_cuda_linear(bool fuse_relu) {
  return std::make_unique<CudaLinear>(fuse_relu);
}

}  // namespace win::backend
