// BERT model assembly (see bert.hpp).
#include "models/bert.hpp"

#include "core/error.hpp"
#include "models/bert_heads.hpp"

namespace win::models {

BertModel::BertModel(const config::BertConfig& c, int64_t classes, DType dtype)
    : Model("BERT", dtype), pretrain_(c.head == "pretrain") {
  WIN_CHECK(c.hidden % c.heads == 0, ErrorKind::Config, "model.bert.heads (", c.heads,
            ") must divide model.bert.hidden (", c.hidden, ")");
  emb_ = &set_stem("embeddings", std::make_unique<BertEmbeddings>(c, dtype));
  for (int i = 0; i < c.layers; ++i)
    layers_.push_back(
        &add_block(cat("encoder.layer.", i), std::make_unique<BertLayer>(c, i, dtype), c.hidden));
  if (pretrain_)
    head_impl_ = &set_head("", std::make_unique<BertPretrainHead>(c, emb_->word().weight(), dtype));
  else
    head_impl_ = &set_head("", std::make_unique<BertClassifierHead>(c, classes, dtype));
}

void BertModel::set_inputs(const Tensor& segment_ids, const Tensor& input_mask,
                           const Tensor& masked_positions) {
  emb_->set_segments(segment_ids.dtype() == DType::I32 ? segment_ids : segment_ids.to(DType::I32));
  for (BertLayer* l : layers_) l->attention().set_mask(input_mask);
  if (pretrain_) static_cast<BertPretrainHead*>(head_impl_)->set_masked_positions(masked_positions);
}

const Tensor& BertModel::nsp_logits() const {
  WIN_CHECK(pretrain_, ErrorKind::Internal, "NSP logits of a classification BERT");
  return static_cast<BertPretrainHead*>(head_impl_)->nsp_logits();
}

void BertModel::set_nsp_grad(const Tensor& dnsp) {
  WIN_CHECK(pretrain_, ErrorKind::Internal, "NSP gradient for a classification BERT");
  static_cast<BertPretrainHead*>(head_impl_)->set_nsp_grad(dnsp);
}

BoundaryReaders BertModel::boundary_readers(int i) {
  if (i + 1 >= num_blocks()) {
    if (pretrain_)
      return {{"pooler.dense.weight", "cls.predictions.transform.dense.weight"}, true, ""};
    return {{"pooler.dense.weight"}, true, ""};
  }
  const std::string next = cat("encoder.layer.", i + 1, ".attention.self.");
  return {{next + "query.weight", next + "key.weight", next + "value.weight"},
          false,
          cat("encoder.layer.", i + 1, " also adds its input to the attention output (residual)")};
}

std::unique_ptr<BertModel> build_bert(const config::BertConfig& c, int64_t classes, DType dtype) {
  return std::make_unique<BertModel>(c, classes, dtype);
}

}  // namespace win::models
