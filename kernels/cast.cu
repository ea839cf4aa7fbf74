// fp32 <-> bf16 casts (see cast.cuh): grid-stride loops, four elements per thread when the fp32
// side is 16-byte aligned and the bf16 side 8-byte aligned, single elements for the rest.
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

__global__ void widen4_kernel(const __nv_bfloat162* src, float4* dst, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const float2 a = __bfloat1622float2(src[2 * i]), b = __bfloat1622float2(src[2 * i + 1]);
    dst[i] = make_float4(a.x, a.y, b.x, b.y);
  }
}

__global__ void widen1_kernel(const __nv_bfloat16* src, float* dst, int64_t begin, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride)
    dst[i] = __bfloat162float(src[i]);
}

__global__ void accumulate_kernel(const __nv_bfloat16* src, float* dst, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    dst[i] += __bfloat162float(src[i]);
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

cudaError_t launch_cast_bf16_to_f32(const __nv_bfloat16* src, float* dst, int64_t n,
                                    cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  int64_t done = 0;
  if ((reinterpret_cast<uintptr_t>(src) & 7u) == 0 &&
      (reinterpret_cast<uintptr_t>(dst) & 15u) == 0) {
    const int64_t n4 = n / 4;
    if (n4 > 0)
      widen4_kernel<<<blocks_for(n4), kThreads, 0, stream>>>(
          reinterpret_cast<const __nv_bfloat162*>(src), reinterpret_cast<float4*>(dst), n4);
    done = n4 * 4;
  }
  if (done < n) widen1_kernel<<<blocks_for(n - done), kThreads, 0, stream>>>(src, dst, done, n);
  return cudaGetLastError();
}

cudaError_t launch_accumulate_bf16_into_f32(const __nv_bfloat16* src, float* dst, int64_t n,
                                            cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  accumulate_kernel<<<blocks_for(n), kThreads, 0, stream>>>(src, dst, n);
  return cudaGetLastError();
}

}  // namespace win::kernels
