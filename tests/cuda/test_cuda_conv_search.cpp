// Convolutions with measured algorithms (run.deterministic = false: cudnnFind*AlgorithmEx runs
// each candidate on the call's own tensors) against the CPU. The search writes the candidates'
// outputs somewhere: forward's y and backward_data's dx are overwritten anyway, but the filter
// gradient accumulates, so dw starts non-zero here and must end as that start plus the gradient
// (a search into dw itself would lose the start). ResNet's shapes: 3x3 and strided 1x1, on
// channels-last activations, fp32 without TF32. Skipped, with CUDA's reason, without a GPU.
#include <gtest/gtest.h>

#include "backend/ops.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "parity_testing.hpp"
#include "skip_without_gpu.hpp"

using namespace win;

namespace {

struct ScopedMeasuredSearch {
  ScopedMeasuredSearch() { backend::set_deterministic(false); }
  ~ScopedMeasuredSearch() { backend::set_deterministic(true); }
};

// A GPU copy of a host tensor in the same layout (to_device would make it contiguous).
Tensor gpu_like(const Tensor& h) {
  Allocator& a = backend::device_allocator(Device::CUDA);
  Tensor d = h.is_channels_last() ? empty_channels_last(h.shape(), h.dtype(), a)
                                  : Tensor::empty(h.shape(), h.dtype(), a);
  backend::copy_across(h, d);
  return d;
}

Tensor host(const Tensor& d) {
  return backend::to_device(d, Device::CPU).contiguous();
}

void check_conv(int kernel, int stride, int padding) {
  const ScopedMeasuredSearch measured;
  const int64_t n = 8, c = 32, k = 64, h = 28;
  const int64_t p = (h + 2 * padding - kernel) / stride + 1;
  backend::Conv2dDesc d;
  d.kernel_h = d.kernel_w = kernel;
  d.stride = stride;
  d.padding = padding;
  const Tensor x = parity::host_randn({n, c, h, h}, 11, 1.0, true);
  const Tensor w = parity::host_randn({k, c, kernel, kernel}, 12, 0.1);
  const Tensor dy = parity::host_randn({n, k, p, p}, 13, 1.0, true);
  const Tensor dw0 = parity::host_randn({k, c, kernel, kernel}, 14, 0.5);

  auto cpu = backend::ops_for(Device::CPU, DType::F32).conv2d(d);
  Tensor y = empty_channels_last({n, k, p, p}, DType::F32);
  Tensor dx = empty_channels_last({n, c, h, h}, DType::F32);
  Tensor dw = dw0.clone(), cpu_db;
  cpu->forward(x, w, Tensor(), y);
  cpu->backward_data(dy, w, dx);
  cpu->backward_weights(x, dy, dw, cpu_db);

  auto gpu = backend::ops_for(Device::CUDA, DType::F32).conv2d(d);
  Tensor gy = gpu_like(y), gdx = gpu_like(dx), gdw = gpu_like(dw0);
  Tensor no_bias;
  gpu->forward(gpu_like(x), gpu_like(w), Tensor(), gy);
  gpu->backward_data(gpu_like(dy), gpu_like(w), gdx);
  gpu->backward_weights(gpu_like(x), gpu_like(dy), gdw, no_bias);

  // 1e-4 as the conv parity tests: a measured pick may be FFT or Winograd, whose fp32 error is
  // larger than direct convolution's; a lost dw start would be ~1e-2.
  EXPECT_LT(parity::normalised_error(host(gy), y.contiguous()), 1e-4) << "forward";
  EXPECT_LT(parity::normalised_error(host(gdx), dx.contiguous()), 1e-4) << "backward_data";
  EXPECT_LT(parity::normalised_error(host(gdw), dw), 1e-4) << "backward_weights (accumulated)";
  // Not trivially equal: the gradient is not small next to the start.
  EXPECT_GT(parity::normalised_error(dw0, dw), 1e-2);
}

}  // namespace

TEST(CudaConvSearch, MeasuredAlgorithms3x3MatchTheCpuAndKeepTheAccumulatedFilterGradient) {
  SKIP_WITHOUT_GPU();
  check_conv(3, 1, 1);
}

TEST(CudaConvSearch, MeasuredAlgorithmsStrided1x1MatchTheCpu) {
  SKIP_WITHOUT_GPU();
  check_conv(1, 2, 0);
}
