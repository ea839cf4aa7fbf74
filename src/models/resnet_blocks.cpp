// Bottleneck and BasicBlock (see resnet_blocks.hpp).
#include "models/resnet_blocks.hpp"

#include "core/error.hpp"

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

// The main path's last batch norm, the residual sum and the block's ReLU are one call
// (BatchNorm2d::forward_add_relu: one pass where the backend fuses it), so the shortcut runs
// first. Backward: that call gives the main path's gradient and the shortcut's (the gradient
// through the ReLU); the two input gradients are summed in place.
Tensor ResidualBlock::forward(const Tensor& x, nn::Context& ctx) {
  const Tensor s = downsample_ ? downsample_->forward(x, ctx) : x;
  Tensor h = x;
  for (size_t i = 0; i + 1 < main_->size(); ++i) h = (*main_)[i].forward(h, ctx);
  return last_bn().forward_add_relu(h, s, ctx);
}

Tensor ResidualBlock::backward(const Tensor& dy, nn::Context& ctx) {
  Tensor dsum;
  Tensor dmain = last_bn().backward_add_relu(dy, ctx, &dsum);
  for (size_t i = main_->size() - 1; i-- > 0;) dmain = (*main_)[i].backward(dmain, ctx);
  const Tensor dshort = downsample_ ? downsample_->backward(dsum, ctx) : dsum;
  // dmain is the first convolution's input-gradient buffer, read only here: the sum goes into it
  // rather than into a buffer of the block's own (one activation less per block).
  WIN_CHECK(dmain.defined() && dmain.shape() == dshort.shape(), ErrorKind::Internal, type(),
            " backward: main path gradient ", dmain.defined() ? dmain.shape() : Dims{},
            ", shortcut gradient ", dshort.shape());
  ops().add(dmain, dshort, dmain);
  return dmain;
}

nn::BatchNorm2d& ResidualBlock::last_bn() const {
  auto* bn =
      main_->size() > 0 ? dynamic_cast<nn::BatchNorm2d*>(&(*main_)[main_->size() - 1]) : nullptr;
  WIN_CHECK(bn != nullptr, ErrorKind::Internal, type(),
            ": the main path must end with a BatchNorm2d");
  return *bn;
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
