// The BERT family (DESIGN §2, paper §5.2): post-LN BERT with HuggingFace's parameter names (minus
// "bert."): embeddings.*, encoder.layer.<i>.*, pooler.dense.*, and either the pretraining heads
// (cls.predictions.* with the decoder tied to the word embeddings, cls.seq_relationship.*) or a
// sequence-classification head (classifier.*). WIN's blocks are the transformer layers; the
// embeddings are the stem.
//
// BERT reads more than token ids: set_inputs() gives the segment ids, the attention mask and (for
// pretraining) the masked positions before forward(ids). forward returns the MLM logits
// (B*P, V) for pretraining or the class logits (B, classes); the NSP logits (B, 2) are read with
// nsp_logits(), and their gradient is handed over with set_nsp_grad() before backward().
#pragma once

#include "config/deck.hpp"
#include "models/bert_layers.hpp"
#include "models/model.hpp"

namespace win::models {

class BertModel final : public Model {
 public:
  BertModel(const config::BertConfig& c, int64_t classes, DType dtype);

  // segment_ids, input_mask (B, T) i32/i8; masked_positions (B, P) i32 (pretraining only).
  void set_inputs(const Tensor& segment_ids, const Tensor& input_mask,
                  const Tensor& masked_positions);
  bool pretraining() const { return pretrain_; }
  const Tensor& nsp_logits() const;
  void set_nsp_grad(const Tensor& dnsp);
  BertEmbeddings& embeddings() { return *emb_; }
  // Between layers: the next layer's query, key and value read the activation, but so does its
  // residual add (after a LayerNorm), so a general map cannot be folded exactly. After the last
  // layer: the pooler and the MLM transform, both linear in it. Exact.
  models::BoundaryReaders boundary_readers(int i) override;

 private:
  bool pretrain_;
  BertEmbeddings* emb_;
  std::vector<BertLayer*> layers_;
  nn::Module* head_impl_;
};

std::unique_ptr<BertModel> build_bert(const config::BertConfig& c, int64_t classes, DType dtype);

}  // namespace win::models
