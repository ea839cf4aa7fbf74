// 2-d convolution on cuDNN's convolution API (cudnnConvolutionForward, BackwardData,
// BackwardFilter, BackwardBias; still in cuDNN 9, where it runs on the graph engines underneath).
// Activations are described with their actual strides, so win's channels-last tensors go to the
// NHWC kernels with no transposition. cuDNN's filter descriptor has no strides, only a format:
// the weights must be packed KRSC for NHWC activations (KCRS for NCHW). A weight tensor in
// another layout (win's parameters are plain KCRS) is transposed by cudnnTransformTensor into a
// buffer owned here before forward and backward_data, and the filter gradient is computed into
// that buffer and added back (beta = 1) in the parameter's layout after backward_filter; weights
// are small next to activations, so the copies cost little.
//
// Algorithms are chosen once per shape and direction and cached with their descriptors. With
// run.deterministic (the default) they come from cuDNN's heuristics (cudnnGet*Algorithm_v7: no
// trial runs, so every rank and every rerun picks the same), and among those that fit the
// workspace cap the first deterministic one is taken, so that a rerun gives the same bits.
// Without it they are measured (cudnnFind*AlgorithmEx: each candidate runs once on the call's own
// tensors, as PyTorch's cudnn.benchmark does) and the fastest that fits is taken: ranks and reruns
// may then pick different algorithms, which changes results only by round-off. f32 runs in true
// fp32 (CUDNN_FMA_MATH, no TF32), matching the CPU backend to rounding, unless the run's precision
// (precision.hpp) is tf32 or bf16: then TF32 tensor cores; bf16 tensors use tensor cores with fp32
// accumulation (PSEUDO_BFLOAT16 config). bf16 activations (precision.hpp) meet fp32 parameters:
// the weights are rounded to bf16 into a buffer owned here (after the packing transform when one
// is needed), and the filter gradient is computed in bf16 into that buffer, widened to fp32 and
// added into the fp32 gradient by the same transform as above.
#include "backend/cuda/cudnn_conv.hpp"

#include <array>
#include <vector>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/op_timer.hpp"
#include "backend/op_timing.hpp"
#include "backend/precision.hpp"
#include "cast.cuh"
#include "core/log.hpp"

namespace win::backend {

namespace {

// Algorithms needing more scratch than this are passed over.
constexpr size_t kMaxWorkspace = size_t{512} << 20;

enum Dir { kForward, kBackwardData, kBackwardFilter };
constexpr const char* kDirName[] = {"forward", "backward_data", "backward_filter"};

// From cuDNN's ranking (fastest first), the first algorithm that works with our math type and
// fits kMaxWorkspace, deterministic ones first unless the run allows any (precision.hpp:
// deterministic()). `query(n, &returned, perf)` ranks;
// `ws(algo, &bytes)` asks the workspace under the math type just set on conv.
template <class Perf, class Query, class Workspace>
std::pair<int, size_t> choose(Query query, Workspace ws, const ConvDesc& conv, bool fp32,
                              const char* what) {
  std::array<Perf, 16> perf{};
  int n = 0;
  WIN_CUDNN_CALL(query(static_cast<int>(perf.size()), &n, perf.data()));
  for (bool deterministic_only : {deterministic(), false}) {
    for (int i = 0; i < n; ++i) {
      const Perf& r = perf[static_cast<size_t>(i)];
      if (r.status != CUDNN_STATUS_SUCCESS) continue;
      if (deterministic_only && r.determinism != CUDNN_DETERMINISTIC) continue;
      // fp32 never takes a TF32 tensor-core variant.
      if (fp32 && r.mathType != CUDNN_FMA_MATH && r.mathType != CUDNN_DEFAULT_MATH) continue;
      if (cudnnSetConvolutionMathType(conv, fp32 ? CUDNN_FMA_MATH : r.mathType) !=
          CUDNN_STATUS_SUCCESS)
        continue;
      size_t bytes = 0;
      if (ws(r.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kMaxWorkspace) continue;
      return {static_cast<int>(r.algo), bytes};
    }
  }
  WIN_FAIL(ErrorKind::Internal, "cuDNN offers no usable convolution ", what, " algorithm among ", n,
           " candidates for these shapes and layouts", cudnn_detail());
}

class CudnnConv2d final : public Conv2dOp {
 public:
  explicit CudnnConv2d(const Conv2dDesc& d) : d_(d) {
    WIN_CHECK(d.kernel_h > 0 && d.kernel_w > 0 && d.stride > 0 && d.padding >= 0,
              ErrorKind::Internal, "conv2d: kernel ", d.kernel_h, "x", d.kernel_w, ", stride ",
              d.stride, ", padding ", d.padding);
  }

  void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) override {
    check(x, w, y, b, "conv2d forward");
    CudaContext& ctx = cuda_context();
    Plan& p = plan(kForward, x, w, y, b, ctx);
    WIN_CUDA_TIMED_DETAIL("conv2d.forward", p.label);
    const void* wp = load_weights(p, w, ctx);
    void* ws = ctx.workspace(p.workspace);
    WIN_CUDNN_CALL(cudnnConvolutionForward(ctx.cudnn(), &kOne, p.x, x.raw(), p.filter, wp, p.conv,
                                           static_cast<cudnnConvolutionFwdAlgo_t>(p.algo), ws,
                                           p.workspace, &kZero, p.y, y.raw()));
    if (b.defined())
      WIN_CUDNN_CALL(cudnnAddTensor(ctx.cudnn(), &kOne, p.bias, b.raw(), &kOne, p.y, y.raw()));
  }

  void backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override {
    check(dx, w, dy, Tensor(), "conv2d backward_data");
    CudaContext& ctx = cuda_context();
    Plan& p = plan(kBackwardData, dx, w, dy, Tensor(), ctx);
    WIN_CUDA_TIMED_DETAIL("conv2d.backward_data", p.label);
    const void* wp = load_weights(p, w, ctx);
    void* ws = ctx.workspace(p.workspace);
    WIN_CUDNN_CALL(cudnnConvolutionBackwardData(ctx.cudnn(), &kOne, p.filter, wp, p.y, dy.raw(),
                                                p.conv,
                                                static_cast<cudnnConvolutionBwdDataAlgo_t>(p.algo),
                                                ws, p.workspace, &kZero, p.x, dx.raw()));
  }

  void backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) override {
    check(x, dw, dy, db, "conv2d backward_weights");
    CudaContext& ctx = cuda_context();
    Plan& p = plan(kBackwardFilter, x, dw, dy, db, ctx);
    WIN_CUDA_TIMED_DETAIL("conv2d.backward_weights", p.label);
    // Straight into dw, accumulating, when it has the filter layout and dtype; else into the
    // owned buffer (bf16 ones widened to fp32 first), then added into dw in its own layout.
    void* dwp = p.w_direct ? dw.raw() : p.w_cast ? bf16_buffer(dw) : packed_buffer(dw);
    const float* beta = p.w_direct ? &kOne : &kZero;
    void* ws = ctx.workspace(p.workspace);
    WIN_CUDNN_CALL(
        cudnnConvolutionBackwardFilter(ctx.cudnn(), &kOne, p.x, x.raw(), p.y, dy.raw(), p.conv,
                                       static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.algo), ws,
                                       p.workspace, beta, p.filter, dwp));
    if (p.w_cast && p.w_packed_order) {  // same order: one pass adds it into dw
      WIN_CUDA_CHECK(kernels::launch_accumulate_bf16_into_f32(
          static_cast<const __nv_bfloat16*>(dwp), static_cast<float*>(dw.raw()), dw.numel(),
          ctx.stream()));
    } else if (p.w_cast) {  // widened into the packed buffer, then transformed into dw below
      void* wide = packed_buffer(dw);
      WIN_CUDA_CHECK(kernels::launch_cast_bf16_to_f32(static_cast<const __nv_bfloat16*>(dwp),
                                                      static_cast<float*>(wide), dw.numel(),
                                                      ctx.stream()));
      dwp = wide;
    }
    if (!p.w_direct && !(p.w_cast && p.w_packed_order))
      WIN_CUDNN_CALL(
          cudnnTransformTensor(ctx.cudnn(), &kOne, p.w_packed, dwp, &kOne, p.w_user, dw.raw()));
    if (db.defined())
      WIN_CUDNN_CALL(
          cudnnConvolutionBackwardBias(ctx.cudnn(), &kOne, p.y, dy.raw(), &kOne, p.bias, db.raw()));
  }

 private:
  static constexpr float kOne = 1.0f, kZero = 0.0f;

  // What one direction needs for one set of shapes and layouts.
  struct Plan {
    std::vector<int64_t> key;
    TensorDesc x, y;  // x and y (forward), dx and dy, or x and dy
    FilterDesc filter;
    ConvDesc conv;
    bool w_direct = true;         // w (or dw) is packed in the filter's format and dtype
    bool w_cast = false;          // bf16 activations, fp32 w: the filter is w rounded to bf16
    bool w_packed_order = true;   // w's memory order is the filter format's
    TensorDesc w_user, w_packed;  // w as it is, and packed in the format (for the transform)
    TensorDesc bias;              // (1, K, 1, 1)
    int algo = 0;
    size_t workspace = 0;
    const char* label = nullptr;  // for --profile: shapes, layout and algorithm (op_label)
  };

  // The plan for these tensors (x: x or dx; w: w or dw; y: y or dy; b: b, db or undefined).
  Plan& plan(Dir dir, const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& b,
             CudaContext& ctx) {
    std::vector<int64_t> key{ctx.device(), static_cast<int64_t>(precision()),
                             deterministic() ? 1 : 0};
    for (const Tensor* t : {&x, &w, &y, &b}) append_key(key, *t);
    auto& cache = plans_[dir];
    for (auto& p : cache)
      if (p->key == key) return *p;
    if (cache.size() >= 16) cache.erase(cache.begin());  // a bound, in case shapes never repeat
    cache.push_back(make_plan(dir, x, w, y, b, ctx));
    cache.back()->key = std::move(key);
    return *cache.back();
  }

  std::unique_ptr<Plan> make_plan(Dir dir, const Tensor& x, const Tensor& w, const Tensor& y,
                                  const Tensor& b, CudaContext& ctx) {
    const char* what = "conv2d";
    auto p = std::make_unique<Plan>();
    // The activations' layout decides the filter format; C == 1 (a grey image) fits both, then
    // the output decides, and NHWC when that is ambiguous too.
    const bool nhwc = channels_last(x, channels_last(y, true));
    const cudnnTensorFormat_t format = nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const cudnnDataType_t type = cudnn_dtype(x.dtype(), what);
    // True fp32 (no TF32) only when the run asks for it; tf32/bf16 runs let fp32 convolutions
    // take TF32 tensor cores (precision.hpp).
    const bool fp32 = x.dtype() == DType::F32 && precision() == Precision::Fp32;
    set_tensor_desc(p->x, x, nhwc);
    set_tensor_desc(p->y, y, nhwc);
    const int k = to_int(w.size(0), what), c = to_int(w.size(1), what);
    const int r = to_int(w.size(2), what), s = to_int(w.size(3), what);
    WIN_CUDNN_CALL(cudnnSetFilter4dDescriptor(p->filter, type, format, k, c, r, s));
    p->w_cast = w.dtype() != x.dtype();  // check(): bf16 x with fp32 w
    p->w_packed_order = packed_as(w, nhwc);
    p->w_direct = p->w_packed_order && !p->w_cast;
    if (!p->w_direct) {  // the transform between w's layout and the filter format, in w's dtype
      set_tensor_desc(p->w_user, w, nhwc);
      WIN_CUDNN_CALL(cudnnSetTensor4dDescriptor(p->w_packed, format, cudnn_dtype(w.dtype(), what),
                                                k, c, r, s));
    }
    if (b.defined()) set_channel_desc(p->bias, w.size(0), b.dtype());
    const int pad = to_int(d_.padding, what), stride = to_int(d_.stride, what);
    WIN_CUDNN_CALL(cudnnSetConvolution2dDescriptor(p->conv, pad, pad, stride, stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    WIN_CUDNN_CALL(
        cudnnSetConvolutionMathType(p->conv, fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));

    cudnnHandle_t h = ctx.cudnn();
    // Measured search: the candidates run on the call's tensors with the largest workspace
    // allowed. Their outputs are scratch: y and dx are overwritten by the call that follows, but
    // dw may hold gradients being accumulated, so the filter search writes into a temporary.
    const bool measure = !deterministic();
    // The filter as the calls will see it (packed, rounded to bf16), for the forward and data
    // searches; the filter search writes one.
    const void* filter = measure && dir != kBackwardFilter ? load_weights(*p, w, ctx) : w.raw();
    void* scratch = measure ? ctx.workspace(kMaxWorkspace) : nullptr;
    Tensor dw_scratch;
    if (measure && dir == kBackwardFilter)
      dw_scratch = Tensor::empty({w.numel()}, x.dtype(), cuda_allocator());
    std::pair<int, size_t> chosen;
    switch (dir) {
      case kForward:
        chosen = choose<cudnnConvolutionFwdAlgoPerf_t>(
            [&](int n, int* got, cudnnConvolutionFwdAlgoPerf_t* perf) {
              if (measure)
                return cudnnFindConvolutionForwardAlgorithmEx(h, p->x, x.raw(), p->filter, filter,
                                                              p->conv, p->y, y.raw(), n, got, perf,
                                                              scratch, kMaxWorkspace);
              return cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->filter, p->conv, p->y, n,
                                                            got, perf);
            },
            [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
              return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->filter, p->conv, p->y,
                                                             algo, bytes);
            },
            p->conv, fp32, kDirName[dir]);
        break;
      case kBackwardData:
        chosen = choose<cudnnConvolutionBwdDataAlgoPerf_t>(
            [&](int n, int* got, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
              if (measure)
                return cudnnFindConvolutionBackwardDataAlgorithmEx(
                    h, p->filter, filter, p->y, y.raw(), p->conv, p->x, x.raw(), n, got, perf,
                    scratch, kMaxWorkspace);
              return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->filter, p->y, p->conv, p->x,
                                                                 n, got, perf);
            },
            [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
              return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->filter, p->y, p->conv, p->x,
                                                                  algo, bytes);
            },
            p->conv, fp32, kDirName[dir]);
        break;
      case kBackwardFilter:
        chosen = choose<cudnnConvolutionBwdFilterAlgoPerf_t>(
            [&](int n, int* got, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
              if (measure)
                return cudnnFindConvolutionBackwardFilterAlgorithmEx(
                    h, p->x, x.raw(), p->y, y.raw(), p->conv, p->filter, dw_scratch.raw(), n, got,
                    perf, scratch, kMaxWorkspace);
              return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv,
                                                                   p->filter, n, got, perf);
            },
            [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
              return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv,
                                                                    p->filter, algo, bytes);
            },
            p->conv, fp32, kDirName[dir]);
        break;
    }
    p->algo = chosen.first;
    p->workspace = chosen.second;
    p->label = op_label(cat(r, "x", s, "/", d_.stride, " ", c, "->", k, " ", x.size(2), "x",
                            x.size(3), " n", x.size(0), nhwc ? " nhwc" : " nchw",
                            p->w_packed_order ? "" : " w-packed", p->w_cast ? " bf16" : "",
                            " algo ", p->algo, measure ? " measured" : ""));
    log_debug("cuDNN convolution ", kDirName[dir], " ", x.shape(), " * ", w.shape(), " -> ",
              y.shape(), (nhwc ? " NHWC" : " NCHW"), (p->w_direct ? "" : " (weights transposed)"),
              ": algo ", p->algo, (measure ? " (measured)" : " (heuristic)"), ", workspace ",
              p->workspace, " bytes");
    return p;
  }

  // The owned buffer for weights packed in the filter format, shaped like w.
  void* packed_buffer(const Tensor& w) {
    if (!packed_.defined() || packed_.numel() != w.numel() || packed_.dtype() != w.dtype())
      packed_ = Tensor::empty({w.numel()}, w.dtype(), cuda_allocator());
    return packed_.raw();
  }

  // The owned bf16 buffer for the filter of bf16 activations (or its gradient), w's size.
  void* bf16_buffer(const Tensor& w) {
    if (!bf16_.defined() || bf16_.numel() != w.numel())
      bf16_ = Tensor::empty({w.numel()}, DType::BF16, cuda_allocator());
    return bf16_.raw();
  }

  // The weights as the filter descriptor wants them: w itself, its packed copy, or either
  // rounded to bf16.
  const void* load_weights(const Plan& p, const Tensor& w, CudaContext& ctx) {
    if (p.w_direct) return w.raw();
    const void* src = w.raw();
    if (!p.w_packed_order) {
      void* buf = packed_buffer(w);
      WIN_CUDNN_CALL(
          cudnnTransformTensor(ctx.cudnn(), &kOne, p.w_user, w.raw(), &kZero, p.w_packed, buf));
      src = buf;
    }
    if (!p.w_cast) return src;
    void* h = bf16_buffer(w);
    WIN_CUDA_CHECK(kernels::launch_cast_f32_to_bf16(
        static_cast<const float*>(src), static_cast<__nv_bfloat16*>(h), w.numel(), ctx.stream()));
    return h;
  }

  // The shapes must fit this desc, and all tensors must be CUDA tensors of one dtype.
  void check(const Tensor& x, const Tensor& w, const Tensor& y, const Tensor& b,
             const char* what) const {
    check_on_device(x, what);
    check_on_device(w, what);
    check_on_device(y, what);
    if (b.defined()) check_on_device(b, what);
    WIN_CHECK(x.dim() == 4 && w.dim() == 4 && y.dim() == 4, ErrorKind::Internal, what, ": x ",
              x.shape(), ", w ", w.shape(), ", y ", y.shape());
    // One dtype, or bf16 activations with fp32 weights and no bias (ResNet's convolutions).
    const bool bf16_acts = x.dtype() == DType::BF16 && w.dtype() == DType::F32 && !b.defined();
    WIN_CHECK(
        y.dtype() == x.dtype() &&
            ((w.dtype() == x.dtype() && (!b.defined() || b.dtype() == x.dtype())) || bf16_acts),
        ErrorKind::Internal, what, ": mixed dtypes (x ", dtype_name(x.dtype()), ", w ",
        dtype_name(w.dtype()), ", y ", dtype_name(y.dtype()), b.defined() ? ", with a bias" : "",
        ")");
    const int64_t p = (x.size(2) + 2 * d_.padding - d_.kernel_h) / d_.stride + 1;
    const int64_t q = (x.size(3) + 2 * d_.padding - d_.kernel_w) / d_.stride + 1;
    const bool ok =
        x.size(2) + 2 * d_.padding >= d_.kernel_h && x.size(3) + 2 * d_.padding >= d_.kernel_w &&
        w.shape() == Dims{w.size(0), x.size(1), d_.kernel_h, d_.kernel_w} &&
        y.shape() == Dims{x.size(0), w.size(0), p, q} &&
        (!b.defined() || (b.shape() == Dims{w.size(0)} && (b.size(0) == 1 || b.stride(0) == 1)));
    WIN_CHECK(ok, ErrorKind::Internal, what, ": x ", x.shape(), ", w ", w.shape(), ", y ",
              y.shape(), (b.defined() ? ", b " : ""), (b.defined() ? b.shape() : Dims{}),
              " do not fit kernel ", d_.kernel_h, "x", d_.kernel_w, ", stride ", d_.stride,
              ", padding ", d_.padding);
  }

  Conv2dDesc d_;
  std::array<std::vector<std::unique_ptr<Plan>>, 3> plans_;
  Tensor packed_;  // weights (or their gradient) in the filter format, when given in another
  Tensor bf16_;    // the filter (or its gradient) in bf16, for bf16 activations
};

}  // namespace

std::unique_ptr<Conv2dOp> make_cuda_conv2d(const Conv2dDesc& d) {
  return std::make_unique<CudnnConv2d>(d);
}

}  // namespace win::backend
