// Dropout (inverted, as torch.nn.Dropout): in training, y = x * mask / (1 - p) with each element
// kept with probability 1 - p; identity when !ctx.training or p == 0. Masks come from ctx.rng at
// Philox counter (hi, element index) with hi = counter(ctx.step, stream_id), so every dropout
// layer (distinct stream_id) and every step draws an independent mask, and the same (seed, step)
// redraws the same mask whatever the thread count (DESIGN §7). Repeating a forward within one
// step (finite differences, recomputation) therefore reuses the mask.
#pragma once

#include "nn/module.hpp"

namespace win::nn {

class Dropout final : public Module {
 public:
  // stream_id < 2^16 names this layer among the model's dropout layers (unique per layer).
  Dropout(double p, uint64_t stream_id, DType dtype = DType::F32);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  double p() const { return p_; }
  uint64_t stream_id() const { return stream_id_; }
  // The high counter word of (step, stream): the step in bits 16..63 and the stream in bits
  // 0..15, a bijection, so no two (step, stream) pairs share a counter range.
  static uint64_t counter(uint64_t step, uint64_t stream_id);
  // The mask of the last training forward (u8, 1 = kept); undefined when it was the identity.
  const Tensor& mask() const { return active_ ? mask_ : none_; }
  // What a forward of an x of this shape would draw in this ctx, for a fused kernel that applies
  // the mask itself (Ops::attention_forward): the same counters, so the same mask; p = 0 where
  // forward would be the identity. The layer's own forward and backward are then not called.
  backend::Ops::AttentionDropout fused_draw(const Dims& shape, const Context& ctx) const;

 private:
  double p_;
  uint64_t stream_id_;
  bool active_ = false;  // the last forward applied a mask
  Tensor mask_, y_, none_;
};

}  // namespace win::nn
