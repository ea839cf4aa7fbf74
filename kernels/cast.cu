// fp32 -> bf16 cast (see cast.cuh): a grid-stride loop, four elements per thread when src is
// 16-byte aligned and dst 8-byte aligned, single elements for the rest.
#include "cast.cuh"

#include <cstdint>

namespace win::kernels {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 8192;

__global__ void cast4_kernel(const float4* src, __nv_bfloat162* dst, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const float4 v = src[i];
    dst[2 * i] = __floats2bfloat162_rn(v.x, v.y);
    dst[2 * i + 1] = __floats2bfloat162_rn(v.z, v.w);
  }
}

__global__ void cast1_kernel(const float* src, __nv_bfloat16* dst, int64_t begin, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride)
    dst[i] = __float2bfloat16_rn(src[i]);
}

int blocks_for(int64_t work) {
  const int64_t want = (work + kThreads - 1) / kThreads;
  return static_cast<int>(want < 1 ? 1 : (want < kMaxBlocks ? want : kMaxBlocks));
}

}  // namespace

cudaError_t launch_cast_f32_to_bf16(const float* src, __nv_bfloat16* dst, int64_t n,
                                    cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  int64_t done = 0;
  if ((reinterpret_cast<uintptr_t>(src) & 15u) == 0 &&
      (reinterpret_cast<uintptr_t>(dst) & 7u) == 0) {
    const int64_t n4 = n / 4;
    if (n4 > 0)
      cast4_kernel<<<blocks_for(n4), kThreads, 0, stream>>>(
          reinterpret_cast<const float4*>(src), reinterpret_cast<__nv_bfloat162*>(dst), n4);
    done = n4 * 4;
  }
  if (done < n) cast1_kernel<<<blocks_for(n - done), kThreads, 0, stream>>>(src, dst, done, n);
  return cudaGetLastError();
}

}  // namespace win::kernels
