// CudaOps' row-wise layers: softmax over the last dimension and layer normalisation, on the
// kernels of kernels/softmax.cu and kernels/layernorm.cu (contiguous rows).
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/cuda_ops.hpp"
#include "backend/cuda/op_timer.hpp"
#include "core/error.hpp"
#include "layernorm.cuh"
#include "softmax.cuh"

namespace win::backend {

using cuda_detail::dense_ptr;

namespace {

void rows_of(const Tensor& x, int64_t* rows, int64_t* d, const char* what) {
  WIN_CHECK(x.dim() >= 1 && x.is_contiguous(), ErrorKind::Internal, "cuda ", what, ": input ",
            x.shape(), " must be contiguous");
  *d = x.size(-1);
  *rows = *d ? x.numel() / *d : 0;
}

class CudaSoftmaxOp final : public SoftmaxOp {
 public:
  void forward(const Tensor& x, Tensor& y) override {
    WIN_CUDA_TIMED("softmax.forward");
    int64_t rows = 0, d = 0;
    rows_of(x, &rows, &d, "softmax");
    WIN_CUDA_CHECK(kernels::launch_softmax_forward_f32(dense_ptr<float>(x, "softmax"),
                                                       dense_ptr<float>(y, "softmax"), rows, d,
                                                       cuda_context().stream()));
  }
  void backward(const Tensor& y, const Tensor& dy, Tensor& dx) override {
    WIN_CUDA_TIMED("softmax.backward");
    int64_t rows = 0, d = 0;
    rows_of(y, &rows, &d, "softmax backward");
    WIN_CUDA_CHECK(kernels::launch_softmax_backward_f32(
        dense_ptr<float>(y, "softmax"), dense_ptr<float>(dy, "softmax"),
        dense_ptr<float>(dx, "softmax"), rows, d, cuda_context().stream()));
  }
};

class CudaLayerNormOp final : public LayerNormOp {
 public:
  void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& mean,
               Tensor& var, Tensor& y) override {
    WIN_CUDA_TIMED("layernorm.forward");
    int64_t rows = 0, d = 0;
    rows_of(x, &rows, &d, "layernorm");
    WIN_CUDA_CHECK(kernels::launch_layernorm_forward_f32(
        dense_ptr<float>(x, "layernorm"), dense_ptr<float>(gamma, "layernorm"),
        dense_ptr<float>(beta, "layernorm"), static_cast<float>(eps), rows, d,
        dense_ptr<float>(mean, "layernorm"), dense_ptr<float>(var, "layernorm"),
        dense_ptr<float>(y, "layernorm"), cuda_context().stream()));
  }
  void backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                const Tensor& var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) override {
    WIN_CUDA_TIMED("layernorm.backward");
    int64_t rows = 0, d = 0;
    rows_of(x, &rows, &d, "layernorm backward");
    const int64_t n = kernels::layernorm_backward_scratch_doubles(rows, d);
    auto* s = static_cast<double*>(cuda_detail::scratch(static_cast<size_t>(n) * sizeof(double)));
    WIN_CUDA_CHECK(kernels::launch_layernorm_backward_f32(
        dense_ptr<float>(x, "layernorm"), dense_ptr<float>(dy, "layernorm"),
        dense_ptr<float>(gamma, "layernorm"), dense_ptr<float>(mean, "layernorm"),
        dense_ptr<float>(var, "layernorm"), static_cast<float>(eps), rows, d,
        dense_ptr<float>(dx, "layernorm"), dense_ptr<float>(dgamma, "layernorm"),
        dense_ptr<float>(dbeta, "layernorm"), s, cuda_context().stream()));
  }
};

}  // namespace

std::unique_ptr<SoftmaxOp> CudaOps::softmax() {
  return std::make_unique<CudaSoftmaxOp>();
}
std::unique_ptr<LayerNormOp> CudaOps::layernorm() {
  return std::make_unique<CudaLayerNormOp>();
}

}  // namespace win::backend
