// Channels-last batch normalisation (see batchnorm_nhwc.cuh). Column statistics in two levels:
// column_partials sums one chunk of rows per block (32 channels per block, several row lanes,
// double accumulators, the lanes combined in a fixed order; at most kMaxChunks chunks whose
// length is fixed by the row count, so results depend on the shape and on whether the float4
// path is taken — the pointers' alignment — only, never on timing), then a per-channel
// kernel adds the chunks in order and turns the sums into per-channel coefficients, applied by
// one element-wise pass (x - mean is formed per element, so a large mean costs no precision):
//   forward:  y = (x - mean) a + beta          a = gamma / sqrt(var + eps)
//   backward: dx = g A + (x - mean) B + D      A = a, B = -A sgx / (n (var + eps)), D = -A sg / n
//             (sg = sum g, sgx = sum g (x - mean); g = dy, zero where y <= 0 with the ReLU)
//
// Memory passes are what these kernels cost (ResNet-50 spends a third of its step here), so:
//   - the forward statistics take one pass: sums of d = x - K and d^2 with K a value of the
//     channel (its first row), so that var = E[d^2] - E[d]^2 does not cancel catastrophically
//     (the shifted-data algorithm; in double);
//   - with the fused ReLU, the backward does not read y: the mask y <= 0 is v <= 0 for
//     v = (x - mean) a + beta, recomputed bit for bit as the forward computed it (same float
//     operations on the same mean, a and beta; a is formed from the float var in both);
//   - channel counts divisible by 4 (all of ResNet's) move float4s: each thread owns 4
//     adjacent channels.
#include <cstdint>
#include <initializer_list>

#include "batchnorm_nhwc.cuh"
#include "device_common.cuh"

namespace win::kernels {

namespace {

constexpr int kBlockChannels = 32;  // channels per block
constexpr int kThreads = 256;
constexpr int64_t kMinChunkRows = 512;
constexpr int64_t kMaxChunks = 1024;  // the per-channel sum over chunks is sequential

int64_t chunk_rows_of(int64_t rows) {
  return device::column_chunk_rows(rows, kMinChunkRows, kMaxChunks);
}
int64_t chunks_of(int64_t rows) {
  return device::column_chunks(rows, kMinChunkRows, kMaxChunks);
}

// V channels per thread: kLanesX threads across a block's 32 channels, kRowLanes rows at once.
template <int V>
struct Shape {
  static constexpr int kLanesX = kBlockChannels / V;
  static constexpr int kRowLanes = kThreads / kLanesX;
};

// V consecutive values of a T (float or bf16) buffer to and from floats: one 16-byte (float4) or
// 8-byte (4 bf16) access for V = 4, plain loads otherwise.
template <class T, int V>
struct Vec;
template <class T>
struct Vec<T, 1> {
  static __device__ __forceinline__ void load(const T* p, float* v) { v[0] = device::to_f(*p); }
  static __device__ __forceinline__ void store(T* p, const float* v) {
    *p = device::from_f<T>(v[0]);
  }
};
template <>
struct Vec<float, 4> {
  static __device__ __forceinline__ void load(const float* p, float* v) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  }
  static __device__ __forceinline__ void store(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};
template <>
struct Vec<__nv_bfloat16, 4> {
  static __device__ __forceinline__ void load(const __nv_bfloat16* p, float* v) {
    const uint2 t = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.y));
    v[0] = a.x;
    v[1] = a.y;
    v[2] = b.x;
    v[3] = b.y;
  }
  static __device__ __forceinline__ void store(__nv_bfloat16* p, const float* v) {
    const __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
    const __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 t;
    t.x = *reinterpret_cast<const unsigned*>(&a);
    t.y = *reinterpret_cast<const unsigned*>(&b);
    *reinterpret_cast<uint2*>(p) = t;
  }
};
// Per-channel fp32 vectors (statistics, coefficients, parameters) in every variant.
template <int V>
using FVec = Vec<float, V>;

// The fused ReLU's mask for one element: from y when given, else recomputed from x (mask_a not
// null: v = (x - mean) a + beta, as apply_forward formed it), else none.
template <class T>
struct Mask {
  const T* y = nullptr;
  const float* a = nullptr;     // the forward coefficient, per channel
  const float* beta = nullptr;  // per channel
};

// g = 0 where the fused ReLU cut the forward, for the V elements at i (x values xv; the
// channels' mean, forward coefficient a and beta in registers when the mask comes from x).
template <class T, int V>
__device__ __forceinline__ void apply_mask(const Mask<T>& mask, int64_t i, const float* xv,
                                           const float* mean, const float* a, const float* beta,
                                           float* g) {
  if (mask.y) {
    float yv[V];
    Vec<T, V>::load(mask.y + i, yv);
#pragma unroll
    for (int v = 0; v < V; ++v)
      if (yv[v] <= 0.0f) g[v] = 0.0f;
  } else if (mask.a) {
#pragma unroll
    for (int v = 0; v < V; ++v)
      if (fmaf(xv[v] - mean[v], a[v], beta[v]) <= 0.0f) g[v] = 0.0f;
  }
}

// What a column pass sums per element: (d, d^2) with d = x - K, or (g, g (x - mean)).
enum class Sum { Shifted, Gradient };

// partial[(k * 2 + q) * C + c]: quantity q of channel c summed over chunk k's rows.
// Forward: shift[c] gets K (x's first row).
template <Sum kSum, class T, int V>
__global__ void column_partials(const T* x, const T* dy, Mask<T> mask, int64_t rows,
                                int64_t chunk_rows, int64_t channels, const float* mean,
                                double* partial) {
  using S = Shape<V>;
  __shared__ double s[2][S::kRowLanes][kBlockChannels];
  const int tx = threadIdx.x % S::kLanesX, ty = threadIdx.x / S::kLanesX;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kBlockChannels + tx * V;
  const int64_t k = blockIdx.y;
  const int64_t r0 = k * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  double acc0[V] = {}, acc1[V] = {};
  if (c0 < channels) {  // no return: every thread reaches the barrier below
    float base[V], a[V], b[V];
    if constexpr (kSum == Sum::Shifted) {
      Vec<T, V>::load(x + c0, base);  // K: the first row
    } else {
      FVec<V>::load(mean + c0, base);
      if (mask.a) {
        FVec<V>::load(mask.a + c0, a);
        FVec<V>::load(mask.beta + c0, b);
      }
    }
    for (int64_t r = r0 + ty; r < r1; r += S::kRowLanes) {
      const int64_t i = r * channels + c0;
      float xv[V];
      Vec<T, V>::load(x + i, xv);
      if constexpr (kSum == Sum::Shifted) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const double d = static_cast<double>(xv[v]) - static_cast<double>(base[v]);
          acc0[v] += d;
          acc1[v] += d * d;
        }
      } else {
        float g[V];
        Vec<T, V>::load(dy + i, g);
        apply_mask<T, V>(mask, i, xv, base, a, b, g);
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const double gv = g[v];
          acc0[v] += gv;
          acc1[v] += gv * (static_cast<double>(xv[v]) - static_cast<double>(base[v]));
        }
      }
    }
  }
#pragma unroll
  for (int v = 0; v < V; ++v) {
    s[0][ty][tx * V + v] = acc0[v];
    s[1][ty][tx * V + v] = acc1[v];
  }
  __syncthreads();
  // One thread per channel of the block adds the row lanes in order.
  const int cb = threadIdx.x;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kBlockChannels + cb;
  if (cb < kBlockChannels && c < channels)
    for (int q = 0; q < 2; ++q) {
      double t = 0.0;
      for (int j = 0; j < S::kRowLanes; ++j) t += s[q][j][cb];
      partial[(k * 2 + q) * channels + c] = t;
    }
}

// Quantity q of channel c summed over the chunks, in chunk order.
__device__ double chunk_total(const double* partial, int64_t chunks, int q, int64_t c,
                              int64_t channels) {
  double t = 0.0;
  for (int64_t k = 0; k < chunks; ++k) t += partial[(k * 2 + q) * channels + c];
  return t;
}

// The forward coefficient from the float var: the backward recomputes it the same way.
__device__ __forceinline__ float forward_coefficient(float gamma, float var, double eps) {
  return static_cast<float>(static_cast<double>(gamma) / sqrt(static_cast<double>(var) + eps));
}

// mean, var (biased), the running statistics and the forward coefficient a.
template <class T>
__global__ void finish_forward(const double* partial, int64_t chunks, int64_t rows,
                               int64_t channels, const T* x, const float* gamma, double eps,
                               double momentum, float* running_mean, float* running_var,
                               float* mean, float* var, float* a) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double n = static_cast<double>(rows);
  const double s1 = chunk_total(partial, chunks, 0, c, channels);
  const double s2 = chunk_total(partial, chunks, 1, c, channels);
  const double dm = s1 / n;           // mean of d = x - K
  const double r = s2 - s1 * dm;      // sum (x - mean)^2; rounding may make it slightly negative
  const double ss = r < 0 ? 0.0 : r;  // (a NaN stays NaN: a diverged input must show)
  const double m = static_cast<double>(device::to_f(x[c])) + dm;
  const double v = ss / n;
  mean[c] = static_cast<float>(m);
  var[c] = static_cast<float>(v);
  running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * m);
  running_var[c] =
      static_cast<float>((1.0 - momentum) * running_var[c] + momentum * ss / (n - 1.0));
  a[c] = forward_coefficient(gamma[c], var[c], eps);
}

__global__ void coefficient(int64_t channels, const float* gamma, double eps, const float* var,
                            float* a) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels) a[c] = forward_coefficient(gamma[c], var[c], eps);
}

// dbeta, dgamma (accumulated) and the backward coefficients A, B, D.
__global__ void finish_backward(const double* partial, int64_t chunks, int64_t rows,
                                int64_t channels, const float* gamma, const float* var, double eps,
                                float* dgamma, float* dbeta, float* ca, float* cb, float* cd) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double n = static_cast<double>(rows);
  const double sg = chunk_total(partial, chunks, 0, c, channels);
  const double sgx = chunk_total(partial, chunks, 1, c, channels);
  const double ve = static_cast<double>(var[c]) + eps, inv = 1.0 / sqrt(ve);
  dbeta[c] = static_cast<float>(static_cast<double>(dbeta[c]) + sg);
  dgamma[c] = static_cast<float>(static_cast<double>(dgamma[c]) + sgx * inv);
  const double A = static_cast<double>(gamma[c]) * inv;
  ca[c] = static_cast<float>(A);
  cb[c] = static_cast<float>(-A * sgx / (n * ve));
  cd[c] = static_cast<float>(-A * sg / n);
}

// The element-wise passes walk (rows, C) with the column mapping above: a thread keeps its
// channels' coefficients in registers and steps over rows (no per-element index division).
// y = (x - mean[c]) a[c] + beta[c], then the ReLU when relu.
// With res (a residual block's shortcut, like x): y = max((x - mean[c]) a[c] + beta[c] + res, 0).
template <class T, int V>
__global__ void apply_forward(const T* x, const T* res, int64_t rows, int64_t channels,
                              const float* mean, const float* a, const float* beta, bool relu,
                              T* y) {
  using S = Shape<V>;
  const int tx = threadIdx.x % S::kLanesX, ty = threadIdx.x / S::kLanesX;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kBlockChannels + tx * V;
  if (c0 >= channels) return;
  float mc[V], ac[V], bc[V];
  FVec<V>::load(mean + c0, mc);
  FVec<V>::load(a + c0, ac);
  FVec<V>::load(beta + c0, bc);
  const int64_t step = static_cast<int64_t>(gridDim.y) * S::kRowLanes;
  for (int64_t r = static_cast<int64_t>(blockIdx.y) * S::kRowLanes + ty; r < rows; r += step) {
    const int64_t i = r * channels + c0;
    float xv[V], rv[V], out[V];
    Vec<T, V>::load(x + i, xv);
    if (res) Vec<T, V>::load(res + i, rv);
#pragma unroll
    for (int v = 0; v < V; ++v) {
      float t = fmaf(xv[v] - mc[v], ac[v], bc[v]);
      if (res) t += rv[v];
      out[v] = relu && t < 0.0f ? 0.0f : t;
    }
    Vec<T, V>::store(y + i, out);
  }
}

// dx = g A[c] + (x - mean[c]) B[c] + D[c]; with dres, also dres = g (the masked gradient the
// shortcut of a fused residual sum receives).
template <class T, int V>
__global__ void apply_backward(const T* x, const T* dy, Mask<T> mask, int64_t rows,
                               int64_t channels, const float* mean, const float* ca,
                               const float* cb, const float* cd, T* dx, T* dres) {
  using S = Shape<V>;
  const int tx = threadIdx.x % S::kLanesX, ty = threadIdx.x / S::kLanesX;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * kBlockChannels + tx * V;
  if (c0 >= channels) return;
  float mc[V], A[V], B[V], D[V], fa[V], fb[V];
  FVec<V>::load(mean + c0, mc);
  FVec<V>::load(ca + c0, A);
  FVec<V>::load(cb + c0, B);
  FVec<V>::load(cd + c0, D);
  if (mask.a) {
    FVec<V>::load(mask.a + c0, fa);
    FVec<V>::load(mask.beta + c0, fb);
  }
  const int64_t step = static_cast<int64_t>(gridDim.y) * S::kRowLanes;
  for (int64_t r = static_cast<int64_t>(blockIdx.y) * S::kRowLanes + ty; r < rows; r += step) {
    const int64_t i = r * channels + c0;
    float xv[V], g[V], out[V];
    Vec<T, V>::load(x + i, xv);
    Vec<T, V>::load(dy + i, g);
    apply_mask<T, V>(mask, i, xv, mc, fa, fb, g);
#pragma unroll
    for (int v = 0; v < V; ++v) out[v] = fmaf(g[v], A[v], fmaf(xv[v] - mc[v], B[v], D[v]));
    Vec<T, V>::store(dx + i, out);
    if (dres) Vec<T, V>::store(dres + i, g);
  }
}

int channel_blocks(int64_t channels) {
  return static_cast<int>((channels + kThreads - 1) / kThreads);
}
dim3 partial_grid(int64_t rows, int64_t channels) {
  return dim3(static_cast<unsigned>((channels + kBlockChannels - 1) / kBlockChannels),
              static_cast<unsigned>(chunks_of(rows)));
}
template <int V>
dim3 apply_grid(int64_t rows, int64_t channels) {
  const int64_t want = (rows + Shape<V>::kRowLanes - 1) / Shape<V>::kRowLanes;
  return dim3(static_cast<unsigned>((channels + kBlockChannels - 1) / kBlockChannels),
              static_cast<unsigned>(want < 1 ? 1 : (want < 65535 ? want : 65535)));
}

// Scratch: the partials (chunks x 2 x C doubles), then 4 coefficient rows of C floats.
double* partials_of(void* scratch) {
  return static_cast<double*>(scratch);
}
float* coefficients_of(void* scratch, int64_t rows, int64_t channels) {
  return reinterpret_cast<float*>(static_cast<double*>(scratch) + chunks_of(rows) * 2 * channels);
}

// float4 when every row starts 16-byte aligned and every pointer is (the usual case).
bool vectorizable(int64_t channels, std::initializer_list<const void*> ptrs) {
  if (channels % 4 != 0) return false;
  for (const void* p : ptrs)
    if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return false;
  return true;
}

template <class T, int V>
void forward_train(const T* x, const T* res, int64_t rows, int64_t channels, const float* gamma,
                   const float* beta, double eps, double momentum, float* running_mean,
                   float* running_var, float* mean, float* var, T* y, bool relu, void* scratch,
                   cudaStream_t stream) {
  double* partial = partials_of(scratch);
  float* a = coefficients_of(scratch, rows, channels);
  column_partials<Sum::Shifted, T, V><<<partial_grid(rows, channels), kThreads, 0, stream>>>(
      x, nullptr, Mask<T>{}, rows, chunk_rows_of(rows), channels, nullptr, partial);
  finish_forward<T><<<channel_blocks(channels), kThreads, 0, stream>>>(
      partial, chunks_of(rows), rows, channels, x, gamma, eps, momentum, running_mean, running_var,
      mean, var, a);
  apply_forward<T, V><<<apply_grid<V>(rows, channels), kThreads, 0, stream>>>(
      x, res, rows, channels, mean, a, beta, relu, y);
}

template <class T, int V>
void backward(const T* x, const T* dy, Mask<T> mask, int64_t rows, int64_t channels,
              const float* gamma, const float* mean, const float* var, double eps, T* dx, T* dres,
              float* dgamma, float* dbeta, float* coeff, double* partial, cudaStream_t stream) {
  float *ca = coeff, *cb = ca + channels, *cd = cb + channels;
  column_partials<Sum::Gradient, T, V><<<partial_grid(rows, channels), kThreads, 0, stream>>>(
      x, dy, mask, rows, chunk_rows_of(rows), channels, mean, partial);
  finish_backward<<<channel_blocks(channels), kThreads, 0, stream>>>(
      partial, chunks_of(rows), rows, channels, gamma, var, eps, dgamma, dbeta, ca, cb, cd);
  apply_backward<T, V><<<apply_grid<V>(rows, channels), kThreads, 0, stream>>>(
      x, dy, mask, rows, channels, mean, ca, cb, cd, dx, dres);
}

template <class T>
cudaError_t forward_train_any(const T* x, const T* res, int64_t rows, int64_t channels,
                              const float* gamma, const float* beta, double eps, double momentum,
                              float* running_mean, float* running_var, float* mean, float* var,
                              T* y, bool relu, void* scratch, cudaStream_t stream) {
  if (rows < 2 || !bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  if (vectorizable(channels, {x, res, y, beta, mean}))
    forward_train<T, 4>(x, res, rows, channels, gamma, beta, eps, momentum, running_mean,
                        running_var, mean, var, y, relu, scratch, stream);
  else
    forward_train<T, 1>(x, res, rows, channels, gamma, beta, eps, momentum, running_mean,
                        running_var, mean, var, y, relu, scratch, stream);
  return cudaGetLastError();
}

template <class T>
cudaError_t forward_eval_any(const T* x, int64_t rows, int64_t channels, const float* gamma,
                             const float* beta, double eps, const float* running_mean,
                             const float* running_var, T* y, bool relu, void* scratch,
                             cudaStream_t stream) {
  if (!bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  float* a = static_cast<float*>(scratch);
  coefficient<<<channel_blocks(channels), kThreads, 0, stream>>>(channels, gamma, eps, running_var,
                                                                 a);
  if (vectorizable(channels, {x, y, running_mean, beta, a}))
    apply_forward<T, 4><<<apply_grid<4>(rows, channels), kThreads, 0, stream>>>(
        x, nullptr, rows, channels, running_mean, a, beta, relu, y);
  else
    apply_forward<T, 1><<<apply_grid<1>(rows, channels), kThreads, 0, stream>>>(
        x, nullptr, rows, channels, running_mean, a, beta, relu, y);
  return cudaGetLastError();
}

template <class T>
cudaError_t backward_any(const T* x, const T* y, const float* beta, const T* dy, int64_t rows,
                         int64_t channels, const float* gamma, const float* mean, const float* var,
                         double eps, T* dx, T* dres, float* dgamma, float* dbeta, void* scratch,
                         cudaStream_t stream) {
  if (!bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  double* partial = partials_of(scratch);
  float* coeff = coefficients_of(scratch, rows, channels);  // A, B, D, then the forward's a
  Mask<T> mask;
  if (beta != nullptr) {  // the ReLU's mask from x
    mask.a = coeff + 3 * channels;
    mask.beta = beta;
    coefficient<<<channel_blocks(channels), kThreads, 0, stream>>>(channels, gamma, eps, var,
                                                                   coeff + 3 * channels);
  } else {
    mask.y = y;
  }
  if (vectorizable(channels, {x, y, beta, dy, mean, dx, dres, coeff}))
    backward<T, 4>(x, dy, mask, rows, channels, gamma, mean, var, eps, dx, dres, dgamma, dbeta,
                   coeff, partial, stream);
  else
    backward<T, 1>(x, dy, mask, rows, channels, gamma, mean, var, eps, dx, dres, dgamma, dbeta,
                   coeff, partial, stream);
  return cudaGetLastError();
}

}  // namespace

bool bn_nhwc_supported(int64_t rows, int64_t channels) {
  return rows >= 1 && channels >= 1 && channels <= 65535LL * kBlockChannels;
}

size_t bn_nhwc_scratch_bytes(int64_t rows, int64_t channels) {
  return static_cast<size_t>(chunks_of(rows) * 2 * channels) * sizeof(double) +
         static_cast<size_t>(4 * channels) * sizeof(float);
}

size_t bn_nhwc_eval_scratch_bytes(int64_t channels) {
  return static_cast<size_t>(channels) * sizeof(float);
}

cudaError_t launch_bn_nhwc_forward_train_f32(const float* x, const float* residual, int64_t rows,
                                             int64_t channels, const float* gamma,
                                             const float* beta, double eps, double momentum,
                                             float* running_mean, float* running_var, float* mean,
                                             float* var, float* y, bool relu, void* scratch,
                                             cudaStream_t stream) {
  return forward_train_any(x, residual, rows, channels, gamma, beta, eps, momentum, running_mean,
                           running_var, mean, var, y, relu, scratch, stream);
}
cudaError_t launch_bn_nhwc_forward_train_bf16(const __nv_bfloat16* x, const __nv_bfloat16* residual,
                                              int64_t rows, int64_t channels, const float* gamma,
                                              const float* beta, double eps, double momentum,
                                              float* running_mean, float* running_var, float* mean,
                                              float* var, __nv_bfloat16* y, bool relu,
                                              void* scratch, cudaStream_t stream) {
  return forward_train_any(x, residual, rows, channels, gamma, beta, eps, momentum, running_mean,
                           running_var, mean, var, y, relu, scratch, stream);
}

cudaError_t launch_bn_nhwc_forward_eval_f32(const float* x, int64_t rows, int64_t channels,
                                            const float* gamma, const float* beta, double eps,
                                            const float* running_mean, const float* running_var,
                                            float* y, bool relu, void* scratch,
                                            cudaStream_t stream) {
  return forward_eval_any(x, rows, channels, gamma, beta, eps, running_mean, running_var, y, relu,
                          scratch, stream);
}
cudaError_t launch_bn_nhwc_forward_eval_bf16(const __nv_bfloat16* x, int64_t rows, int64_t channels,
                                             const float* gamma, const float* beta, double eps,
                                             const float* running_mean, const float* running_var,
                                             __nv_bfloat16* y, bool relu, void* scratch,
                                             cudaStream_t stream) {
  return forward_eval_any(x, rows, channels, gamma, beta, eps, running_mean, running_var, y, relu,
                          scratch, stream);
}

cudaError_t launch_bn_nhwc_backward_f32(const float* x, const float* y, const float* beta,
                                        const float* dy, int64_t rows, int64_t channels,
                                        const float* gamma, const float* mean, const float* var,
                                        double eps, float* dx, float* dresidual, float* dgamma,
                                        float* dbeta, void* scratch, cudaStream_t stream) {
  return backward_any(x, y, beta, dy, rows, channels, gamma, mean, var, eps, dx, dresidual, dgamma,
                      dbeta, scratch, stream);
}
cudaError_t launch_bn_nhwc_backward_bf16(const __nv_bfloat16* x, const __nv_bfloat16* y,
                                         const float* beta, const __nv_bfloat16* dy, int64_t rows,
                                         int64_t channels, const float* gamma, const float* mean,
                                         const float* var, double eps, __nv_bfloat16* dx,
                                         __nv_bfloat16* dresidual, float* dgamma, float* dbeta,
                                         void* scratch, cudaStream_t stream) {
  return backward_any(x, y, beta, dy, rows, channels, gamma, mean, var, eps, dx, dresidual, dgamma,
                      dbeta, scratch, stream);
}

}  // namespace win::kernels
