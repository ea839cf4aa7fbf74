// y = alpha * x + beta * y over two device tensors of one logical shape (up to 4-d) with any
// element strides: the CUDA side of Ops::axpy / scale / add when the operands do not share one
// dense layout (a gradient written into a strided view, such as BERT's pooler writing the first
// token's rows of a (B, T, H) gradient, or a teacher weight slice being scaled). Dense operands of
// one layout take the vectorised kernels of eltwise.cuh instead. Only the host launcher is visible.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace win::kernels {

// y[i . ys] = alpha * x[i . xs] + beta * y[i . ys] for every index i below shape (padded with
// leading 1s). x may be null: then y = beta * y (alpha unused). y's elements must be distinct for
// distinct indices; x may alias y only with the same strides. f32. x (shape), y (shape)
[[nodiscard]] cudaError_t launch_strided_axpby_f32(float alpha, const float* x,
                                                   const int64_t x_strides[4], float beta, float* y,
                                                   const int64_t y_strides[4],
                                                   const int64_t shape[4], cudaStream_t stream);

}  // namespace win::kernels
