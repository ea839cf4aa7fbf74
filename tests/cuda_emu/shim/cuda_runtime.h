// A CPU stand-in for the parts of the CUDA runtime and device language that kernels/*.cu use, so
// that the kernels themselves (translated by tools/cu2emu.py: launches and __shared__
// declarations) run on a machine without a GPU, in CI, against the CPU backend (test_cuda_emu).
//
// The thread model is CUDA's, not a serial approximation of it: every CUDA thread of a block is an
// OS thread, and the block's threads run concurrently; __syncthreads and the warp operations are
// barriers over the block's or the warp's threads, so a kernel that reads shared memory before the
// writer's barrier, or that leaves some threads out of one, misbehaves here too. Blocks run one
// after another. A thread that returns counts as arrived at every later barrier (as on a GPU).
// Shared memory starts filled with 0xFF bytes (NaN for floats, -1 for integers), so reading an
// unwritten value shows up in the results. Device memory is host memory; streams are ignored
// (every launch finishes before it returns); memset and memcpy are immediate.
//
// What it cannot show: timing, occupancy, bank conflicts, real launch limits, and the GPU's
// contraction of a * b + c into one rounding (nvcc does that by default; this build does not, so
// results match the GPU's to rounding, not bit for bit).
#pragma once

#include <math.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

// ---- runtime API ----
using cudaError_t = int;
using cudaStream_t = void*;
constexpr cudaError_t cudaSuccess = 0;
constexpr cudaError_t cudaErrorInvalidValue = 1;
constexpr cudaError_t cudaErrorInvalidDevice = 101;
constexpr cudaError_t cudaErrorInvalidResourceHandle = 400;
constexpr cudaError_t cudaErrorNoKernelImageForDevice = 209;
enum cudaDeviceAttr { cudaDevAttrComputeCapabilityMajor = 75 };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

namespace emu {
// A launch configuration the kernels' launchers got wrong (a zero-sized grid or block, or a block
// over 1024 threads) is recorded here and returned by the next cudaGetLastError, as on a GPU.
inline cudaError_t last_error = cudaSuccess;
}  // namespace emu

namespace emu {
// The emulated device's compute capability (major), 9 as an H100/H200's; a test sets it lower to
// see the launchers that need a newer GPU refuse.
inline int compute_capability_major = 9;
}  // namespace emu

inline cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int) {
  if (attr != cudaDevAttrComputeCapabilityMajor) return cudaErrorInvalidValue;
  *value = emu::compute_capability_major;
  return cudaSuccess;
}

inline cudaError_t cudaGetLastError() {
  const cudaError_t e = emu::last_error;
  emu::last_error = cudaSuccess;
  return e;
}
inline cudaError_t cudaPeekAtLastError() {
  return emu::last_error;
}
template <class F>
inline cudaError_t cudaFuncSetAttribute(F, cudaFuncAttribute, int) {
  return cudaSuccess;
}

// ---- the thread model ----
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 gridDim, blockDim;
constexpr int warpSize = 32;

namespace emu {

struct Block {
  explicit Block(unsigned threads, size_t dynamic_bytes);
  std::barrier<> all;
  std::vector<std::unique_ptr<std::barrier<>>> warps;
  std::vector<uint64_t> lane_slots;    // one per thread: values exchanged by warp operations
  std::atomic<int> counted{0};         // __syncthreads_count
  std::vector<unsigned char> dynamic;  // extern __shared__
  std::mutex static_mu;
  std::map<std::pair<int, std::type_index>, std::vector<unsigned char>> statics;  // __shared__
};

inline Block::Block(unsigned threads, size_t dynamic_bytes)
    : all(threads), lane_slots(threads, 0), dynamic(dynamic_bytes + 128, 0xFF) {
  for (unsigned w = 0; w < (threads + 31) / 32; ++w)
    warps.push_back(std::make_unique<std::barrier<>>(std::min(32u, threads - 32 * w)));
}

inline thread_local Block* current = nullptr;
inline unsigned flat_thread() {
  return threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
}
inline std::barrier<>& my_warp() {
  return *current->warps[flat_thread() / 32];
}

// extern __shared__ T name[] (tools/cu2emu.py rewrites the declaration into this call), 128-byte
// aligned as a GPU's dynamic shared memory is in practice (kernels that rely on more than T's own
// alignment say so with __align__, which the stand-in then honours up to 128).
template <class T>
T* dynamic_shared() {
  void* p = current->dynamic.data();
  size_t space = current->dynamic.size();
  return reinterpret_cast<T*>(std::align(128, current->dynamic.size() - 128, p, space));
}

// __shared__ T name[...]: one object per block, per declaration (id) and type (a templated
// kernel's instantiations differ in type), made by the first thread that reaches it.
template <class T>
T& static_shared(int id) {
  std::lock_guard lock(current->static_mu);
  auto& bytes = current->statics[{id, std::type_index(typeid(T))}];
  if (bytes.empty()) bytes.assign(sizeof(T) + alignof(std::max_align_t), 0xFF);
  void* p = bytes.data();
  size_t space = bytes.size();
  return *reinterpret_cast<T*>(std::align(alignof(T), sizeof(T), p, space));
}

template <class D>
dim3 to_dim3(D d) {
  if constexpr (std::is_same_v<D, dim3>)
    return d;
  else
    return dim3(static_cast<unsigned>(d));
}

// kernel<<<grid, block, smem, stream>>>(args) becomes launch([&] { kernel(args); }, grid, block,
// smem, stream).
template <class G, class B>
void launch(const std::function<void()>& kernel, G grid_in, B block_in, size_t smem = 0,
            cudaStream_t = nullptr) {
  const dim3 grid = to_dim3(grid_in), block = to_dim3(block_in);
  const uint64_t threads = uint64_t{block.x} * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 ||
      grid.y > 65535 || grid.z > 65535) {
    last_error = cudaErrorInvalidValue;  // cudaErrorInvalidConfiguration on a GPU
    return;
  }
  gridDim = grid;
  blockDim = block;
  // One OS thread per CUDA thread of a block, made once per launch; they take the blocks one
  // after another, all of them on the same block at a time, with a barrier between blocks.
  const unsigned n = static_cast<unsigned>(threads);
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  std::barrier<> between(n);
  std::unique_ptr<Block> shared_block;
  auto worker = [&](unsigned t) {
    threadIdx = dim3(t % block.x, (t / block.x) % block.y, t / (block.x * block.y));
    for (uint64_t i = 0; i < blocks; ++i) {
      between.arrive_and_wait();  // every thread is done with the previous block
      if (t == 0) shared_block = std::make_unique<Block>(n, smem);
      between.arrive_and_wait();
      current = shared_block.get();
      blockIdx = dim3(static_cast<unsigned>(i % grid.x), static_cast<unsigned>(i / grid.x % grid.y),
                      static_cast<unsigned>(i / (uint64_t{grid.x} * grid.y)));
      kernel();
      // A returned thread no longer holds up its block's or its warp's barriers.
      current->warps[t / 32]->arrive_and_drop();
      current->all.arrive_and_drop();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(n);
  for (unsigned t = 0; t < n; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
}

// Warp exchange: each lane publishes v, all wait, each reads the lane it wants, all wait again
// (so no lane overwrites its slot before every reader is done).
template <class V, class Pick>
V warp_exchange(V v, Pick source_lane) {
  static_assert(sizeof(V) <= sizeof(uint64_t));
  const unsigned t = flat_thread(), lane = t % 32, base = t - lane;
  uint64_t mine = 0;
  std::memcpy(&mine, &v, sizeof(V));
  current->lane_slots[t] = mine;
  my_warp().arrive_and_wait();
  const unsigned src = source_lane(lane);
  V out = v;
  if (src < 32 && base + src < current->lane_slots.size())
    std::memcpy(&out, &current->lane_slots[base + src], sizeof(V));
  my_warp().arrive_and_wait();
  return out;
}

}  // namespace emu

inline void __syncthreads() {
  emu::current->all.arrive_and_wait();
}
inline int __syncthreads_count(int predicate) {
  emu::Block& b = *emu::current;
  b.all.arrive_and_wait();  // the previous count has been read by everyone
  if (emu::flat_thread() == 0) b.counted.store(0);
  b.all.arrive_and_wait();
  if (predicate) b.counted.fetch_add(1);
  b.all.arrive_and_wait();
  return b.counted.load();
}
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::my_warp().arrive_and_wait();
}
template <class V>
V __shfl_xor_sync(unsigned, V v, int mask) {
  return emu::warp_exchange(v, [&](unsigned lane) { return lane ^ static_cast<unsigned>(mask); });
}
template <class V>
V __shfl_sync(unsigned, V v, int src) {
  return emu::warp_exchange(v, [&](unsigned) { return static_cast<unsigned>(src) % 32; });
}
template <class V>
V __shfl_down_sync(unsigned, V v, unsigned delta) {
  // Lanes whose source is past the warp keep their own value.
  return emu::warp_exchange(v,
                            [&](unsigned lane) { return lane + delta < 32 ? lane + delta : lane; });
}
inline unsigned __ballot_sync(unsigned, int predicate) {
  const unsigned t = emu::flat_thread(), lane = t % 32, base = t - lane;
  emu::current->lane_slots[t] = predicate ? 1 : 0;
  emu::my_warp().arrive_and_wait();
  unsigned bits = 0;
  for (unsigned l = 0; l < 32 && base + l < emu::current->lane_slots.size(); ++l)
    if (emu::current->lane_slots[base + l]) bits |= 1u << l;
  emu::my_warp().arrive_and_wait();
  return bits;
}

// ---- atomics (real ones: the block's threads do run concurrently) ----
template <class T>
T atomicAdd(T* p, T v) {
  return std::atomic_ref<T>(*p).fetch_add(v);
}
template <class T>
T atomicMin(T* p, T v) {
  std::atomic_ref<T> a(*p);
  T old = a.load();
  while (v < old && !a.compare_exchange_weak(old, v)) {
  }
  return old;
}

// ---- device intrinsics and math ----
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline float __fsub_rn(float a, float b) {
  return a - b;
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fdiv_rn(float a, float b) {
  return a / b;
}
inline float __fsqrt_rn(float a) {
  return sqrtf(a);
}
inline float __fmaf_rn(float a, float b, float c) {
  return fmaf(a, b, c);
}
inline double __dadd_rn(double a, double b) {
  return a + b;
}
inline double __dmul_rn(double a, double b) {
  return a * b;
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return static_cast<unsigned>((uint64_t{a} * b) >> 32);
}
inline int __popc(unsigned v) {
  return std::popcount(v);
}
template <class A, class B>
inline std::common_type_t<A, B> min(A a, B b) {
  return a < b ? a : b;
}
template <class A, class B>
inline std::common_type_t<A, B> max(A a, B b) {
  return a < b ? b : a;
}

// The host side of the runtime (memory, copies, streams, events, devices), for win's own host code
// on this stand-in (test_cuda_host_emu).
#include "emu_runtime_host.h"
