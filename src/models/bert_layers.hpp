// BERT's pieces with HuggingFace's structure and parameter names (minus the "bert." prefix), so a
// checkpoint maps 1:1: BertEmbeddings (word + position + token-type embeddings, LayerNorm,
// dropout) and BertLayer (post-LN: self-attention, attention.output.dense + dropout + residual +
// LayerNorm, intermediate.dense + GELU, output.dense + dropout + residual + LayerNorm).
#pragma once

#include "config/deck.hpp"
#include "nn/activation.hpp"
#include "nn/attention.hpp"
#include "nn/dropout.hpp"
#include "nn/embedding.hpp"
#include "nn/layernorm.hpp"
#include "nn/linear.hpp"

namespace win::models {

// Dropout layers need distinct stream ids; BERT numbers them from these bases.
constexpr uint64_t kEmbeddingDropoutStream = 1;
inline uint64_t layer_dropout_stream(int layer, int which) {
  return 16 + 4 * layer + which;
}

// Width of the embeddings: embedding_size, or hidden when that is 0.
int64_t bert_embedding_size(const config::BertConfig& c);

// With embedding_size != hidden (a widened teacher), a Linear "projection" maps the normalised
// embeddings to the hidden size.
class BertEmbeddings final : public nn::Module {
 public:
  BertEmbeddings(const config::BertConfig& c, DType dtype);
  // ids (B, T) i32; segment ids set beforehand with set_segments (zeros when unset).
  Tensor forward(const Tensor& ids, nn::Context& ctx) override;
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;  // returns undefined (ids)
  void set_segments(const Tensor& segment_ids) { segments_ = segment_ids; }
  nn::Embedding& word() { return *word_; }

 private:
  nn::Embedding* word_;
  nn::Embedding* position_;
  nn::Embedding* type_;
  nn::LayerNorm* ln_;
  nn::Dropout* drop_;
  nn::Linear* projection_ = nullptr;
  Tensor segments_, positions_, zeros_, sum_;
};

class BertLayer final : public nn::Module {
 public:
  BertLayer(const config::BertConfig& c, int index, DType dtype);
  Tensor forward(const Tensor& x, nn::Context& ctx) override;  // (B, T, D) -> (B, T, D)
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;
  nn::SelfAttention& attention() { return *self_; }

 private:
  nn::SelfAttention* self_;
  nn::Linear* attn_dense_;
  nn::Dropout* attn_drop_;
  nn::LayerNorm* attn_ln_;
  nn::Linear* inter_dense_;
  nn::Activation* gelu_;
  nn::Linear* out_dense_;
  nn::Dropout* out_drop_;
  nn::LayerNorm* out_ln_;
  Tensor sum1_, sum2_;
};

}  // namespace win::models
