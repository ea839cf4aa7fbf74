// CpuOps: the f32 CPU backend. oneDNN does the heavy lifting (sgemm, convolution, batch and layer
// normalisation, pooling, eltwise, softmax); everything else is RefOps<float>'s threaded loops.
// Each oneDNN op object builds its primitives for the first shapes and strides it sees and
// rebuilds only when they change, keeping memory objects and argument maps so that a call only
// swaps data pointers.
#pragma once

#include "backend/ref/ref_ops.hpp"

namespace win::backend {

class CpuOps final : public RefOps<float> {
 public:
  const char* name() const override { return "cpu-onednn"; }

  std::unique_ptr<Conv2dOp> conv2d(const Conv2dDesc& d) override;   // cpu/conv.cpp
  std::unique_ptr<BatchNormOp> batchnorm(bool fuse_relu) override;  // cpu/batchnorm.cpp
  std::unique_ptr<LayerNormOp> layernorm() override;                // cpu/layernorm.cpp
  std::unique_ptr<Pool2dOp> pool2d(const Pool2dDesc& d) override;   // cpu/pool.cpp
  std::unique_ptr<EltwiseOp> eltwise(Eltwise kind) override;        // cpu/eltwise_softmax.cpp
  std::unique_ptr<SoftmaxOp> softmax() override;
  std::unique_ptr<LinearOp> linear(
      bool fuse_relu) override;  // cpu/linear.cpp                    // cpu/eltwise_softmax.cpp
  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) override;  // cpu/gemm.cpp
};

}  // namespace win::backend
