// CudaOps: the op table (backend/ops.hpp) for f32 tensors in GPU memory. Matrix products and the
// linear layer go to cuBLASLt, convolution, batch norm and pooling to cuDNN (cuda_gemm.hpp,
// cudnn_*.hpp), everything else to the kernels in kernels/. Every op is queued on the calling
// thread's stream (cuda_context()); ops that return host values (losses, sum_squares) or must
// report a data error (embedding ids, labels) wait for their own result, nothing else does.
// In fp32 nothing uses TF32, so results match the CPU backend within the parity tests' bounds.
#pragma once

#include "backend/ops.hpp"

namespace win::backend {

class CudaOps final : public Ops {
 public:
  const char* name() const override { return "cuda"; }

  std::unique_ptr<Conv2dOp> conv2d(const Conv2dDesc& d) override;
  std::unique_ptr<BatchNormOp> batchnorm(bool fuse_relu) override;
  std::unique_ptr<LayerNormOp> layernorm() override;  // cuda_ops_norm.cpp
  std::unique_ptr<Pool2dOp> pool2d(const Pool2dDesc& d) override;
  std::unique_ptr<EltwiseOp> eltwise(Eltwise kind) override;
  std::unique_ptr<SoftmaxOp> softmax() override;  // cuda_ops_norm.cpp
  std::unique_ptr<LinearOp> linear(bool fuse_relu) override;

  void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b, double beta,
            Tensor& c) override;
  void add(const Tensor& a, const Tensor& b, Tensor& y) override;
  void add_relu(const Tensor& a, const Tensor& b, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void axpy(double alpha, const Tensor& x, Tensor& y) override;
  void scale(double alpha, Tensor& x) override;
  void copy(const Tensor& x, Tensor& y) override;
  void convert(const Tensor& x, Tensor& y) override;
  void add_bias(const Tensor& bias, Tensor& y) override;
  void bias_grad(const Tensor& dy, Tensor& db) override;
  void relu_bias_backward(const Tensor& y, const Tensor& dy, Tensor& dz, Tensor& db) override;
  double sum_squares(const Tensor& x) override;
  void global_avg_pool(const Tensor& x, Tensor& y) override;
  void global_avg_pool_backward(const Tensor& dy, Tensor& dx) override;
  void embedding(const Tensor& weight, const Tensor& ids, Tensor& y) override;
  void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dweight) override;
  void dropout(const Tensor& x, double p, const Philox& rng, uint64_t hi_counter,
               uint64_t lo_offset, Tensor& mask, Tensor& y) override;
  void dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) override;

  // cuda_ops_train.cpp: losses and optimizer updates.
  CeResult cross_entropy(const Tensor& logits, const Tensor& labels, int64_t ignore_index,
                         double grad_scale, Tensor& dlogits) override;
  double mse(const Tensor& x, const Tensor& target, double grad_scale, Tensor& dx) override;
  double kl_div(const Tensor& student, const Tensor& teacher, double temperature, double grad_scale,
                Tensor& dstudent) override;
  void sgd_update(Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
                  bool nesterov, double weight_decay, bool first_step) override;
  void adamw_update(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step) override;
  void sgd_update_segments(Tensor& p, const Tensor& g, Tensor& buf,
                           const std::vector<UpdateSegment>& segments, double lr, double momentum,
                           bool nesterov, bool first_step) override;
  void adamw_update_segments(Tensor& p, const Tensor& g, Tensor& m, Tensor& v,
                             const std::vector<UpdateSegment>& segments, double lr, double beta1,
                             double beta2, double eps, int64_t step) override;

  // cuda_ops_attention.cpp: kernels/attention.cu, when the shapes fit it.
  bool fuses_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& mask_bias) override;
  void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask_bias,
                         double scale, const AttentionDropout& drop, Tensor& keep, Tensor& o,
                         Tensor& lse) override;
  void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                          const Tensor& mask_bias, double scale, const Tensor& keep, double p,
                          const Tensor& o, const Tensor& lse, const Tensor& dout, Tensor& dq,
                          Tensor& dk, Tensor& dv) override;
};

// The process's CudaOps (ops_for(Device::CUDA, DType::F32) returns it).
Ops& cuda_ops();

// Shared by the CudaOps files: a device pointer of a CUDA tensor that is dense in memory (an
// internal error naming `what` otherwise), and small per-thread device buffers for results the
// host reads back (a flag and a few doubles) that never overlap the libraries' workspace.
namespace cuda_detail {
// The elements fill numel() consecutive slots from raw() (contiguous, or a permutation such as
// channels-last): what element-wise kernels and whole-block writes (memset) need.
bool dense(const Tensor& t);
template <class T>
T* dense_ptr(const Tensor& t, const char* what);
int32_t* flag_buffer();                  // one int32
double* result_buffer();                 // 8 doubles
void* scratch(size_t bytes);             // cuda_context().workspace(bytes)
int32_t read_flag_after(int32_t* flag);  // waits for the stream, returns *flag
}  // namespace cuda_detail

}  // namespace win::backend
