// Synchronised batch normalisation (dist.sync_bn): the training forward and backward of
// BatchNorm2d when its statistics must cover the global batch of every data-parallel replica, as
// torch.nn.SyncBatchNorm. Kept apart from batchnorm.cpp because it cannot use the backend's
// BatchNormOp (that op computes its statistics from the local slice in one call, with no point
// to exchange partial sums in between); these are plain loops over any (N, C, H, W) strides, in
// f32 or f64, with every sum in double.
//
// Each step exchanges two packed vectors through ReplicaSum, one per pass: the forward sums
// [sum x (C), sum x^2 (C), count], the backward [sum dy (C), sum dy * xhat (C)]. Every replica
// therefore ends with bitwise the same statistics whenever the ReplicaSum gives every replica the
// same bits.
#pragma once

#include <vector>

#include "core/tensor.hpp"
#include "nn/replica_sum.hpp"

namespace win::nn {

// What a synchronised forward leaves for its backward, and the scratch vector for the exchanges
// (kept between steps so that a steady-state step allocates nothing).
struct SyncBatchNormState {
  std::vector<double> mean;  // (C) global batch mean
  std::vector<double> rstd;  // (C) 1 / sqrt(global biased variance + eps)
  double count = 0;          // global number of values per channel (N * H * W over replicas)
  std::vector<double> packed;
};

// y = gamma * (x - mean) / sqrt(var + eps) + beta (then ReLU when relu) with the mean and biased
// variance of x over every replica; moves running_mean and running_var as PyTorch does, with the
// unbiased variance of the global batch. y must have x's shape and strides. Collective: calls
// replicas.sum once.
void sync_batchnorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                            double momentum, bool relu, ReplicaSum& replicas, Tensor& running_mean,
                            Tensor& running_var, SyncBatchNormState& state, Tensor& y);

// Backward of the last sync_batchnorm_forward: dx is the gradient, with respect to this replica's
// x, of the sum over replicas of their losses (dy is this replica's dL/dy; with relu, y is the
// forward's output and masks dy). dgamma and dbeta accumulate this replica's own contributions
// only, since the data-parallel gradient reduction sums parameter gradients afterwards. x, y, dy
// and dx share one shape and strides. Collective: calls replicas.sum once.
void sync_batchnorm_backward(const Tensor& x, const Tensor& y, const Tensor& dy,
                             const Tensor& gamma, bool relu, ReplicaSum& replicas,
                             SyncBatchNormState& state, Tensor& dx, Tensor& dgamma, Tensor& dbeta);

}  // namespace win::nn
