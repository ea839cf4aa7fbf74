// Linear: y = x W^T + b, W (out, in), b (out) optional, as torch.nn.Linear (same parameter names,
// shapes and default initialisation). x may have leading dimensions (N, ..., in); they are
// flattened into rows, so x must be contiguous. With fuse_relu the layer is Linear followed by
// ReLU, computed in one primitive (bias and ReLU in the matrix product's epilogue) and
// back-propagated through the ReLU and the bias in one pass: same parameters and names.
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

class Linear final : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, DType dtype = DType::F32, bool fuse_relu = false);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Param& weight() { return *w_; }
  Param* bias() { return b_; }

 private:
  int64_t in_, out_;
  bool relu_;
  std::unique_ptr<backend::LinearOp> op_;
  Param* w_;
  Param* b_ = nullptr;
  Tensor x_;  // saved input (rows, in)
  Dims x_shape_;
  Tensor y_;
  // bf16 precision on a GPU: x, W and dy rounded once for all three products (see forward).
  bool rounds_operands() const;
  bool rounded_ = false;  // the last forward rounded its operands
  Tensor x16_, w16_;
};

}  // namespace win::nn
