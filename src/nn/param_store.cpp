// Packing parameters into flat buffers (see param_store.hpp).
#include "nn/param_store.hpp"

#include "backend/transfer.hpp"

#include "core/error.hpp"

namespace win::nn {

ParamStore::ParamStore(Module& root) {
  constexpr int64_t kAlignElems = 16;  // 64 bytes of f32
  int64_t total = 0;
  DType dtype = root.dtype();
  root.for_each_param([&](const std::string& name, Param& p) {
    WIN_ASSERT(p.value.dtype() == dtype, "parameter ", name, " has dtype ",
               dtype_name(p.value.dtype()), " in a ", dtype_name(dtype), " model");
    entries_.push_back({name, &p, total, p.value.numel()});
    count_ += p.value.numel();
    total += (p.value.numel() + kAlignElems - 1) / kAlignElems * kAlignElems;
  });
  // On the parameters' device (a model lives on one: nn::DeviceScope).
  Device device = Device::CPU;
  if (!entries_.empty()) device = entries_.front().param->value.device();
  for (const auto& e : entries_)
    WIN_ASSERT(e.param->value.device() == device, "parameter ", e.name, " is on ",
               device_name(e.param->value.device()), ", the first on ", device_name(device));
  values_ = Tensor::zeros({total}, dtype, backend::device_allocator(device));
  grads_ = Tensor::zeros({total}, dtype, backend::device_allocator(device));
  for (auto& e : entries_) {
    const Dims shape = e.param->value.shape();
    Tensor v = values_.slice(0, e.offset, e.offset + e.numel).reshape(shape);
    backend::copy_across(e.param->value, v);
    e.param->value = v;
    e.param->grad = grads_.slice(0, e.offset, e.offset + e.numel).reshape(shape);
  }
}

const ParamEntry* ParamStore::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

void ParamStore::zero_grad() {
  if (grads_.defined()) backend::zero(grads_);
}

}  // namespace win::nn
