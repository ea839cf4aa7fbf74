// CUDA build smoke test: the fill kernel writes what it was asked to, checked on the host.
// Compiled in every CUDA build; runs where a GPU is present and reports itself skipped (with the
// reason CUDA gives) where none is, e.g. on CI machines.
#include <gtest/gtest.h>

#include <vector>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_check.hpp"
#include "fill.cuh"

namespace {
// Empty when a device is usable, else CUDA's reason.
std::string no_device_reason() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) return std::string("no usable CUDA device: ") + cudaGetErrorName(e);
  if (n == 0) return "no CUDA device";
  return "";
}
}  // namespace

TEST(CudaFill, WritesEveryElement) {
  if (const std::string why = no_device_reason(); !why.empty()) GTEST_SKIP() << why;
  const int64_t n = 1'000'003;  // not a multiple of the block size
  float* d = nullptr;
  WIN_CUDA_CHECK(cudaMalloc(&d, n * sizeof(float)));
  WIN_CUDA_CHECK(cudaMemset(d, 0, n * sizeof(float)));
  win::kernels::launch_fill_f32(d, n - 1, 2.5f, nullptr);
  WIN_CUDA_CHECK(cudaGetLastError());
  std::vector<float> h(static_cast<size_t>(n));
  WIN_CUDA_CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  WIN_CUDA_CHECK(cudaFree(d));
  for (int64_t i = 0; i < n - 1; ++i) ASSERT_EQ(h[static_cast<size_t>(i)], 2.5f) << i;
  EXPECT_EQ(h.back(), 0.0f);  // the launcher respects n
}

TEST(CudaCheck, FailedCallBecomesAnErrorNamingIt) {
  try {
    WIN_CUDA_CHECK(cudaSetDevice(-1));
    FAIL() << "no error";
  } catch (const win::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaSetDevice(-1)"), std::string::npos) << e.what();
  }
  // The reported error is not left behind for the next launch's check to find (it once made the
  // next test's first kernel fail with "invalid device ordinal"). Without a usable driver every
  // call reports that instead.
  if (no_device_reason().empty()) {
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  }
}

TEST(CudaTensor, DeviceTensorsRoundTripAndRefuseHostAccess) {
  if (const std::string why = no_device_reason(); !why.empty()) GTEST_SKIP() << why;
  using namespace win;
  Tensor h = Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  // Other tests may have left blocks alive (a CUDA context's workspace): count from here.
  const int64_t live = backend::cuda_allocator().stats().live_blocks;
  Tensor d = Tensor::empty({2, 3}, DType::F32, backend::cuda_allocator());
  EXPECT_EQ(d.device(), Device::CUDA);
  EXPECT_THROW(d.data<float>(), Error);
  backend::copy_to_device(h, d);
  // Views of device tensors work like host views: fill the second row on the device.
  Tensor row = d.select(0, 1);
  kernels::launch_fill_f32(static_cast<float*>(row.raw()), row.numel(), -1.0f, nullptr);
  Tensor back = Tensor::empty({2, 3}, DType::F32);
  backend::copy_to_host(d, back);
  EXPECT_EQ(back.to_vector(), (std::vector<double>{1, 2, 3, -1, -1, -1}));
  EXPECT_EQ(backend::cuda_allocator().stats().live_blocks, live + 1);
}
