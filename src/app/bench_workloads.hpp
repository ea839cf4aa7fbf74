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
  // Forward and backward of one batch (gradients left in store()); returns the loss.
  virtual double compute(nn::Context& ctx) = 0;
  // The optimizer update from the gradients in store().
  virtual void update() = 0;
  virtual nn::ParamStore& store() = 0;
  virtual models::Model& model() = 0;
  // One training step; returns the loss.
  double step(nn::Context& ctx) {
    const double loss = compute(ctx);
    update();
    return loss;
  }
};

// "mlp" | "resnet" | "bert" (W1-W3) | "resnet50" | "bert-base" (G1, G2); a usage error for
// anything else. With slices = W, the batch is one of W equal slices of the workload's batch (a
// data-parallel rank's share). The model, its optimizer state and the batch live on `device`.
std::unique_ptr<Workload> make_workload(const std::string& name, uint64_t seed, int slices = 1,
                                        Device device = Device::CPU);
// Whether a workload is one of the GPU ones (G1, G2), which only --device cuda runs.
bool is_gpu_workload(const std::string& name);
// Every --workload win bench takes: the models above and the loader and sgemm measurements.
inline constexpr const char* kWorkloadNames =
    "mlp, resnet, bert, resnet50, bert-base, loader, sgemm";
bool is_workload(const std::string& name);

}  // namespace win::app
