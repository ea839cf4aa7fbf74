// GradientSync: the one communication of a data-parallel training step (DESIGN §7). Every rank
// holds a replica and runs forward and backward on its equal slice of the global batch, its loss
// a mean over its own rows; averaging the flat gradient buffers over ranks then gives every rank
// the gradient of the global batch's mean loss, so the optimizer steps stay identical everywhere.
// The buffer goes out in buckets of a fixed size, in a fixed order, so the reduction (and with it
// the result) does not depend on timing; buckets are what a later overlap with backward sends as
// soon as their gradients are complete.
#pragma once

#include <cstdint>

#include "dist/comm.hpp"
#include "nn/param_store.hpp"

namespace win::train {

class GradientSync {
 public:
  // bucket_mb: the size of one allreduce (dist.bucket_mb); > 0.
  GradientSync(const dist::Comm& comm, nn::ParamStore& store, double bucket_mb);

  // In place: every rank's gradients become the mean over ranks. Collective: every rank calls it
  // once per step. One rank: nothing to do.
  void average();

  int64_t bucket_elements() const { return bucket_; }
  int64_t num_buckets() const;

 private:
  const dist::Comm& comm_;
  nn::ParamStore& store_;
  int64_t bucket_ = 0;  // elements per allreduce
};

}  // namespace win::train
