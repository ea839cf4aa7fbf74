// cuDNN's convolutions and pooling on the CPU, for test_cuda_host_emu (see cudnn_standin.cpp):
// forward, backward data, backward filter and bias, over any strides of x, y and the filter's
// NCHW or NHWC order, in float or bf16 with float accumulation (double here); operands rounded to
// TF32 unless the math type is FMA_MATH, as tensor cores would. Four candidates are ranked,
// fastest first: 3 (NOT_SUPPORTED for these shapes), 2 (tensor-op math, not deterministic, 8 KiB
// workspace), 1 (tensor-op math, deterministic, 4 KiB) and 0 (FMA math, deterministic, none), so
// that callers' choices among them are exercised; a call must bring the workspace its algorithm
// asked for. The numbers are the stand-in's own, the same in every direction (cuDNN's numbering
// differs per direction, and so does which of its algorithms are deterministic). The measured
// searches (Find*Ex) overwrite their output buffer with NaN, as a real search leaves garbage
// there. Pooling: max (padding as -inf, the first maximum of a window takes the gradient) and
// average counting the padding.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "cudnn_standin.hpp"
#include "tf32.hpp"

using namespace emu_cudnn;

namespace {

// The convolution's geometry, checked: x (N, C, H, W), filter (K, C, R, S), y (N, K, P, Q).
struct Geometry {
  const EmuCudnnDescriptor *x, *w, *conv, *y;
  bool ok = false;
  Geometry(const EmuCudnnDescriptor* x_, const EmuCudnnDescriptor* w_,
           const EmuCudnnDescriptor* conv_, const EmuCudnnDescriptor* y_)
      : x(x_), w(w_), conv(conv_), y(y_) {
    if (!x || !w || !conv || !y || !x->set || !w->set || !y->set) return;
    const auto& c = *conv;
    const int64_t p = (x->dim[2] + 2 * c.pad_h - ((w->dim[2] - 1) * c.dil_h + 1)) / c.stride_h + 1;
    const int64_t q = (x->dim[3] + 2 * c.pad_w - ((w->dim[3] - 1) * c.dil_w + 1)) / c.stride_w + 1;
    ok = x->dim[1] == w->dim[1] && y->dim[0] == x->dim[0] && y->dim[1] == w->dim[0] &&
         y->dim[2] == p && y->dim[3] == q && x->type == w->type && x->type == y->type;
  }
  float operand(const EmuCudnnDescriptor& d, const void* ptr, int64_t i) const {
    const float v = load(d, ptr, i);
    return conv->math == CUDNN_FMA_MATH || d.type != CUDNN_DATA_FLOAT ? v : emu::round_to_tf32(v);
  }
  // Calls f(n, k, p, q, c, h, w, r, s) for every product term, (h, w) inside x.
  template <class F>
  void each(F&& f) const {
    const auto& c = *conv;
    const int64_t R = w->dim[2], S = w->dim[3];
    for (int64_t n = 0; n < y->dim[0]; ++n)
      for (int64_t k = 0; k < y->dim[1]; ++k)
        for (int64_t p = 0; p < y->dim[2]; ++p)
          for (int64_t q = 0; q < y->dim[3]; ++q)
            for (int64_t ch = 0; ch < x->dim[1]; ++ch)
              for (int64_t r = 0; r < R; ++r)
                for (int64_t s = 0; s < S; ++s) {
                  const int64_t h = p * c.stride_h - c.pad_h + r * c.dil_h;
                  const int64_t wi = q * c.stride_w - c.pad_w + s * c.dil_w;
                  if (h < 0 || h >= x->dim[2] || wi < 0 || wi >= x->dim[3]) continue;
                  const bool flip = c.mode == CUDNN_CONVOLUTION;
                  f(n, k, p, q, ch, h, wi, flip ? R - 1 - r : r, flip ? S - 1 - s : s);
                }
  }
};

size_t workspace_of(int algo) {
  return algo == 2 ? 8192 : algo == 1 ? 4096 : 0;
}

bool workspace_ok(int algo, const void* ws, size_t bytes) {
  const size_t need = workspace_of(algo);
  if (algo < 0 || algo > 2 || bytes < need || (need > 0 && !ws)) return false;
  return need == 0 || !emu::check_device_pointers || emu::in_allocation(ws, need);
}

// The ranked candidates, fastest first. A measured search given `workspace` bytes marks those
// needing more CUDNN_STATUS_ALLOC_FAILED, as cuDNN does (the call itself succeeds).
template <class Perf>
cudnnStatus_t offer(int requested, int* returned, Perf* perf, size_t workspace = SIZE_MAX) {
  const Perf all[4] = {
      {3, CUDNN_STATUS_NOT_SUPPORTED, -1.0f, 0, CUDNN_DETERMINISTIC, CUDNN_DEFAULT_MATH, {}},
      {2,
       CUDNN_STATUS_SUCCESS,
       1.0f,
       workspace_of(2),
       CUDNN_NON_DETERMINISTIC,
       CUDNN_TENSOR_OP_MATH,
       {}},
      {1,
       CUDNN_STATUS_SUCCESS,
       2.0f,
       workspace_of(1),
       CUDNN_DETERMINISTIC,
       CUDNN_TENSOR_OP_MATH,
       {}},
      {0, CUDNN_STATUS_SUCCESS, 3.0f, workspace_of(0), CUDNN_DETERMINISTIC, CUDNN_FMA_MATH, {}},
  };
  if (requested < 1 || !returned || !perf) return fail(CUDNN_STATUS_BAD_PARAM, "algorithm query");
  *returned = std::min(requested, 4);
  for (int i = 0; i < *returned; ++i) {
    perf[i] = all[i];
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory > workspace)
      perf[i].status = CUDNN_STATUS_ALLOC_FAILED;
  }
  return CUDNN_STATUS_SUCCESS;
}

// A measured search's workspace: any size (algorithms that need more are marked), inside its
// allocation.
bool search_workspace_ok(const void* ws, size_t bytes) {
  return bytes == 0 || (ws && (!emu::check_device_pointers || emu::in_allocation(ws, bytes)));
}

// A measured search's output: garbage (NaN) afterwards.
void scribble(const EmuCudnnDescriptor* d, void* p) {
  int64_t span = 1;
  for (int i = 0; i < 4; ++i) span += (d->dim[i] - 1) * d->stride[i];
  std::memset(p, 0xFF, static_cast<size_t>(span) * (d->type == CUDNN_DATA_BFLOAT16 ? 2 : 4));
}

// Accumulates into a dense double buffer laid out like d, then blends it into out.
struct Accumulator {
  const EmuCudnnDescriptor& d;
  std::vector<double> v;
  explicit Accumulator(const EmuCudnnDescriptor& d_)
      : d(d_), v(static_cast<size_t>(d_.dim[0] * d_.dim[1] * d_.dim[2] * d_.dim[3]), 0.0) {}
  double& operator()(int64_t n, int64_t c, int64_t h, int64_t w) {
    return v[static_cast<size_t>(((n * d.dim[1] + c) * d.dim[2] + h) * d.dim[3] + w)];
  }
  void blend_into(void* out, const void* alpha, const void* beta) {
    const float a = *static_cast<const float*>(alpha), b = *static_cast<const float*>(beta);
    for (int64_t n = 0; n < d.dim[0]; ++n)
      for (int64_t c = 0; c < d.dim[1]; ++c)
        for (int64_t h = 0; h < d.dim[2]; ++h)
          for (int64_t w = 0; w < d.dim[3]; ++w)
            ::emu_cudnn::blend(d, out, at(d, n, c, h, w), (*this)(n, c, h, w), a, b);
  }
};

}  // namespace

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w,
                                              int u, int v, int dil_h, int dil_w,
                                              cudnnConvolutionMode_t mode, cudnnDataType_t type) {
  if (pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dil_h < 1 || dil_w < 1 ||
      type != CUDNN_DATA_FLOAT)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetConvolution2dDescriptor");
  d->pad_h = pad_h, d->pad_w = pad_w, d->stride_h = u, d->stride_w = v, d->dil_h = dil_h,
  d->dil_w = dil_w, d->mode = mode, d->set = true;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t m) {
  d->math = m;
  return CUDNN_STATUS_SUCCESS;
}

// ---- algorithm choice -----------------------------------------------------------------------

#define WIN_EMU_QUERY(Name, Perf, A, B, D)                                                 \
  cudnnStatus_t Name(cudnnHandle_t h, A a, B b, const cudnnConvolutionDescriptor_t c, D d, \
                     const int n, int* got, Perf* perf) {                                  \
    if (!h || !c || !c->set) return fail(CUDNN_STATUS_BAD_PARAM, #Name);                   \
    (void)a, (void)b, (void)d;                                                             \
    return offer(n, got, perf);                                                            \
  }
WIN_EMU_QUERY(cudnnGetConvolutionForwardAlgorithm_v7, cudnnConvolutionFwdAlgoPerf_t,
              const cudnnTensorDescriptor_t, const cudnnFilterDescriptor_t,
              const cudnnTensorDescriptor_t)
WIN_EMU_QUERY(cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnConvolutionBwdDataAlgoPerf_t,
              const cudnnFilterDescriptor_t, const cudnnTensorDescriptor_t,
              const cudnnTensorDescriptor_t)
WIN_EMU_QUERY(cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnConvolutionBwdFilterAlgoPerf_t,
              const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t,
              const cudnnFilterDescriptor_t)
#undef WIN_EMU_QUERY

cudnnStatus_t cudnnFindConvolutionForwardAlgorithmEx(
    cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x,
    const cudnnFilterDescriptor_t wd, const void* w, const cudnnConvolutionDescriptor_t cd,
    const cudnnTensorDescriptor_t yd, void* y, const int n, int* got,
    cudnnConvolutionFwdAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  if (!h || !Geometry(xd, wd, cd, yd).ok || !usable(xd, x) || !usable(wd, w) || !usable(yd, y) ||
      !search_workspace_ok(ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnFindConvolutionForwardAlgorithmEx");
  scribble(yd, y);
  return offer(n, got, perf, ws_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardDataAlgorithmEx(
    cudnnHandle_t h, const cudnnFilterDescriptor_t wd, const void* w,
    const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t cd,
    const cudnnTensorDescriptor_t dxd, void* dx, const int n, int* got,
    cudnnConvolutionBwdDataAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  if (!h || !Geometry(dxd, wd, cd, dyd).ok || !usable(wd, w) || !usable(dyd, dy) ||
      !usable(dxd, dx) || !search_workspace_ok(ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnFindConvolutionBackwardDataAlgorithmEx");
  scribble(dxd, dx);
  return offer(n, got, perf, ws_bytes);
}
cudnnStatus_t cudnnFindConvolutionBackwardFilterAlgorithmEx(
    cudnnHandle_t h, const cudnnTensorDescriptor_t xd, const void* x,
    const cudnnTensorDescriptor_t dyd, const void* dy, const cudnnConvolutionDescriptor_t cd,
    const cudnnFilterDescriptor_t dwd, void* dw, const int n, int* got,
    cudnnConvolutionBwdFilterAlgoPerf_t* perf, void* ws, size_t ws_bytes) {
  if (!h || !Geometry(xd, dwd, cd, dyd).ok || !usable(xd, x) || !usable(dyd, dy) ||
      !usable(dwd, dw) || !search_workspace_ok(ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnFindConvolutionBackwardFilterAlgorithmEx");
  scribble(dwd, dw);
  return offer(n, got, perf, ws_bytes);
}

#define WIN_EMU_WORKSPACE(Name, A, B, D, Algo)                                             \
  cudnnStatus_t Name(cudnnHandle_t h, A a, B b, const cudnnConvolutionDescriptor_t c, D d, \
                     Algo algo, size_t* bytes) {                                           \
    if (!h || !c || !c->set || !bytes || algo < 0 || algo > 2)                             \
      return fail(CUDNN_STATUS_BAD_PARAM, #Name);                                          \
    (void)a, (void)b, (void)d;                                                             \
    *bytes = workspace_of(algo);                                                           \
    return CUDNN_STATUS_SUCCESS;                                                           \
  }
WIN_EMU_WORKSPACE(cudnnGetConvolutionForwardWorkspaceSize, const cudnnTensorDescriptor_t,
                  const cudnnFilterDescriptor_t, const cudnnTensorDescriptor_t,
                  cudnnConvolutionFwdAlgo_t)
WIN_EMU_WORKSPACE(cudnnGetConvolutionBackwardDataWorkspaceSize, const cudnnFilterDescriptor_t,
                  const cudnnTensorDescriptor_t, const cudnnTensorDescriptor_t,
                  cudnnConvolutionBwdDataAlgo_t)
WIN_EMU_WORKSPACE(cudnnGetConvolutionBackwardFilterWorkspaceSize, const cudnnTensorDescriptor_t,
                  const cudnnTensorDescriptor_t, const cudnnFilterDescriptor_t,
                  cudnnConvolutionBwdFilterAlgo_t)
#undef WIN_EMU_WORKSPACE

// ---- the convolutions -----------------------------------------------------------------------

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha,
                                      const cudnnTensorDescriptor_t xd, const void* x,
                                      const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t cd,
                                      cudnnConvolutionFwdAlgo_t algo, void* ws, size_t ws_bytes,
                                      const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  const Geometry g(xd, wd, cd, yd);
  if (!h || !g.ok || !usable(xd, x) || !usable(wd, w) || !usable(yd, y))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionForward: descriptors or pointers");
  if (!workspace_ok(algo, ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionForward: workspace for the algorithm");
  Accumulator acc(*yd);
  g.each([&](int64_t n, int64_t k, int64_t p, int64_t q, int64_t c, int64_t hi, int64_t wi,
             int64_t r, int64_t s) {
    acc(n, k, p, q) +=
        double{g.operand(*xd, x, at(*xd, n, c, hi, wi))} * g.operand(*wd, w, at(*wd, k, c, r, s));
  });
  acc.blend_into(y, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha,
                                           const cudnnFilterDescriptor_t wd, const void* w,
                                           const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t cd,
                                           cudnnConvolutionBwdDataAlgo_t algo, void* ws,
                                           size_t ws_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  const Geometry g(dxd, wd, cd, dyd);
  if (!h || !g.ok || !usable(wd, w) || !usable(dyd, dy) || !usable(dxd, dx))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardData: descriptors or pointers");
  if (!workspace_ok(algo, ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardData: workspace");
  Accumulator acc(*dxd);
  g.each([&](int64_t n, int64_t k, int64_t p, int64_t q, int64_t c, int64_t hi, int64_t wi,
             int64_t r, int64_t s) {
    acc(n, c, hi, wi) +=
        double{g.operand(*dyd, dy, at(*dyd, n, k, p, q))} * g.operand(*wd, w, at(*wd, k, c, r, s));
  });
  acc.blend_into(dx, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha,
                                             const cudnnTensorDescriptor_t xd, const void* x,
                                             const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t cd,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws,
                                             size_t ws_bytes, const void* beta,
                                             const cudnnFilterDescriptor_t dwd, void* dw) {
  const Geometry g(xd, dwd, cd, dyd);
  if (!h || !g.ok || !usable(xd, x) || !usable(dyd, dy) || !usable(dwd, dw))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardFilter: descriptors or pointers");
  if (!workspace_ok(algo, ws, ws_bytes))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardFilter: workspace");
  Accumulator acc(*dwd);
  g.each([&](int64_t n, int64_t k, int64_t p, int64_t q, int64_t c, int64_t hi, int64_t wi,
             int64_t r, int64_t s) {
    acc(k, c, r, s) += double{g.operand(*dyd, dy, at(*dyd, n, k, p, q))} *
                       g.operand(*xd, x, at(*xd, n, c, hi, wi));
  });
  acc.blend_into(dw, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardBias(cudnnHandle_t h, const void* alpha,
                                           const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const void* beta, const cudnnTensorDescriptor_t dbd,
                                           void* db) {
  if (!h || !usable(dyd, dy) || !usable(dbd, db) || dbd->dim[1] != dyd->dim[1] ||
      dbd->dim[0] * dbd->dim[2] * dbd->dim[3] != 1)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnConvolutionBackwardBias");
  Accumulator acc(*dbd);
  for (int64_t n = 0; n < dyd->dim[0]; ++n)
    for (int64_t k = 0; k < dyd->dim[1]; ++k)
      for (int64_t p = 0; p < dyd->dim[2]; ++p)
        for (int64_t q = 0; q < dyd->dim[3]; ++q)
          acc(0, k, 0, 0) += load(*dyd, dy, at(*dyd, n, k, p, q));
  acc.blend_into(db, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

// ---- pooling --------------------------------------------------------------------------------

cudnnStatus_t cudnnSetPooling2dDescriptor(cudnnPoolingDescriptor_t d, cudnnPoolingMode_t mode,
                                          cudnnNanPropagation_t, int wh, int ww, int ph, int pw,
                                          int sh, int sw) {
  if (wh < 1 || ww < 1 || ph < 0 || pw < 0 || sh < 1 || sw < 1)
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnSetPooling2dDescriptor");
  d->pool = mode, d->window_h = wh, d->window_w = ww, d->pad_h = ph, d->pad_w = pw;
  d->stride_h = sh, d->stride_w = sw, d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

namespace {

bool pool_fits(const EmuCudnnDescriptor* pd, const EmuCudnnDescriptor* xd,
               const EmuCudnnDescriptor* yd) {
  if (!pd || !pd->set || !xd || !yd || xd->type != yd->type) return false;
  const int64_t p = (xd->dim[2] + 2 * pd->pad_h - pd->window_h) / pd->stride_h + 1;
  const int64_t q = (xd->dim[3] + 2 * pd->pad_w - pd->window_w) / pd->stride_w + 1;
  return yd->dim[0] == xd->dim[0] && yd->dim[1] == xd->dim[1] && yd->dim[2] == p && yd->dim[3] == q;
}

// Calls f(h, w) for the window of output (p, q) inside x, in row order.
template <class F>
void window(const EmuCudnnDescriptor& pd, const EmuCudnnDescriptor& xd, int64_t p, int64_t q,
            F&& f) {
  for (int64_t r = 0; r < pd.window_h; ++r)
    for (int64_t s = 0; s < pd.window_w; ++s) {
      const int64_t h = p * pd.stride_h - pd.pad_h + r, w = q * pd.stride_w - pd.pad_w + s;
      if (h >= 0 && h < xd.dim[2] && w >= 0 && w < xd.dim[3]) f(h, w);
    }
}

bool max_mode(const EmuCudnnDescriptor& pd) {
  return pd.pool == CUDNN_POOLING_MAX || pd.pool == CUDNN_POOLING_MAX_DETERMINISTIC;
}

}  // namespace

cudnnStatus_t cudnnPoolingForward(cudnnHandle_t h, const cudnnPoolingDescriptor_t pd,
                                  const void* alpha, const cudnnTensorDescriptor_t xd,
                                  const void* x, const void* beta, const cudnnTensorDescriptor_t yd,
                                  void* y) {
  if (!h || !pool_fits(pd, xd, yd) || !usable(xd, x) || !usable(yd, y))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnPoolingForward");
  if (refuse_bf16_pooling && xd->type == CUDNN_DATA_BFLOAT16) {
    ++bf16_pooling_refusals;
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE, "cudnnPoolingForward: bf16 (as asked)");
  }
  Accumulator acc(*yd);
  for (int64_t n = 0; n < yd->dim[0]; ++n)
    for (int64_t c = 0; c < yd->dim[1]; ++c)
      for (int64_t p = 0; p < yd->dim[2]; ++p)
        for (int64_t q = 0; q < yd->dim[3]; ++q) {
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          window(*pd, *xd, p, q, [&](int64_t i, int64_t j) {
            const double v = load(*xd, x, at(*xd, n, c, i, j));
            if (!std::isnan(best) && (std::isnan(v) || v > best)) best = v;  // NaN propagates
            sum += v;
          });
          acc(n, c, p, q) = max_mode(*pd) ? best : sum / (pd->window_h * pd->window_w);
        }
  acc.blend_into(y, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnPoolingBackward(cudnnHandle_t h, const cudnnPoolingDescriptor_t pd,
                                   const void* alpha, const cudnnTensorDescriptor_t yd,
                                   const void* y, const cudnnTensorDescriptor_t dyd, const void* dy,
                                   const cudnnTensorDescriptor_t xd, const void* x,
                                   const void* beta, const cudnnTensorDescriptor_t dxd, void* dx) {
  if (!h || !pool_fits(pd, xd, yd) || yd->dim != dyd->dim || xd->dim != dxd->dim ||
      !usable(yd, y) || !usable(dyd, dy) || !usable(xd, x) || !usable(dxd, dx))
    return fail(CUDNN_STATUS_BAD_PARAM, "cudnnPoolingBackward");
  if (refuse_bf16_pooling && xd->type == CUDNN_DATA_BFLOAT16) {
    ++bf16_pooling_refusals;
    return fail(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE, "cudnnPoolingBackward: bf16 (as asked)");
  }
  Accumulator acc(*dxd);
  for (int64_t n = 0; n < yd->dim[0]; ++n)
    for (int64_t c = 0; c < yd->dim[1]; ++c)
      for (int64_t p = 0; p < yd->dim[2]; ++p)
        for (int64_t q = 0; q < yd->dim[3]; ++q) {
          const double g = load(*dyd, dy, at(*dyd, n, c, p, q));
          if (!max_mode(*pd)) {
            window(*pd, *xd, p, q, [&](int64_t i, int64_t j) {
              acc(n, c, i, j) += g / (pd->window_h * pd->window_w);
            });
            continue;
          }
          const double m = load(*yd, y, at(*yd, n, c, p, q));
          bool routed = false;
          window(*pd, *xd, p, q, [&](int64_t i, int64_t j) {
            if (!routed && load(*xd, x, at(*xd, n, c, i, j)) == m) {
              acc(n, c, i, j) += g;
              routed = true;
            }
          });
        }
  acc.blend_into(dx, alpha, beta);
  return CUDNN_STATUS_SUCCESS;
}
