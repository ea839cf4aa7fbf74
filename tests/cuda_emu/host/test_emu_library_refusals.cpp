// Paths of win's CUDA host code that only a library's refusal takes, driven through the
// stand-ins (test_cuda_host_emu only: a real GPU's libraries refuse when they refuse). Pooling of
// bf16 activations falls back to fp32 copies when cuDNN answers with one of its detailed
// NOT_SUPPORTED codes, and gives the CPU's result.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "cudnn_standin.hpp"

namespace win {
namespace {

// Values bf16 holds exactly (multiples of 1/16 below 16), distinct so max pooling has no ties.
Tensor distinct_values(const Dims& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  const int64_t n = t.numel();
  std::vector<int64_t> k(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) k[static_cast<size_t>(i)] = i - n / 2;
  const Philox rng(3, 7);
  for (size_t i = k.size() - 1; i > 0; --i)
    std::swap(k[i], k[static_cast<size_t>(rng.uniform_int(0, i, i + 1))]);
  for (int64_t i = 0; i < n; ++i)
    t.data<float>()[i] = static_cast<float>(k[static_cast<size_t>(i)]) / 16.0f;
  return t;
}

// host f32 -> device bf16, channels-last.
Tensor device_bf16(const Tensor& host) {
  Allocator& a = backend::device_allocator(Device::CUDA);
  const Tensor f = backend::to_device(host, Device::CUDA);
  Tensor out = empty_channels_last(host.shape(), DType::BF16, a);
  backend::ops_for(Device::CUDA, DType::F32).convert(f, out);
  return out;
}

// device bf16 -> host f32 (contiguous).
Tensor host_f32(const Tensor& device) {
  Tensor wide = Tensor::empty(device.shape(), DType::F32, backend::device_allocator(Device::CUDA));
  backend::ops_for(Device::CUDA, DType::F32).convert(device, wide);
  return backend::to_device(wide, Device::CPU);
}

TEST(EmuLibraryRefusals, Bf16PoolingFallsBackToFp32WhenCudnnRefusesIt) {
  emu_cudnn::refuse_bf16_pooling = true;
  emu_cudnn::bf16_pooling_refusals = 0;
  const backend::Pool2dDesc pd{backend::Pool2dDesc::Kind::Max, 3, 2, 1};
  const Dims xs{2, 4, 6, 6}, ys{2, 4, 3, 3};
  const Tensor x = distinct_values(xs);
  Tensor y = Tensor::empty(ys, DType::F32), dx = Tensor::empty(xs, DType::F32);
  Tensor dy = distinct_values(ys);
  auto ref = backend::ops_for(Device::CPU, DType::F32).pool2d(pd);
  ref->forward(x, y);
  ref->backward(x, y, dy, dx);

  auto op = backend::ops_for(Device::CUDA, DType::F32).pool2d(pd);
  Allocator& a = backend::device_allocator(Device::CUDA);
  const Tensor gx = device_bf16(x);
  Tensor gy = empty_channels_last(ys, DType::BF16, a),
         gdx = empty_channels_last(xs, DType::BF16, a);
  op->forward(gx, gy);
  op->backward(gx, gy, device_bf16(dy), gdx);
  op->forward(gx, gy);  // again: the fallback is remembered, cuDNN is not asked twice
  emu_cudnn::refuse_bf16_pooling = false;

  EXPECT_EQ(emu_cudnn::bf16_pooling_refusals, 1) << "refused once, then fp32 copies";
  EXPECT_EQ(host_f32(gy).to_vector(), y.to_vector()) << "max pool (a selection: exact)";
  EXPECT_EQ(host_f32(gdx).to_vector(), dx.to_vector()) << "its gradient (exact values)";
}

}  // namespace
}  // namespace win
