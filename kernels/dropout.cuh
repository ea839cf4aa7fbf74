// Dropout on the GPU (Ops::dropout / dropout_backward) with masks bit-identical to the CPU's:
// element i, at global position e = lo_offset + i, is kept when word e % 4 of the Philox4x32-10
// block at counter (hi_counter, e / 4), shifted right by 8, is below llround((1 - p) * 2^24)
// (philox_device.cuh, which mirrors core/rng.hpp and backend/ref/embedding_dropout.cpp), so a run
// gives the same masks on CPU and GPU and whatever the number of ranks. Buffers are dense, element
// i in row-major order (the caller makes strided operands dense first). Launchers enqueue on
// `stream` and return cudaGetLastError(); p outside [0, 1), or positions lo_offset + i past
// 2^64 - 1 (which no counter can name), give cudaErrorInvalidValue.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// mask[i] = keep(lo_offset + i) (0 or 1) and y[i] = keep ? x[i] / (1 - p) : 0, the scaling done in
// double and rounded once to float as on the CPU. key0, key1 = win::Philox::key()[0], [1]
// (philox::make_key(seed, stream)). Overwrites mask and y (y may alias x).
// x (n), mask (n, u8), y (n)
[[nodiscard]] cudaError_t launch_dropout_f32(const float* x, int64_t n, double p, uint32_t key0,
                                             uint32_t key1, uint64_t hi_counter, uint64_t lo_offset,
                                             uint8_t* mask, float* y, cudaStream_t stream);

// The mask alone, the same bits as launch_dropout_f32 writes (for kernels that apply it inside,
// as the fused attention does). mask (n, u8)
[[nodiscard]] cudaError_t launch_dropout_mask(int64_t n, double p, uint32_t key0, uint32_t key1,
                                              uint64_t hi_counter, uint64_t lo_offset,
                                              uint8_t* mask, cudaStream_t stream);

// dx[i] = mask[i] ? dy[i] / (1 - p) : 0 (double scaling, as on the CPU). Overwrites dx (may alias
// dy). dy (n), mask (n, u8), dx (n)
[[nodiscard]] cudaError_t launch_dropout_backward_f32(const float* dy, const uint8_t* mask,
                                                      int64_t n, double p, float* dx,
                                                      cudaStream_t stream);

}  // namespace win::kernels
