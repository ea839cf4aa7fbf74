// The descriptors and element access shared by the cuDNN stand-in's sources (cudnn_standin.cpp:
// handles, tensor ops, activation, batch norm; cudnn_conv_standin.cpp: convolution, pooling).
// Every 4-d descriptor keeps its dims and element strides, whatever set it (a format or explicit
// strides, a filter's NCHW/KCRS or NHWC/KRSC order), so one index function serves all.
#pragma once

#include <cuda_bf16.h>
#include <cudnn.h>

#include <array>
#include <cstdint>

struct EmuCudnnContext {};

struct EmuCudnnDescriptor {
  // tensors and filters
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  std::array<int64_t, 4> dim{0, 0, 0, 0}, stride{0, 0, 0, 0};
  bool set = false;
  // convolutions
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  // pooling
  cudnnPoolingMode_t pool = CUDNN_POOLING_MAX;
  int window_h = 0, window_w = 0;
};

namespace emu_cudnn {

// Set by a test: pooling refuses bf16 tensors as some cuDNN builds do
// (CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE), so that win's fp32 fallback runs; counts the refusals.
inline bool refuse_bf16_pooling = false;
inline int bf16_pooling_refusals = 0;

// The last error's text for cudnnGetLastErrorString, and the status to return with it.
cudnnStatus_t fail(cudnnStatus_t status, const char* why);

inline int64_t at(const EmuCudnnDescriptor& d, int64_t n, int64_t c, int64_t h, int64_t w) {
  return n * d.stride[0] + c * d.stride[1] + h * d.stride[2] + w * d.stride[3];
}

inline float load(const EmuCudnnDescriptor& d, const void* p, int64_t i) {
  if (d.type == CUDNN_DATA_BFLOAT16)
    return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
  return static_cast<const float*>(p)[i];
}

inline void store(const EmuCudnnDescriptor& d, void* p, int64_t i, double v) {
  if (d.type == CUDNN_DATA_BFLOAT16)
    static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(static_cast<float>(v));
  else
    static_cast<float*>(p)[i] = static_cast<float>(v);
}

// alpha * v + beta * old, with old not read when beta is 0 (cuDNN's blending: the output may
// hold anything then, NaN included).
inline void blend(const EmuCudnnDescriptor& d, void* p, int64_t i, double v, float alpha,
                  float beta) {
  store(d, p, i, beta == 0.0f ? alpha * v : alpha * v + beta * double{load(d, p, i)});
}

// Whether a descriptor was set, and its whole span lies in one device allocation (when the
// runtime stand-in checks device pointers).
bool usable(const EmuCudnnDescriptor* d, const void* p);

// The NCHW or NHWC strides of a packed tensor of these dims.
std::array<int64_t, 4> packed_strides(cudnnTensorFormat_t f, const std::array<int64_t, 4>& dim);

}  // namespace emu_cudnn
