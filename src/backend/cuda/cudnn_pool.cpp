// 2-d pooling on cuDNN's pooling API (cudnnPoolingForward / Backward). The modes match the CPU
// op and PyTorch: CUDNN_POOLING_MAX_DETERMINISTIC treats padding as absent (as -inf) and has a
// deterministic backward (cuDNN's plain MAX mode does not promise one), so overlapping windows
// (ResNet's 3x3 stride-2 stem pool) give the same bits on every run;
// CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING divides every window by kernel^2 (floor-mode output
// sizes never let a window run past the padding). NaNs propagate, as in PyTorch. cuDNN's max
// backward finds the maxima again from x and y, so unlike the CPU op no workspace ties a
// backward to its forward. Descriptors are rebuilt only when a shape or stride changes.
// bf16 activations (precision.hpp) go to cuDNN in bf16; should this cuDNN refuse bf16 pooling
// (NVIDIA documents bf16 for convolutions, not clearly for pooling), the op says so once in the
// log and pools fp32 copies instead (a conversion pass each way: correct, slower).
#include "backend/cuda/cudnn_pool.hpp"

#include <vector>

#include "backend/cuda/cuda_allocator.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/op_timer.hpp"
#include "backend/ops.hpp"
#include "core/log.hpp"

namespace win::backend {

namespace {

constexpr float kOne = 1.0f, kZero = 0.0f;

class CudnnPool2d final : public Pool2dOp {
 public:
  explicit CudnnPool2d(const Pool2dDesc& d) : d_(d) {
    // PyTorch's own limits: beyond them a window could lie wholly in the padding.
    WIN_CHECK(d.kernel > 0 && d.stride > 0 && d.padding >= 0 && 2 * d.padding <= d.kernel,
              ErrorKind::Internal, "pool2d: kernel ", d.kernel, ", stride ", d.stride, ", padding ",
              d.padding, " (padding must be at most half the kernel)");
    const char* what = "pool2d";
    const int k = to_int(d.kernel, what), s = to_int(d.stride, what), p = to_int(d.padding, what);
    const cudnnPoolingMode_t mode = d.kind == Pool2dDesc::Kind::Max
                                        ? CUDNN_POOLING_MAX_DETERMINISTIC
                                        : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING;
    WIN_CUDNN_CALL(cudnnSetPooling2dDescriptor(pool_, mode, CUDNN_PROPAGATE_NAN, k, k, p, p, s, s));
  }

  void forward(const Tensor& x, Tensor& y) override {
    WIN_CUDA_TIMED("pool2d.forward");
    check(x, y, "pool2d forward");
    if (x.dtype() == DType::BF16 && bf16_refused_) {
      Ops& ops = ops_for(Device::CUDA, DType::F32);
      ops.convert(x, wide(x32_, x));
      forward(x32_, wide(y32_, y));
      ops.convert(y32_, y);
      return;
    }
    fwd_.describe(x, y, x, y);
    const cudnnStatus_t st = cudnnPoolingForward(cuda_context().cudnn(), pool_, &kOne, fwd_.x,
                                                 x.raw(), &kZero, fwd_.y, y.raw());
    if (refuses_bf16(st, x)) return forward(x, y);
    WIN_CUDNN_CALL(st);
  }

  void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override {
    WIN_CUDA_TIMED("pool2d.backward");
    check(x, y, "pool2d backward");
    check_on_device(dy, "pool2d backward");
    check_on_device(dx, "pool2d backward");
    WIN_CHECK(dy.shape() == y.shape() && dx.shape() == x.shape() && dy.dtype() == y.dtype() &&
                  dx.dtype() == x.dtype(),
              ErrorKind::Internal, "pool2d backward: dy ", dy.shape(), ", dx ", dx.shape(),
              " for x ", x.shape(), ", y ", y.shape());
    if (x.dtype() == DType::BF16 && bf16_refused_) {
      Ops& ops = ops_for(Device::CUDA, DType::F32);
      ops.convert(x, wide(x32_, x));
      ops.convert(y, wide(y32_, y));
      ops.convert(dy, wide(dy32_, dy));
      backward(x32_, y32_, dy32_, wide(dx32_, dx));
      ops.convert(dx32_, dx);
      return;
    }
    bwd_.describe(x, y, dx, dy);
    const cudnnStatus_t st =
        cudnnPoolingBackward(cuda_context().cudnn(), pool_, &kOne, bwd_.y, y.raw(), bwd_.dy,
                             dy.raw(), bwd_.x, x.raw(), &kZero, bwd_.dx, dx.raw());
    if (refuses_bf16(st, x)) return backward(x, y, dy, dx);
    WIN_CUDNN_CALL(st);
  }

 private:
  // Descriptors of x, y, dx, dy for one call site (forward describes x and y twice: harmless).
  struct Described {
    std::vector<int64_t> key;
    TensorDesc x, y, dx, dy;

    void describe(const Tensor& tx, const Tensor& ty, const Tensor& tdx, const Tensor& tdy) {
      std::vector<int64_t> k;
      for (const Tensor* t : {&tx, &ty, &tdx, &tdy}) append_key(k, *t);
      if (k == key) return;
      key.clear();  // stays invalid if a descriptor below fails
      const bool nhwc = channels_last(tx, true);
      set_tensor_desc(x, tx, nhwc);
      set_tensor_desc(y, ty, nhwc);
      set_tensor_desc(dx, tdx, nhwc);
      set_tensor_desc(dy, tdy, nhwc);
      key = std::move(k);
    }
  };

  void check(const Tensor& x, const Tensor& y, const char* what) const {
    check_on_device(x, what);
    check_on_device(y, what);
    WIN_CHECK(x.dim() == 4 && x.size(2) + 2 * d_.padding >= d_.kernel &&
                  x.size(3) + 2 * d_.padding >= d_.kernel && y.dtype() == x.dtype(),
              ErrorKind::Internal, what, ": input ", x.shape(), ' ', dtype_name(x.dtype()),
              " for kernel ", d_.kernel, ", output ", dtype_name(y.dtype()));
    const int64_t p = (x.size(2) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    const int64_t q = (x.size(3) + 2 * d_.padding - d_.kernel) / d_.stride + 1;
    const Dims want{x.size(0), x.size(1), p, q};
    WIN_CHECK(y.shape() == want, ErrorKind::Internal, what, ": output ", y.shape(), " for input ",
              x.shape());
  }

  // Whether st is cuDNN refusing a bf16 call as unsupported (the first time: noted and logged,
  // and the op switches to fp32 copies); any other failure is raised by the caller. cuDNN 9
  // answers with detailed codes (CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE = 3003, ...): compared by
  // category, as CUDNN_STATUS_CATEGORY does (the thousands).
  bool refuses_bf16(cudnnStatus_t st, const Tensor& x) {
    const int category = static_cast<int>(st) / 1000 * 1000;
    if (x.dtype() != DType::BF16 || bf16_refused_ ||
        (category != CUDNN_STATUS_NOT_SUPPORTED && category != CUDNN_STATUS_BAD_PARAM))
      return false;
    log_warn("cuDNN pooling refused bf16 tensors (", cudnnGetErrorString(st),
             "): pooling fp32 copies of bf16 activations from now on");
    bf16_refused_ = true;
    return true;
  }

  // buf made an fp32 tensor shaped and laid out like t (kept between calls).
  static Tensor& wide(Tensor& buf, const Tensor& t) {
    if (!buf.defined() || buf.shape() != t.shape() || buf.strides() != t.strides())
      buf = t.is_channels_last() ? empty_channels_last(t.shape(), DType::F32, cuda_allocator())
                                 : Tensor::empty(t.shape(), DType::F32, cuda_allocator());
    return buf;
  }

  Pool2dDesc d_;
  PoolDesc pool_;
  Described fwd_, bwd_;
  bool bf16_refused_ = false;  // this cuDNN refused bf16 pooling once: use fp32 copies
  Tensor x32_, y32_, dy32_, dx32_;
};

}  // namespace

std::unique_ptr<Pool2dOp> make_cuda_pool2d(const Pool2dDesc& d) {
  return std::make_unique<CudnnPool2d>(d);
}

}  // namespace win::backend
