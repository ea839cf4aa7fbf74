// Always-on checks for CUDA, cuBLAS, cuDNN and NCCL calls: a failure becomes a win::Error naming
// the call and the library's own error text. NCCL failures are communication errors (exit 6).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <nccl.h>

#include "core/error.hpp"

#define WIN_CUDA_CHECK(call)                                                                       \
  do {                                                                                             \
    const cudaError_t win_cuda_e_ = (call);                                                        \
    if (win_cuda_e_ != cudaSuccess) [[unlikely]] {                                                 \
      /* reported here: reset the runtime's last error, else the next launch check sees it */      \
      (void)cudaGetLastError();                                                                    \
      WIN_FAIL(::win::ErrorKind::Internal, "CUDA: ", #call,                                        \
               " failed: ", cudaGetErrorName(win_cuda_e_), ": ", cudaGetErrorString(win_cuda_e_)); \
    }                                                                                              \
  } while (0)

#define WIN_CUBLAS_CHECK(call)                                        \
  do {                                                                \
    const cublasStatus_t win_cublas_s_ = (call);                      \
    if (win_cublas_s_ != CUBLAS_STATUS_SUCCESS) [[unlikely]]          \
      WIN_FAIL(::win::ErrorKind::Internal, "cuBLAS: ", #call,         \
               " failed: ", cublasGetStatusName(win_cublas_s_), ": ", \
               cublasGetStatusString(win_cublas_s_));                 \
  } while (0)

#define WIN_CUDNN_CHECK(call)                                   \
  do {                                                          \
    const cudnnStatus_t win_cudnn_s_ = (call);                  \
    if (win_cudnn_s_ != CUDNN_STATUS_SUCCESS) [[unlikely]]      \
      WIN_FAIL(::win::ErrorKind::Internal, "cuDNN: ", #call,    \
               " failed: ", cudnnGetErrorString(win_cudnn_s_)); \
  } while (0)

#define WIN_NCCL_CHECK(call)                                  \
  do {                                                        \
    const ncclResult_t win_nccl_r_ = (call);                  \
    if (win_nccl_r_ != ncclSuccess) [[unlikely]]              \
      WIN_FAIL(::win::ErrorKind::Comm, "NCCL: ", #call,       \
               " failed: ", ncclGetErrorString(win_nccl_r_)); \
  } while (0)
