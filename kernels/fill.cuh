// Device fills: the first CUDA kernel of win and the smoke test of the CUDA build. Only the host
// launcher is visible; the kernel stays in fill.cu.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// dst[i] = value for i in [0, n), asynchronously on stream.  // (n)
void launch_fill_f32(float* dst, int64_t n, float value, cudaStream_t stream);

}  // namespace win::kernels
