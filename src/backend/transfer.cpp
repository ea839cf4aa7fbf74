// Cross-device copies and device-agnostic fills (see transfer.hpp). Without the CUDA backend in
// the build every CUDA request is a usage error that says so.
#include "backend/transfer.hpp"

#include "core/error.hpp"

#if WIN_HAVE_CUDA
#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_check.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "fill.cuh"
#include "strided_copy.cuh"
#endif

namespace win::backend {

namespace {
#if !WIN_HAVE_CUDA
[[noreturn]] void no_cuda(const char* what) {
  WIN_FAIL(ErrorKind::Usage, what,
           ": this build has no CUDA backend (configure with -DWIN_CUDA=ON on a machine with the "
           "CUDA toolkit)");
}
#endif

#if WIN_HAVE_CUDA
using cuda_detail::dense;

// dst = src, both on the GPU, any layouts and any dtype (up to 4-d): the strided copy kernel
// moves elements of any size, where the op table's copy is f32 only.
void device_copy(const Tensor& src, Tensor& dst) {
  WIN_CHECK(src.dim() <= 4 && src.dtype() == dst.dtype(), ErrorKind::Internal, "device copy of ",
            src.shape(), ' ', dtype_name(src.dtype()), " into ", dtype_name(dst.dtype()));
  int64_t shape[4] = {1, 1, 1, 1}, ss[4] = {0, 0, 0, 0}, ds[4] = {0, 0, 0, 0};
  for (int i = 0; i < src.dim(); ++i) {
    const int k = 4 - src.dim() + i;
    shape[k] = src.size(i);
    ss[k] = src.stride(i);
    ds[k] = dst.stride(i);
  }
  WIN_CUDA_CHECK(kernels::launch_strided_copy(src.raw(), dst.raw(),
                                              static_cast<int>(dtype_size(src.dtype())), shape, ss,
                                              ds, cuda_context().stream()));
}
#endif

void check_shapes(const Tensor& src, const Tensor& dst) {
  WIN_CHECK(src.shape() == dst.shape(), ErrorKind::Internal, "copy_across: ", src.shape(), ' ',
            dtype_name(src.dtype()), " into ", dst.shape(), ' ', dtype_name(dst.dtype()));
}
}  // namespace

Allocator& device_allocator(Device device) {
  if (device == Device::CPU) return cpu_allocator();
#if WIN_HAVE_CUDA
  const std::string why = device_unavailable(device);
  WIN_CHECK(why.empty(), ErrorKind::Usage, "device cuda: ", why);
  return cuda_allocator();
#else
  no_cuda("device cuda");
#endif
}

std::string device_unavailable(Device device) {
  if (device == Device::CPU) return "";
#if WIN_HAVE_CUDA
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return cat("no usable CUDA device: ", cudaGetErrorName(e));
  }
  if (n == 0) return "no CUDA device";
  return "";
#else
  return "this build has no CUDA backend (configure with -DWIN_CUDA=ON)";
#endif
}

void copy_across(const Tensor& src, Tensor& dst) {
  check_shapes(src, dst);
  if (src.device() == Device::CPU && dst.device() == Device::CPU) {
    dst.copy_from(src);  // converts dtypes
    return;
  }
  if (src.dtype() != dst.dtype()) {  // converted on the host (checkpoints, fixtures: not per step)
    const Tensor converted = to_device(src, Device::CPU).to(dst.dtype());
    copy_across(converted, dst);
    return;
  }
#if WIN_HAVE_CUDA
  if (src.device() == Device::CUDA && dst.device() == Device::CUDA) {
    if (src.is_contiguous() && dst.is_contiguous()) {
      CudaContext& c = cuda_context();
      WIN_CUDA_CHECK(cudaMemcpyAsync(dst.raw(), src.raw(), src.nbytes(), cudaMemcpyDeviceToDevice,
                                     c.stream()));
    } else {
      device_copy(src, dst);
    }
    return;
  }
  if (src.device() == Device::CPU) {  // host -> device
    const Tensor h = src.contiguous();
    if (dst.is_contiguous()) {
      copy_to_device(h, dst);
    } else {
      Tensor d = Tensor::empty(src.shape(), src.dtype(), cuda_allocator());
      copy_to_device(h, d);
      device_copy(d, dst);
    }
    return;
  }
  // device -> host
  const Tensor d = src.is_contiguous() ? src : to_device(src, Device::CUDA);
  if (dst.is_contiguous()) {
    copy_to_host(d, dst);
  } else {
    Tensor h = Tensor::empty(src.shape(), src.dtype());
    copy_to_host(d, h);
    dst.copy_from(h);
  }
#else
  no_cuda("copy_across");
#endif
}

Tensor to_device(const Tensor& t, Device device) {
  if (t.device() == device && (device == Device::CPU || t.is_contiguous())) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype(), device_allocator(device));
#if WIN_HAVE_CUDA
  if (t.device() == Device::CUDA && device == Device::CUDA) {  // a strided device view
    device_copy(t, out);
    return out;
  }
#endif
  copy_across(t, out);
  return out;
}

const Tensor& on_device(const Tensor& t, Device device, Tensor& staging) {
  if (t.device() == device) return t;
  if (!staging.defined() || staging.shape() != t.shape() || staging.dtype() != t.dtype() ||
      staging.device() != device || !staging.is_contiguous())
    staging = Tensor::empty(t.shape(), t.dtype(), device_allocator(device));
  copy_across(t, staging);
  return staging;
}

Tensor clone(const Tensor& t) {
  Tensor out = empty_like(t);
  copy_across(t, out);
  return out;
}

void fill(Tensor& t, double value) {
  if (t.device() == Device::CPU) {
    t.fill(value);
    return;
  }
#if WIN_HAVE_CUDA
  if (t.dtype() == DType::F32 && dense(t)) {
    kernels::launch_fill_f32(static_cast<float*>(t.raw()), t.numel(), static_cast<float>(value),
                             cuda_context().stream());
    WIN_CUDA_CHECK(cudaGetLastError());
    return;
  }
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  h.fill(value);
  copy_across(h, t);
#else
  no_cuda("fill");
#endif
}

void zero(Tensor& t) {
  if (t.device() == Device::CPU) {
    t.zero();
    return;
  }
#if WIN_HAVE_CUDA
  if (dense(t)) {
    WIN_CUDA_CHECK(cudaMemsetAsync(t.raw(), 0, t.nbytes(), cuda_context().stream()));
    return;
  }
#endif
  fill(t, 0.0);
}

void synchronize(Device device) {
  if (device == Device::CPU) return;
#if WIN_HAVE_CUDA
  cuda_context().synchronize();
#else
  no_cuda("synchronize");
#endif
}

int select_gpu(int index) {
#if WIN_HAVE_CUDA
  int n = 0;
  WIN_CUDA_CHECK(cudaGetDeviceCount(&n));
  WIN_CHECK(n > 0, ErrorKind::Usage, "no CUDA device");
  const int d = (index % n + n) % n;
  WIN_CUDA_CHECK(cudaSetDevice(d));
  return d;
#else
  (void)index;
  no_cuda("select_gpu");
#endif
}

}  // namespace win::backend
