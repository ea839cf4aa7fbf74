// Conv2d: 2-d convolution as torch.nn.Conv2d with square kernels, no dilation or groups (same
// parameter names, OIHW weight shape and default initialisation). win keeps convolution
// activations channels-last (logical NCHW dims, NHWC memory order), so oneDNN's nhwc kernels read
// and write them with no reorder: the output is always channels-last, and an input in any other
// layout is copied to channels-last first (only the stem sees one), its dx copied back.
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

class Conv2d final : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0,
         bool bias = true, DType dtype = DType::F32);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel() const { return desc_.kernel_h; }
  int64_t stride() const { return desc_.stride; }
  int64_t padding() const { return desc_.padding; }
  // Output extent along one spatial axis for an input extent (PyTorch's floor mode).
  int64_t out_extent(int64_t in) const;
  Param& weight() { return *w_; }
  Param* bias() { return b_; }
  // false: backward computes the parameters' gradients only and returns an undefined tensor.
  // For a convolution on the data (a ResNet's stem), whose input needs no gradient: its
  // backward_data would write an input-sized tensor with 3 channels, a shape the GPU libraries
  // handle slowly, for nothing.
  void set_input_grad(bool on) { input_grad_ = on; }
  bool input_grad() const { return input_grad_; }

 private:
  int64_t in_, out_;
  backend::Conv2dDesc desc_;
  std::unique_ptr<backend::Conv2dOp> op_;
  Param* w_;
  Param* b_ = nullptr;
  bool input_grad_ = true;
  Tensor x_;         // saved input, channels-last
  Tensor x_layout_;  // the caller's input (its layout is dx's), when x_ is a copy
  Tensor x_cl_, y_;
  DType compute_ = DType::F32;  // the last forward's product dtype (see forward)
  void move_into(const Tensor& src, Tensor& dst) const;
};

}  // namespace win::nn
