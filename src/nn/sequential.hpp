// Sequential: children applied in order; backward runs them in reverse. Flatten: (N, ...) ->
// (N, prod), in PyTorch's element order (a channels-last input is copied into (C, H, W) order).
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

class Sequential final : public Module {
 public:
  explicit Sequential(DType dtype = DType::F32) : Module("Sequential", dtype) {}
  // Children are named "0", "1", ... like torch.nn.Sequential unless a name is given.
  template <class M>
  M& add(std::unique_ptr<M> m, std::string name = "") {
    if (name.empty()) name = std::to_string(children().size());
    return add_child(std::move(name), std::move(m));
  }
  // A transparent child: its parameters are named as if they were the Sequential's own.
  template <class M>
  M& add_unnamed(std::unique_ptr<M> m) {
    return add_child("", std::move(m));
  }
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;
  size_t size() const { return children().size(); }
  Module& operator[](size_t i) const { return *children()[i].second; }
};

class Flatten final : public Module {
 public:
  explicit Flatten(DType dtype = DType::F32) : Module("Flatten", dtype) {}
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

 private:
  Dims x_shape_;
  Tensor y_;
};

}  // namespace win::nn
