// BERT's output heads: the pretraining heads (masked-LM over the masked positions with the decoder
// tied to the word embeddings, and next-sentence prediction from the pooled first token) and the
// sequence-classification head (pooled first token -> dropout -> classifier).
#pragma once

#include "config/deck.hpp"
#include "nn/activation.hpp"
#include "nn/dropout.hpp"
#include "nn/layernorm.hpp"
#include "nn/linear.hpp"

namespace win::models {

// pooler.dense + tanh on the first token of h (B, T, D) -> (B, D).
class BertPooler final : public nn::Module {
 public:
  BertPooler(int64_t hidden, DType dtype);
  Tensor forward(const Tensor& h, nn::Context& ctx) override;
  // The gradient of the first token's hidden state, (B, D): the heads add it into their dh.
  Tensor backward(const Tensor& dpooled, nn::Context& ctx) override;

 private:
  nn::Linear* dense_;
  nn::Activation* tanh_;
  Tensor first_;
};

class BertPretrainHead final : public nn::Module {
 public:
  BertPretrainHead(const config::BertConfig& c, nn::Param& word_embeddings, DType dtype);
  void set_masked_positions(const Tensor& positions) { positions_ = positions; }
  Tensor forward(const Tensor& h, nn::Context& ctx) override;      // MLM logits (B*P, V)
  Tensor backward(const Tensor& dmlm, nn::Context& ctx) override;  // dh (B, T, D)
  const Tensor& nsp_logits() const { return nsp_; }
  void set_nsp_grad(const Tensor& d) { dnsp_ = d; }

 private:
  nn::Param& word_;
  BertPooler* pooler_;
  nn::Linear* transform_;
  nn::Activation* gelu_;
  nn::LayerNorm* ln_;
  nn::Param* bias_;
  nn::Linear* nsp_linear_;
  Tensor positions_, flat_idx_host_, flat_idx_, gathered_, logits_, nsp_, dnsp_;
  Tensor t_;  // transformed rows (B*P, D)
  Dims h_shape_;
};

class BertClassifierHead final : public nn::Module {
 public:
  BertClassifierHead(const config::BertConfig& c, int64_t classes, DType dtype);
  Tensor forward(const Tensor& h, nn::Context& ctx) override;  // (B, classes)
  Tensor backward(const Tensor& dlogits, nn::Context& ctx) override;

 private:
  BertPooler* pooler_;
  nn::Dropout* drop_;
  nn::Linear* classifier_;
  Dims h_shape_;
};

}  // namespace win::models
