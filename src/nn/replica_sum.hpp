// ReplicaSum: how a layer reaches the other replicas of a data-parallel job without nn/ knowing
// about MPI (nn sits below dist in DESIGN §3). Synchronised BatchNorm sums its per-channel
// statistics and their gradients over every replica through it; train/ provides the MPI one.
#pragma once

#include <span>

namespace win::nn {

class ReplicaSum {
 public:
  virtual ~ReplicaSum() = default;
  // In place: every replica ends with the elementwise sum over all replicas. Collective: every
  // replica calls it the same number of times with the same length, in the same order.
  virtual void sum(std::span<double> values) = 0;
  virtual int replicas() const = 0;
};

}  // namespace win::nn
