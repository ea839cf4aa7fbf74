// Copy between two device tensors of the same logical shape (up to 4-d) and any element strides:
// the CUDA side of Ops::copy, where layouts may differ (NCHW <-> channels-last, transposed views,
// padded rows). Element type is opaque (1, 2, 4 or 8 bytes: u8, bf16, f32/i32, f64), since a copy
// never converts. Only the host launcher is visible.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// dst[i0*ds0 + i1*ds1 + i2*ds2 + i3*ds3] = src[i0*ss0 + i1*ss1 + i2*ss2 + i3*ss3] for every index
// below shape. Fewer dimensions: pad shape with leading 1s (strides there are ignored). Strides
// are in elements and may be any value for which distinct indices give distinct dst elements
// (src and dst must not overlap). src and dst point at element (0, 0, 0, 0).
// Paths: identical dense layouts -> one cudaMemcpyAsync; layouts whose fastest-moving dimensions
// differ (e.g. NCHW <-> NHWC) -> 32x32 shared-memory tiles, coalesced on both sides; otherwise an
// element kernel walking dst in memory order. elem_bytes not in {1, 2, 4, 8}:
// cudaErrorInvalidValue. src (shape), dst (shape)
[[nodiscard]] cudaError_t launch_strided_copy(const void* src, void* dst, int elem_bytes,
                                              const int64_t shape[4], const int64_t src_strides[4],
                                              const int64_t dst_strides[4], cudaStream_t stream);

}  // namespace win::kernels
