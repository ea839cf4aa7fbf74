// Optimizer updates on the GPU: the CUDA backend's sgd_update and adamw_update (backend/ops.hpp),
// computed operation by operation in fp32 in the order backend/ref/optim.cpp writes PyTorch's
// single-tensor equations, each product, quotient and sum rounded on its own as PyTorch's
// per-op kernels round them (explicit _rn intrinsics: nvcc never contracts them into a fused
// multiply-add), with the scalar coefficients made in double as the CPU op makes them. (The CPU
// build may contract into FMA under -march=native, so GPU and CPU agree to an ulp or so, not
// always to the bit.) Two forms of each:
//   - one contiguous segment (p, g and state of n elements), one launch;
//   - multi-tensor: a table of segments of the model's flat parameter, gradient and state
//     buffers (one offset per segment, the same in all of them), so a whole optimizer step is one
//     launch. The table lives in device memory; build it on the host, call
//     optim_assign_chunks() on it, and upload it before the launch (CudaOps uploads it each
//     step: a few kilobytes, on the launch's stream).
//
// Every launcher is asynchronous on `stream` and returns cudaGetLastError() after its launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace win::kernels {

// One parameter tensor of the flat buffers, for the multi-tensor launchers.
struct OptimSegment {
  int64_t offset;       // first element in the flat parameter, gradient and state buffers
  int64_t numel;        // elements (0 is allowed)
  double weight_decay;  // this tensor's decay (0 for norms and biases, typically)
  int64_t chunk_begin;  // set by optim_assign_chunks: first work chunk of the segment
};

// Elements per work chunk of the multi-tensor kernels (one block's work at a time).
inline constexpr int64_t kOptimChunk = 4096;

// Numbers the work chunks of segs[0..count) in order (fills chunk_begin) and returns their total,
// the total_chunks argument of the multi-tensor launchers. Host code, on the host copy.
inline int64_t optim_assign_chunks(OptimSegment* segs, int64_t count) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i) {
    segs[i].chunk_begin = total;
    total += (segs[i].numel + kOptimChunk - 1) / kOptimChunk;
  }
  return total;
}

// PyTorch SGD: g += wd * p; buf = momentum * buf + g (buf = g when first_step);
// g = nesterov ? g + momentum * buf : buf; p -= lr * g. With momentum == 0 there is no buffer
// (buf may be nullptr) and p -= lr * (g + wd * p).  // p, g, buf (n)
[[nodiscard]] cudaError_t launch_sgd_update_f32(float* p, const float* g, float* buf, int64_t n,
                                                double lr, double momentum, bool nesterov,
                                                double weight_decay, bool first_step,
                                                cudaStream_t stream);
// The same over every segment of the table (each with its own weight_decay).
// p, g, buf: flat buffers; segs: device table of count segments, chunk_begin assigned.
[[nodiscard]] cudaError_t launch_sgd_update_multi_f32(float* p, const float* g, float* buf,
                                                      const OptimSegment* segs, int64_t count,
                                                      int64_t total_chunks, double lr,
                                                      double momentum, bool nesterov,
                                                      bool first_step, cudaStream_t stream);

// PyTorch AdamW: p *= 1 - lr * wd; m = lerp(m, g, 1 - b1); v = b2 v + (1 - b2) g^2;
// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t = step (1-based).
// p, g, m, v (n)
[[nodiscard]] cudaError_t launch_adamw_update_f32(float* p, const float* g, float* m, float* v,
                                                  int64_t n, double lr, double beta1, double beta2,
                                                  double eps, double weight_decay, int64_t step,
                                                  cudaStream_t stream);
// The same over every segment of the table (each with its own weight_decay).
// p, g, m, v: flat buffers; segs: device table of count segments, chunk_begin assigned.
[[nodiscard]] cudaError_t launch_adamw_update_multi_f32(float* p, const float* g, float* m,
                                                        float* v, const OptimSegment* segs,
                                                        int64_t count, int64_t total_chunks,
                                                        double lr, double beta1, double beta2,
                                                        double eps, int64_t step,
                                                        cudaStream_t stream);

}  // namespace win::kernels
