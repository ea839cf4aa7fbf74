// Spatial batch normalisation on cuDNN (see cudnn_batchnorm.cpp): the CUDA BatchNormOp.
#pragma once

#include <memory>

#include "backend/ops.hpp"

namespace win::backend {

// BatchNormOp for CUDA tensors with PyTorch's semantics (see ops.hpp): x, y, dy, dx f32 or bf16,
// any NCHW or channels-last strides; gamma, beta, the running and batch statistics and the
// parameter gradients f32 vectors of unit stride (cuDNN keeps per-channel values in fp32 for
// every activation type). Asynchronous on the calling thread's CUDA context stream.
std::unique_ptr<BatchNormOp> make_cuda_batchnorm(bool fuse_relu);

}  // namespace win::backend
