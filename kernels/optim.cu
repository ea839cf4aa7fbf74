// SGD and AdamW updates, single segment and multi-tensor (see optim.cuh). Element-wise and
// memory-bound: one grid-stride loop for a segment; for a table of segments, blocks walk the
// numbered work chunks (kOptimChunk elements each) and find a chunk's segment by binary search
// over chunk_begin, so one launch covers the whole model however unequal its tensors are.
#include <cmath>

#include "optim.cuh"

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

struct SgdArgs {
  float lr, mom;
  bool nesterov, first_step, use_buf;
};

struct AdamArgs {
  float wt, w1, b2, one_b2, step_size, bc2_sqrt, eps;
  bool low;  // m.lerp_(g, w) with w = 1 - b1 < 0.5: the form exact at m's end
};

// One element of SGD; wd and decay are the segment's.
__device__ __forceinline__ void sgd_elem(float* p, const float* g, float* buf, int64_t i, float wd,
                                         bool decay, const SgdArgs& a) {
  const float pi = p[i];
  float d = decay ? __fadd_rn(g[i], __fmul_rn(wd, pi)) : g[i];
  if (a.use_buf) {
    const float b = a.first_step ? d : __fadd_rn(__fmul_rn(a.mom, buf[i]), d);
    buf[i] = b;
    d = a.nesterov ? __fadd_rn(d, __fmul_rn(a.mom, b)) : b;
  }
  p[i] = __fsub_rn(pi, __fmul_rn(a.lr, d));
}

// One element of AdamW; decay = float(1 - lr * wd) of the segment, applied when decays.
__device__ __forceinline__ void adam_elem(float* p, const float* g, float* m, float* v, int64_t i,
                                          float decay, bool decays, const AdamArgs& a) {
  const float gi = g[i], m0 = m[i], v0 = v[i];
  const float pi = decays ? __fmul_rn(p[i], decay) : p[i];
  const float mi = a.low ? __fadd_rn(m0, __fmul_rn(a.wt, __fsub_rn(gi, m0)))
                         : __fsub_rn(gi, __fmul_rn(__fsub_rn(gi, m0), a.w1));
  const float vi = __fadd_rn(__fmul_rn(v0, a.b2), __fmul_rn(__fmul_rn(a.one_b2, gi), gi));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), a.bc2_sqrt), a.eps);
  m[i] = mi;
  v[i] = vi;
  p[i] = __fsub_rn(pi, __fmul_rn(a.step_size, __fdiv_rn(mi, denom)));
}

__global__ void __launch_bounds__(kThreads)
    sgd_kernel(float* p, const float* g, float* buf, int64_t n, float wd, bool decay, SgdArgs a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    sgd_elem(p, g, buf, i, wd, decay, a);
}

__global__ void __launch_bounds__(kThreads)
    adam_kernel(float* p, const float* g, float* m, float* v, int64_t n, float decay, bool decays,
                AdamArgs a) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    adam_elem(p, g, m, v, i, decay, decays, a);
}

// The segment holding work chunk ch: the last one whose chunk_begin <= ch (empty segments share
// their successor's chunk_begin and come first, so they are never chosen).
__device__ __forceinline__ int64_t segment_of(const OptimSegment* segs, int64_t count, int64_t ch) {
  int64_t lo = 0, hi = count - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (segs[mid].chunk_begin <= ch)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

__global__ void __launch_bounds__(kThreads)
    sgd_multi_kernel(float* p, const float* g, float* buf, const OptimSegment* segs, int64_t count,
                     int64_t total_chunks, SgdArgs a) {
  for (int64_t ch = blockIdx.x; ch < total_chunks; ch += gridDim.x) {
    const OptimSegment s = segs[segment_of(segs, count, ch)];
    const int64_t start = (ch - s.chunk_begin) * kOptimChunk;
    const int64_t left = s.numel - start;
    const int64_t len = left < kOptimChunk ? left : kOptimChunk;
    const float wd = static_cast<float>(s.weight_decay);
    const bool decay = s.weight_decay != 0.0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      sgd_elem(p, g, buf, s.offset + start + i, wd, decay, a);
  }
}

__global__ void __launch_bounds__(kThreads)
    adam_multi_kernel(float* p, const float* g, float* m, float* v, const OptimSegment* segs,
                      int64_t count, int64_t total_chunks, double lr, AdamArgs a) {
  for (int64_t ch = blockIdx.x; ch < total_chunks; ch += gridDim.x) {
    const OptimSegment s = segs[segment_of(segs, count, ch)];
    const int64_t start = (ch - s.chunk_begin) * kOptimChunk;
    const int64_t left = s.numel - start;
    const int64_t len = left < kOptimChunk ? left : kOptimChunk;
    // float(1 - lr * wd) rounded as the host computes it (1 - x == 1 + (-x) exactly).
    const float decay = static_cast<float>(__dadd_rn(1.0, -__dmul_rn(lr, s.weight_decay)));
    const bool decays = s.weight_decay != 0.0;
    for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
      adam_elem(p, g, m, v, s.offset + start + i, decay, decays, a);
  }
}

int blocks_for(int64_t work, int64_t per_block) {
  const int64_t want = (work + per_block - 1) / per_block;
  return static_cast<int>(want < kMaxBlocks ? want : kMaxBlocks);
}

SgdArgs sgd_args(double lr, double momentum, bool nesterov, bool first_step) {
  return {static_cast<float>(lr), static_cast<float>(momentum), nesterov, first_step,
          momentum != 0.0};
}

AdamArgs adam_args(double lr, double beta1, double beta2, double eps, int64_t step) {
  const double t = static_cast<double>(step);
  const double w = 1.0 - beta1;
  AdamArgs a;
  a.low = w < 0.5;
  a.wt = static_cast<float>(w);
  a.w1 = static_cast<float>(1.0 - w);
  a.b2 = static_cast<float>(beta2);
  a.one_b2 = static_cast<float>(1.0 - beta2);
  a.step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, t)));
  a.bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, t)));
  a.eps = static_cast<float>(eps);
  return a;
}

}  // namespace

cudaError_t launch_sgd_update_f32(float* p, const float* g, float* buf, int64_t n, double lr,
                                  double momentum, bool nesterov, double weight_decay,
                                  bool first_step, cudaStream_t stream) {
  if (n <= 0) return cudaGetLastError();
  sgd_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      p, g, buf, n, static_cast<float>(weight_decay), weight_decay != 0.0,
      sgd_args(lr, momentum, nesterov, first_step));
  return cudaGetLastError();
}

cudaError_t launch_sgd_update_multi_f32(float* p, const float* g, float* buf,
                                        const OptimSegment* segs, int64_t count,
                                        int64_t total_chunks, double lr, double momentum,
                                        bool nesterov, bool first_step, cudaStream_t stream) {
  if (count <= 0 || total_chunks <= 0) return cudaGetLastError();
  sgd_multi_kernel<<<blocks_for(total_chunks, 1), kThreads, 0, stream>>>(
      p, g, buf, segs, count, total_chunks, sgd_args(lr, momentum, nesterov, first_step));
  return cudaGetLastError();
}

cudaError_t launch_adamw_update_f32(float* p, const float* g, float* m, float* v, int64_t n,
                                    double lr, double beta1, double beta2, double eps,
                                    double weight_decay, int64_t step, cudaStream_t stream) {
  if (step < 1) return cudaErrorInvalidValue;
  if (n <= 0) return cudaGetLastError();
  adam_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream>>>(
      p, g, m, v, n, static_cast<float>(1.0 - lr * weight_decay), weight_decay != 0.0,
      adam_args(lr, beta1, beta2, eps, step));
  return cudaGetLastError();
}

cudaError_t launch_adamw_update_multi_f32(float* p, const float* g, float* m, float* v,
                                          const OptimSegment* segs, int64_t count,
                                          int64_t total_chunks, double lr, double beta1,
                                          double beta2, double eps, int64_t step,
                                          cudaStream_t stream) {
  if (step < 1) return cudaErrorInvalidValue;
  if (count <= 0 || total_chunks <= 0) return cudaGetLastError();
  adam_multi_kernel<<<blocks_for(total_chunks, 1), kThreads, 0, stream>>>(
      p, g, m, v, segs, count, total_chunks, lr, adam_args(lr, beta1, beta2, eps, step));
  return cudaGetLastError();
}

}  // namespace win::kernels
