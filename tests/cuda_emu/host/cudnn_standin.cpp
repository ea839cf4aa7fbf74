// cuDNN on the CPU, for test_cuda_host_emu (tests/cuda_emu/shim/cudnn.h): handles, descriptors,
// the tensor ops (transform, add, set, scale), ReLU activation and spatial batch norm, computed
// in double from the descriptors' strides, with cuDNN's alpha/beta blending (the output is not
// read when beta is 0). Convolution and pooling are in cudnn_conv_standin.cpp. What it refuses as
// cuDNN does: unset descriptors, mismatched dims, an epsilon below CUDNN_BN_MIN_EPSILON, and
// (with the runtime stand-in's checks on) tensors whose span leaves their device allocation.
#include "cudnn_standin.hpp"

#include <cmath>
#include <cstdio>
#include <vector>

namespace emu_cudnn {

namespace {
thread_local const char* last_error = "";
}  // namespace

cudnnStatus_t fail(cudnnStatus_t status, const char* why) {
  last_error = why;
  return status;
}

bool usable(const EmuCudnnDescriptor* d, const void* p) {
  if (!d || !d->set || !p) return false;
  if (!emu::check_device_pointers) return true;
  int64_t span = 1;
  for (int i = 0; i < 4; ++i) span += (d->dim[i] - 1) * d->stride[i];
  const size_t bytes = static_cast<size_t>(span) * (d->type == CUDNN_DATA_BFLOAT16 ? 2 : 4);
  return emu::in_allocation(p, bytes);
}

std::array<int64_t, 4> packed_strides(cudnnTensorFormat_t f, const std::array<int64_t, 4>& d) {
  if (f == CUDNN_TENSOR_NHWC) return {d[1] * d[2] * d[3], 1, d[3] * d[1], d[1]};
  return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
}

}  // namespace emu_cudnn

using namespace emu_cudnn;

namespace {

bool same_dims(const EmuCudnnDescriptor* a, const EmuCudnnDescriptor* b) {
  return a && b && a->dim == b->dim;
}

template <class F>
void each(const EmuCudnnDescriptor& d, F&& f) {
  for (int64_t n = 0; n < d.dim[0]; ++n)
    for (int64_t c = 0; c < d.dim[1]; ++c)
      for (int64_t h = 0; h < d.dim[2]; ++h)
        for (int64_t w = 0; w < d.dim[3]; ++w) f(n, c, h, w);
}

}  // namespace

cudnnStatus_t cudnnCreate(cudnnHandle_t* h) {
  *h = new EmuCudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
  delete h;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t) {
  return h ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_INITIALIZED;
}
size_t cudnnGetVersion(void) {
  return 90000;
}
const char* cudnnGetErrorString(cudnnStatus_t s) {
  switch (s) {
    case CUDNN_STATUS_SUCCESS:
      return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM:
      return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED:
      return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE:
      return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_EXECUTION_FAILED:
      return "CUDNN_STATUS_EXECUTION_FAILED";
    default:
      return "CUDNN_STATUS_(other)";
  }
}
void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (max_size == 0) return;
  std::snprintf(message, max_size, "%s", last_error);
  last_error = "";
}

// ---- descriptors ----------------------------------------------------------------------------

#define WIN_EMU_DESCRIPTOR(Kind)                                              \
  cudnnStatus_t cudnnCreate##Kind##Descriptor(cudnn##Kind##Descriptor_t* d) { \
    *d = new EmuCudnnDescriptor;                                              \
    return CUDNN_STATUS_SUCCESS;                                              \
  }                                                                           \
  cudnnStatus_t cudnnDestroy##Kind##Descriptor(cudnn##Kind##Descriptor_t d) { \
    delete d;                                                                 \
    return CUDNN_STATUS_SUCCESS;                                              \
  }
WIN_EMU_DESCRIPTOR(Tensor)
WIN_EMU_DESCRIPTOR(Filter)
WIN_EMU_DESCRIPTOR(Convolution)
WIN_EMU_DESCRIPTOR(Pooling)
WIN_EMU_DESCRIPTOR(Activation)
#undef WIN_EMU_DESCRIPTOR

cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t d, cudnnDataType_t type, int n,
                                           int c, int h, int w, int ns, int cs, int hs, int ws) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0 || ns <= 0 || cs <= 0 || hs <= 0 || ws <= 0)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor4dDescriptorEx: dims and strides > 0");
  d->type = type;
  d->dim = {n, c, h, w};
  d->stride = {ns, cs, hs, ws};
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
  const auto s = packed_strides(f, {n, c, h, w});
  return cudnnSetTensor4dDescriptorEx(d, type, n, c, h, w, static_cast<int>(s[0]),
                                      static_cast<int>(s[1]), static_cast<int>(s[2]),
                                      static_cast<int>(s[3]));
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                         cudnnTensorFormat_t f, int k, int c, int h, int w) {
  return cudnnSetTensor4dDescriptor(d, f, type, k, c, h, w);  // KCRS or KRSC order
}
cudnnStatus_t cudnnDeriveBNTensorDescriptor(cudnnTensorDescriptor_t d,
                                            const cudnnTensorDescriptor_t x, cudnnBatchNormMode_t) {
  if (!x || !x->set) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnDeriveBNTensorDescriptor: x unset");
  return cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                    static_cast<int>(x->dim[1]), 1, 1);
}
cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t d, cudnnActivationMode_t m,
                                           cudnnNanPropagation_t, double) {
  if (m != CUDNN_ACTIVATION_RELU) return fail(CUDNN_STATUS_NOT_SUPPORTED, "activation: ReLU only");
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

// ---- tensor ops -----------------------------------------------------------------------------

cudnnStatus_t cudnnTransformTensor(cudnnHandle_t h, const void* alpha,
                                   const cudnnTensorDescriptor_t xd, const void* x,
                                   const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  if (!h || !usable(xd, x) || !usable(yd, y) || !same_dims(xd, yd))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnTransformTensor: descriptors or pointers");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each(*yd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    blend(*yd, y, at(*yd, n, c, i, j), load(*xd, x, at(*xd, n, c, i, j)), a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t ad,
                             const void* A, const void* beta, const cudnnTensorDescriptor_t cd,
                             void* C) {
  if (!h || !usable(ad, A) || !usable(cd, C))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnAddTensor: descriptors or pointers");
  for (int i = 0; i < 4; ++i)
    if (ad->dim[i] != cd->dim[i] && ad->dim[i] != 1)
      return fail(CUDNN_STATUS_BAD_PARAM, "cudnnAddTensor: A neither C's dims nor 1");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each(*cd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    const auto& d = ad->dim;
    const double v = load(
        *ad, A, at(*ad, d[0] > 1 ? n : 0, d[1] > 1 ? c : 0, d[2] > 1 ? i : 0, d[3] > 1 ? j : 0));
    blend(*cd, C, at(*cd, n, c, i, j), v, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor(cudnnHandle_t h, const cudnnTensorDescriptor_t yd, void* y,
                             const void* value) {
  if (!h || !usable(yd, y)) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetTensor");
  // value[0] has y's data type.
  const float v = yd->type == CUDNN_DATA_BFLOAT16
                      ? __bfloat162float(*static_cast<const __nv_bfloat16*>(value))
                      : *static_cast<const float*>(value);
  each(*yd,
       [&](int64_t n, int64_t c, int64_t i, int64_t j) { store(*yd, y, at(*yd, n, c, i, j), v); });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnScaleTensor(cudnnHandle_t h, const cudnnTensorDescriptor_t yd, void* y,
                               const void* alpha) {
  if (!h || !usable(yd, y)) return fail(CUDNN_STATUS_BAD_PARAM, "cudnnScaleTensor");
  const float a = *static_cast<const float*>(alpha);
  each(*yd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    const int64_t k = at(*yd, n, c, i, j);
    store(*yd, y, k, double{a} * load(*yd, y, k));
  });
  return CUDNN_STATUS_SUCCESS;
}

// ---- ReLU -----------------------------------------------------------------------------------

cudnnStatus_t cudnnActivationForward(cudnnHandle_t h, cudnnActivationDescriptor_t act,
                                     const void* alpha, const cudnnTensorDescriptor_t xd,
                                     const void* x, const void* beta,
                                     const cudnnTensorDescriptor_t yd, void* y) {
  if (!h || !act || !act->set || !usable(xd, x) || !usable(yd, y) || !same_dims(xd, yd))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnActivationForward");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each(*yd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    const float v = load(*xd, x, at(*xd, n, c, i, j));
    blend(*yd, y, at(*yd, n, c, i, j), std::isnan(v) ? v : std::max(v, 0.0f), a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnActivationBackward(cudnnHandle_t h, cudnnActivationDescriptor_t act,
                                      const void* alpha, const cudnnTensorDescriptor_t yd,
                                      const void* y, const cudnnTensorDescriptor_t dyd,
                                      const void* dy, const cudnnTensorDescriptor_t xd,
                                      const void* x, const void* beta,
                                      const cudnnTensorDescriptor_t dxd, void* dx) {
  if (!h || !act || !act->set || !usable(yd, y) || !usable(dyd, dy) || !usable(xd, x) ||
      !usable(dxd, dx) || !same_dims(yd, dxd) || !same_dims(dyd, dxd) || !same_dims(xd, dxd))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnActivationBackward");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each(*dxd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    const bool on = load(*xd, x, at(*xd, n, c, i, j)) > 0.0f;
    blend(*dxd, dx, at(*dxd, n, c, i, j), on ? load(*dyd, dy, at(*dyd, n, c, i, j)) : 0.0, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

// ---- batch norm (spatial: per channel over N, H, W) -----------------------------------------

namespace {

constexpr double kMinEpsilon = 0.0;  // CUDNN_BN_MIN_EPSILON (cudnn_ops_v9.h)

bool channel_desc(const EmuCudnnDescriptor* d, const EmuCudnnDescriptor* x) {
  return d && d->set && d->dim[0] == 1 && d->dim[1] == x->dim[1] && d->dim[2] == 1 &&
         d->dim[3] == 1 && d->type == CUDNN_DATA_FLOAT;
}
float chan(const EmuCudnnDescriptor& d, const void* p, int64_t c) {
  return load(d, p, at(d, 0, c, 0, 0));
}
void set_chan(const EmuCudnnDescriptor& d, void* p, int64_t c, double v) {
  store(d, p, at(d, 0, c, 0, 0), v);
}

// Per channel: mean and biased variance of x over N, H, W.
void moments(const EmuCudnnDescriptor& xd, const void* x, int64_t c, double& mean, double& var) {
  double s = 0, ss = 0;
  const double m = static_cast<double>(xd.dim[0] * xd.dim[2] * xd.dim[3]);
  for (int64_t n = 0; n < xd.dim[0]; ++n)
    for (int64_t i = 0; i < xd.dim[2]; ++i)
      for (int64_t j = 0; j < xd.dim[3]; ++j) s += load(xd, x, at(xd, n, c, i, j));
  mean = s / m;
  for (int64_t n = 0; n < xd.dim[0]; ++n)
    for (int64_t i = 0; i < xd.dim[2]; ++i)
      for (int64_t j = 0; j < xd.dim[3]; ++j) {
        const double d = load(xd, x, at(xd, n, c, i, j)) - mean;
        ss += d * d;
      }
  var = ss / m;
}

}  // namespace

cudnnStatus_t cudnnBatchNormalizationForwardTraining(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,
    const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t yd, void* y,
    const cudnnTensorDescriptor_t cd, const void* scale, const void* bias, double factor,
    void* running_mean, void* running_var, double eps, void* save_mean, void* save_inv_var) {
  if (!h || mode != CUDNN_BATCHNORM_SPATIAL || !usable(xd, x) || !usable(yd, y) ||
      !same_dims(xd, yd) || !channel_desc(cd, xd) || !scale || !bias)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBatchNormalizationForwardTraining: arguments");
  if (eps < kMinEpsilon) return fail(CUDNN_STATUS_BAD_PARAM, "epsilon below CUDNN_BN_MIN_EPSILON");
  if (xd->dim[0] * xd->dim[2] * xd->dim[3] < 2)
    return fail(CUDNN_STATUS_BAD_PARAM, "batch norm over a single value");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  const double m = static_cast<double>(xd->dim[0] * xd->dim[2] * xd->dim[3]);
  for (int64_t c = 0; c < xd->dim[1]; ++c) {
    double mean = 0, var = 0;
    moments(*xd, x, c, mean, var);
    const double inv = 1.0 / std::sqrt(var + eps), g = chan(*cd, scale, c), be = chan(*cd, bias, c);
    for (int64_t n = 0; n < xd->dim[0]; ++n)
      for (int64_t i = 0; i < xd->dim[2]; ++i)
        for (int64_t j = 0; j < xd->dim[3]; ++j)
          blend(*yd, y, at(*yd, n, c, i, j),
                g * (load(*xd, x, at(*xd, n, c, i, j)) - mean) * inv + be, a, b);
    // cuDNN's formula, old values read also with factor 1 (nothing promises otherwise): NaN
    // left in them stays NaN, so a caller must start from a defined running average.
    auto update = [&](void* p, double v) {
      if (p) set_chan(*cd, p, c, factor * v + (1 - factor) * chan(*cd, p, c));
    };
    update(running_mean, mean);
    update(running_var, var * m / (m - 1));  // the unbiased estimate, as cuDNN keeps it
    if (save_mean) set_chan(*cd, save_mean, c, mean);
    if (save_inv_var) set_chan(*cd, save_inv_var, c, inv);
  }
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBatchNormalizationForwardInference(
    cudnnHandle_t h, cudnnBatchNormMode_t mode, const void* alpha, const void* beta,
    const cudnnTensorDescriptor_t xd, const void* x, const cudnnTensorDescriptor_t yd, void* y,
    const cudnnTensorDescriptor_t cd, const void* scale, const void* bias, const void* mean,
    const void* var, double eps) {
  if (!h || mode != CUDNN_BATCHNORM_SPATIAL || !usable(xd, x) || !usable(yd, y) ||
      !same_dims(xd, yd) || !channel_desc(cd, xd) || !scale || !bias || !mean || !var)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBatchNormalizationForwardInference: arguments");
  if (eps < kMinEpsilon) return fail(CUDNN_STATUS_BAD_PARAM, "epsilon below CUDNN_BN_MIN_EPSILON");
  const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
  each(*yd, [&](int64_t n, int64_t c, int64_t i, int64_t j) {
    const double inv = 1.0 / std::sqrt(double{chan(*cd, var, c)} + eps);
    const double v =
        chan(*cd, scale, c) * (load(*xd, x, at(*xd, n, c, i, j)) - chan(*cd, mean, c)) * inv +
        chan(*cd, bias, c);
    blend(*yd, y, at(*yd, n, c, i, j), v, a, b);
  });
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnBatchNormalizationBackward(cudnnHandle_t h, cudnnBatchNormMode_t mode,
                                              const void* alpha_data, const void* beta_data,
                                              const void* alpha_param, const void* beta_param,
                                              const cudnnTensorDescriptor_t xd, const void* x,
                                              const cudnnTensorDescriptor_t dyd, const void* dy,
                                              const cudnnTensorDescriptor_t dxd, void* dx,
                                              const cudnnTensorDescriptor_t cd, const void* scale,
                                              void* dscale, void* dbias, double eps,
                                              const void* saved_mean, const void* saved_inv_var) {
  if (!h || mode != CUDNN_BATCHNORM_SPATIAL || !usable(xd, x) || !usable(dyd, dy) ||
      !usable(dxd, dx) || !same_dims(xd, dyd) || !same_dims(xd, dxd) || !channel_desc(cd, xd) ||
      !scale || !dscale || !dbias || (!saved_mean != !saved_inv_var))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnBatchNormalizationBackward: arguments");
  if (eps < kMinEpsilon) return fail(CUDNN_STATUS_BAD_PARAM, "epsilon below CUDNN_BN_MIN_EPSILON");
  const float ad = *static_cast<const float*>(alpha_data),
              bd = *static_cast<const float*>(beta_data);
  const float ap = *static_cast<const float*>(alpha_param),
              bp = *static_cast<const float*>(beta_param);
  const double m = static_cast<double>(xd->dim[0] * xd->dim[2] * xd->dim[3]);
  for (int64_t c = 0; c < xd->dim[1]; ++c) {
    double mean = 0, inv = 0;
    if (saved_mean) {
      mean = chan(*cd, saved_mean, c);
      inv = chan(*cd, saved_inv_var, c);
    } else {
      double var = 0;
      moments(*xd, x, c, mean, var);
      inv = 1.0 / std::sqrt(var + eps);
    }
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < xd->dim[0]; ++n)
      for (int64_t i = 0; i < xd->dim[2]; ++i)
        for (int64_t j = 0; j < xd->dim[3]; ++j) {
          const double xh = (load(*xd, x, at(*xd, n, c, i, j)) - mean) * inv;
          const double g = load(*dyd, dy, at(*dyd, n, c, i, j));
          sum_dy += g;
          sum_dy_xhat += g * xh;
        }
    const double gamma = chan(*cd, scale, c);
    for (int64_t n = 0; n < xd->dim[0]; ++n)
      for (int64_t i = 0; i < xd->dim[2]; ++i)
        for (int64_t j = 0; j < xd->dim[3]; ++j) {
          const double xh = (load(*xd, x, at(*xd, n, c, i, j)) - mean) * inv;
          const double g = load(*dyd, dy, at(*dyd, n, c, i, j));
          blend(*dxd, dx, at(*dxd, n, c, i, j),
                gamma * inv / m * (m * g - sum_dy - xh * sum_dy_xhat), ad, bd);
        }
    blend(*cd, dscale, at(*cd, 0, c, 0, 0), sum_dy_xhat, ap, bp);
    blend(*cd, dbias, at(*cd, 0, c, 0, 0), sum_dy, ap, bp);
  }
  return CUDNN_STATUS_SUCCESS;
}
