// Pooling layers as torch.nn.MaxPool2d / AvgPool2d (square windows, floor mode; max pooling pads
// with -inf, average pooling counts padded zeros: count_include_pad = true) and GlobalAvgPool,
// the mean over H and W: (N, C, H, W) -> (N, C), i.e. AdaptiveAvgPool2d(1) + flatten as ResNet's
// head uses it. The window poolings keep the input's layout (channels-last stays channels-last).
#pragma once

#include <memory>

#include "nn/module.hpp"

namespace win::nn {

// The shared implementation of MaxPool2d and AvgPool2d.
class Pool2d : public Module {
 public:
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  int64_t kernel() const { return desc_.kernel; }
  int64_t stride() const { return desc_.stride; }
  int64_t padding() const { return desc_.padding; }
  // Output extent along one spatial axis for an input extent.
  int64_t out_extent(int64_t in) const;

 protected:
  Pool2d(const char* type, backend::Pool2dDesc desc, DType dtype);

 private:
  backend::Pool2dDesc desc_;
  std::unique_ptr<backend::Pool2dOp> op_;
  Tensor x_, y_;
};

class MaxPool2d final : public Pool2d {
 public:
  MaxPool2d(int64_t kernel, int64_t stride, int64_t padding = 0, DType dtype = DType::F32);
};

class AvgPool2d final : public Pool2d {
 public:
  AvgPool2d(int64_t kernel, int64_t stride, int64_t padding = 0, DType dtype = DType::F32);
};

class GlobalAvgPool final : public Module {
 public:
  explicit GlobalAvgPool(DType dtype = DType::F32) : Module("GlobalAvgPool", dtype) {}
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

 private:
  Tensor x_, y_;
};

}  // namespace win::nn
