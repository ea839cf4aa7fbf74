// Matrix products on the GPU with cuBLASLt: the op table's gemm and the fused Linear forward
// (bias and ReLU in the matmul's epilogue), for f32 and bf16 tensors (bf16 operands and output,
// fp32 accumulation and scaling). fp32 products accumulate in true fp32 (CUBLAS_COMPUTE_32F, no
// TF32), so they agree with the CPU backend to rounding.
#pragma once

#include <memory>

#include "backend/ops.hpp"

namespace win::backend {

// C = alpha * op(A) op(B) + beta * C with the exact contract of Ops::gemm: A, B, C on the GPU, all
// f32 or all bf16, or bf16 A and B into an f32 C (factors rounded once by their layer); 2-d with
// unit column stride and possibly padded rows (a matrix stored column-major, unit row stride, is
// taken too), or 3-d/4-d with the same leading batch dims and any batch strides. beta = 0 ignores
// C's old contents (NaN included). Asynchronous on the calling thread's CUDA context stream.
void cuda_gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
               double beta, Tensor& c);

// LinearOp on cuBLASLt: y (M, N) = act(x (M, K) W^T + b) with CUBLASLT_EPILOGUE_BIAS or
// RELU_BIAS (RELU without b). x, W, b and y share one dtype (f32 or bf16), or x and W are bf16
// with f32 b and y; y has unit column stride.
std::unique_ptr<LinearOp> make_cuda_linear(bool fuse_relu);

}  // namespace win::backend
