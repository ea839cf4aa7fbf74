// CudaAllocator and host/device copies (see cuda_allocator.hpp).
#include "backend/cuda/cuda_allocator.hpp"

#include "backend/cuda/cuda_check.hpp"
#include "backend/transfer.hpp"

namespace win::backend {

Storage* CudaAllocator::allocate(size_t bytes) {
  void* p = nullptr;
  if (bytes > 0) WIN_CUDA_CHECK(cudaMalloc(&p, bytes));
  auto* s = new Storage;
  s->data = p;
  s->bytes = bytes;
  s->device = Device::CUDA;
  s->owner = this;
  std::lock_guard lock(mu_);
  stats_.system_allocations++;
  stats_.live_blocks++;
  stats_.bytes_in_use += bytes;
  stats_.reserved_bytes += bytes;
  if (stats_.bytes_in_use > stats_.peak_bytes) stats_.peak_bytes = stats_.bytes_in_use;
  return s;
}

Storage* CudaAllocator::allocate_zeroed(size_t bytes) {
  Storage* s = allocate(bytes);
  if (bytes > 0) WIN_CUDA_CHECK(cudaMemset(s->data, 0, bytes));
  return s;
}

void CudaAllocator::release(Storage* s) {
  {
    std::lock_guard lock(mu_);
    stats_.live_blocks--;
    stats_.bytes_in_use -= s->bytes;
    stats_.reserved_bytes -= s->bytes;
  }
  if (s->data) cudaFree(s->data);  // never throws from a destructor path
  delete s;
}

AllocStats CudaAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

CudaAllocator& cuda_allocator() {
  static CudaAllocator a;
  // Core's device-agnostic tensor calls (empty_like, copy_from, fill, to_vector) reach CUDA
  // memory through these, registered before the first CUDA tensor exists.
  static const bool registered = [] {
    register_device_allocator(a);
    register_device_hooks({.copy = &copy_across, .fill = &fill, .zero = &zero});
    return true;
  }();
  (void)registered;
  return a;
}

namespace {
void check_pair(const Tensor& src, const Tensor& dst, Device from, Device to) {
  WIN_CHECK(src.device() == from && dst.device() == to, ErrorKind::Internal, "copy from ",
            device_name(src.device()), " to ", device_name(dst.device()), " tensor: expected ",
            device_name(from), " -> ", device_name(to));
  WIN_CHECK(src.shape() == dst.shape() && src.dtype() == dst.dtype(), ErrorKind::Internal,
            "host/device copy between ", src.shape(), ' ', dtype_name(src.dtype()), " and ",
            dst.shape(), ' ', dtype_name(dst.dtype()));
  WIN_CHECK(src.is_contiguous() && dst.is_contiguous(), ErrorKind::Internal,
            "host/device copies need contiguous tensors");
}
}  // namespace

void copy_to_device(const Tensor& host, Tensor& device) {
  check_pair(host, device, Device::CPU, Device::CUDA);
  WIN_CUDA_CHECK(cudaMemcpy(device.raw(), host.raw(), host.nbytes(), cudaMemcpyHostToDevice));
}

void copy_to_host(const Tensor& device, Tensor& host) {
  check_pair(device, host, Device::CUDA, Device::CPU);
  WIN_CUDA_CHECK(cudaMemcpy(host.raw(), device.raw(), device.nbytes(), cudaMemcpyDeviceToHost));
}

}  // namespace win::backend
