// Element-wise and bias kernels of the CUDA backend (see eltwise.cuh for the semantics). The
// element-wise ops share one grid-stride map kernel that moves 16-byte packs when every operand
// is 16-byte aligned (4 floats or 8 bf16 per load) and single elements otherwise; all arithmetic
// is f32. The column sums of bias_grad / relu_bias_backward are a fixed two-level reduction
// (chunks of at least 256 rows, then chunk partials in order), so they are reproducible.
#include "device_common.cuh"
#include "eltwise.cuh"

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;  // grid-stride beyond this

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

using device::from_f;
using device::to_f;

template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

// y[i] = f(a[i], b[i], y[i]) for i in [0, n); b and the old y are read only when F says so.
// kVec elements per pack (1: no alignment assumed).
template <class T, int kVec, class F>
__global__ void map_kernel(const T* a, const T* b, T* y, int64_t n, F f) {
  using P = Pack<T, kVec>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t t0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t packs = n / kVec;
  for (int64_t v = t0; v < packs; v += stride) {
    const P pa = reinterpret_cast<const P*>(a)[v];
    P pb, py, out;
    if constexpr (F::kReadsB) pb = reinterpret_cast<const P*>(b)[v];
    if constexpr (F::kReadsY) py = reinterpret_cast<const P*>(y)[v];
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      float bv = 0.0f, yv = 0.0f;
      if constexpr (F::kReadsB) bv = to_f(pb.v[k]);
      if constexpr (F::kReadsY) yv = to_f(py.v[k]);
      out.v[k] = from_f<T>(f(to_f(pa.v[k]), bv, yv));
    }
    reinterpret_cast<P*>(y)[v] = out;
  }
  for (int64_t i = packs * kVec + t0; i < n; i += stride) {
    float bv = 0.0f, yv = 0.0f;
    if constexpr (F::kReadsB) bv = to_f(b[i]);
    if constexpr (F::kReadsY) yv = to_f(y[i]);
    y[i] = from_f<T>(f(to_f(a[i]), bv, yv));
  }
}

template <class T, class F>
cudaError_t launch_map(const T* a, const T* b, T* y, int64_t n, F f, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  constexpr int kVec = 16 / sizeof(T);
  const bool vec = aligned16(a) && aligned16(y) && (!F::kReadsB || aligned16(b));
  if (vec)
    map_kernel<T, kVec, F>
        <<<blocks_for((n + kVec - 1) / kVec), kThreads, 0, stream>>>(a, b, y, n, f);
  else
    map_kernel<T, 1, F><<<blocks_for(n), kThreads, 0, stream>>>(a, b, y, n, f);
  return cudaGetLastError();
}

// ---- the element-wise functors: f(a, b, y_old) --------------------------------------------------

struct AddF {
  static constexpr bool kReadsB = true, kReadsY = false;
  __device__ float operator()(float a, float b, float) const { return a + b; }
};
struct AddReluF {
  static constexpr bool kReadsB = true, kReadsY = false;
  __device__ float operator()(float a, float b, float) const {
    const float s = a + b;
    return s > 0.0f ? s : 0.0f;
  }
};
struct ReluBackwardF {  // a = y (the ReLU's output), b = dy
  static constexpr bool kReadsB = true, kReadsY = false;
  __device__ float operator()(float out, float g, float) const { return out > 0.0f ? g : 0.0f; }
};
struct AxpyF {
  static constexpr bool kReadsB = false, kReadsY = true;
  float alpha;
  __device__ float operator()(float x, float, float old) const { return old + alpha * x; }
};
struct ScaleF {
  static constexpr bool kReadsB = false, kReadsY = false;
  float alpha;
  __device__ float operator()(float x, float, float) const { return alpha * x; }
};

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

template <Activation K>
struct ActForwardF {
  static constexpr bool kReadsB = false, kReadsY = false;
  __device__ float operator()(float x, float, float) const {
    if constexpr (K == Activation::Relu)
      return x > 0.0f ? x : 0.0f;
    else if constexpr (K == Activation::Tanh)
      return tanhf(x);
    else
      return 0.5f * x * (1.0f + erff(x * kInvSqrt2));  // Gelu
  }
};
template <Activation K>
struct ActBackwardF {  // a = x (the activation's input), b = dy
  static constexpr bool kReadsB = true, kReadsY = false;
  __device__ float operator()(float x, float g, float) const {
    float d;
    if constexpr (K == Activation::Relu) {
      d = x > 0.0f ? 1.0f : 0.0f;
    } else if constexpr (K == Activation::Tanh) {
      const float t = tanhf(x);
      d = 1.0f - t * t;
    } else {  // Gelu: Phi(x) + x * phi(x)
      const float cdf = 0.5f * (1.0f + erff(x * kInvSqrt2));
      const float pdf = kInvSqrt2Pi * expf(-0.5f * x * x);
      d = cdf + x * pdf;
    }
    return d * g;
  }
};

template <class T>
cudaError_t activation_forward(Activation kind, const T* x, T* y, int64_t n, cudaStream_t s) {
  switch (kind) {
    case Activation::Relu:
      return launch_map(x, x, y, n, ActForwardF<Activation::Relu>{}, s);
    case Activation::Gelu:
      return launch_map(x, x, y, n, ActForwardF<Activation::Gelu>{}, s);
    case Activation::Tanh:
      return launch_map(x, x, y, n, ActForwardF<Activation::Tanh>{}, s);
  }
  return cudaErrorInvalidValue;
}

template <class T>
cudaError_t activation_backward(Activation kind, const T* x, const T* dy, T* dx, int64_t n,
                                cudaStream_t s) {
  switch (kind) {
    case Activation::Relu:
      return launch_map(x, dy, dx, n, ActBackwardF<Activation::Relu>{}, s);
    case Activation::Gelu:
      return launch_map(x, dy, dx, n, ActBackwardF<Activation::Gelu>{}, s);
    case Activation::Tanh:
      return launch_map(x, dy, dx, n, ActBackwardF<Activation::Tanh>{}, s);
  }
  return cudaErrorInvalidValue;
}

// ---- bias ---------------------------------------------------------------------------------------

// y (rows, cols) += bias (cols), kVec columns per pack (cols % kVec == 0 when kVec > 1).
template <int kVec>
__global__ void add_bias_kernel(const float* bias, float* y, int64_t n, int64_t cols) {
  using P = Pack<float, kVec>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t packs = n / kVec;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < packs;
       v += stride) {
    const int64_t c = (v * kVec) % cols;
    P py = reinterpret_cast<P*>(y)[v];
    const P pb = reinterpret_cast<const P*>(bias + c)[0];
#pragma unroll
    for (int k = 0; k < kVec; ++k) py.v[k] += pb.v[k];
    reinterpret_cast<P*>(y)[v] = py;
  }
}

constexpr int kColTile = 32;            // columns per block (one warp wide)
constexpr int kRowThreads = 8;          // threads down the rows of a chunk
constexpr int64_t kMinChunkRows = 256;  // rows per chunk (at least): one partial per column
constexpr int64_t kMaxChunks = 128;     // so scratch stays at most kMaxChunks * cols doubles

// Rows per chunk: 256, or more when that would make over kMaxChunks chunks. Depends on rows only.
int64_t chunk_rows_of(int64_t rows) {
  return device::column_chunk_rows(rows, kMinChunkRows, kMaxChunks);
}
int64_t chunks_of(int64_t rows) {
  return device::column_chunks(rows, kMinChunkRows, kMaxChunks);
}

// Column sums of one chunk of rows of dy (masked by y > 0 and written to dz when kRelu). With one
// chunk the sum goes straight into db; else into partial[chunk * cols + c].
template <bool kRelu>
__global__ void column_sums_kernel(const float* y, const float* dy, float* dz, float* db,
                                   int64_t rows, int64_t cols, int64_t chunk_rows,
                                   double* partial) {
  __shared__ double sums[kRowThreads][kColTile];
  const int64_t c = static_cast<int64_t>(blockIdx.y) * kColTile + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.x) * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  double acc = 0.0;
  if (c < cols) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowThreads) {
      const int64_t o = r * cols + c;
      float v = dy[o];
      if constexpr (kRelu) {
        v = y[o] > 0.0f ? v : 0.0f;
        dz[o] = v;
      }
      acc += static_cast<double>(v);
    }
  }
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double total = 0.0;
#pragma unroll
    for (int g = 0; g < kRowThreads; ++g) total += sums[g][threadIdx.x];
    if (partial != nullptr)
      partial[static_cast<int64_t>(blockIdx.x) * cols + c] = total;
    else
      db[c] = static_cast<float>(static_cast<double>(db[c]) + total);
  }
}

// db[c] += sum over chunks (in chunk order) of partial[chunk * cols + c].
__global__ void finish_column_sums_kernel(const double* partial, int64_t chunks, int64_t cols,
                                          float* db) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < cols;
       c += stride) {
    double total = 0.0;
    for (int64_t k = 0; k < chunks; ++k) total += partial[k * cols + c];
    db[c] = static_cast<float>(static_cast<double>(db[c]) + total);
  }
}

template <bool kRelu>
cudaError_t column_sums(const float* y, const float* dy, float* dz, float* db, int64_t rows,
                        int64_t cols, double* scratch, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  const int64_t col_tiles = (cols + kColTile - 1) / kColTile;
  if (col_tiles > 65535) return cudaErrorInvalidValue;
  const int64_t chunks = chunks_of(rows);
  if (chunks > 1 && scratch == nullptr) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(chunks), static_cast<unsigned>(col_tiles));
  const dim3 block(kColTile, kRowThreads);
  column_sums_kernel<kRelu><<<grid, block, 0, stream>>>(
      y, dy, dz, db, rows, cols, chunk_rows_of(rows), chunks > 1 ? scratch : nullptr);
  if (chunks > 1)
    finish_column_sums_kernel<<<blocks_for(cols), kThreads, 0, stream>>>(scratch, chunks, cols, db);
  return cudaGetLastError();
}

}  // namespace

// ---- f32 ----------------------------------------------------------------------------------------

cudaError_t launch_add_f32(const float* a, const float* b, float* y, int64_t n,
                           cudaStream_t stream) {
  return launch_map(a, b, y, n, AddF{}, stream);
}
cudaError_t launch_add_relu_f32(const float* a, const float* b, float* y, int64_t n,
                                cudaStream_t stream) {
  return launch_map(a, b, y, n, AddReluF{}, stream);
}
cudaError_t launch_relu_backward_f32(const float* y, const float* dy, float* dx, int64_t n,
                                     cudaStream_t stream) {
  return launch_map(y, dy, dx, n, ReluBackwardF{}, stream);
}
cudaError_t launch_axpy_f32(float alpha, const float* x, float* y, int64_t n, cudaStream_t stream) {
  return launch_map(x, x, y, n, AxpyF{alpha}, stream);
}
cudaError_t launch_scale_f32(float alpha, float* x, int64_t n, cudaStream_t stream) {
  return launch_map<float>(x, x, x, n, ScaleF{alpha}, stream);
}
cudaError_t launch_activation_forward_f32(Activation kind, const float* x, float* y, int64_t n,
                                          cudaStream_t stream) {
  return activation_forward(kind, x, y, n, stream);
}
cudaError_t launch_activation_backward_f32(Activation kind, const float* x, const float* dy,
                                           float* dx, int64_t n, cudaStream_t stream) {
  return activation_backward(kind, x, dy, dx, n, stream);
}

// ---- bf16 ---------------------------------------------------------------------------------------

cudaError_t launch_add_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* y,
                            int64_t n, cudaStream_t stream) {
  return launch_map(a, b, y, n, AddF{}, stream);
}
cudaError_t launch_add_relu_bf16(const __nv_bfloat16* a, const __nv_bfloat16* b, __nv_bfloat16* y,
                                 int64_t n, cudaStream_t stream) {
  return launch_map(a, b, y, n, AddReluF{}, stream);
}
cudaError_t launch_relu_backward_bf16(const __nv_bfloat16* y, const __nv_bfloat16* dy,
                                      __nv_bfloat16* dx, int64_t n, cudaStream_t stream) {
  return launch_map(y, dy, dx, n, ReluBackwardF{}, stream);
}
cudaError_t launch_axpy_bf16(float alpha, const __nv_bfloat16* x, __nv_bfloat16* y, int64_t n,
                             cudaStream_t stream) {
  return launch_map(x, x, y, n, AxpyF{alpha}, stream);
}
cudaError_t launch_scale_bf16(float alpha, __nv_bfloat16* x, int64_t n, cudaStream_t stream) {
  return launch_map<__nv_bfloat16>(x, x, x, n, ScaleF{alpha}, stream);
}
cudaError_t launch_activation_forward_bf16(Activation kind, const __nv_bfloat16* x,
                                           __nv_bfloat16* y, int64_t n, cudaStream_t stream) {
  return activation_forward(kind, x, y, n, stream);
}
cudaError_t launch_activation_backward_bf16(Activation kind, const __nv_bfloat16* x,
                                            const __nv_bfloat16* dy, __nv_bfloat16* dx, int64_t n,
                                            cudaStream_t stream) {
  return activation_backward(kind, x, dy, dx, n, stream);
}

// ---- bias ---------------------------------------------------------------------------------------

cudaError_t launch_add_bias_f32(const float* bias, float* y, int64_t rows, int64_t cols,
                                cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return cudaSuccess;
  const int64_t n = rows * cols;
  if (cols % 4 == 0 && aligned16(bias) && aligned16(y))
    add_bias_kernel<4><<<blocks_for(n / 4), kThreads, 0, stream>>>(bias, y, n, cols);
  else
    add_bias_kernel<1><<<blocks_for(n), kThreads, 0, stream>>>(bias, y, n, cols);
  return cudaGetLastError();
}

int64_t bias_grad_scratch_doubles(int64_t rows, int64_t cols) {
  const int64_t chunks = chunks_of(rows);
  return chunks > 1 && cols > 0 ? chunks * cols : 0;
}

cudaError_t launch_bias_grad_f32(const float* dy, float* db, int64_t rows, int64_t cols,
                                 double* scratch, cudaStream_t stream) {
  return column_sums<false>(nullptr, dy, nullptr, db, rows, cols, scratch, stream);
}

cudaError_t launch_relu_bias_backward_f32(const float* y, const float* dy, float* dz, float* db,
                                          int64_t rows, int64_t cols, double* scratch,
                                          cudaStream_t stream) {
  if (db == nullptr) return launch_relu_backward_f32(y, dy, dz, rows * cols, stream);
  return column_sums<true>(y, dy, dz, db, rows, cols, scratch, stream);
}

}  // namespace win::kernels
