// Device memory behind CUDA tensors: a Storage whose data is a cudaMalloc'd block, so
// Tensor::empty(shape, dtype, cuda_allocator()) gives a tensor with device() == CUDA and the same
// views as on the host. Host access (data<T>(), at()) is refused for it; copies go through
// copy_to_device / copy_to_host.
#pragma once

#include <mutex>

#include "core/allocator.hpp"
#include "core/tensor.hpp"

namespace win::backend {

class CudaAllocator final : public Allocator {
 public:
  Storage* allocate(size_t bytes) override;
  Storage* allocate_zeroed(size_t bytes) override;  // cudaMemset, not a host memset
  void release(Storage* s) override;
  Device device() const override { return Device::CUDA; }
  AllocStats stats() const override;

 private:
  mutable std::mutex mu_;
  AllocStats stats_;
};

// The process-wide allocator for the current CUDA device.
CudaAllocator& cuda_allocator();

// Contiguous copies between host and device tensors of the same shape and dtype.
void copy_to_device(const Tensor& host, Tensor& device);
void copy_to_host(const Tensor& device, Tensor& host);

}  // namespace win::backend
