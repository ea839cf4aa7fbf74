// GradientSync: the one communication of a data-parallel training step (DESIGN §7). Every rank
// holds a replica and runs forward and backward on its equal slice of the global batch, its loss
// a mean over its own rows; averaging the flat gradient buffers over ranks then gives every rank
// the gradient of the global batch's mean loss, so the optimizer steps stay identical everywhere.
// The buffer goes out in buckets of a fixed size. As a listener of backward (nn::Context::
// grads_ready) it starts a bucket's non-blocking allreduce as soon as every parameter in it has
// its final gradient, while backward continues below; finish() starts the rest and waits. Which
// buckets start when depends only on the model's backward order, the same on every rank, and each
// bucket is reduced alone, so the result does not depend on timing.
//
// Gradients on a GPU are summed by a dist::DeviceComm (NCCL) when the caller has one: buckets go
// out on its side stream as backward announces them, and finish() only makes the compute stream
// wait for them, so the host never blocks. Without one (ranks sharing a GPU), they go through
// one host copy each way and MPI.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "dist/comm.hpp"
#include "dist/device_comm.hpp"
#include "nn/module.hpp"
#include "nn/param_store.hpp"
#include "nn/replica_sum.hpp"

namespace win::train {

class GradientSync final : public nn::GradientsReady {
 public:
  // bucket_mb: the size of one allreduce (dist.bucket_mb); > 0. With `only`, just the gradients
  // of those entries are averaged (a pipeline stage's own blocks), packed into contiguous buckets.
  // `device`: the same group's device communicator, which then does every sum (any buffer it can
  // address; see above); null: MPI.
  GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb,
               const std::function<bool(const nn::ParamEntry&)>& only = {},
               dist::DeviceComm* device = nullptr);

  // In place: every rank's gradients become the mean over ranks. Collective: every rank calls it
  // once per step. One rank: nothing to do. Same as begin() then finish().
  void average();

  // The overlapped form: begin() before backward (with the sync set as ctx.grads_ready), then
  // finish() after it.
  void begin();
  void ready(nn::Module& m) override;
  void finish();

  int64_t bucket_elements() const { return bucket_; }
  // Buckets whose allreduce started during backward (from ready()), over all steps so far.
  int64_t started_in_backward() const { return early_; }
  int64_t num_buckets() const;

 private:
  const dist::Comm& comm_;
  nn::ParamStore& store_;
  dist::DeviceComm* device_ = nullptr;
  int64_t bucket_ = 0;                               // elements per allreduce
  std::vector<std::pair<int64_t, int64_t>> ranges_;  // with `only`: [offset, numel) runs
  std::vector<float> packed_;
  Tensor host_;  // host copy of GPU gradients (defined only then)
  bool selective_ = false;
  // Overlap bookkeeping: per bucket, the parameter elements still waiting for their gradient and
  // whether its reduction started; per entry, its done flag and (bucket, elements) overlaps.
  std::vector<int64_t> waiting_, waiting_template_, bucket_size_;
  std::vector<char> started_, entry_done_;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> entry_buckets_;
  std::map<const nn::Param*, size_t> entry_of_;
  std::map<const nn::Module*, std::vector<size_t>> module_entries_;
  int64_t early_ = 0;
  void start_bucket(int64_t k);
  void reduce_bucket(int64_t k, bool now);  // allreduce now, or start it (non-blocking)
  void reduce_flat();                       // finish() on the buffer that MPI reduces
  void finish_on_device();                  // finish() through device_
  Tensor& flat();                           // that buffer: host_ when staged, else the grads
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
