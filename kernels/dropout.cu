// Dropout kernels (see dropout.cuh). One thread per Philox block: its four words decide the (up
// to) four elements of that block that fall inside [lo_offset, lo_offset + n), exactly as the CPU
// loop consumes a block per four elements, so the draw of an element depends only on its global
// position. The mask-only launcher runs the same kernel without x and y.
#include "dropout.cuh"

#include <cstdint>

#include "philox_device.cuh"

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

__global__ void dropout_kernel(const float* x, int64_t n, philox::Key key, uint64_t hi_counter,
                               uint64_t lo_offset, uint32_t keep_below, double inv_keep,
                               uint8_t* mask, float* y, int64_t philox_blocks) {
  const uint64_t first = lo_offset >> 2;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < philox_blocks;
       t += stride) {
    const uint64_t b = first + static_cast<uint64_t>(t);
    const philox::Block r = philox::block(key, hi_counter, b);
#pragma unroll
    for (int w = 0; w < 4; ++w) {
      const uint64_t e = 4 * b + static_cast<uint64_t>(w);
      // Offsets from lo_offset, not an end position: the range may end at 2^64 - 1.
      if (e < lo_offset || e - lo_offset >= static_cast<uint64_t>(n)) continue;
      const int64_t i = static_cast<int64_t>(e - lo_offset);
      const bool keep = philox::dropout_keep_word(r.w[w], keep_below);
      mask[i] = keep ? 1 : 0;
      if (y) y[i] = philox::dropout_value(x[i], keep, inv_keep);
    }
  }
}

__global__ void dropout_backward_kernel(const float* dy, const uint8_t* mask, int64_t n,
                                        double inv_keep, float* dx) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dx[i] = philox::dropout_value(dy[i], mask[i] != 0, inv_keep);
}

}  // namespace

cudaError_t launch_dropout_f32(const float* x, int64_t n, double p, uint32_t key0, uint32_t key1,
                               uint64_t hi_counter, uint64_t lo_offset, uint8_t* mask, float* y,
                               cudaStream_t stream) {
  if (!(p >= 0.0 && p < 1.0)) return cudaErrorInvalidValue;
  if (n <= 0) return cudaSuccess;
  // The last position must not wrap: the range would come out empty and nothing be written.
  if (static_cast<uint64_t>(n) - 1 > UINT64_MAX - lo_offset) return cudaErrorInvalidValue;
  const uint32_t keep_below = philox::dropout_keep_below(p);
  const double inv_keep = 1.0 / (1.0 - p);
  const uint64_t last = lo_offset + static_cast<uint64_t>(n) - 1;
  const int64_t philox_blocks = static_cast<int64_t>((last >> 2) - (lo_offset >> 2) + 1);
  const philox::Key key{{key0, key1}};
  dropout_kernel<<<blocks_for(philox_blocks), kThreads, 0, stream>>>(
      x, n, key, hi_counter, lo_offset, keep_below, inv_keep, mask, y, philox_blocks);
  return cudaGetLastError();
}

cudaError_t launch_dropout_mask(int64_t n, double p, uint32_t key0, uint32_t key1,
                                uint64_t hi_counter, uint64_t lo_offset, uint8_t* mask,
                                cudaStream_t stream) {
  return launch_dropout_f32(nullptr, n, p, key0, key1, hi_counter, lo_offset, mask, nullptr,
                            stream);
}

cudaError_t launch_dropout_backward_f32(const float* dy, const uint8_t* mask, int64_t n, double p,
                                        float* dx, cudaStream_t stream) {
  if (!(p >= 0.0 && p < 1.0)) return cudaErrorInvalidValue;
  if (n <= 0) return cudaSuccess;
  dropout_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dy, mask, n, 1.0 / (1.0 - p), dx);
  return cudaGetLastError();
}

}  // namespace win::kernels
