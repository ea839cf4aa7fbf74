// BatchNorm2d: batch normalisation of (N, C, H, W) inputs per channel, as torch.nn.BatchNorm2d
// (affine, track_running_stats; same parameter and buffer names). Training mode normalises with
// the batch statistics and moves the running ones (unbiased variance, PyTorch's momentum
// convention); eval mode normalises with the running statistics, and its backward is that of a
// fixed per-channel affine map (for fine-tuning with frozen statistics). The output and dx keep
// the input's layout, so channels-last activations stay channels-last. With fuse_relu the layer
// is BatchNorm2d followed by ReLU in one pass (a ResNet's bn1/bn2 + relu): same parameters, one
// activation less written and read.
//
// With ctx.replicas set (dist.sync_bn), a training forward normalises with the statistics of the
// global batch of every data-parallel replica, as torch.nn.SyncBatchNorm, and its backward gives
// each replica the gradient of the sum of all replicas' losses (batchnorm_sync.hpp); the
// unsynchronised path keeps the backend's op.
#pragma once

#include <memory>

#include "nn/batchnorm_sync.hpp"
#include "nn/module.hpp"

namespace win::nn {

class BatchNorm2d final : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double eps = 1e-5, double momentum = 0.1,
                       DType dtype = DType::F32, bool fuse_relu = false);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;
  // A residual block's last batch norm with the shortcut sum and the block's ReLU:
  // y = max(bn(x) + r, 0), r like x (a layer made without fuse_relu). One pass where the backend
  // fuses it (BatchNormOp::forward_train_add_relu), else forward then add_relu. Its backward
  // returns dx and sets *dr to the shortcut's gradient (the masked dy); both stay valid until the
  // layer's next call.
  Tensor forward_add_relu(const Tensor& x, const Tensor& r, Context& ctx);
  Tensor backward_add_relu(const Tensor& dy, Context& ctx, Tensor* dr);

  int64_t num_features() const { return channels_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  Param& weight() { return *gamma_; }
  Param& bias() { return *beta_; }
  Tensor& running_mean() { return *running_mean_; }
  Tensor& running_var() { return *running_var_; }
  // Whether the last forward normalised with statistics synchronised over replicas.
  bool synchronised() const { return synced_; }

 private:
  int64_t channels_;
  double eps_, momentum_;
  bool fuse_relu_;
  std::unique_ptr<backend::BatchNormOp> op_;
  std::unique_ptr<backend::BatchNormOp> plain_op_;  // eval backward of a fused layer
  Param* gamma_;
  Param* beta_;
  Tensor* running_mean_;
  Tensor* running_var_;
  bool trained_ = true;  // mode of the last forward: selects the backward
  bool synced_ = false;  // the last forward was a synchronised training one
  SyncBatchNormState sync_;
  Tensor x_;           // saved input
  Tensor mean_, var_;  // batch statistics of the last training forward (biased variance)
  Tensor zeros_;       // (C) zeros: the eval backward runs forward_eval with them
  Tensor y_;
  bool res_fused_ = false;  // the last forward_add_relu ran the backend's fused op
  Tensor res_out_;          // the composed form's output
};

}  // namespace win::nn
