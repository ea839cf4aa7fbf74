// Optimizers over a model's flat parameter store (DESIGN §4): SGD with momentum/Nesterov and
// AdamW, with PyTorch's update equations (backend/ops.hpp). Their state (momentum buffer, Adam
// moments) is one flat tensor per moment laid out like the store's values, so a checkpoint writes
// /optim/<moment> as one dataset and data-parallel ranks hold identical copies. Weight decay is
// applied per parameter according to a DecayRule built from the deck's `no_decay` list.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/ops.hpp"

#include "config/deck.hpp"
#include "core/tensor.hpp"
#include "nn/param_store.hpp"

namespace win::train {

// Which parameter kinds are exempt from weight decay. Names as in the deck: "bn" (BatchNorm),
// "ln" (LayerNorm), "bias", "embedding", "bridge"; an unknown name is a config error.
class DecayRule {
 public:
  DecayRule() = default;
  static DecayRule from_names(const std::vector<std::string>& no_decay);
  void exempt(nn::ParamKind kind);
  bool decays(nn::ParamKind kind) const;

 private:
  uint32_t exempt_mask_ = 0;
};

// Which store entries an optimizer updates (WIN's narrow stage trains only some blocks); the
// others keep their values, get no weight decay and leave their state at zero. Empty: all.
using ParamFilter = std::function<bool(const nn::ParamEntry&)>;

// A state tensor for checkpoints: a view of the optimizer's own buffer (load by copy_from).
struct OptimState {
  std::string name;  // PyTorch's names: "momentum_buffer", "exp_avg", "exp_avg_sq"
  Tensor tensor;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual const char* name() const = 0;
  // One update of every parameter from the store's gradients with learning rate lr.
  virtual void step(double lr) = 0;
  // Updates done so far (AdamW's t is step_count() + 1 during the next step).
  int64_t step_count() const { return steps_; }
  // For checkpoint restore, together with copying the state tensors.
  void set_step_count(int64_t steps);
  std::vector<OptimState> state() const { return state_; }
  // Zeroes every state tensor and the step count: as a freshly built optimizer.
  void reset_state();

 protected:
  Optimizer(nn::ParamStore& store, DecayRule rule, double weight_decay, const ParamFilter& filter);
  // Adds a flat state tensor shaped like the store's values, zero-filled; the returned handle
  // shares its storage.
  Tensor add_state(const std::string& name);

  // Runs of consecutive updated store entries that share a weight decay, as [offset, offset +
  // numel) of the flat buffers. A run spans the alignment padding between its entries: padding
  // holds zero values and zero gradients, which both updates keep at zero.
  using Segment = backend::Ops::UpdateSegment;
  nn::ParamStore& store_;
  std::vector<Segment> segments_;
  int64_t steps_ = 0;

 private:
  std::vector<OptimState> state_;
};

// torch.optim.SGD (dampening 0): momentum 0 keeps no buffer.
class SGD final : public Optimizer {
 public:
  SGD(nn::ParamStore& store, double momentum, bool nesterov, double weight_decay,
      DecayRule rule = {}, const ParamFilter& filter = {});
  const char* name() const override { return "sgd"; }
  void step(double lr) override;

 private:
  double momentum_;
  bool nesterov_;
  Tensor buf_;  // undefined when momentum is 0
};

// torch.optim.AdamW (amsgrad off).
class AdamW final : public Optimizer {
 public:
  AdamW(nn::ParamStore& store, double beta1, double beta2, double eps, double weight_decay,
        DecayRule rule = {}, const ParamFilter& filter = {});
  const char* name() const override { return "adamw"; }
  void step(double lr) override;

 private:
  double beta1_, beta2_, eps_;
  Tensor m_, v_;
};

// The optimizer a deck asks for (optimizer = "sgd" | "adamw").
std::unique_ptr<Optimizer> make_optimizer(const config::OptimConfig& cfg, nn::ParamStore& store,
                                          const ParamFilter& filter = {});

}  // namespace win::train
