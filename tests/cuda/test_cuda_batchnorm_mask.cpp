// The channels-last batch norm's two sources of the fused ReLU's mask give the same bits: the
// op recomputes it from x with the forward's beta (so the backward does not read y), and the
// kernels still take y. Called through the launchers directly, since the op always takes the
// first; for the float4 path (C = 64) and the scalar one (C = 6). Skipped without a GPU.
#include <gtest/gtest.h>

#include <vector>

#include "backend/transfer.hpp"
#include "batchnorm_nhwc.cuh"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "skip_without_gpu.hpp"

using namespace win;

namespace {

Tensor gpu_randn(int64_t n, uint64_t seed, double mean) {
  std::vector<float> v(static_cast<size_t>(n));
  Philox rng(seed, 7);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(mean + rng.normal(0, i));
  return backend::to_device(Tensor::from(v, {n}), Device::CUDA);
}

float* f(const Tensor& t) {
  return static_cast<float*>(t.raw());
}

void check(int64_t rows, int64_t c) {
  Allocator& a = backend::device_allocator(Device::CUDA);
  // Around zero after the shift by beta, so that the mask cuts about half the elements.
  const Tensor x = gpu_randn(rows * c, 1, 0.3), dy = gpu_randn(rows * c, 2, 0.0);
  const Tensor gamma = gpu_randn(c, 3, 1.0), beta = gpu_randn(c, 4, 0.0);
  Tensor rm = Tensor::zeros({c}, DType::F32, a), rv = Tensor::zeros({c}, DType::F32, a);
  Tensor mean = Tensor::empty({c}, DType::F32, a), var = Tensor::empty({c}, DType::F32, a);
  Tensor y = Tensor::empty({rows * c}, DType::F32, a);
  Tensor scratch =
      Tensor::empty({static_cast<int64_t>(kernels::bn_nhwc_scratch_bytes(rows, c))}, DType::U8, a);
  ASSERT_EQ(kernels::launch_bn_nhwc_forward_train_f32(f(x), nullptr, rows, c, f(gamma), f(beta),
                                                      1e-5, 0.1, f(rm), f(rv), f(mean), f(var),
                                                      f(y), true, scratch.raw(), nullptr),
            cudaSuccess);
  std::vector<std::vector<double>> out[2];
  for (int from_x = 0; from_x < 2; ++from_x) {
    Tensor dx = Tensor::empty({rows * c}, DType::F32, a);
    Tensor dg = Tensor::zeros({c}, DType::F32, a), db = Tensor::zeros({c}, DType::F32, a);
    ASSERT_EQ(kernels::launch_bn_nhwc_backward_f32(f(x), from_x ? nullptr : f(y),
                                                   from_x ? f(beta) : nullptr, f(dy), rows, c,
                                                   f(gamma), f(mean), f(var), 1e-5, f(dx), nullptr,
                                                   f(dg), f(db), scratch.raw(), nullptr),
              cudaSuccess);
    out[from_x] = {dx.to_vector(), dg.to_vector(), db.to_vector()};
  }
  EXPECT_EQ(out[0], out[1]) << rows << " x " << c;
  // Not trivially equal: the mask cut some elements and kept others.
  const std::vector<double> yv = y.to_vector();
  size_t cut = 0;
  for (double v : yv) cut += v <= 0 ? 1 : 0;
  EXPECT_GT(cut, yv.size() / 10);
  EXPECT_LT(cut, yv.size() * 9 / 10);
}

}  // namespace

TEST(CudaBatchNormMask, FromXAndFromYGiveTheSameBits) {
  SKIP_WITHOUT_GPU();
  check(4096, 64);  // float4
  check(1000, 6);   // scalar
}
