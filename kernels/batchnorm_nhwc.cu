// Channels-last batch normalisation (see batchnorm_nhwc.cuh). Column statistics in two levels:
// column_partials sums one chunk of rows per block (32 channels x 8 row lanes, double
// accumulators, the 8 lanes combined in a fixed order; at most kMaxChunks chunks whose length is
// fixed by the row count, so results depend on the shape only), then a per-channel kernel adds
// the chunks in order and turns the sums into per-channel coefficients, applied by one
// element-wise pass (x - mean is formed per element, so a large mean costs no precision):
//   forward:  y = (x - mean) a + beta          a = gamma / sqrt(var + eps)
//   backward: dx = g A + (x - mean) B + D      A = a, B = -A sgx / (n (var + eps)), D = -A sg / n
//             (sg = sum g, sgx = sum g (x - mean); g = dy, zero where y <= 0 with the ReLU)
#include "batchnorm_nhwc.cuh"

namespace win::kernels {

namespace {

constexpr int kLanes = 32;    // channels per block (one warp wide)
constexpr int kRowLanes = 8;  // rows read at once per block
constexpr int kThreads = kLanes * kRowLanes;
constexpr int64_t kMinChunkRows = 512;
constexpr int64_t kMaxChunks = 1024;  // the per-channel sum over chunks is sequential

int64_t chunk_rows_of(int64_t rows) {
  const int64_t spread = (rows + kMaxChunks - 1) / kMaxChunks;
  return spread > kMinChunkRows ? spread : kMinChunkRows;
}
int64_t chunks_of(int64_t rows) {
  const int64_t len = chunk_rows_of(rows);
  return (rows + len - 1) / len;
}

// The fused ReLU's mask, as the reference has it: dy passes unless y <= 0.
__device__ __forceinline__ float masked(const float* y, const float* dy, int64_t i) {
  return (y != nullptr && y[i] <= 0.0f) ? 0.0f : dy[i];
}

// What a column pass sums per element: x, (x - mean)^2, or (g, g (x - mean)) for the backward.
enum class Sum { X, SquaredDeviation, Gradient };

// partial[(k * kQ + q) * C + c]: quantity q of channel c summed over chunk k's rows.
template <Sum kSum>
__global__ void column_partials(const float* x, const float* y, const float* dy, int64_t rows,
                                int64_t chunk_rows, int64_t channels, const float* mean,
                                double* partial) {
  constexpr int kQ = kSum == Sum::Gradient ? 2 : 1;
  __shared__ double s[kQ][kRowLanes][kLanes];
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kLanes + tx;
  const int64_t k = blockIdx.y;
  const int64_t r0 = k * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  double acc[kQ] = {};
  if (c < channels) {  // no return: every thread reaches the barrier below
    const double m = kSum == Sum::X ? 0.0 : static_cast<double>(mean[c]);
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
      const int64_t i = r * channels + c;
      const double v = x[i];
      if constexpr (kSum == Sum::X) {
        acc[0] += v;
      } else if constexpr (kSum == Sum::SquaredDeviation) {
        acc[0] += (v - m) * (v - m);
      } else {
        const double g = masked(y, dy, i);
        acc[0] += g;
        acc[kQ - 1] += g * (v - m);
      }
    }
  }
  for (int q = 0; q < kQ; ++q) s[q][ty][tx] = acc[q];
  __syncthreads();
  if (ty == 0 && c < channels)
    for (int q = 0; q < kQ; ++q) {
      double t = 0.0;
      for (int j = 0; j < kRowLanes; ++j) t += s[q][j][tx];
      partial[(k * kQ + q) * channels + c] = t;
    }
}

// Quantity q (of nq) of channel c summed over the chunks, in chunk order.
__device__ double chunk_total(const double* partial, int64_t chunks, int q, int nq, int64_t c,
                              int64_t channels) {
  double t = 0.0;
  for (int64_t k = 0; k < chunks; ++k) t += partial[(k * nq + q) * channels + c];
  return t;
}

__global__ void finish_mean(const double* partial, int64_t chunks, int64_t rows, int64_t channels,
                            float* mean) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels)
    mean[c] = static_cast<float>(chunk_total(partial, chunks, 0, 1, c, channels) /
                                 static_cast<double>(rows));
}

// var (biased), the running statistics and the forward coefficient a.
__global__ void finish_forward(const double* partial, int64_t chunks, int64_t rows,
                               int64_t channels, const float* gamma, double eps, double momentum,
                               float* running_mean, float* running_var, const float* mean,
                               float* var, float* a) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double n = static_cast<double>(rows);
  const double ss = chunk_total(partial, chunks, 0, 1, c, channels);
  const double v = ss / n;
  var[c] = static_cast<float>(v);
  running_mean[c] = static_cast<float>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
  running_var[c] =
      static_cast<float>((1.0 - momentum) * running_var[c] + momentum * ss / (n - 1.0));
  a[c] = static_cast<float>(static_cast<double>(gamma[c]) / sqrt(v + eps));
}

__global__ void eval_coefficient(int64_t channels, const float* gamma, double eps, const float* var,
                                 float* a) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c < channels)
    a[c] =
        static_cast<float>(static_cast<double>(gamma[c]) / sqrt(static_cast<double>(var[c]) + eps));
}

// dbeta, dgamma (accumulated) and the backward coefficients A, B, D.
__global__ void finish_backward(const double* partial, int64_t chunks, int64_t rows,
                                int64_t channels, const float* gamma, const float* var, double eps,
                                float* dgamma, float* dbeta, float* ca, float* cb, float* cd) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= channels) return;
  const double n = static_cast<double>(rows);
  const double sg = chunk_total(partial, chunks, 0, 2, c, channels);
  const double sgx = chunk_total(partial, chunks, 1, 2, c, channels);
  const double ve = static_cast<double>(var[c]) + eps, inv = 1.0 / sqrt(ve);
  dbeta[c] = static_cast<float>(static_cast<double>(dbeta[c]) + sg);
  dgamma[c] = static_cast<float>(static_cast<double>(dgamma[c]) + sgx * inv);
  const double A = static_cast<double>(gamma[c]) * inv;
  ca[c] = static_cast<float>(A);
  cb[c] = static_cast<float>(-A * sgx / (n * ve));
  cd[c] = static_cast<float>(-A * sg / n);
}

// The element-wise passes walk (rows, C) as 32 channels x 8 rows per block: a thread keeps its
// channel's coefficients in registers and steps over rows (no per-element index division).
// y = (x - mean[c]) a[c] + beta[c], then the ReLU when relu.
__global__ void apply_forward(const float* x, int64_t rows, int64_t channels, const float* mean,
                              const float* a, const float* beta, bool relu, float* y) {
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kLanes + tx;
  if (c >= channels) return;
  const float mc = mean[c], ac = a[c], bc = beta[c];
  const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
  for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + ty; r < rows; r += step) {
    const int64_t i = r * channels + c;
    const float v = fmaf(x[i] - mc, ac, bc);
    y[i] = relu && v < 0.0f ? 0.0f : v;
  }
}

// dx = g A[c] + (x - mean[c]) B[c] + D[c].
__global__ void apply_backward(const float* x, const float* y, const float* dy, int64_t rows,
                               int64_t channels, const float* mean, const float* ca,
                               const float* cb, const float* cd, float* dx) {
  const int tx = threadIdx.x % kLanes, ty = threadIdx.x / kLanes;
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kLanes + tx;
  if (c >= channels) return;
  const float mc = mean[c], A = ca[c], B = cb[c], D = cd[c];
  const int64_t step = static_cast<int64_t>(gridDim.y) * kRowLanes;
  for (int64_t r = static_cast<int64_t>(blockIdx.y) * kRowLanes + ty; r < rows; r += step) {
    const int64_t i = r * channels + c;
    dx[i] = fmaf(masked(y, dy, i), A, fmaf(x[i] - mc, B, D));
  }
}

int channel_blocks(int64_t channels) {
  return static_cast<int>((channels + kThreads - 1) / kThreads);
}
dim3 partial_grid(int64_t rows, int64_t channels) {
  return dim3(static_cast<unsigned>((channels + kLanes - 1) / kLanes),
              static_cast<unsigned>(chunks_of(rows)));
}
dim3 apply_grid(int64_t rows, int64_t channels) {
  const int64_t want = (rows + kRowLanes - 1) / kRowLanes;
  return dim3(static_cast<unsigned>((channels + kLanes - 1) / kLanes),
              static_cast<unsigned>(want < 1 ? 1 : (want < 65535 ? want : 65535)));
}

// Scratch: the partials (chunks x 2 x C doubles), then 3 coefficient rows of C floats.
double* partials_of(void* scratch) {
  return static_cast<double*>(scratch);
}
float* coefficients_of(void* scratch, int64_t rows, int64_t channels) {
  return reinterpret_cast<float*>(static_cast<double*>(scratch) + chunks_of(rows) * 2 * channels);
}

}  // namespace

bool bn_nhwc_supported(int64_t rows, int64_t channels) {
  return rows >= 1 && channels >= 1 && channels <= 65535LL * kLanes;
}

size_t bn_nhwc_scratch_bytes(int64_t rows, int64_t channels) {
  return static_cast<size_t>(chunks_of(rows) * 2 * channels) * sizeof(double) +
         static_cast<size_t>(3 * channels) * sizeof(float);
}

size_t bn_nhwc_eval_scratch_bytes(int64_t channels) {
  return static_cast<size_t>(channels) * sizeof(float);
}

cudaError_t launch_bn_nhwc_forward_train_f32(const float* x, int64_t rows, int64_t channels,
                                             const float* gamma, const float* beta, double eps,
                                             double momentum, float* running_mean,
                                             float* running_var, float* mean, float* var, float* y,
                                             bool relu, void* scratch, cudaStream_t stream) {
  if (rows < 2 || !bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  double* partial = partials_of(scratch);
  float* a = coefficients_of(scratch, rows, channels);
  const int64_t chunks = chunks_of(rows), len = chunk_rows_of(rows);
  column_partials<Sum::X><<<partial_grid(rows, channels), kThreads, 0, stream>>>(
      x, nullptr, nullptr, rows, len, channels, nullptr, partial);
  finish_mean<<<channel_blocks(channels), kThreads, 0, stream>>>(partial, chunks, rows, channels,
                                                                 mean);
  column_partials<Sum::SquaredDeviation><<<partial_grid(rows, channels), kThreads, 0, stream>>>(
      x, nullptr, nullptr, rows, len, channels, mean, partial);
  finish_forward<<<channel_blocks(channels), kThreads, 0, stream>>>(
      partial, chunks, rows, channels, gamma, eps, momentum, running_mean, running_var, mean, var,
      a);
  apply_forward<<<apply_grid(rows, channels), kThreads, 0, stream>>>(x, rows, channels, mean, a,
                                                                     beta, relu, y);
  return cudaGetLastError();
}

cudaError_t launch_bn_nhwc_forward_eval_f32(const float* x, int64_t rows, int64_t channels,
                                            const float* gamma, const float* beta, double eps,
                                            const float* running_mean, const float* running_var,
                                            float* y, bool relu, void* scratch,
                                            cudaStream_t stream) {
  if (!bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  float* a = static_cast<float*>(scratch);
  eval_coefficient<<<channel_blocks(channels), kThreads, 0, stream>>>(channels, gamma, eps,
                                                                      running_var, a);
  apply_forward<<<apply_grid(rows, channels), kThreads, 0, stream>>>(
      x, rows, channels, running_mean, a, beta, relu, y);
  return cudaGetLastError();
}

cudaError_t launch_bn_nhwc_backward_f32(const float* x, const float* y, const float* dy,
                                        int64_t rows, int64_t channels, const float* gamma,
                                        const float* mean, const float* var, double eps, float* dx,
                                        float* dgamma, float* dbeta, void* scratch,
                                        cudaStream_t stream) {
  if (!bn_nhwc_supported(rows, channels)) return cudaErrorInvalidValue;
  double* partial = partials_of(scratch);
  float* ca = coefficients_of(scratch, rows, channels);
  float* cb = ca + channels;
  float* cd = cb + channels;
  column_partials<Sum::Gradient><<<partial_grid(rows, channels), kThreads, 0, stream>>>(
      x, y, dy, rows, chunk_rows_of(rows), channels, mean, partial);
  finish_backward<<<channel_blocks(channels), kThreads, 0, stream>>>(
      partial, chunks_of(rows), rows, channels, gamma, var, eps, dgamma, dbeta, ca, cb, cd);
  apply_backward<<<apply_grid(rows, channels), kThreads, 0, stream>>>(x, y, dy, rows, channels,
                                                                      mean, ca, cb, cd, dx);
  return cudaGetLastError();
}

}  // namespace win::kernels
