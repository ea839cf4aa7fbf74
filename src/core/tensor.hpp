// Tensor: a strided view (shape, strides in elements, byte offset) over a reference-counted
// Storage from an Allocator. Views (slice, select, transpose, permute, reshape) share storage and
// never allocate. Parameters and gradients of a model live in one flat buffer each and are handed
// out as views of it, so one allreduce or one HDF5 write covers them all.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/allocator.hpp"
#include "core/dims.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"

namespace win {

class Tensor {
 public:
  Tensor() = default;
  ~Tensor() { drop(); }
  Tensor(const Tensor& o);
  Tensor(Tensor&& o) noexcept;
  Tensor& operator=(const Tensor& o);
  Tensor& operator=(Tensor&& o) noexcept;

  // Uninitialised contiguous tensor.
  static Tensor empty(const Dims& shape, DType dtype, Allocator& alloc = cpu_allocator());
  static Tensor zeros(const Dims& shape, DType dtype, Allocator& alloc = cpu_allocator());
  // Contiguous CPU tensor holding a copy of values (for tests and small host data).
  template <class T>
  static Tensor from(const std::vector<T>& values, const Dims& shape);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device : Device::CPU; }
  const Dims& shape() const { return shape_; }
  const Dims& strides() const { return strides_; }
  int dim() const { return shape_.size(); }
  int64_t size(int d) const { return shape_[norm_dim(d)]; }
  int64_t stride(int d) const { return strides_[norm_dim(d)]; }
  int64_t numel() const { return shape_.product(); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;
  // A 4-d (N, C, H, W) tensor laid out densely channels-last: strides (HWC, 1, WC, C).
  bool is_channels_last() const;
  // True when this tensor and o may share memory (same storage).
  bool shares_storage(const Tensor& o) const { return storage_ && storage_ == o.storage_; }

  // Raw pointer to the first element (any device).
  void* raw() const;
  // Typed pointer to the first element; checks dtype and that the tensor lives on the CPU.
  template <class T>
  T* data() const;
  // Element access for tests and small host code: t.at<float>({i, j}).
  template <class T>
  T& at(std::initializer_list<int64_t> idx) const;

  // ---- views (share storage) ----
  Tensor slice(int d, int64_t begin, int64_t end, int64_t step = 1) const;
  Tensor select(int d, int64_t index) const;  // drops dimension d
  Tensor transpose(int d0, int d1) const;
  Tensor permute(const Dims& order) const;
  Tensor reshape(const Dims& shape) const;  // contiguous only; one extent may be -1
  Tensor flatten() const { return reshape({numel()}); }
  Tensor unsqueeze(int d) const;

  // ---- copies ----
  // Copies stay on this tensor's device unless an allocator says otherwise. Copies, fills and
  // to_vector work on device tensors through the hooks their backend registers (below); only
  // data<T>() / at<T>() insist on host memory.
  Tensor contiguous() const;  // self when already contiguous
  Tensor contiguous(Allocator& alloc) const;
  Tensor clone() const;  // always a fresh copy
  Tensor clone(Allocator& alloc) const;
  Tensor to(DType dtype, Allocator& alloc = cpu_allocator()) const;
  // Element-wise copy from src of the same shape (any strides, any CPU dtype: converts).
  void copy_from(const Tensor& src);
  void fill(double value);
  void zero();

  // Values as doubles in row-major order (for tests and reports).
  std::vector<double> to_vector() const;

 private:
  int norm_dim(int d) const;
  void drop();
  void check_cpu(const char* what) const;

  Storage* storage_ = nullptr;
  size_t offset_ = 0;  // bytes from storage->data to element 0
  Dims shape_;
  Dims strides_;  // in elements
  DType dtype_ = DType::F32;
};

Dims contiguous_strides(const Dims& shape);

// A new tensor with x's shape and dtype whose memory order follows x's strides (a channels-last
// x gives a channels-last result), so element-wise outputs keep their input's layout.
// How a backend that owns device memory copies and fills its tensors: registered by it when it
// is first used (a device tensor cannot exist earlier), so core needs no device code.
// copy(src, dst): same shape, any devices and layouts (dtypes may differ).
struct DeviceHooks {
  void (*copy)(const Tensor& src, Tensor& dst) = nullptr;
  void (*fill)(Tensor& t, double value) = nullptr;
  void (*zero)(Tensor& t) = nullptr;
};
void register_device_hooks(const DeviceHooks& hooks);

Tensor empty_like(const Tensor& x, Allocator& alloc);
// On x's device (allocator_for(x.device())).
Tensor empty_like(const Tensor& x);
// (N, C, H, W) stored as (N, H, W, C): the layout of win's convolution activations.
Tensor empty_channels_last(const Dims& nchw, DType dtype, Allocator& alloc = cpu_allocator());
// True when t's dims, taken in decreasing stride order, are dense (no gaps, no overlap): then t
// covers numel() consecutive elements starting at raw(), in some order.
bool is_dense(const Tensor& t);

// ---- template definitions ----
template <class T>
Tensor Tensor::from(const std::vector<T>& values, const Dims& shape) {
  WIN_CHECK(static_cast<int64_t>(values.size()) == shape.product(), ErrorKind::Internal,
            "Tensor::from: ", values.size(), " values for shape ", shape);
  Tensor t = empty(shape, dtype_of<T>);
  std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}

template <class T>
T* Tensor::data() const {
  WIN_CHECK(storage_, ErrorKind::Internal, "data() on an undefined tensor");
  WIN_CHECK(dtype_of<T> == dtype_, ErrorKind::Internal, "data<", dtype_name(dtype_of<T>),
            ">() on a ", dtype_name(dtype_), " tensor");
  check_cpu("data()");
  return reinterpret_cast<T*>(static_cast<std::byte*>(storage_->data) + offset_);
}

template <class T>
T& Tensor::at(std::initializer_list<int64_t> idx) const {
  WIN_CHECK(static_cast<int>(idx.size()) == dim(), ErrorKind::Internal, "at(): ", idx.size(),
            " indices for a ", dim(), "-d tensor");
  int64_t off = 0;
  int d = 0;
  for (int64_t i : idx) {
    WIN_CHECK(i >= 0 && i < shape_[d], ErrorKind::Internal, "at(): index ", i, " out of range ",
              shape_[d], " in dim ", d);
    off += i * strides_[d++];
  }
  return data<T>()[off];
}

}  // namespace win
