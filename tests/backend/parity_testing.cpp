// The backend cases and tensor movement of the parity tests (see parity_testing.hpp).
#include "parity_testing.hpp"

#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_ops.hpp"
#include "backend/ref/ref_ops.hpp"
#include "backend/transfer.hpp"
#include "core/rng.hpp"

#if WIN_HAVE_CUDA
#include <cuda_runtime.h>

#include "backend/cuda/cuda_allocator.hpp"
#endif

namespace win::parity {

namespace {

// The contiguous NHWC view of a dense channels-last tensor (so plain copies move it whole).
Tensor nhwc(const Tensor& t) {
  return t.permute({0, 2, 3, 1});
}

#if WIN_HAVE_CUDA
std::string cuda_unavailable() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorName(e);
  return n == 0 ? "no CUDA device" : "";
}
#endif

}  // namespace

std::vector<BackendCase> backend_cases() {
  std::vector<BackendCase> v;
  v.push_back({"cpu", []() -> backend::Ops& { return backend::ops_for(Device::CPU, DType::F32); },
               []() -> Allocator& { return cpu_allocator(); }, [] { return std::string(); }});
#if WIN_HAVE_CUDA
  v.push_back({"cuda", []() -> backend::Ops& { return backend::ops_for(Device::CUDA, DType::F32); },
               []() -> Allocator& { return backend::cuda_allocator(); }, cuda_unavailable});
#endif
  return v;
}

void OpParity::SetUp() {
  if (const std::string why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
}

backend::Ops& OpParity::ref() {
  if (GetParam().name == "cpu") return backend::ref_ops(DType::F32);
  return backend::ops_for(Device::CPU, DType::F32);
}

Tensor OpParity::like(const Tensor& host) {
  Allocator& a = GetParam().alloc();
  if (host.is_channels_last()) return empty_channels_last(host.shape(), host.dtype(), a);
  return Tensor::empty(host.shape(), host.dtype(), a);
}

Tensor OpParity::put(const Tensor& host) {
  Tensor t = like(host);
  if (GetParam().name == "cpu") {
    t.copy_from(host);
    return t;
  }
#if WIN_HAVE_CUDA
  if (host.is_channels_last()) {
    Tensor view = nhwc(t);
    backend::copy_to_device(nhwc(host).contiguous(), view);
  } else {
    backend::copy_to_device(host.contiguous(), t);
  }
#endif
  return t;
}

Tensor OpParity::get(const Tensor& t) {
  if (t.device() == Device::CPU) return t.clone();
  Tensor h = t.is_channels_last() ? empty_channels_last(t.shape(), t.dtype())
                                  : Tensor::empty(t.shape(), t.dtype());
#if WIN_HAVE_CUDA
  sync();
  if (t.is_channels_last()) {
    Tensor view = nhwc(h);
    backend::copy_to_host(nhwc(t), view);
  } else {
    backend::copy_across(t, h);  // any layout: a strided view is made dense on the device first
  }
#endif
  return h;
}

void OpParity::sync() {
#if WIN_HAVE_CUDA
  if (GetParam().name == "cuda") cudaDeviceSynchronize();
#endif
}

Tensor host_randn(const Dims& shape, uint64_t seed, double std, bool channels_last) {
  Tensor t = channels_last && shape.size() == 4 ? empty_channels_last(shape, DType::F32)
                                                : Tensor::empty(shape, DType::F32);
  Tensor c = Tensor::empty(shape, DType::F32);
  fill_normal(c, Philox(seed, 0xBACC), 0.0, std, 0);
  t.copy_from(c);
  return t;
}

double normalised_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto va = a.to_vector(), vb = b.to_vector();
  double d = 0, ref = 0;
  for (size_t i = 0; i < std::min(va.size(), vb.size()); ++i) {
    d = std::max(d, std::abs(va[i] - vb[i]));
    ref = std::max(ref, std::abs(vb[i]));
  }
  return d / std::max(ref, 1e-30);
}

}  // namespace win::parity
