// Host/GPU moves in bf16 and exact test values (see bf16_testing.hpp).
#include "bf16_testing.hpp"

#include <utility>
#include <vector>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/rng.hpp"

namespace win::testing_bf16 {

Tensor gpu_as(const Tensor& host, DType dtype, bool channels_last) {
  Allocator& a = backend::device_allocator(Device::CUDA);
  const Tensor f = backend::to_device(host.contiguous(), Device::CUDA);
  Tensor out = channels_last ? empty_channels_last(host.shape(), dtype, a)
                             : Tensor::empty(host.shape(), dtype, a);
  backend::ops_for(Device::CUDA, DType::F32).convert(f, out);
  return out;
}

Tensor host_f32(const Tensor& t) {
  const Tensor h = backend::to_device(t, Device::CPU);
  Tensor out = Tensor::empty(h.shape(), DType::F32);
  backend::ops_for(Device::CPU, DType::F32).convert(h, out);
  return out;
}

Tensor distinct_sixteenths(const Dims& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32);
  const int64_t n = t.numel();
  std::vector<int64_t> k(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) k[static_cast<size_t>(i)] = i - n / 2;
  const Philox rng(seed, 1);
  for (size_t i = k.size() - 1; i > 0; --i)  // Fisher-Yates with Philox draws
    std::swap(k[i], k[static_cast<size_t>(rng.uniform_int(0, i, i + 1))]);
  for (int64_t i = 0; i < n; ++i)
    t.data<float>()[i] = static_cast<float>(k[static_cast<size_t>(i)]) / 16.0f;
  return t;
}

}  // namespace win::testing_bf16
