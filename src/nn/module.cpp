// Module registration, traversal, output reuse and name-keyed initialisation (see module.hpp).
#include "nn/module.hpp"

#include "backend/transfer.hpp"
#include "core/caching_allocator.hpp"
#include "core/error.hpp"

namespace win::nn {

namespace {
thread_local Device t_default_device = Device::CPU;
}

Device default_device() {
  return t_default_device;
}
DeviceScope::DeviceScope(Device device) : previous_(t_default_device) {
  if (device != Device::CPU) backend::device_allocator(device);  // fails here if unusable
  t_default_device = device;
}
DeviceScope::~DeviceScope() {
  t_default_device = previous_;
}

Allocator& Module::alloc() const {
  // Cached: the first call checks the device (a CUDA query), later ones are a load.
  if (!alloc_) alloc_ = &backend::device_allocator(device_);
  return *alloc_;
}

Allocator& Module::transient_alloc() const {
  if (!transient_) transient_ = &transient_allocator(alloc().device());  // alloc(): backend is up
  return *transient_;
}
Tensor Module::transient(const Dims& shape, DType dtype) const {
  return Tensor::empty(shape, dtype, transient_alloc());
}
Tensor Module::transient_like(const Tensor& like) const {
  return empty_like(like, transient_alloc());
}
Tensor Module::transient_channels_last(const Dims& nchw, DType dtype) const {
  return empty_channels_last(nchw, dtype, transient_alloc());
}
Tensor Module::transient_grad_for(const Tensor& dy) const {
  return dy.dtype() == dtype() || !dy.is_contiguous() ? transient_like(dy)
                                                      : transient(dy.shape(), dtype());
}
Tensor Module::transient_contiguous(const Tensor& t) const {
  return t.contiguous(transient_alloc());
}

void Module::ensure(Tensor& t, const Dims& shape, DType dtype, const Tensor* like) const {
  nn::ensure(t, shape, dtype, like, &alloc());
}
void Module::ensure_channels_last(Tensor& t, const Dims& nchw, DType dtype) const {
  nn::ensure_channels_last(t, nchw, dtype, &alloc());
}

const char* param_kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::Weight:
      return "weight";
    case ParamKind::Bias:
      return "bias";
    case ParamKind::BatchNorm:
      return "bn";
    case ParamKind::LayerNorm:
      return "ln";
    case ParamKind::Embedding:
      return "embedding";
    case ParamKind::Bridge:
      return "bridge";
  }
  return "?";
}

std::string Module::child_prefix(const std::string& prefix, const std::string& name) {
  return name.empty() ? prefix : prefix + name + ".";
}

Param& Module::add_param(std::string name, const Dims& shape, ParamKind kind, Init init) {
  for (const auto& p : params_)
    WIN_ASSERT(p.name != name, "parameter '", name, "' registered twice in ", type_);
  Param& p = params_.emplace_back();
  p.name = std::move(name);
  p.value = Tensor::zeros(shape, dtype_, alloc());
  p.grad = Tensor::zeros(shape, dtype_, alloc());
  p.kind = kind;
  p.init = init;
  return p;
}

Tensor& Module::add_buffer(std::string name, const Dims& shape, double value) {
  Tensor t = Tensor::empty(shape, dtype_, alloc());
  backend::fill(t, value);
  return buffers_.emplace_back(std::move(name), std::move(t)).second;
}

void Module::for_each_param(const std::function<void(const std::string&, Param&)>& f,
                            const std::string& prefix) {
  for (auto& p : params_) f(prefix + p.name, p);
  for (auto& [name, child] : children_) child->for_each_param(f, child_prefix(prefix, name));
}

void Module::for_each_buffer(const std::function<void(const std::string&, Tensor&)>& f,
                             const std::string& prefix) {
  for (auto& [name, t] : buffers_) f(prefix + name, t);
  for (auto& [name, child] : children_) child->for_each_buffer(f, child_prefix(prefix, name));
}

void Module::for_each_module(const std::function<void(const std::string&, Module&)>& f,
                             const std::string& prefix) {
  f(prefix, *this);
  for (auto& [name, child] : children_) child->for_each_module(f, child_prefix(prefix, name));
}

int64_t Module::num_params() {
  int64_t n = 0;
  for_each_param([&](const std::string&, Param& p) { n += p.value.numel(); });
  return n;
}

void ensure(Tensor& t, const Dims& shape, DType dtype, const Tensor* like, Allocator* alloc) {
  if (t.defined() && t.shape() == shape && t.dtype() == dtype) return;
  Allocator& a = alloc ? *alloc : like ? allocator_for(like->device()) : cpu_allocator();
  if (like && like->shape() == shape && like->dtype() == dtype)
    t = empty_like(*like, a);
  else
    t = Tensor::empty(shape, dtype, a);
}

void ensure_channels_last(Tensor& t, const Dims& nchw, DType dtype, Allocator* alloc) {
  if (t.defined() && t.shape() == nchw && t.dtype() == dtype) return;
  t = empty_channels_last(nchw, dtype, alloc ? *alloc : cpu_allocator());
}

namespace {
uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}
constexpr uint64_t kInitStream = 0x1417;  // the stream of parameter initialisation draws
}  // namespace

void init_params(Module& m, uint64_t seed) {
  const Philox rng(seed, kInitStream);
  m.for_each_param([&](const std::string& name, Param& p) {
    const uint64_t key = fnv1a64(name);
    // Drawn on the host (the same values on every device), then moved where the parameter lives.
    Tensor v =
        p.value.device() == Device::CPU ? p.value : Tensor::empty(p.value.shape(), p.value.dtype());
    switch (p.init.kind) {
      case Init::Kind::Zeros:
        v.fill(0.0);
        break;
      case Init::Kind::Ones:
        v.fill(1.0);
        break;
      case Init::Kind::Uniform:
        fill_uniform(v, rng, -p.init.a, p.init.a, key);
        break;
      case Init::Kind::Normal:
        fill_normal(v, rng, 0.0, p.init.a, key);
        break;
    }
    if (p.value.device() != Device::CPU) backend::copy_across(v, p.value);
  });
}

}  // namespace win::nn
