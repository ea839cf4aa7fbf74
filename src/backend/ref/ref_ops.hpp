// RefOps<T>: the reference implementation of the op table in plain loops, for T = float or double
// (backend/ops.hpp). It accepts any strides, is written for clarity first, and is the oracle that
// gradient checks (in double) and the fast backends are measured against. The loops that oneDNN
// has no primitive for (embedding, dropout, losses, optimizer updates, element-wise) are
// parallelised with deterministic chunking, and CpuOps uses them as they are.
//
// Each group of methods is defined in its own file (gemm.cpp, conv.cpp, ...), which explicitly
// instantiates them for float and double.
#pragma once

#include "backend/ops.hpp"

namespace win::backend {

template <class T>
class RefOps : public Ops {
 public:
  const char* name() const override;

  std::unique_ptr<Conv2dOp> conv2d(const Conv2dDesc& d) override;
  std::unique_ptr<BatchNormOp> batchnorm(bool fuse_relu) override;
  std::unique_ptr<LayerNormOp> layernorm() override;
  std::unique_ptr<Pool2dOp> pool2d(const Pool2dDesc& d) override;
  std::unique_ptr<EltwiseOp> eltwise(Eltwise kind) override;
  std::unique_ptr<SoftmaxOp> softmax() override;
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

  CeResult cross_entropy(const Tensor& logits, const Tensor& labels, int64_t ignore_index,
                         double grad_scale, Tensor& dlogits) override;
  double mse(const Tensor& x, const Tensor& target, double grad_scale, Tensor& dx) override;
  double kl_div(const Tensor& student, const Tensor& teacher, double temperature, double grad_scale,
                Tensor& dstudent) override;

  void sgd_update(Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
                  bool nesterov, double weight_decay, bool first_step) override;
  void adamw_update(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, double lr, double beta1,
                    double beta2, double eps, double weight_decay, int64_t step) override;
};

}  // namespace win::backend
