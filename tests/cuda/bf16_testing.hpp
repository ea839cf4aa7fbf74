// Moving test tensors between the host and the GPU in bf16 and back, and values bf16 holds
// exactly: shared by the bf16 GPU tests (test_cuda) and the emulator-only ones
// (tests/cuda_emu/host, test_cuda_host_emu).
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace win::testing_bf16 {

// A host tensor on the GPU in dtype, channels-last when asked (to_device alone keeps the host's
// contiguous NCHW order, whatever the host tensor's layout).
Tensor gpu_as(const Tensor& host, DType dtype, bool channels_last);
inline Tensor gpu_bf16(const Tensor& host, bool channels_last) {
  return gpu_as(host, DType::BF16, channels_last);
}

// A tensor of any device and dtype on the host as f32 (logical order).
Tensor host_f32(const Tensor& t);

// Distinct values k / 16 for a Philox shuffle of k in [-n/2, n/2): exact in bf16 (for n below
// 4096), with no ties, so that max pooling routes its gradient the same way on every backend.
Tensor distinct_sixteenths(const Dims& shape, uint64_t seed);

}  // namespace win::testing_bf16
