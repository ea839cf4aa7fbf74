// The benchmark workloads of BENCHMARKS.md (W1 mlp, W2 resnet, W3 bert): the model, a batch of
// random data of the right shape and range, the optimizer and the loss, and one training step
// (forward + backward + optimizer update). Used by `win bench`; the PyTorch peer in
// tools/bench/torch_bench.py builds the same workloads.
#pragma once

#include <memory>
#include <string>

#include "models/model.hpp"
#include "nn/param_store.hpp"
#include "train/optimizer.hpp"

namespace win::app {

class Workload {
 public:
  virtual ~Workload() = default;
  virtual const char* name() const = 0;
  virtual int64_t batch() const = 0;
  // One training step; returns the loss.
  virtual double step(nn::Context& ctx) = 0;
  virtual models::Model& model() = 0;
};

// "mlp" | "resnet" | "bert"; a usage error for anything else.
std::unique_ptr<Workload> make_workload(const std::string& name, uint64_t seed);

}  // namespace win::app
