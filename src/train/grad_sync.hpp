// GradientSync: the one communication of a data-parallel training step (DESIGN §7). Every rank
// holds a replica and runs forward and backward on its equal slice of the global batch, its loss
// a mean over its own rows; averaging the flat gradient buffers over ranks then gives every rank
// the gradient of the global batch's mean loss, so the optimizer steps stay identical everywhere.
// The buffer goes out in buckets of a fixed size, in a fixed order, so the reduction (and with it
// the result) does not depend on timing; buckets are what a later overlap with backward sends as
// soon as their gradients are complete.
#pragma once

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "dist/comm.hpp"
#include "nn/module.hpp"
#include "nn/param_store.hpp"
#include "nn/replica_sum.hpp"

namespace win::train {

class GradientSync {
 public:
  // bucket_mb: the size of one allreduce (dist.bucket_mb); > 0. With `only`, just the gradients
  // of those entries are averaged (a pipeline stage's own blocks), packed into contiguous buckets.
  GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb,
               const std::function<bool(const nn::ParamEntry&)>& only = {});

  // In place: every rank's gradients become the mean over ranks. Collective: every rank calls it
  // once per step. One rank: nothing to do.
  void average();

  int64_t bucket_elements() const { return bucket_; }
  int64_t num_buckets() const;

 private:
  const dist::Comm& comm_;
  nn::ParamStore& store_;
  int64_t bucket_ = 0;                               // elements per allreduce
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // with `only`: [offset, numel) of entries
  std::vector<float> packed_;
  bool selective_ = false;
};

// The replicas of a data-parallel group for synchronised BatchNorm (nn::Context::replicas).
class CommReplicaSum final : public nn::ReplicaSum {
 public:
  explicit CommReplicaSum(const dist::Comm& comm) : comm_(comm) {}
  void sum(std::span<double> values) override { comm_.allreduce(values); }
  int replicas() const override { return comm_.size(); }

 private:
  const dist::Comm& comm_;
};

// Replaces every floating-point buffer of m (BatchNorm's running statistics) by its mean over the
// ranks of comm, summed in double. With local BatchNorm each replica tracks the statistics of its
// own slices; the running update is linear, so the mean equals the statistics that tracking the
// mean of the slices would give. Identical buffers stay bitwise identical. Collective.
void average_buffers(const dist::Comm& comm, nn::Module& m);

}  // namespace win::train
