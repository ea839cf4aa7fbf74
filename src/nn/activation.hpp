// Activation: ReLU, erf-GELU or tanh as a module (y = f(x), any shape and layout; dx keeps dy's
// layout).
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

class Activation final : public Module {
 public:
  explicit Activation(backend::Eltwise kind, DType dtype = DType::F32);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;
  backend::Eltwise kind() const { return kind_; }

 private:
  backend::Eltwise kind_;
  std::unique_ptr<backend::EltwiseOp> op_;
  Tensor x_, y_;
};

}  // namespace win::nn
