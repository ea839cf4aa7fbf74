// SelfAttention: BERT's multi-head self-attention (HuggingFace's BertSelfAttention): children
// Linear "query", "key", "value" (hidden -> hidden, with bias), then per head h (columns
// h*dh..(h+1)*dh, dh = hidden / heads)
//   context_h = dropout(softmax(Q_h K_h^T / sqrt(dh) + mask_bias)) V_h,
// heads concatenated in the hidden dimension. No output projection: BERT's
// attention.output.dense belongs to the caller's block. Input x (B, T, hidden) contiguous (a
// copy otherwise); output (B, T, hidden).
//
// On a backend with fused attention (the GPU, Ops::fuses_attention) the scores, softmax, dropout
// and the product with V are one kernel that never writes the (B, H, T, T) probabilities; the
// dropout mask is drawn with the same counters as the Dropout child's, so both paths drop the
// same probabilities and agree to rounding.
//
// set_mask(mask) takes a (B, T) i32 or i8 tensor, 1 = attend, 0 = padding; padded keys get -10000
// added to their logits, as the original BERT does (so a fully padded row still averages
// uniformly instead of producing NaN). The mask stays in force until replaced or cleared with
// set_mask(Tensor()); its batch and length must match x's.
#pragma once

#include <memory>

#include "nn/dropout.hpp"
#include "nn/linear.hpp"
#include "nn/module.hpp"

namespace win::nn {

class SelfAttention final : public Module {
 public:
  SelfAttention(int64_t hidden, int64_t heads, double attention_dropout_p, uint64_t stream_id,
                DType dtype = DType::F32);
  Tensor forward(const Tensor& x, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  void set_mask(const Tensor& mask);

  int64_t hidden() const { return hidden_; }
  int64_t heads() const { return heads_; }
  Linear& query() { return *q_; }
  Linear& key() { return *k_; }
  Linear& value() { return *v_; }
  // Whether the last forward ran the backend's fused kernel (Ops::fuses_attention).
  bool fused() const { return fused_; }

 private:
  // Backward through the gemm / softmax / dropout composition of a forward that did not fuse.
  void composed_backward(const Tensor& dch, double scale, Context& ctx, Tensor& dqh, Tensor& dkh,
                         Tensor& dvh);

  int64_t hidden_, heads_, dh_;
  Linear* q_;
  Linear* k_;
  Linear* v_;
  Dropout* drop_;
  std::unique_ptr<backend::SoftmaxOp> softmax_;
  Tensor mask_bias_;       // (B, 1, T): 0 or -10000 per key, undefined when no mask is set
  Tensor mask_bias_host_;  // its host staging copy when the layer is on a device
  Tensor ones_;            // (B, heads * T, 1) of ones: the rank-1 product broadcasting mask_bias_
  Dims x_shape_;
  bool inference_ = false;  // the last forward had ctx.training = false (no backward follows)
  bool fused_ = false;      // the last forward ran Ops::attention_forward
  double fused_p_ = 0;      // its dropout probability (0: keep_ unused)
  Tensor lse_;              // (B, H, T) f32 row logsumexp of a fused forward
  Tensor keep_;             // (B, H, T, T) u8 dropout mask of a fused forward
  Tensor qh_, kh_, vh_;     // (B, H, T, dh) views of the Linear outputs
  Tensor probs_;            // softmax output (B, H, T, T), also the scores before it
  Tensor pdrop_;            // probs after dropout (probs_ itself when dropout is off)
  Tensor ctx_;              // (B, T, hidden) output
};

}  // namespace win::nn
