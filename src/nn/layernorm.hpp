// LayerNorm over the last dimension, as torch.nn.LayerNorm(dim, eps) with elementwise affine
// (parameters "weight" = ones and "bias" = zeros, so HuggingFace BERT checkpoints map 1:1). The
// input (..., D) is flattened into rows, so it must be contiguous (a copy is made otherwise).
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

class LayerNorm final : public Module {
 public:
  LayerNorm(int64_t dim, double eps = 1e-5, DType dtype = DType::F32);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  int64_t dim() const { return dim_; }
  double eps() const { return eps_; }
  Param& weight() { return *w_; }
  Param& bias() { return *b_; }

 private:
  int64_t dim_;
  double eps_;
  Param* w_;
  Param* b_;
  std::unique_ptr<backend::LayerNormOp> op_;
  Tensor x_;  // saved input (rows, D)
  Dims x_shape_;
  Tensor y_, mean_, var_;
};

}  // namespace win::nn
