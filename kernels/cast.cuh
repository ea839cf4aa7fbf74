// fp32 <-> bf16 conversion of a device buffer: how run.precision = "bf16" feeds fp32 tensors to
// bf16 tensor-core products (cuda_gemm.cpp), the way PyTorch's autocast casts a matmul's inputs,
// and where bf16 activations begin and end (Ops::convert). Only the host launchers are visible.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// dst[i] = bf16(src[i]) (round to nearest even) for i in [0, n). (n)
[[nodiscard]] cudaError_t launch_cast_f32_to_bf16(const float* src, __nv_bfloat16* dst, int64_t n,
                                                  cudaStream_t stream);

// dst[i] = float(src[i]) (exact) for i in [0, n). (n)
[[nodiscard]] cudaError_t launch_cast_bf16_to_f32(const __nv_bfloat16* src, float* dst, int64_t n,
                                                  cudaStream_t stream);

// dst[i] += float(src[i]) for i in [0, n): a bf16 gradient added into its fp32 accumulator. (n)
[[nodiscard]] cudaError_t launch_accumulate_bf16_into_f32(const __nv_bfloat16* src, float* dst,
                                                          int64_t n, cudaStream_t stream);

}  // namespace win::kernels
