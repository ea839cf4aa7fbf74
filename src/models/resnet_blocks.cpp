// Bottleneck and BasicBlock (see resnet_blocks.hpp).
#include "models/resnet_blocks.hpp"

namespace win::models {

namespace {
constexpr double kBnEps = 1e-5, kBnMomentum = 0.1;
}  // namespace

ResidualBlock::ResidualBlock(const char* type, int64_t in, int64_t out, int64_t stride, DType dtype)
    : nn::Module(type, dtype) {
  // The main path's layers are registered transparently so names read conv1, bn1, ...
  main_ = &add_child("", std::make_unique<nn::Sequential>(dtype));
  if (stride != 1 || in != out) {
    downsample_ = &add_child("downsample", std::make_unique<nn::Sequential>(dtype));
    proj_conv_ =
        &downsample_->add(std::make_unique<nn::Conv2d>(in, out, 1, stride, 0, false, dtype));
    downsample_->add(std::make_unique<nn::BatchNorm2d>(out, kBnEps, kBnMomentum, dtype));
  }
}

// The block's final ReLU is fused with the residual sum: one pass forward, and one masking pass
// backward whose result feeds both the main path and the shortcut.
Tensor ResidualBlock::forward(const Tensor& x, nn::Context& ctx) {
  const Tensor h = main_->forward(x, ctx);
  const Tensor s = downsample_ ? downsample_->forward(x, ctx) : x;
  ensure(out_, h.shape(), h.dtype(), &h);
  ops().add_relu(h, s, out_);
  return out_;
}

Tensor ResidualBlock::backward(const Tensor& dy, nn::Context& ctx) {
  ensure(dsum_, dy.shape(), dy.dtype(), &dy);
  ops().relu_backward(out_, dy, dsum_);
  const Tensor& dsum = dsum_;
  const Tensor dmain = main_->backward(dsum, ctx);
  const Tensor dshort = downsample_ ? downsample_->backward(dsum, ctx) : dsum;
  ensure(dx_, dmain.shape(), dmain.dtype(), &dmain);
  ops().add(dmain, dshort, dx_);
  return dx_;
}

Bottleneck::Bottleneck(int64_t in, int64_t width, int64_t out, int64_t stride, DType dtype)
    : ResidualBlock("Bottleneck", in, out, stride, dtype) {
  auto& m = main();
  first_conv_ = &m.add(std::make_unique<nn::Conv2d>(in, width, 1, 1, 0, false, dtype), "conv1");
  m.add(std::make_unique<nn::BatchNorm2d>(width, kBnEps, kBnMomentum, dtype, true), "bn1");
  m.add(std::make_unique<nn::Conv2d>(width, width, 3, stride, 1, false, dtype), "conv2");
  m.add(std::make_unique<nn::BatchNorm2d>(width, kBnEps, kBnMomentum, dtype, true), "bn2");
  m.add(std::make_unique<nn::Conv2d>(width, out, 1, 1, 0, false, dtype), "conv3");
  m.add(std::make_unique<nn::BatchNorm2d>(out, kBnEps, kBnMomentum, dtype), "bn3");
}

BasicBlock::BasicBlock(int64_t in, int64_t width, int64_t out, int64_t stride, DType dtype)
    : ResidualBlock("BasicBlock", in, out, stride, dtype) {
  auto& m = main();
  first_conv_ =
      &m.add(std::make_unique<nn::Conv2d>(in, width, 3, stride, 1, false, dtype), "conv1");
  m.add(std::make_unique<nn::BatchNorm2d>(width, kBnEps, kBnMomentum, dtype, true), "bn1");
  m.add(std::make_unique<nn::Conv2d>(width, out, 3, 1, 1, false, dtype), "conv2");
  m.add(std::make_unique<nn::BatchNorm2d>(out, kBnEps, kBnMomentum, dtype), "bn2");
}

}  // namespace win::models
