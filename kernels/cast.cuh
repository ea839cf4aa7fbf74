// fp32 -> bf16 rounding of a device buffer: how run.precision = "bf16" feeds fp32 tensors to
// bf16 tensor-core products (cuda_gemm.cpp), the way PyTorch's autocast casts a matmul's inputs.
// Only the host launcher is visible.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// dst[i] = bf16(src[i]) (round to nearest even) for i in [0, n). (n)
[[nodiscard]] cudaError_t launch_cast_f32_to_bf16(const float* src, __nv_bfloat16* dst, int64_t n,
                                                  cudaStream_t stream);

}  // namespace win::kernels
