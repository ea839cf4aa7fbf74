// The backend op table: every numeric operation that layers, losses and optimizers need, as one
// interface that each backend implements. Three implementations exist or will:
//   - RefOps<T> (backend/ref): plain loops in float or double, any strides. The oracle: gradient
//     checks run it in double, and the fast backends are compared with it.
//   - CpuOps (backend/cpu): f32 on oneDNN primitives (matmul/sgemm, convolution, batch and layer
//     normalisation, pooling, eltwise, softmax), plus vectorised, threaded loops where oneDNN has
//     nothing (embedding, dropout, losses, optimizer updates).
//   - CudaOps (backend/cuda, later): cuBLASLt, cuDNN and kernels/.
// ops_for(device, dtype) picks one. Stateful ops (those that build primitives per shape) are
// objects made by a factory, owned by the layer that uses them, and rebuild themselves only when
// the shapes or strides they are called with change; stateless ops are plain methods.
//
// Conventions. Shapes in comments are logical, PyTorch order: images (N, C, H, W), whatever the
// strides (win keeps conv activations channels-last: strides (HWC, 1, WC, C)). Outputs are
// preallocated by the caller with the right shape; "overwrites" and "accumulates (+=)" say what
// happens to them. Parameter gradients always accumulate, so a parameter used twice (tied
// embeddings) or a gradient summed over micro-batches needs nothing special.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace win::backend {

// ---- descriptors of stateful ops ----------------------------------------------------------------

struct Conv2dDesc {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride = 1;
  int64_t padding = 0;  // zero padding on every side
};

struct Pool2dDesc {
  enum class Kind { Max, Avg } kind = Kind::Max;
  int64_t kernel = 2;
  int64_t stride = 2;
  int64_t padding = 0;  // Avg counts padded zeros (PyTorch's count_include_pad = true)
};

enum class Eltwise { Relu, Gelu, Tanh };  // Gelu: the erf form, x * Phi(x)

// ---- stateful ops -----------------------------------------------------------------------------

class Conv2dOp {
 public:
  virtual ~Conv2dOp() = default;
  // y (N,K,P,Q) = conv(x (N,C,H,W), w (K,C,R,S)) + b (K) (b may be undefined). Overwrites y.
  virtual void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) = 0;
  // dx (N,C,H,W) from dy (N,K,P,Q) and w. Overwrites dx.
  virtual void backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) = 0;
  // dw (K,C,R,S) and db (K, may be undefined) from x and dy. Accumulates.
  virtual void backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) = 0;
};

// Batch normalisation over (N, H, W) per channel of x (N,C,H,W), PyTorch semantics: training
// normalises with the biased batch variance and moves the running statistics by
// running = (1 - momentum) * running + momentum * batch, with the unbiased variance.
// Made with fuse_relu, y = max(bn(x), 0) in the same pass (a ResNet's BN + ReLU without writing
// and re-reading the activation), and backward masks dy by y > 0 first.
class BatchNormOp {
 public:
  virtual ~BatchNormOp() = default;
  // Overwrites y, mean (C) and var (C, biased: what backward needs); updates running stats.
  virtual void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                             double momentum, Tensor& running_mean, Tensor& running_var,
                             Tensor& mean, Tensor& var, Tensor& y) = 0;
  // Normalises with the running statistics. Overwrites y.
  virtual void forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                            const Tensor& running_mean, const Tensor& running_var, Tensor& y) = 0;
  // Backward of the last forward_train; y is its output. Overwrites dx; accumulates dgamma, dbeta.
  // gamma, beta, mean and var must be the forward's, unchanged in between (a layer's parameters
  // and saved statistics): the GPU recomputes the fused ReLU's mask from x with them.
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& gamma,
                        const Tensor& mean, const Tensor& var, double eps, Tensor& dx,
                        Tensor& dgamma, Tensor& dbeta) = 0;

  // Optional fused residual form, on an op made without fuse_relu: a residual block's last batch
  // norm, its shortcut sum and the block's ReLU in one pass, y = max(bn(x) + r, 0) with r like x
  // (the statistics are bn's alone). Returns false, computing nothing, where this backend has no
  // fused kernel for these tensors; the caller then composes forward_train and add_relu.
  virtual bool forward_train_add_relu(const Tensor& /*x*/, const Tensor& /*r*/,
                                      const Tensor& /*gamma*/, const Tensor& /*beta*/,
                                      double /*eps*/, double /*momentum*/, Tensor& /*running_mean*/,
                                      Tensor& /*running_var*/, Tensor& /*mean*/, Tensor& /*var*/,
                                      Tensor& /*y*/) {
    return false;
  }
  // Backward of a forward_train_add_relu that returned true (y its output): dr = dy where y > 0,
  // else 0 (the shortcut's gradient, overwritten), and dx, dgamma, dbeta as backward of dr.
  // Returns false where not fused (the caller composes relu_backward and backward).
  virtual bool backward_add_relu(const Tensor& /*x*/, const Tensor& /*y*/, const Tensor& /*dy*/,
                                 const Tensor& /*gamma*/, const Tensor& /*mean*/,
                                 const Tensor& /*var*/, double /*eps*/, Tensor& /*dx*/,
                                 Tensor& /*dr*/, Tensor& /*dgamma*/, Tensor& /*dbeta*/) {
    return false;
  }
};

// Layer normalisation over the last dimension of x (rows, D).
class LayerNormOp {
 public:
  virtual ~LayerNormOp() = default;
  // Overwrites y (rows, D), mean (rows) and var (rows, biased).
  virtual void forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                       Tensor& mean, Tensor& var, Tensor& y) = 0;
  // Overwrites dx; accumulates dgamma, dbeta.
  virtual void backward(const Tensor& x, const Tensor& dy, const Tensor& gamma, const Tensor& mean,
                        const Tensor& var, double eps, Tensor& dx, Tensor& dgamma,
                        Tensor& dbeta) = 0;
};

class Pool2dOp {
 public:
  virtual ~Pool2dOp() = default;
  // y (N,C,P,Q) from x (N,C,H,W). Overwrites y. Max pooling may remember argmax positions for
  // backward (a workspace inside the op), so backward must follow its own forward.
  virtual void forward(const Tensor& x, Tensor& y) = 0;
  // Overwrites dx (N,C,H,W).
  virtual void backward(const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
};

class EltwiseOp {
 public:
  virtual ~EltwiseOp() = default;
  // y = f(x), any shape. Overwrites y (may alias x).
  virtual void forward(const Tensor& x, Tensor& y) = 0;
  // dx = f'(x) * dy. Overwrites dx (may alias dy).
  virtual void backward(const Tensor& x, const Tensor& dy, Tensor& dx) = 0;
};

// Softmax over the last dimension.
class SoftmaxOp {
 public:
  virtual ~SoftmaxOp() = default;
  virtual void forward(const Tensor& x, Tensor& y) = 0;  // overwrites y
  // dx = y * (dy - sum(dy * y)). Overwrites dx.
  virtual void backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
};

// y (M, N) = act(x (M, K) W^T + b): a Linear layer's forward in one primitive, with bias and an
// optional ReLU applied in the matrix product's epilogue (no extra passes over y). W is (N, K)
// as a Linear stores it; b (N) may be undefined.
class LinearOp {
 public:
  virtual ~LinearOp() = default;
  virtual void forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) = 0;
};

// ---- the op table -----------------------------------------------------------------------------

class Ops {
 public:
  virtual ~Ops() = default;
  virtual const char* name() const = 0;

  // Stateful ops, one per layer.
  virtual std::unique_ptr<Conv2dOp> conv2d(const Conv2dDesc& d) = 0;
  virtual std::unique_ptr<BatchNormOp> batchnorm(bool fuse_relu) = 0;
  virtual std::unique_ptr<LayerNormOp> layernorm() = 0;
  virtual std::unique_ptr<Pool2dOp> pool2d(const Pool2dDesc& d) = 0;
  virtual std::unique_ptr<EltwiseOp> eltwise(Eltwise kind) = 0;
  virtual std::unique_ptr<SoftmaxOp> softmax() = 0;
  virtual std::unique_ptr<LinearOp> linear(bool fuse_relu) = 0;

  // C = alpha * op(A) op(B) + beta * C, with op(X) = X or X^T. A, B, C are 2-d with unit column
  // stride (rows may be padded); or 3-d/4-d with the same leading batch dimensions in all three
  // (any batch strides), for attention's per-head products. beta = 0 ignores C's old contents.
  virtual void gemm(bool trans_a, bool trans_b, double alpha, const Tensor& a, const Tensor& b,
                    double beta, Tensor& c) = 0;

  // Element-wise, any shapes that match (or as stated). Outputs may alias inputs.
  virtual void add(const Tensor& a, const Tensor& b, Tensor& y) = 0;  // y = a + b
  // y = max(a + b, 0): a residual sum and its ReLU in one pass.
  virtual void add_relu(const Tensor& a, const Tensor& b, Tensor& y) = 0;
  // dx = dy where y > 0, else 0: ReLU's backward from its output.
  virtual void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) = 0;
  virtual void axpy(double alpha, const Tensor& x, Tensor& y) = 0;  // y += alpha * x
  virtual void scale(double alpha, Tensor& x) = 0;                  // x *= alpha
  virtual void copy(const Tensor& x, Tensor& y) = 0;                // y = x (layouts may differ)
  // y = x rounded to y's dtype (f32, f64 or bf16, to nearest even; same shape, layouts may
  // differ): where bf16 activations begin and end (precision.hpp). A device backend needs x dense.
  virtual void convert(const Tensor& x, Tensor& y) = 0;
  // y (rows, D) += bias (D) broadcast over rows.
  virtual void add_bias(const Tensor& bias, Tensor& y) = 0;
  // db (D) += sum of dy (rows, D) over rows.
  virtual void bias_grad(const Tensor& dy, Tensor& db) = 0;
  // Backward of a fused Linear + ReLU's epilogue in one pass: dz = dy where y > 0 else 0
  // (overwrites dz), and db += sum of dz over rows when db is defined. y, dy, dz are (rows, D).
  virtual void relu_bias_backward(const Tensor& y, const Tensor& dy, Tensor& dz, Tensor& db) = 0;
  // Sum of squares of all elements, in double (gradient norms).
  virtual double sum_squares(const Tensor& x) = 0;
  // Global average pooling: y (N, C) = mean of x (N,C,H,W) over H, W; and its backward
  // dx (N,C,H,W) = dy / (H*W) broadcast (overwrites).
  virtual void global_avg_pool(const Tensor& x, Tensor& y) = 0;
  virtual void global_avg_pool_backward(const Tensor& dy, Tensor& dx) = 0;

  // Embedding: y (N, D) = weight (V, D)[ids (N), i32]. An id outside [0, V) is a data error
  // naming its position.
  virtual void embedding(const Tensor& weight, const Tensor& ids, Tensor& y) = 0;
  // dweight (V, D) += rows of dy (N, D) scattered by ids (accumulates).
  virtual void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dweight) = 0;

  // Dropout with keep probability 1 - p: mask (u8, same shape as x) and y = x * mask / (1 - p).
  // The mask of element i (row-major) is drawn from rng at counter (hi_counter, lo_offset + i):
  // independent of threads, and of how a global batch is split over ranks when lo_offset is the
  // global position of x's first element.
  virtual void dropout(const Tensor& x, double p, const Philox& rng, uint64_t hi_counter,
                       uint64_t lo_offset, Tensor& mask, Tensor& y) = 0;
  virtual void dropout_backward(const Tensor& dy, const Tensor& mask, double p, Tensor& dx) = 0;

  // ---- losses: each returns the mean loss and overwrites the gradient w.r.t. its first input,
  // already divided by the count it averaged over and multiplied by `grad_scale`.
  struct CeResult {
    double loss = 0;      // mean over counted rows
    int64_t counted = 0;  // rows whose label is not ignore_index
    int64_t correct = 0;  // counted rows whose argmax equals the label
  };
  // Softmax cross-entropy of logits (N, C) against labels (N, i32); rows with label ==
  // ignore_index count for nothing. A label outside [0, C) (other than ignore_index) is a data
  // error naming its row.
  virtual CeResult cross_entropy(const Tensor& logits, const Tensor& labels, int64_t ignore_index,
                                 double grad_scale, Tensor& dlogits) = 0;
  // Mean over all elements of (x - target)^2.
  virtual double mse(const Tensor& x, const Tensor& target, double grad_scale, Tensor& dx) = 0;
  // Hinton KD: T^2 * KL(softmax(teacher/T) || softmax(student/T)), mean over rows (N, C).
  virtual double kl_div(const Tensor& student, const Tensor& teacher, double temperature,
                        double grad_scale, Tensor& dstudent) = 0;

  // ---- optimizer updates on one parameter segment (flat, contiguous) -------------------------
  // PyTorch SGD: g += wd * p; buf = momentum * buf + g (buf = g on the first step);
  // g = nesterov ? g + momentum * buf : buf; p -= lr * g.
  virtual void sgd_update(Tensor& p, const Tensor& g, Tensor& buf, double lr, double momentum,
                          bool nesterov, double weight_decay, bool first_step) = 0;
  // PyTorch AdamW: p *= 1 - lr * wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  // p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps), t = step (1-based).
  virtual void adamw_update(Tensor& p, const Tensor& g, Tensor& m, Tensor& v, double lr,
                            double beta1, double beta2, double eps, double weight_decay,
                            int64_t step) = 0;

  // The same over segments of flat buffers (p, g and the state share one offset per segment;
  // each segment has its own weight decay): a whole optimizer step in one call. The default
  // calls the single-segment update per segment; the GPU makes it one multi-tensor launch.
  struct UpdateSegment {
    int64_t offset = 0, numel = 0;
    double weight_decay = 0;
  };
  virtual void sgd_update_segments(Tensor& p, const Tensor& g, Tensor& buf,
                                   const std::vector<UpdateSegment>& segments, double lr,
                                   double momentum, bool nesterov, bool first_step);
  virtual void adamw_update_segments(Tensor& p, const Tensor& g, Tensor& m, Tensor& v,
                                     const std::vector<UpdateSegment>& segments, double lr,
                                     double beta1, double beta2, double eps, int64_t step);

  // ---- optional fused kernels --------------------------------------------------------------
  // Attention dropout applied inside a fused kernel: probability i of the (B, H, T, T) tensor,
  // row-major, is kept exactly when Ops::dropout keeps element i at (hi_counter, lo_offset + i),
  // so the fused and the composed paths drop the same probabilities. p = 0: no dropout.
  struct AttentionDropout {
    double p = 0;
    const Philox* rng = nullptr;
    uint64_t hi_counter = 0, lo_offset = 0;
  };
  // Whether attention_forward/backward take these operands: q, k, v (B, H, T, dh) views sharing
  // one set of strides with unit stride along dh, mask_bias (B, 1, T) dense or undefined. The CPU
  // backends never fuse; the caller then composes gemm, softmax and dropout.
  virtual bool fuses_attention(const Tensor& /*q*/, const Tensor& /*k*/, const Tensor& /*v*/,
                               const Tensor& /*mask_bias*/) {
    return false;
  }
  // o = (softmax(scale q k^T + mask_bias) * keep / (1 - p)) v per (batch, head), without writing
  // the probabilities; o a view like q's. lse (B, H, T) f32: the row logsumexp backward needs.
  // With drop.p > 0, keep (B, H, T, T) u8 is overwritten with the mask drawn as described above.
  // Only where fuses_attention(q, k, v, mask_bias) holds (an internal error otherwise).
  virtual void attention_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const Tensor& mask_bias, double scale,
                                 const AttentionDropout& drop, Tensor& keep, Tensor& o,
                                 Tensor& lse);
  // dq, dk, dv (views like q's, overwritten) from dout, given the forward's operands, its keep
  // mask and p (keep undefined when its p was 0), o and lse.
  virtual void attention_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& mask_bias, double scale, const Tensor& keep,
                                  double p, const Tensor& o, const Tensor& lse, const Tensor& dout,
                                  Tensor& dq, Tensor& dk, Tensor& dv);
};

// The backend for tensors of this device and dtype: CPU f32 -> CpuOps, CPU f64 -> RefOps<double>.
Ops& ops_for(Device device, DType dtype);
inline Ops& ops_for(const Tensor& t) {
  return ops_for(t.device(), t.dtype());
}
// The reference loops, for tests that compare a backend with them.
Ops& ref_ops(DType dtype);

}  // namespace win::backend
