// 2-d max and average pooling on cuDNN (see cudnn_pool.cpp): the CUDA Pool2dOp.
#pragma once

#include <memory>

#include "backend/ops.hpp"

namespace win::backend {

// Pool2dOp for CUDA tensors (f32 or bf16, x and y of one dtype, NCHW or channels-last strides)
// with the CPU op's semantics: max pooling never picks a padded position; average pooling counts
// padded zeros (count_include_pad). Asynchronous on the calling thread's CUDA context stream.
std::unique_ptr<Pool2dOp> make_cuda_pool2d(const Pool2dDesc& d);

}  // namespace win::backend
