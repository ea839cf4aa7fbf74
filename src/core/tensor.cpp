// Tensor views, copies and conversions on the CPU (see tensor.hpp).
#include "core/tensor.hpp"

#include <cstring>

namespace win {

Dims contiguous_strides(const Dims& shape) {
  Dims s = shape;
  int64_t acc = 1;
  for (int i = shape.size() - 1; i >= 0; --i) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

namespace {
// Dimension order from the largest stride to the smallest (ties keep the logical order).
Dims stride_order(const Tensor& t) {
  Dims order;
  for (int i = 0; i < t.dim(); ++i) order.push_back(i);
  for (int i = 1; i < t.dim(); ++i)
    for (int j = i;
         j > 0 && t.stride(static_cast<int>(order[j - 1])) < t.stride(static_cast<int>(order[j]));
         --j)
      std::swap(order[j - 1], order[j]);
  return order;
}
}  // namespace

Tensor empty_like(const Tensor& x) {
  return empty_like(x, allocator_for(x.device()));
}

Tensor empty_like(const Tensor& x, Allocator& alloc) {
  if (x.is_contiguous()) return Tensor::empty(x.shape(), x.dtype(), alloc);
  const Dims order = stride_order(x);
  Dims physical;
  for (int i = 0; i < order.size(); ++i) physical.push_back(x.size(static_cast<int>(order[i])));
  Tensor t = Tensor::empty(physical, x.dtype(), alloc);
  Dims inverse = order;
  for (int i = 0; i < order.size(); ++i) inverse[static_cast<int>(order[i])] = i;
  return t.permute(inverse);
}

Tensor empty_channels_last(const Dims& nchw, DType dtype, Allocator& alloc) {
  WIN_CHECK(nchw.size() == 4, ErrorKind::Internal, "channels-last tensor needs 4 dims, got ", nchw);
  return Tensor::empty({nchw[0], nchw[2], nchw[3], nchw[1]}, dtype, alloc).permute({0, 3, 1, 2});
}

bool is_dense(const Tensor& t) {
  const Dims order = stride_order(t);
  int64_t expect = 1;
  for (int i = order.size() - 1; i >= 0; --i) {
    const int d = static_cast<int>(order[i]);
    if (t.size(d) == 1) continue;
    if (t.stride(d) != expect) return false;
    expect *= t.size(d);
  }
  return true;
}

Tensor::Tensor(const Tensor& o)
    : storage_(o.storage_),
      offset_(o.offset_),
      shape_(o.shape_),
      strides_(o.strides_),
      dtype_(o.dtype_) {
  if (storage_) storage_->refs.fetch_add(1, std::memory_order_relaxed);
}

Tensor::Tensor(Tensor&& o) noexcept
    : storage_(o.storage_),
      offset_(o.offset_),
      shape_(o.shape_),
      strides_(o.strides_),
      dtype_(o.dtype_) {
  o.storage_ = nullptr;
}

Tensor& Tensor::operator=(const Tensor& o) {
  if (this != &o) {
    if (o.storage_) o.storage_->refs.fetch_add(1, std::memory_order_relaxed);
    drop();
    storage_ = o.storage_;
    offset_ = o.offset_;
    shape_ = o.shape_;
    strides_ = o.strides_;
    dtype_ = o.dtype_;
  }
  return *this;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this != &o) {
    drop();
    storage_ = o.storage_;
    offset_ = o.offset_;
    shape_ = o.shape_;
    strides_ = o.strides_;
    dtype_ = o.dtype_;
    o.storage_ = nullptr;
  }
  return *this;
}

void Tensor::drop() {
  if (storage_ && storage_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
    storage_->owner->release(storage_);
  storage_ = nullptr;
}

Tensor Tensor::empty(const Dims& shape, DType dtype, Allocator& alloc) {
  for (int64_t e : shape)
    WIN_CHECK(e >= 0, ErrorKind::Internal, "negative extent in tensor shape ", shape);
  Tensor t;
  t.storage_ = alloc.allocate(static_cast<size_t>(shape.product()) * dtype_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

Tensor Tensor::zeros(const Dims& shape, DType dtype, Allocator& alloc) {
  for (int64_t e : shape)
    WIN_CHECK(e >= 0, ErrorKind::Internal, "negative extent in tensor shape ", shape);
  Tensor t;
  t.storage_ = alloc.allocate_zeroed(static_cast<size_t>(shape.product()) * dtype_size(dtype));
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  return t;
}

int Tensor::norm_dim(int d) const {
  const int n = dim();
  const int r = d < 0 ? d + n : d;
  WIN_CHECK(r >= 0 && r < n, ErrorKind::Internal, "dimension ", d, " out of range for a ", n,
            "-d tensor");
  return r;
}

void Tensor::check_cpu(const char* what) const {
  WIN_CHECK(device() == Device::CPU, ErrorKind::Internal, what, " on a ", device_name(device()),
            " tensor (host access needs a CPU tensor)");
}

void* Tensor::raw() const {
  WIN_CHECK(storage_, ErrorKind::Internal, "raw() on an undefined tensor");
  return static_cast<std::byte*>(storage_->data) + offset_;
}

bool Tensor::is_contiguous() const {
  return strides_ == contiguous_strides(shape_) || numel() <= 1;
}

bool Tensor::is_channels_last() const {
  return dim() == 4 && stride(1) == 1 && stride(3) == size(1) && stride(2) == size(1) * size(3) &&
         stride(0) == size(1) * size(2) * size(3);
}

Tensor Tensor::slice(int d, int64_t begin, int64_t end, int64_t step) const {
  d = norm_dim(d);
  WIN_CHECK(step >= 1, ErrorKind::Internal, "slice step must be positive");
  WIN_CHECK(0 <= begin && begin <= end && end <= shape_[d], ErrorKind::Internal, "slice [", begin,
            ", ", end, ") out of range ", shape_[d], " in dim ", d);
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(begin * strides_[d]) * dtype_size(dtype_);
  t.shape_[d] = (end - begin + step - 1) / step;
  t.strides_[d] = strides_[d] * step;
  return t;
}

Tensor Tensor::select(int d, int64_t index) const {
  d = norm_dim(d);
  WIN_CHECK(0 <= index && index < shape_[d], ErrorKind::Internal, "select index ", index,
            " out of range ", shape_[d], " in dim ", d);
  Tensor t = *this;
  t.offset_ += static_cast<size_t>(index * strides_[d]) * dtype_size(dtype_);
  t.shape_.erase(d);
  t.strides_.erase(d);
  return t;
}

Tensor Tensor::transpose(int d0, int d1) const {
  d0 = norm_dim(d0);
  d1 = norm_dim(d1);
  Tensor t = *this;
  std::swap(t.shape_[d0], t.shape_[d1]);
  std::swap(t.strides_[d0], t.strides_[d1]);
  return t;
}

Tensor Tensor::permute(const Dims& order) const {
  WIN_CHECK(order.size() == dim(), ErrorKind::Internal, "permute ", order, " of a ", dim(),
            "-d tensor");
  Tensor t = *this;
  bool seen[Dims::kMax] = {};
  for (int i = 0; i < dim(); ++i) {
    const int src = norm_dim(static_cast<int>(order[i]));
    WIN_CHECK(!seen[src], ErrorKind::Internal, "permute ", order, " repeats a dimension");
    seen[src] = true;
    t.shape_[i] = shape_[src];
    t.strides_[i] = strides_[src];
  }
  return t;
}

Tensor Tensor::reshape(const Dims& shape) const {
  WIN_CHECK(is_contiguous(), ErrorKind::Internal, "reshape of a non-contiguous tensor ", shape_,
            " (call contiguous() first)");
  Dims s = shape;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      WIN_CHECK(infer < 0, ErrorKind::Internal, "reshape ", shape, ": more than one -1");
      infer = i;
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    WIN_CHECK(known > 0 && numel() % known == 0, ErrorKind::Internal, "reshape ", shape_, " to ",
              shape, ": sizes do not divide");
    s[infer] = numel() / known;
  }
  WIN_CHECK(s.product() == numel(), ErrorKind::Internal, "reshape ", shape_, " (", numel(),
            " elements) to ", shape);
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::unsqueeze(int d) const {
  const int n = dim();
  const int r = d < 0 ? d + n + 1 : d;
  WIN_CHECK(r >= 0 && r <= n, ErrorKind::Internal, "unsqueeze(", d, ") of a ", n, "-d tensor");
  Tensor t;
  t = *this;
  t.shape_ = Dims();
  t.strides_ = Dims();
  for (int i = 0; i <= n; ++i) {
    if (i == r) {
      t.shape_.push_back(1);
      t.strides_.push_back(i < n ? shape_[i] * strides_[i] : 1);
    }
    if (i < n) {
      t.shape_.push_back(shape_[i]);
      t.strides_.push_back(strides_[i]);
    }
  }
  return t;
}

namespace {

// Visits every element of two same-shaped strided tensors in row-major order, calling
// f(offset_a, offset_b, flat). One odometer walk, no allocation.
template <class F>
void for_each_offset2(const Dims& shape, const Dims& sa, const Dims& sb, F&& f) {
  const int n = shape.size();
  const int64_t total = shape.product();
  if (total == 0) return;
  int64_t idx[Dims::kMax] = {};
  int64_t oa = 0, ob = 0;
  for (int64_t flat = 0; flat < total; ++flat) {
    f(oa, ob, flat);
    for (int d = n - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= (shape[d] - 1) * sa[d];
      ob -= (shape[d] - 1) * sb[d];
      idx[d] = 0;
    }
  }
}

template <class F>
void for_each_offset(const Dims& shape, const Dims& strides, F&& f) {
  for_each_offset2(shape, strides, strides, [&](int64_t o, int64_t, int64_t flat) { f(o, flat); });
}

template <class To, class From>
To convert(From v) {
  if constexpr (std::is_same_v<From, bf16>) {
    return convert<To>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, bf16>) {
    return bf16(static_cast<float>(v));
  } else {
    return static_cast<To>(v);
  }
}

}  // namespace

namespace {
DeviceHooks g_hooks;
const DeviceHooks& hooks(const char* what) {
  WIN_CHECK(g_hooks.copy != nullptr, ErrorKind::Internal, what,
            " of a device tensor: no device backend registered its copies");
  return g_hooks;
}
}  // namespace

void register_device_hooks(const DeviceHooks& h) {
  g_hooks = h;
}

void Tensor::copy_from(const Tensor& src) {
  if (device() != Device::CPU || src.device() != Device::CPU) {
    WIN_CHECK(shape_ == src.shape_, ErrorKind::Internal, "copy_from: shape ", src.shape_, " into ",
              shape_);
    hooks("copy_from").copy(src, *this);
    return;
  }
  WIN_CHECK(shape_ == src.shape_, ErrorKind::Internal, "copy_from: shape ", src.shape_, " into ",
            shape_);
  if (dtype_ == src.dtype_ && is_contiguous() && src.is_contiguous()) {
    std::memmove(raw(), src.raw(), nbytes());
    return;
  }
  dispatch_dtype(dtype_, [&](auto to_tag) {
    using To = decltype(to_tag);
    dispatch_dtype(src.dtype_, [&](auto from_tag) {
      using From = decltype(from_tag);
      To* dst = static_cast<To*>(raw());
      const From* from = static_cast<const From*>(src.raw());
      for_each_offset2(shape_, strides_, src.strides_,
                       [&](int64_t od, int64_t os, int64_t) { dst[od] = convert<To>(from[os]); });
    });
  });
}

Tensor Tensor::contiguous() const {
  return contiguous(allocator_for(device()));
}

Tensor Tensor::contiguous(Allocator& alloc) const {
  if (is_contiguous() && alloc.device() == device()) return *this;
  return clone(alloc);
}

Tensor Tensor::clone() const {
  return clone(allocator_for(device()));
}

Tensor Tensor::clone(Allocator& alloc) const {
  Tensor t = empty(shape_, dtype_, alloc);
  t.copy_from(*this);
  return t;
}

Tensor Tensor::to(DType dtype, Allocator& alloc) const {
  Tensor t = empty(shape_, dtype, alloc);
  t.copy_from(*this);
  return t;
}

void Tensor::fill(double value) {
  if (device() != Device::CPU) {
    hooks("fill").fill(*this, value);
    return;
  }
  dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    T* p = static_cast<T*>(raw());
    const T v = convert<T>(value);
    for_each_offset(shape_, strides_, [&](int64_t o, int64_t) { p[o] = v; });
  });
}

void Tensor::zero() {
  if (device() != Device::CPU) {
    hooks("zero").zero(*this);
    return;
  }
  if (is_contiguous()) {
    check_cpu("zero");
    std::memset(raw(), 0, nbytes());
  } else {
    fill(0.0);
  }
}

std::vector<double> Tensor::to_vector() const {
  if (device() != Device::CPU) return clone(cpu_allocator()).to_vector();
  std::vector<double> out(static_cast<size_t>(numel()));
  dispatch_dtype(dtype_, [&](auto tag) {
    using T = decltype(tag);
    const T* p = static_cast<const T*>(raw());
    for_each_offset(shape_, strides_, [&](int64_t o, int64_t flat) {
      out[static_cast<size_t>(flat)] = convert<double>(p[o]);
    });
  });
  return out;
}

}  // namespace win
