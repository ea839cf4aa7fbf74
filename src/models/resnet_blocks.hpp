// ResNet residual blocks with torchvision's structure and parameter names, so weights map 1:1:
// Bottleneck v1.5 (1x1 -> 3x3 with the stride -> 1x1 expanding by 4; conv1/bn1, conv2/bn2,
// conv3/bn3, downsample.0/downsample.1) and BasicBlock (3x3 with the stride -> 3x3; conv1/bn1,
// conv2/bn2, downsample.*). The projection shortcut exists when the stride is not 1 or the channel
// count changes. BN + ReLU pairs run fused (BatchNorm2d with fuse_relu), as do the last batch
// norm, the residual sum and the final ReLU (BatchNorm2d::forward_add_relu). Backward is
// explicit: the gradient through the final ReLU feeds both the main path and the shortcut, and
// the two input gradients are summed.
#pragma once

#include "nn/activation.hpp"
#include "nn/batchnorm.hpp"
#include "nn/conv2d.hpp"
#include "nn/module.hpp"
#include "nn/sequential.hpp"

namespace win::models {

class ResidualBlock : public nn::Module {
 public:
  Tensor forward(const Tensor& x, nn::Context& ctx) override;
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;
  bool has_projection() const { return downsample_ != nullptr; }
  // The layers that read the block's input linearly (for merging bridges): the first conv of the
  // main path and the projection's conv (nullptr without one).
  nn::Conv2d& first_conv() { return *first_conv_; }
  nn::Conv2d* projection_conv() { return proj_conv_; }

 protected:
  ResidualBlock(const char* type, int64_t in, int64_t out, int64_t stride, DType dtype);
  nn::Sequential& main() { return *main_; }

 private:
  // The main path's last layer, which also adds the shortcut and applies the block's ReLU.
  nn::BatchNorm2d& last_bn() const;

  nn::Sequential* main_ = nullptr;
  nn::Sequential* downsample_ = nullptr;
  nn::Conv2d* first_conv_ = nullptr;
  nn::Conv2d* proj_conv_ = nullptr;
  friend class Bottleneck;
  friend class BasicBlock;
};

class Bottleneck final : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 4;
  // in -> width (1x1) -> width (3x3, stride) -> out (1x1).
  Bottleneck(int64_t in, int64_t width, int64_t out, int64_t stride, DType dtype);
};

class BasicBlock final : public ResidualBlock {
 public:
  static constexpr int64_t kExpansion = 1;
  // in -> width (3x3, stride) -> out (3x3); width == out in the standard network.
  BasicBlock(int64_t in, int64_t width, int64_t out, int64_t stride, DType dtype);
};

}  // namespace win::models
