// Paths of win's CUDA host code that only a library's refusal takes, driven through the
// stand-ins (test_cuda_host_emu only: a real GPU's libraries refuse when they refuse). Pooling of
// bf16 activations falls back to fp32 copies when cuDNN answers with one of its detailed
// NOT_SUPPORTED codes, and gives the CPU's result.
#include <gtest/gtest.h>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "bf16_testing.hpp"
#include "core/tensor.hpp"
#include "cudnn_standin.hpp"

namespace win {
namespace {

using testing_bf16::distinct_sixteenths;
using testing_bf16::gpu_bf16;
using testing_bf16::host_f32;

TEST(EmuLibraryRefusals, Bf16PoolingFallsBackToFp32WhenCudnnRefusesIt) {
  emu_cudnn::refuse_bf16_pooling = true;
  emu_cudnn::bf16_pooling_refusals = 0;
  const backend::Pool2dDesc pd{backend::Pool2dDesc::Kind::Max, 3, 2, 1};
  const Dims xs{2, 4, 6, 6}, ys{2, 4, 3, 3};
  const Tensor x = distinct_sixteenths(xs, 3);
  Tensor y = Tensor::empty(ys, DType::F32), dx = Tensor::empty(xs, DType::F32);
  const Tensor dy = distinct_sixteenths(ys, 4);
  auto ref = backend::ops_for(Device::CPU, DType::F32).pool2d(pd);
  ref->forward(x, y);
  ref->backward(x, y, dy, dx);

  auto op = backend::ops_for(Device::CUDA, DType::F32).pool2d(pd);
  Allocator& a = backend::device_allocator(Device::CUDA);
  const Tensor gx = gpu_bf16(x, true);
  Tensor gy = empty_channels_last(ys, DType::BF16, a),
         gdx = empty_channels_last(xs, DType::BF16, a);
  op->forward(gx, gy);
  op->backward(gx, gy, gpu_bf16(dy, true), gdx);
  op->forward(gx, gy);  // again: the fallback is remembered, cuDNN is not asked twice
  emu_cudnn::refuse_bf16_pooling = false;

  EXPECT_EQ(emu_cudnn::bf16_pooling_refusals, 1) << "refused once, then fp32 copies";
  EXPECT_EQ(host_f32(gy).to_vector(), y.to_vector()) << "max pool (a selection: exact)";
  EXPECT_EQ(host_f32(gdx).to_vector(), dx.to_vector()) << "its gradient (exact values)";
}

}  // namespace
}  // namespace win
