// The host half of the CUDA runtime stand-in (included by cuda_runtime.h): device memory, copies,
// memsets, streams, events and device queries, enough for win's own host code (CudaOps, the
// tensor allocator, transfers, op timing) to run unchanged on the CPU in test_cuda_host_emu.
//
// Device memory is host memory, but it is kept apart from the rest: cudaMalloc records each
// allocation and fills it with 0xFF bytes (NaN for floats, as a GPU's memory holds stale values,
// never zeros), and once a test sets emu::check_device_pointers, every copy and memset checks that
// its device side lies inside one live allocation and its host side outside all of them, as the
// copy's kind says. So a copy in the wrong direction, a length past an allocation's end, a double
// free or a foreign pointer handed to cudaFree is an error here as it is on a GPU. (The kernel
// tests of test_cuda_emu pass host vectors as device memory and leave the check off.)
//
// Streams and events are tokens: every launch, copy and memset finishes before it returns, so
// stream order holds trivially and a missing synchronisation cannot show here.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "library_types.h"

using cudaEvent_t = struct EmuEvent*;
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaEventDefault = 0, cudaEventDisableTiming = 2;

struct EmuEvent {
  std::chrono::steady_clock::time_point at{};
  bool recorded = false;
  bool timing = true;  // not created with cudaEventDisableTiming
};

namespace emu {

inline bool check_device_pointers = false;

struct DeviceMemory {
  std::mutex mu;
  std::map<const char*, size_t> live;  // base -> bytes
  size_t bytes_in_use = 0;
};
inline DeviceMemory& device_memory() {
  static DeviceMemory m;
  return m;
}

// Whether [p, p + bytes) lies inside one live allocation; *inside_any: p lies in one at all.
inline bool in_allocation(const void* p, size_t bytes, bool* inside_any = nullptr) {
  DeviceMemory& m = device_memory();
  std::lock_guard lock(m.mu);
  const char* c = static_cast<const char*>(p);
  auto it = m.live.upper_bound(c);
  bool any = false, whole = false;
  if (it != m.live.begin()) {
    --it;
    if (c < it->first + it->second || (bytes == 0 && c == it->first + it->second)) {
      any = true;
      whole = static_cast<size_t>(c - it->first) + bytes <= it->second;
    }
  }
  if (inside_any) *inside_any = any;
  return whole;
}

// A device range, as a copy or memset names it: inside one allocation.
inline cudaError_t check_device(const void* p, size_t bytes) {
  if (!check_device_pointers) return cudaSuccess;
  return in_allocation(p, bytes) ? cudaSuccess : cudaErrorInvalidValue;
}
inline cudaError_t check_host(const void* p, size_t bytes) {
  if (!check_device_pointers || bytes == 0) return cudaSuccess;
  bool any = false;
  in_allocation(p, bytes, &any);
  return any ? cudaErrorInvalidValue : cudaSuccess;
}

}  // namespace emu

inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (!p) return cudaErrorInvalidValue;
  // cudaMalloc's alignment, and exactly `bytes`, so that a sanitizer build sees a read or write
  // one element past the end.
  void* q = nullptr;
  if (posix_memalign(&q, 256, std::max<size_t>(bytes, 1)) != 0) return 2;  // MemoryAllocation
  std::memset(q, 0xFF, bytes);
  emu::DeviceMemory& m = emu::device_memory();
  std::lock_guard lock(m.mu);
  m.live[static_cast<const char*>(q)] = bytes;
  m.bytes_in_use += bytes;
  *p = q;
  return cudaSuccess;
}
template <class T>
cudaError_t cudaMalloc(T** p, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(p), bytes);
}

inline cudaError_t cudaFree(void* p) {
  if (!p) return cudaSuccess;
  emu::DeviceMemory& m = emu::device_memory();
  {
    std::lock_guard lock(m.mu);
    auto it = m.live.find(static_cast<const char*>(p));
    if (it == m.live.end()) return cudaErrorInvalidValue;  // not a cudaMalloc base: freed twice?
    m.bytes_in_use -= it->second;
    m.live.erase(it);
  }
  std::free(p);
  return cudaSuccess;
}

inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                                   cudaStream_t = nullptr) {
  // The source's side is checked first, then the destination's.
  cudaError_t e = cudaSuccess;
  switch (kind) {
    case cudaMemcpyHostToDevice:
      if ((e = emu::check_host(src, bytes)) == cudaSuccess) e = emu::check_device(dst, bytes);
      break;
    case cudaMemcpyDeviceToHost:
      if ((e = emu::check_device(src, bytes)) == cudaSuccess) e = emu::check_host(dst, bytes);
      break;
    case cudaMemcpyDeviceToDevice:
      if ((e = emu::check_device(src, bytes)) == cudaSuccess) e = emu::check_device(dst, bytes);
      break;
    default:
      break;
  }
  if (e != cudaSuccess) return e;
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  return cudaMemcpyAsync(dst, src, bytes, kind);
}
inline cudaError_t cudaMemsetAsync(void* p, int value, size_t bytes, cudaStream_t = nullptr) {
  if (const cudaError_t e = emu::check_device(p, bytes)) return e;
  if (bytes) std::memset(p, value, bytes);
  return cudaSuccess;
}
inline cudaError_t cudaMemset(void* p, int value, size_t bytes) {
  return cudaMemsetAsync(p, value, bytes);
}

inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  if (!s) return cudaErrorInvalidValue;
  *s = new char(1);  // a distinct token per stream
  return cudaSuccess;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
  return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  delete static_cast<char*>(s);
  return cudaSuccess;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
  return cudaSuccess;
}
inline cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned = 0) {
  return e ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
inline cudaError_t cudaDeviceSynchronize() {
  return cudaSuccess;
}

inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags) {
  if (!e) return cudaErrorInvalidValue;
  *e = new EmuEvent;
  (*e)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  return cudaEventCreateWithFlags(e, cudaEventDefault);
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t = nullptr) {
  if (!e) return cudaErrorInvalidResourceHandle;
  e->at = std::chrono::steady_clock::now();
  e->recorded = true;
  return cudaSuccess;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  return e ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
inline cudaError_t cudaEventQuery(cudaEvent_t e) {
  return e ? cudaSuccess : cudaErrorInvalidResourceHandle;
}
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (!ms || !start || !stop) return cudaErrorInvalidResourceHandle;
  if (!start->recorded || !stop->recorded || !start->timing || !stop->timing)
    return cudaErrorInvalidResourceHandle;
  *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
  return cudaSuccess;
}

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
  int multiProcessorCount;
};
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int device) {
  return device == 0 ? cudaSuccess : cudaErrorInvalidDevice;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return cudaErrorInvalidDevice;
  std::snprintf(p->name, sizeof p->name, "CPU stand-in for CUDA (emulated sm_%d0)",
                emu::compute_capability_major);
  p->major = emu::compute_capability_major;
  p->minor = 0;
  p->totalGlobalMem = size_t{16} << 30;
  p->multiProcessorCount = 1;
  return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}

inline const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case 2:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorNoKernelImageForDevice:
      return "cudaErrorNoKernelImageForDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
    default:
      return "cudaErrorUnknown";
  }
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaErrorInvalidValue
             ? "invalid argument (in the emulator: also a device range outside every allocation, "
               "or a copy whose kind does not match its pointers)"
             : cudaGetErrorName(e);
}
