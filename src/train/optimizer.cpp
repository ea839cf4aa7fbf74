// SGD and AdamW over the flat parameter store: per-segment weight decay, one backend call per
// step over all runs of parameters (see optimizer.hpp).
#include "train/optimizer.hpp"

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"

namespace win::train {

namespace {

uint32_t bit(nn::ParamKind k) {
  return 1u << static_cast<unsigned>(k);
}

}  // namespace

DecayRule DecayRule::from_names(const std::vector<std::string>& no_decay) {
  DecayRule r;
  for (const auto& n : no_decay) {
    if (n == "bn")
      r.exempt(nn::ParamKind::BatchNorm);
    else if (n == "ln")
      r.exempt(nn::ParamKind::LayerNorm);
    else if (n == "bias")
      r.exempt(nn::ParamKind::Bias);
    else if (n == "embedding")
      r.exempt(nn::ParamKind::Embedding);
    else if (n == "bridge")
      r.exempt(nn::ParamKind::Bridge);
    else
      WIN_FAIL(ErrorKind::Config, "no_decay: unknown parameter kind '", n,
               "' (expected bn, ln, bias, embedding or bridge)");
  }
  return r;
}

void DecayRule::exempt(nn::ParamKind kind) {
  exempt_mask_ |= bit(kind);
}

bool DecayRule::decays(nn::ParamKind kind) const {
  return (exempt_mask_ & bit(kind)) == 0;
}

Optimizer::Optimizer(nn::ParamStore& store, DecayRule rule, double weight_decay,
                     const ParamFilter& filter)
    : store_(store) {
  bool extend = false;  // the previous entry was updated: a run may continue through it
  for (const auto& e : store.entries()) {
    if (filter && !filter(e)) {
      extend = false;
      continue;
    }
    const double wd = rule.decays(e.param->kind) ? weight_decay : 0.0;
    if (extend && segments_.back().weight_decay == wd)
      segments_.back().numel = e.offset + e.numel - segments_.back().offset;
    else
      segments_.push_back({e.offset, e.numel, wd});
    extend = true;
  }
}

void Optimizer::set_step_count(int64_t steps) {
  WIN_CHECK(steps >= 0, ErrorKind::Checkpoint, "optimizer step count ", steps, " is negative");
  steps_ = steps;
}

void Optimizer::reset_state() {
  for (auto& s : state_) backend::zero(s.tensor);
  steps_ = 0;
}

Tensor Optimizer::add_state(const std::string& name) {
  const Tensor& v = store_.values();
  Tensor t = v.defined()
                 ? Tensor::zeros(v.shape(), v.dtype(), backend::device_allocator(v.device()))
                 : Tensor::zeros({0}, DType::F32);
  state_.push_back({name, t});
  return t;
}

SGD::SGD(nn::ParamStore& store, double momentum, bool nesterov, double weight_decay, DecayRule rule,
         const ParamFilter& filter)
    : Optimizer(store, rule, weight_decay, filter), momentum_(momentum), nesterov_(nesterov) {
  WIN_CHECK(momentum >= 0, ErrorKind::Config, "sgd: momentum ", momentum, " must be >= 0");
  WIN_CHECK(weight_decay >= 0, ErrorKind::Config, "sgd: weight_decay ", weight_decay,
            " must be >= 0");
  WIN_CHECK(!nesterov || momentum > 0, ErrorKind::Config, "sgd: nesterov needs momentum > 0");
  if (momentum != 0) buf_ = add_state("momentum_buffer");
}

void SGD::step(double lr) {
  Tensor& values = store_.values();
  if (!segments_.empty())
    backend::ops_for(values).sgd_update_segments(values, store_.grads(), buf_, segments_, lr,
                                                 momentum_, nesterov_, steps_ == 0);
  ++steps_;
}

AdamW::AdamW(nn::ParamStore& store, double beta1, double beta2, double eps, double weight_decay,
             DecayRule rule, const ParamFilter& filter)
    : Optimizer(store, rule, weight_decay, filter), beta1_(beta1), beta2_(beta2), eps_(eps) {
  WIN_CHECK(beta1 >= 0 && beta1 < 1, ErrorKind::Config, "adamw: beta1 ", beta1,
            " must be in [0, 1)");
  WIN_CHECK(beta2 >= 0 && beta2 < 1, ErrorKind::Config, "adamw: beta2 ", beta2,
            " must be in [0, 1)");
  WIN_CHECK(eps >= 0, ErrorKind::Config, "adamw: eps ", eps, " must be >= 0");
  WIN_CHECK(weight_decay >= 0, ErrorKind::Config, "adamw: weight_decay ", weight_decay,
            " must be >= 0");
  m_ = add_state("exp_avg");
  v_ = add_state("exp_avg_sq");
}

void AdamW::step(double lr) {
  Tensor& values = store_.values();
  if (!segments_.empty())
    backend::ops_for(values).adamw_update_segments(values, store_.grads(), m_, v_, segments_, lr,
                                                   beta1_, beta2_, eps_, steps_ + 1);
  ++steps_;
}

std::unique_ptr<Optimizer> make_optimizer(const config::OptimConfig& cfg, nn::ParamStore& store,
                                          const ParamFilter& filter) {
  const DecayRule rule = DecayRule::from_names(cfg.no_decay);
  if (cfg.optimizer == "sgd")
    return std::make_unique<SGD>(store, cfg.momentum, cfg.nesterov, cfg.weight_decay, rule, filter);
  if (cfg.optimizer == "adamw")
    return std::make_unique<AdamW>(store, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, rule,
                                   filter);
  WIN_FAIL(ErrorKind::Config, "optim.optimizer: unknown optimizer '", cfg.optimizer,
           "' (expected sgd or adamw)");
}

}  // namespace win::train
