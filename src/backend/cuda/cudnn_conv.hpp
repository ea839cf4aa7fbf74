// 2-d convolution on cuDNN (see cudnn_conv.cpp): the CUDA Conv2dOp.
#pragma once

#include <memory>

#include "backend/ops.hpp"

namespace win::backend {

// Conv2dOp for CUDA tensors, f32 or bf16 (x, w, b, y of one dtype; fp32 accumulation). Activations
// may be channels-last (win's layout) or NCHW, as their strides say; weights (K, C, R, S) any
// strides. Asynchronous on the calling thread's CUDA context stream.
std::unique_ptr<Conv2dOp> make_cuda_conv2d(const Conv2dDesc& d);

}  // namespace win::backend
