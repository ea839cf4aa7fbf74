// cuBLAS and cuBLASLt computed on the CPU (the stand-in headers in tests/cuda_emu/shim), so that
// win's cuda_gemm.cpp runs unchanged in test_cuda_host_emu: its layouts, transposes, batch strides,
// epilogues, bf16 operand copies and plan cache meet a library that holds them to the documented
// contract, where a mistake would otherwise show only on a GPU.
//
// What it enforces (each a CUBLAS_STATUS_INVALID_VALUE or _NOT_SUPPORTED, as the real library
// answers): attribute sizes; op(A) (m x k), op(B) (k x n), C and D (m x n) agreeing, with
// ld >= rows; one batch count; the type combinations win relies on (fp32, bf16 operands into fp32
// or bf16 C, TF32 only for fp32 operands); C and D the same layout when they are the same buffer;
// a bias epilogue with its bias pointer and type; and, at the matmul, the problem the algorithm
// was chosen for, pointers at least as aligned as the preference promised when it was chosen,
// the workspace it asked for, and (with emu::check_device_pointers) every matrix's whole span
// inside one device allocation. The arithmetic: operands rounded as the compute type says
// (TF32, bf16), products summed in double, alpha and beta as BLAS (C not read when beta is 0),
// then bias and ReLU, then rounding to D's type.
#include <cublasLt.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "tf32.hpp"

struct EmuCublasContext {};
struct EmuLtContext {};
struct EmuLtLayout {
  cudaDataType type = CUDA_R_32F;
  uint64_t rows = 0, cols = 0;
  int64_t ld = 0;
  int32_t batch = 1;
  int64_t stride = 0;
};
struct EmuLtMatmulDesc {
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  cudaDataType scale = CUDA_R_32F;
  int32_t transa = CUBLAS_OP_N, transb = CUBLAS_OP_N;
  uint32_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  int32_t bias_type = -1;
  int64_t bias_batch_stride = 0;
};
struct EmuLtPreference {
  uint64_t max_workspace = 0;
  uint32_t align[4] = {256, 256, 256, 256};  // A, B, C, D
};

namespace {

// What an algorithm from the heuristic was chosen for (kept in cublasLtMatmulAlgo_t's data).
struct AlgoRecord {
  uint64_t m, n, k;
  uint32_t types;  // A, C types and the compute type, packed
  uint32_t ops_epilogue;
  uint32_t align[5];  // A, B, C, D, bias
  uint64_t workspace;
};
static_assert(sizeof(AlgoRecord) <= sizeof(cublasLtMatmulAlgo_t));

size_t element_size(cudaDataType t) {
  return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF || t == CUDA_R_16F ? 2 : t == CUDA_R_64F ? 8 : 0;
}

uint32_t alignment_of(const void* p) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  return u == 0 ? 256u : static_cast<uint32_t>(std::min<uintptr_t>(u & (~u + 1), 256));
}

template <class T>
bool read_attr(const void* buf, size_t size, T& out) {
  if (!buf || size != sizeof(T)) return false;
  std::memcpy(&out, buf, sizeof(T));
  return true;
}

float load(const void* base, cudaDataType t, int64_t index) {
  if (t == CUDA_R_16BF) return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[index]);
  return static_cast<const float*>(base)[index];
}
void store(void* base, cudaDataType t, int64_t index, float v) {
  if (t == CUDA_R_16BF)
    static_cast<__nv_bfloat16*>(base)[index] = __float2bfloat16_rn(v);
  else
    static_cast<float*>(base)[index] = v;
}

// The operand rounding a compute type allows (nearest even).
float round_operand(float v, cublasComputeType_t compute, cudaDataType t) {
  if (t != CUDA_R_32F || std::isnan(v)) return v;
  if (compute == CUBLAS_COMPUTE_32F_FAST_16BF) return __bfloat162float(__float2bfloat16_rn(v));
  if (compute == CUBLAS_COMPUTE_32F_FAST_TF32) return emu::round_to_tf32(v);
  return v;
}

// Elements from a layout's first element to its last one.
int64_t span(const EmuLtLayout& l) {
  if (l.rows == 0 || l.cols == 0) return 0;
  return (l.batch > 1 ? (l.batch - 1) * l.stride : 0) + static_cast<int64_t>(l.cols - 1) * l.ld +
         static_cast<int64_t>(l.rows);
}

bool inside_device_memory(const void* p, const EmuLtLayout& l) {
  if (!emu::check_device_pointers) return true;
  return emu::in_allocation(p, static_cast<size_t>(span(l)) * element_size(l.type));
}

// The problem's checks common to the heuristic and the matmul.
cublasStatus_t check_problem(const EmuLtMatmulDesc& d, const EmuLtLayout& a, const EmuLtLayout& b,
                             const EmuLtLayout& c, const EmuLtLayout& dd) {
  if (d.scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  for (const EmuLtLayout* l : {&a, &b, &c, &dd})
    if (element_size(l->type) == 0 || l->ld < static_cast<int64_t>(std::max<uint64_t>(l->rows, 1)))
      return CUBLAS_STATUS_INVALID_VALUE;
  const uint64_t m = dd.rows, n = dd.cols;
  const uint64_t k = d.transa == CUBLAS_OP_N ? a.cols : a.rows;
  const uint64_t a_m = d.transa == CUBLAS_OP_N ? a.rows : a.cols;
  const uint64_t b_k = d.transb == CUBLAS_OP_N ? b.rows : b.cols;
  const uint64_t b_n = d.transb == CUBLAS_OP_N ? b.cols : b.rows;
  if (a_m != m || b_n != n || b_k != k || c.rows != m || c.cols != n)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (a.batch != dd.batch || b.batch != dd.batch || c.batch != dd.batch)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (a.type != b.type || c.type != dd.type) return CUBLAS_STATUS_NOT_SUPPORTED;
  const bool f32 = a.type == CUDA_R_32F && c.type == CUDA_R_32F;
  const bool bf16 = a.type == CUDA_R_16BF && (c.type == CUDA_R_32F || c.type == CUDA_R_16BF);
  if (!f32 && !bf16) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (bf16 && d.compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
  if (d.compute != CUBLAS_COMPUTE_32F && d.compute != CUBLAS_COMPUTE_32F_FAST_TF32 &&
      d.compute != CUBLAS_COMPUTE_32F_FAST_16BF)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  const uint32_t e = d.epilogue;
  if (e != CUBLASLT_EPILOGUE_DEFAULT && e != CUBLASLT_EPILOGUE_RELU &&
      e != CUBLASLT_EPILOGUE_BIAS && e != CUBLASLT_EPILOGUE_RELU_BIAS)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  if (e & CUBLASLT_EPILOGUE_BIAS) {
    if (!d.bias) return CUBLAS_STATUS_INVALID_VALUE;
    const int32_t bt = d.bias_type == -1 ? static_cast<int32_t>(dd.type) : d.bias_type;
    // D's type (the matmul page's type table; fp32 bias with bf16 D only for IMMA/FP8 kernels).
    if (bt != static_cast<int32_t>(dd.type)) return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

AlgoRecord record_of(const EmuLtMatmulDesc& d, const EmuLtLayout& a, const EmuLtLayout& dd) {
  AlgoRecord r{};
  r.m = dd.rows;
  r.n = dd.cols;
  r.k = d.transa == CUBLAS_OP_N ? a.cols : a.rows;
  r.types = static_cast<uint32_t>(a.type) | static_cast<uint32_t>(dd.type) << 8 |
            static_cast<uint32_t>(d.compute) << 16;
  r.ops_epilogue =
      static_cast<uint32_t>(d.transa) | static_cast<uint32_t>(d.transb) << 4 | d.epilogue << 8;
  return r;
}

}  // namespace

// ---- cuBLAS ---------------------------------------------------------------------------------

cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new EmuCublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t) {
  return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
const char* cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    default:
      return "CUBLAS_STATUS_(other)";
  }
}
const char* cublasGetStatusString(cublasStatus_t s) {
  return s == CUBLAS_STATUS_SUCCESS ? "success"
                                    : "refused by the CPU stand-in for cuBLAS (see "
                                      "tests/cuda_emu/host/cublas_standin.cpp for its checks)";
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t h, cublasOperation_t ta,
                                          cublasOperation_t tb, int m, int n, int k,
                                          const void* alpha, const void* A, cudaDataType at,
                                          int lda, long long sa, const void* B, cudaDataType bt,
                                          int ldb, long long sb, const void* beta, void* C,
                                          cudaDataType ct, int ldc, long long sc, int batch,
                                          cublasComputeType_t compute, cublasGemmAlgo_t) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (m < 0 || n < 0 || k < 0 || batch < 0 || ldc < std::max(1, m) ||
      lda < std::max(1, ta == CUBLAS_OP_N ? m : k) || ldb < std::max(1, tb == CUBLAS_OP_N ? k : n))
    return CUBLAS_STATUS_INVALID_VALUE;
  auto modelled = [](cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_16BF; };
  if (at != bt || !modelled(at) || !modelled(ct)) return CUBLAS_STATUS_NOT_SUPPORTED;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  for (int q = 0; q < batch; ++q)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double acc = 0;
        for (int p = 0; p < k; ++p) {
          const int64_t ia = ta == CUBLAS_OP_N ? i + int64_t{p} * lda : p + int64_t{i} * lda;
          const int64_t ib = tb == CUBLAS_OP_N ? p + int64_t{j} * ldb : j + int64_t{p} * ldb;
          acc += double{round_operand(load(A, at, q * sa + ia), compute, at)} *
                 round_operand(load(B, bt, q * sb + ib), compute, bt);
        }
        const int64_t ic = q * sc + i + int64_t{j} * ldc;
        double v = al * acc;
        if (be != 0.0f) v += double{be} * load(C, ct, ic);
        store(C, ct, ic, static_cast<float>(v));
      }
  return CUBLAS_STATUS_SUCCESS;
}

// ---- cuBLASLt: handles and descriptors ----------------------------------------------------

cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
  *h = new EmuLtContext;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t* d, cublasComputeType_t compute,
                                        cudaDataType_t scale) {
  *d = new EmuLtMatmulDesc{.compute = compute, .scale = scale};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
  delete d;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr, const void* buf,
                                              size_t size) {
  if (!d) return CUBLAS_STATUS_NOT_INITIALIZED;
  bool ok = false;
  switch (attr) {
    case CUBLASLT_MATMUL_DESC_TRANSA:
      ok = read_attr(buf, size, d->transa);
      break;
    case CUBLASLT_MATMUL_DESC_TRANSB:
      ok = read_attr(buf, size, d->transb);
      break;
    case CUBLASLT_MATMUL_DESC_EPILOGUE:
      ok = read_attr(buf, size, d->epilogue);
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER:
      ok = read_attr(buf, size, d->bias);
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE:
      ok = read_attr(buf, size, d->bias_type);
      break;
    case CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE:
      ok = read_attr(buf, size, d->bias_batch_stride);
      break;
    default:
      return CUBLAS_STATUS_NOT_SUPPORTED;  // not one win uses: the stand-in does not model it
  }
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t* l, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld) {
  *l = new EmuLtLayout{.type = type, .rows = rows, .cols = cols, .ld = ld};
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
  delete l;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l,
                                                cublasLtMatrixLayoutAttribute_t attr,
                                                const void* buf, size_t size) {
  if (!l) return CUBLAS_STATUS_NOT_INITIALIZED;
  bool ok = false;
  if (attr == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT)
    ok = read_attr(buf, size, l->batch) && l->batch >= 1;
  else if (attr == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET)
    ok = read_attr(buf, size, l->stride);
  else
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t* p) {
  *p = new EmuLtPreference;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
  delete p;
  return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void* buf, size_t size) {
  if (!p) return CUBLAS_STATUS_NOT_INITIALIZED;
  bool ok = false;
  if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES)
    ok = read_attr(buf, size, p->max_workspace);
  else if (attr >= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES &&
           attr <= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES)
    ok = read_attr(buf, size, p->align[attr - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES]);
  else
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return ok ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_INVALID_VALUE;
}

// ---- cuBLASLt: the heuristic and the product ----------------------------------------------

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                              cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                              cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t results[],
                                              int* found) {
  if (!h || !d || !a || !b || !c || !dd || !pref) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (requested < 1 || !results || !found) return CUBLAS_STATUS_INVALID_VALUE;
  if (const cublasStatus_t s = check_problem(*d, *a, *b, *c, *dd)) return s;
  AlgoRecord r = record_of(*d, *a, *dd);
  std::copy(pref->align, pref->align + 4, r.align);
  r.align[4] = alignment_of(d->bias);
  // Some workspace when allowed, so that a caller that does not pass it is caught.
  r.workspace = std::min<uint64_t>(pref->max_workspace, 4096);
  cublasLtMatmulHeuristicResult_t out{};
  std::memcpy(out.algo.data, &r, sizeof r);
  out.workspaceSize = r.workspace;
  out.state = CUBLAS_STATUS_SUCCESS;
  out.wavesCount = 1.0f;
  results[0] = out;
  *found = 1;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void* alpha,
                              const void* A, cublasLtMatrixLayout_t al, const void* B,
                              cublasLtMatrixLayout_t bl, const void* beta, const void* C,
                              cublasLtMatrixLayout_t cl, void* D, cublasLtMatrixLayout_t dl,
                              const cublasLtMatmulAlgo_t* algo, void* workspace,
                              size_t workspace_bytes, cudaStream_t) {
  if (!h || !d || !al || !bl || !cl || !dl || !algo) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (const cublasStatus_t s = check_problem(*d, *al, *bl, *cl, *dl)) return s;
  AlgoRecord r;
  std::memcpy(&r, algo->data, sizeof r);
  const AlgoRecord now = record_of(*d, *al, *dl);
  if (r.m != now.m || r.n != now.n || r.k != now.k || r.types != now.types ||
      r.ops_epilogue != now.ops_epilogue)
    return CUBLAS_STATUS_INVALID_VALUE;  // an algorithm chosen for another problem
  const void* ptrs[5] = {A, B, C, D, d->bias};
  for (int i = 0; i < 5; ++i)
    if (ptrs[i] && alignment_of(ptrs[i]) < r.align[i]) return CUBLAS_STATUS_INVALID_VALUE;
  if (workspace_bytes < r.workspace || (r.workspace > 0 && !workspace) ||
      (workspace && alignment_of(workspace) < 256))  // "must be 256B aligned"
    return CUBLAS_STATUS_INVALID_VALUE;
  if (r.workspace > 0 && emu::check_device_pointers && !emu::in_allocation(workspace, r.workspace))
    return CUBLAS_STATUS_INVALID_VALUE;
  if (C == D && (cl->ld != dl->ld || cl->stride != dl->stride)) return CUBLAS_STATUS_INVALID_VALUE;
  if (!inside_device_memory(A, *al) || !inside_device_memory(B, *bl) ||
      !inside_device_memory(C, *cl) || !inside_device_memory(D, *dl))
    return CUBLAS_STATUS_INVALID_VALUE;

  const float alf = *static_cast<const float*>(alpha), bef = *static_cast<const float*>(beta);
  const int64_t m = static_cast<int64_t>(dl->rows), n = static_cast<int64_t>(dl->cols),
                k = static_cast<int64_t>(r.k);
  const bool bias = (d->epilogue & CUBLASLT_EPILOGUE_BIAS) != 0;
  const bool relu = (d->epilogue & CUBLASLT_EPILOGUE_RELU) != 0;
  const auto bias_type = static_cast<cudaDataType>(d->bias_type == -1 ? dl->type : d->bias_type);
  if (bias && emu::check_device_pointers &&
      !emu::in_allocation(d->bias, static_cast<size_t>(m) * element_size(bias_type)))
    return CUBLAS_STATUS_INVALID_VALUE;
  std::vector<double> column(static_cast<size_t>(m));
  for (int64_t q = 0; q < dl->batch; ++q) {
    for (int64_t j = 0; j < n; ++j) {
      std::fill(column.begin(), column.end(), 0.0);
      for (int64_t p = 0; p < k; ++p) {
        const int64_t ib =
            q * bl->stride + (d->transb == CUBLAS_OP_N ? p + j * bl->ld : j + p * bl->ld);
        const double bv = round_operand(load(B, bl->type, ib), d->compute, bl->type);
        for (int64_t i = 0; i < m; ++i) {
          const int64_t ia =
              q * al->stride + (d->transa == CUBLAS_OP_N ? i + p * al->ld : p + i * al->ld);
          column[static_cast<size_t>(i)] +=
              double{round_operand(load(A, al->type, ia), d->compute, al->type)} * bv;
        }
      }
      for (int64_t i = 0; i < m; ++i) {
        double v = alf * column[static_cast<size_t>(i)];
        if (bef != 0.0f) v += double{bef} * load(C, cl->type, q * cl->stride + i + j * cl->ld);
        float out = static_cast<float>(v);
        if (bias) out += load(d->bias, bias_type, q * d->bias_batch_stride + i);
        if (relu) out = std::max(out, 0.0f);
        store(D, dl->type, q * dl->stride + i + j * dl->ld, out);
      }
    }
  }
  return CUBLAS_STATUS_SUCCESS;
}
