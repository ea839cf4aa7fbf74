// CudaOps: the layer factories, matrix products, element-wise ops, reductions, embedding and
// dropout (see cuda_ops.hpp). Each method checks devices and dtypes, then queues one library call
// or kernel launch on the calling thread's stream.
#include "backend/cuda/cuda_ops.hpp"

#include <climits>

#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_gemm.hpp"
#include "backend/cuda/cudnn_batchnorm.hpp"
#include "backend/cuda/cudnn_conv.hpp"
#include "backend/cuda/cudnn_pool.hpp"
#include "backend/cuda/op_timer.hpp"
#include "cast.cuh"
#include "core/error.hpp"
#include "dropout.cuh"
#include "eltwise.cuh"
#include "embedding.cuh"
#include "reduce.cuh"
#include "strided_axpby.cuh"
#include "strided_copy.cuh"

namespace win::backend {

namespace cuda_detail {

bool dense(const Tensor& t) {
  return t.is_contiguous() || t.is_channels_last();
}

template <class T>
T* dense_ptr(const Tensor& t, const char* what) {
  WIN_CHECK(t.device() == Device::CUDA, ErrorKind::Internal, "cuda ", what, ": a tensor on ",
            device_name(t.device()));
  WIN_CHECK(t.dtype() == dtype_of<T>, ErrorKind::Internal, "cuda ", what, ": dtype ",
            dtype_name(t.dtype()));
  WIN_CHECK(dense(t), ErrorKind::Internal, "cuda ", what, ": tensor ", t.shape(), " with strides ",
            t.strides(), " is not dense");
  return static_cast<T*>(t.raw());
}
template float* dense_ptr<float>(const Tensor&, const char*);
template int32_t* dense_ptr<int32_t>(const Tensor&, const char*);
template uint8_t* dense_ptr<uint8_t>(const Tensor&, const char*);

namespace {
struct SmallBuffers {
  int32_t* flag = nullptr;
  double* result = nullptr;
  SmallBuffers() {
    WIN_CUDA_CHECK(cudaMalloc(&flag, sizeof(int32_t)));
    WIN_CUDA_CHECK(cudaMalloc(&result, 8 * sizeof(double)));
  }
  ~SmallBuffers() {
    cudaFree(flag);
    cudaFree(result);
  }
};
SmallBuffers& small() {
  thread_local SmallBuffers b;
  return b;
}
}  // namespace

int32_t* flag_buffer() {
  int32_t* f = small().flag;
  const int32_t none = INT32_MAX;
  WIN_CUDA_CHECK(
      cudaMemcpyAsync(f, &none, sizeof none, cudaMemcpyHostToDevice, cuda_context().stream()));
  return f;
}
double* result_buffer() {
  return small().result;
}
void* scratch(size_t bytes) {
  return cuda_context().workspace(bytes);
}
int32_t read_flag_after(int32_t* flag) {
  int32_t v = 0;
  WIN_CUDA_CHECK(
      cudaMemcpyAsync(&v, flag, sizeof v, cudaMemcpyDeviceToHost, cuda_context().stream()));
  WIN_CUDA_CHECK(cudaStreamSynchronize(cuda_context().stream()));
  return v;
}

}  // namespace cuda_detail

using cuda_detail::dense_ptr;

namespace {

cudaStream_t stream() {
  return cuda_context().stream();
}

void same_layout(const Tensor& a, const Tensor& b, const char* what) {
  WIN_CHECK(a.shape() == b.shape() && a.strides() == b.strides(), ErrorKind::Internal, "cuda ",
            what, ": operands ", a.shape(), "/", a.strides(), " and ", b.shape(), "/", b.strides(),
            " differ");
}

std::array<int64_t, 4> dims4(const Tensor& t) {
  std::array<int64_t, 4> d = {1, 1, 1, 1};
  for (int64_t i = 0; i < t.dim(); ++i) d[static_cast<size_t>(4 - t.dim() + i)] = t.size(i);
  return d;
}
std::array<int64_t, 4> strides4(const Tensor& t) {
  std::array<int64_t, 4> s = {0, 0, 0, 0};
  for (int64_t i = 0; i < t.dim(); ++i) s[static_cast<size_t>(4 - t.dim() + i)] = t.stride(i);
  return s;
}

// A dense bf16 GPU tensor's data (bf16 activations, precision.hpp).
__nv_bfloat16* bf16_ptr(const Tensor& t, const char* what) {
  WIN_CHECK(t.device() == Device::CUDA && t.dtype() == DType::BF16 && cuda_detail::dense(t),
            ErrorKind::Internal, "cuda ", what, ": expected a dense bf16 GPU tensor, got ",
            dtype_name(t.dtype()), " ", t.shape(), "/", t.strides(), " on ",
            device_name(t.device()));
  return static_cast<__nv_bfloat16*>(t.raw());
}

class CudaEltwiseOp final : public EltwiseOp {
 public:
  explicit CudaEltwiseOp(Eltwise k) : kind_(static_cast<kernels::Activation>(k)) {}
  void forward(const Tensor& x, Tensor& y) override {
    WIN_CUDA_TIMED("eltwise.forward");
    same_layout(x, y, "eltwise");
    WIN_CUDA_CHECK(kernels::launch_activation_forward_f32(kind_, dense_ptr<float>(x, "eltwise"),
                                                          dense_ptr<float>(y, "eltwise"), x.numel(),
                                                          stream()));
  }
  void backward(const Tensor& x, const Tensor& dy, Tensor& dx) override {
    WIN_CUDA_TIMED("eltwise.backward");
    same_layout(x, dy, "eltwise backward");
    same_layout(x, dx, "eltwise backward");
    WIN_CUDA_CHECK(kernels::launch_activation_backward_f32(
        kind_, dense_ptr<float>(x, "eltwise"), dense_ptr<float>(dy, "eltwise"),
        dense_ptr<float>(dx, "eltwise"), x.numel(), stream()));
  }

 private:
  kernels::Activation kind_;
};

}  // namespace

static_assert(static_cast<int>(kernels::Activation::Relu) == static_cast<int>(Eltwise::Relu) &&
              static_cast<int>(kernels::Activation::Gelu) == static_cast<int>(Eltwise::Gelu) &&
              static_cast<int>(kernels::Activation::Tanh) == static_cast<int>(Eltwise::Tanh));

std::unique_ptr<Conv2dOp> CudaOps::conv2d(const Conv2dDesc& d) {
  return make_cuda_conv2d(d);
}
std::unique_ptr<BatchNormOp> CudaOps::batchnorm(bool fuse_relu) {
  return make_cuda_batchnorm(fuse_relu);
}
std::unique_ptr<Pool2dOp> CudaOps::pool2d(const Pool2dDesc& d) {
  return make_cuda_pool2d(d);
}
std::unique_ptr<EltwiseOp> CudaOps::eltwise(Eltwise kind) {
  return std::make_unique<CudaEltwiseOp>(kind);
}
std::unique_ptr<LinearOp> CudaOps::linear(bool fuse_relu) {
  return make_cuda_linear(fuse_relu);
}

void CudaOps::gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                   double beta, Tensor& c) {
  WIN_CUDA_TIMED("gemm");
  cuda_gemm(trans_a, trans_b, alpha, a, b, beta, c);
}

namespace {
bool alike_and_dense(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.strides() == b.strides() && cuda_detail::dense(a);
}
bool aliases(const Tensor& a, const Tensor& b) {
  return a.raw() == b.raw() && a.strides() == b.strides();
}
// Whether the byte ranges the two views span intersect (non-negative strides).
bool overlaps(const Tensor& a, const Tensor& b) {
  auto range = [](const Tensor& t) {
    int64_t last = 0;
    for (int i = 0; i < t.dim(); ++i) last += (t.size(i) - 1) * t.stride(i);
    const auto lo = reinterpret_cast<uintptr_t>(t.raw());
    return std::pair<uintptr_t, uintptr_t>{
        lo, lo + static_cast<uintptr_t>(last + 1) * dtype_size(t.dtype())};
  };
  const auto [alo, ahi] = range(a);
  const auto [blo, bhi] = range(b);
  return a.numel() > 0 && b.numel() > 0 && alo < bhi && blo < ahi;
}
// y = alpha x + beta y (x may be undefined: y = beta y) for operands of any layout.
void strided_axpby(double alpha, const Tensor* x, double beta, Tensor& y, const char* what) {
  WIN_CHECK(
      !x || (x->shape() == y.shape() && x->device() == Device::CUDA && x->dtype() == DType::F32),
      ErrorKind::Internal, "cuda ", what, ": operand ", x ? x->shape() : Dims{}, " for ",
      y.shape());
  WIN_CHECK(y.dim() <= 4 && y.device() == Device::CUDA && y.dtype() == DType::F32,
            ErrorKind::Internal, "cuda ", what, ": output ", y.shape(), " on ",
            device_name(y.device()));
  const auto shape = dims4(y), sy = strides4(y);
  const auto sx = x ? strides4(*x) : std::array<int64_t, 4>{};
  WIN_CUDA_CHECK(kernels::launch_strided_axpby_f32(
      static_cast<float>(alpha), x ? static_cast<const float*>(x->raw()) : nullptr, sx.data(),
      static_cast<float>(beta), static_cast<float*>(y.raw()), sy.data(), shape.data(), stream()));
}
}  // namespace

void CudaOps::add(const Tensor& a, const Tensor& b, Tensor& y) {
  WIN_CUDA_TIMED("add");
  if (!alike_and_dense(a, b) || !alike_and_dense(a, y)) {  // any layouts: y = a, then y += b
    // y may be a or b itself, but no other view over their memory (it would be overwritten
    // before it is read).
    WIN_CHECK((aliases(y, a) || !overlaps(y, a)) && (aliases(y, b) || !overlaps(y, b)),
              ErrorKind::Internal, "cuda add: the output ", y.shape(), "/", y.strides(),
              " partly overlaps an input");
    if (aliases(y, b)) {
      strided_axpby(1.0, &a, 1.0, y, "add");
    } else {
      if (!aliases(y, a)) copy(a, y);
      strided_axpby(1.0, &b, 1.0, y, "add");
    }
    return;
  }
  if (a.dtype() == DType::BF16)
    WIN_CUDA_CHECK(kernels::launch_add_bf16(bf16_ptr(a, "add"), bf16_ptr(b, "add"),
                                            bf16_ptr(y, "add"), a.numel(), stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_add_f32(dense_ptr<float>(a, "add"), dense_ptr<float>(b, "add"),
                                           dense_ptr<float>(y, "add"), a.numel(), stream()));
}

void CudaOps::add_relu(const Tensor& a, const Tensor& b, Tensor& y) {
  WIN_CUDA_TIMED("add_relu");
  same_layout(a, b, "add_relu");
  same_layout(a, y, "add_relu");
  if (a.dtype() == DType::BF16)
    WIN_CUDA_CHECK(kernels::launch_add_relu_bf16(bf16_ptr(a, "add_relu"), bf16_ptr(b, "add_relu"),
                                                 bf16_ptr(y, "add_relu"), a.numel(), stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_add_relu_f32(
        dense_ptr<float>(a, "add_relu"), dense_ptr<float>(b, "add_relu"),
        dense_ptr<float>(y, "add_relu"), a.numel(), stream()));
}

void CudaOps::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  WIN_CUDA_TIMED("relu_backward");
  same_layout(y, dy, "relu_backward");
  same_layout(y, dx, "relu_backward");
  if (y.dtype() == DType::BF16)
    WIN_CUDA_CHECK(kernels::launch_relu_backward_bf16(
        bf16_ptr(y, "relu_backward"), bf16_ptr(dy, "relu_backward"), bf16_ptr(dx, "relu_backward"),
        y.numel(), stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_relu_backward_f32(
        dense_ptr<float>(y, "relu_backward"), dense_ptr<float>(dy, "relu_backward"),
        dense_ptr<float>(dx, "relu_backward"), y.numel(), stream()));
}

void CudaOps::axpy(double alpha, const Tensor& x, Tensor& y) {
  WIN_CUDA_TIMED("axpy");
  if (!alike_and_dense(x, y)) return strided_axpby(alpha, &x, 1.0, y, "axpy");
  WIN_CUDA_CHECK(kernels::launch_axpy_f32(static_cast<float>(alpha), dense_ptr<float>(x, "axpy"),
                                          dense_ptr<float>(y, "axpy"), x.numel(), stream()));
}

void CudaOps::scale(double alpha, Tensor& x) {
  WIN_CUDA_TIMED("scale");
  if (!cuda_detail::dense(x)) return strided_axpby(0.0, nullptr, alpha, x, "scale");
  WIN_CUDA_CHECK(kernels::launch_scale_f32(static_cast<float>(alpha), dense_ptr<float>(x, "scale"),
                                           x.numel(), stream()));
}

void CudaOps::copy(const Tensor& x, Tensor& y) {
  WIN_CUDA_TIMED("copy");
  WIN_CHECK(x.shape() == y.shape() && x.dtype() == y.dtype() && x.dim() <= 4 &&
                x.device() == Device::CUDA && y.device() == Device::CUDA,
            ErrorKind::Internal, "cuda copy: ", x.shape(), ' ', device_name(x.device()), " -> ",
            y.shape(), ' ', device_name(y.device()), " (same shape and dtype, both on the GPU)");
  const auto shape = dims4(x), sx = strides4(x), sy = strides4(y);
  WIN_CUDA_CHECK(kernels::launch_strided_copy(x.raw(), y.raw(),
                                              static_cast<int>(dtype_size(x.dtype())), shape.data(),
                                              sx.data(), sy.data(), stream()));
}

void CudaOps::convert(const Tensor& x, Tensor& y) {
  WIN_CUDA_TIMED("convert");
  auto ok = [](DType t) { return t == DType::F32 || t == DType::BF16; };
  WIN_CHECK(x.shape() == y.shape() && x.dim() <= 4 && x.device() == Device::CUDA &&
                y.device() == Device::CUDA && ok(x.dtype()) && ok(y.dtype()) &&
                cuda_detail::dense(x),
            ErrorKind::Internal, "cuda convert: ", dtype_name(x.dtype()), " ", x.shape(), "/",
            x.strides(), " -> ", dtype_name(y.dtype()), " ", y.shape(),
            " (f32/bf16 on the GPU, a dense input)");
  if (x.dtype() == y.dtype()) return copy(x, y);
  const int64_t n = x.numel();
  // Cast in x's memory order, into y when it has that order, else into scratch that is then
  // moved into y's layout.
  const bool direct = y.strides() == x.strides();
  void* out =
      direct ? y.raw() : cuda_detail::scratch(static_cast<size_t>(n) * dtype_size(y.dtype()));
  if (x.dtype() == DType::F32)
    WIN_CUDA_CHECK(kernels::launch_cast_f32_to_bf16(static_cast<const float*>(x.raw()),
                                                    static_cast<__nv_bfloat16*>(out), n, stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_cast_bf16_to_f32(static_cast<const __nv_bfloat16*>(x.raw()),
                                                    static_cast<float*>(out), n, stream()));
  if (direct) return;
  const auto shape = dims4(x), sx = strides4(x), sy = strides4(y);
  WIN_CUDA_CHECK(kernels::launch_strided_copy(out, y.raw(), static_cast<int>(dtype_size(y.dtype())),
                                              shape.data(), sx.data(), sy.data(), stream()));
}

void CudaOps::add_bias(const Tensor& bias, Tensor& y) {
  WIN_CUDA_TIMED("add_bias");
  WIN_CHECK(y.dim() == 2 && y.is_contiguous() && bias.numel() == y.size(1), ErrorKind::Internal,
            "cuda add_bias: bias ", bias.shape(), " for ", y.shape());
  WIN_CUDA_CHECK(kernels::launch_add_bias_f32(dense_ptr<float>(bias, "add_bias"),
                                              dense_ptr<float>(y, "add_bias"), y.size(0), y.size(1),
                                              stream()));
}

void CudaOps::bias_grad(const Tensor& dy, Tensor& db) {
  WIN_CUDA_TIMED("bias_grad");
  WIN_CHECK(dy.dim() == 2 && dy.is_contiguous() && db.numel() == dy.size(1), ErrorKind::Internal,
            "cuda bias_grad: db ", db.shape(), " for ", dy.shape());
  const int64_t n = kernels::bias_grad_scratch_doubles(dy.size(0), dy.size(1));
  auto* s = static_cast<double*>(cuda_detail::scratch(static_cast<size_t>(n) * sizeof(double)));
  WIN_CUDA_CHECK(kernels::launch_bias_grad_f32(dense_ptr<float>(dy, "bias_grad"),
                                               dense_ptr<float>(db, "bias_grad"), dy.size(0),
                                               dy.size(1), s, stream()));
}

void CudaOps::relu_bias_backward(const Tensor& y, const Tensor& dy, Tensor& dz, Tensor& db) {
  WIN_CUDA_TIMED("relu_bias_backward");
  same_layout(y, dy, "relu_bias_backward");
  same_layout(y, dz, "relu_bias_backward");
  WIN_CHECK(y.dim() == 2 && y.is_contiguous(), ErrorKind::Internal,
            "cuda relu_bias_backward: ", y.shape());
  const int64_t n = kernels::bias_grad_scratch_doubles(y.size(0), y.size(1));
  auto* s = static_cast<double*>(cuda_detail::scratch(static_cast<size_t>(n) * sizeof(double)));
  WIN_CUDA_CHECK(kernels::launch_relu_bias_backward_f32(
      dense_ptr<float>(y, "relu_bias_backward"), dense_ptr<float>(dy, "relu_bias_backward"),
      dense_ptr<float>(dz, "relu_bias_backward"),
      db.defined() ? dense_ptr<float>(db, "relu_bias_backward") : nullptr, y.size(0), y.size(1), s,
      stream()));
}

double CudaOps::sum_squares(const Tensor& x) {
  WIN_CUDA_TIMED("sum_squares");
  const int64_t n = kernels::sum_squares_scratch_doubles(x.numel());
  auto* s = static_cast<double*>(cuda_detail::scratch(static_cast<size_t>(n) * sizeof(double)));
  double* out = cuda_detail::result_buffer();
  WIN_CUDA_CHECK(kernels::launch_sum_squares_f32(dense_ptr<float>(x, "sum_squares"), x.numel(), s,
                                                 out, stream()));
  double v = 0;
  WIN_CUDA_CHECK(cudaMemcpyAsync(&v, out, sizeof v, cudaMemcpyDeviceToHost, stream()));
  WIN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return v;
}

void CudaOps::global_avg_pool(const Tensor& x, Tensor& y) {
  WIN_CUDA_TIMED("global_avg_pool");
  WIN_CHECK(x.dim() == 4 && y.dim() == 2 && y.size(0) == x.size(0) && y.size(1) == x.size(1),
            ErrorKind::Internal, "cuda global_avg_pool: ", x.shape(), " -> ", y.shape());
  const auto shape = dims4(x), sx = strides4(x);
  const int64_t sy[2] = {y.stride(0), y.stride(1)};
  WIN_CHECK(y.dtype() == DType::F32 && (x.dtype() == DType::F32 || x.dtype() == DType::BF16),
            ErrorKind::Internal, "cuda global_avg_pool: ", dtype_name(x.dtype()), " -> ",
            dtype_name(y.dtype()), " (f32 or bf16 -> f32)");
  if (x.dtype() == DType::BF16)
    WIN_CUDA_CHECK(kernels::launch_global_avg_pool_bf16(
        static_cast<const __nv_bfloat16*>(x.raw()), shape.data(), sx.data(),
        static_cast<float*>(y.raw()), sy, stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_global_avg_pool_f32(static_cast<const float*>(x.raw()),
                                                       shape.data(), sx.data(),
                                                       static_cast<float*>(y.raw()), sy, stream()));
}

void CudaOps::global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  WIN_CUDA_TIMED("global_avg_pool_backward");
  WIN_CHECK(dx.dim() == 4 && dy.dim() == 2 && dy.size(0) == dx.size(0) && dy.size(1) == dx.size(1),
            ErrorKind::Internal, "cuda global_avg_pool_backward: ", dy.shape(), " -> ", dx.shape());
  const auto shape = dims4(dx), sx = strides4(dx);
  const int64_t sy[2] = {dy.stride(0), dy.stride(1)};
  WIN_CHECK(dy.dtype() == DType::F32 && (dx.dtype() == DType::F32 || dx.dtype() == DType::BF16),
            ErrorKind::Internal, "cuda global_avg_pool_backward: ", dtype_name(dy.dtype()), " -> ",
            dtype_name(dx.dtype()), " (f32 -> f32 or bf16)");
  if (dx.dtype() == DType::BF16)
    WIN_CUDA_CHECK(kernels::launch_global_avg_pool_backward_bf16(
        static_cast<const float*>(dy.raw()), sy, static_cast<__nv_bfloat16*>(dx.raw()),
        shape.data(), sx.data(), stream()));
  else
    WIN_CUDA_CHECK(kernels::launch_global_avg_pool_backward_f32(static_cast<const float*>(dy.raw()),
                                                                sy, static_cast<float*>(dx.raw()),
                                                                shape.data(), sx.data(), stream()));
}

void CudaOps::embedding(const Tensor& weight, const Tensor& ids, Tensor& y) {
  WIN_CUDA_TIMED("embedding");
  WIN_CHECK(
      weight.dim() == 2 && y.dim() == 2 && y.size(0) == ids.numel() && y.size(1) == weight.size(1),
      ErrorKind::Internal, "cuda embedding: ", weight.shape(), "[", ids.shape(), "] -> ",
      y.shape());
  int32_t* bad = cuda_detail::flag_buffer();
  WIN_CUDA_CHECK(kernels::launch_embedding_f32(dense_ptr<float>(weight, "embedding"),
                                               weight.size(0), weight.size(1),
                                               dense_ptr<int32_t>(ids, "embedding"), ids.numel(),
                                               dense_ptr<float>(y, "embedding"), bad, stream()));
  // An out-of-range id is a data error naming its position, as on the CPU: the price is one
  // wait per embedding forward, small next to the step it belongs to.
  const int32_t at = cuda_detail::read_flag_after(bad);
  WIN_CHECK(at == INT32_MAX, ErrorKind::Data, "embedding: token id at position ", at,
            " is outside the vocabulary of ", weight.size(0));
}

void CudaOps::embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dweight) {
  WIN_CUDA_TIMED("embedding_backward");
  WIN_CHECK(dweight.dim() == 2 && dy.dim() == 2 && dy.size(0) == ids.numel() &&
                dy.size(1) == dweight.size(1),
            ErrorKind::Internal, "cuda embedding_backward: ", dy.shape(), " by ", ids.shape(),
            " into ", dweight.shape());
  const int64_t n = ids.numel(), vocab = dweight.size(0);
  if (n == 0) return;
  // The reproducible path: ids sorted with their positions, then each run of equal ids summed
  // in a fixed order. Scratch: sorted ids, positions, then CUB's temporary storage.
  size_t sort_bytes = 0;
  WIN_CUDA_CHECK(kernels::embedding_sort_scratch_bytes(n, vocab, &sort_bytes));
  const size_t ids_bytes = (static_cast<size_t>(n) * sizeof(int32_t) + 255) / 256 * 256;
  auto* base = static_cast<char*>(cuda_detail::scratch(2 * ids_bytes + sort_bytes));
  auto* sorted_ids = reinterpret_cast<int32_t*>(base);
  auto* sorted_pos = reinterpret_cast<int32_t*>(base + ids_bytes);
  int32_t* bad = cuda_detail::flag_buffer();
  WIN_CUDA_CHECK(kernels::launch_embedding_sort_ids(
      dense_ptr<int32_t>(ids, "embedding_backward"), n, vocab, sorted_ids, sorted_pos,
      base + 2 * ids_bytes, sort_bytes, bad, stream()));
  WIN_CUDA_CHECK(kernels::launch_embedding_backward_sorted_f32(
      dense_ptr<float>(dy, "embedding_backward"), sorted_ids, sorted_pos, n, dy.size(1),
      dense_ptr<float>(dweight, "embedding_backward"), vocab, stream()));
}

void CudaOps::dropout(const Tensor& x, double p, const Philox& rng, uint64_t hi_counter,
                      uint64_t lo_offset, Tensor& mask, Tensor& y) {
  WIN_CUDA_TIMED("dropout");
  same_layout(x, y, "dropout");
  WIN_CHECK(mask.numel() == x.numel(), ErrorKind::Internal, "cuda dropout: mask ", mask.shape(),
            " for ", x.shape());
  WIN_CUDA_CHECK(kernels::launch_dropout_f32(
      dense_ptr<float>(x, "dropout"), x.numel(), p, rng.key()[0], rng.key()[1], hi_counter,
      lo_offset, dense_ptr<uint8_t>(mask, "dropout"), dense_ptr<float>(y, "dropout"), stream()));
}

void CudaOps::dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) {
  WIN_CUDA_TIMED("dropout_backward");
  same_layout(dy, dx, "dropout_backward");
  WIN_CUDA_CHECK(kernels::launch_dropout_backward_f32(
      dense_ptr<float>(dy, "dropout_backward"), dense_ptr<uint8_t>(mask, "dropout_backward"),
      dy.numel(), p, dense_ptr<float>(dx, "dropout_backward"), stream()));
}

Ops& cuda_ops() {
  static CudaOps ops;
  return ops;
}

}  // namespace win::backend
