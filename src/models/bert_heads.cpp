// BERT pooler, pretraining heads and classification head (see bert_heads.hpp).
#include "models/bert_heads.hpp"

#include <cmath>

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "models/bert_layers.hpp"

namespace win::models {

namespace {
constexpr double kLnEps = 1e-12;
constexpr uint64_t kClassifierDropoutStream = 3;

}  // namespace

BertPooler::BertPooler(int64_t hidden, DType dtype) : nn::Module("BertPooler", dtype) {
  dense_ = &add_child("dense", std::make_unique<nn::Linear>(hidden, hidden, true, dtype));
  tanh_ = &add_child("activation", std::make_unique<nn::Activation>(backend::Eltwise::Tanh, dtype));
}

Tensor BertPooler::forward(const Tensor& h, nn::Context& ctx) {
  ensure(first_, {h.size(0), h.size(2)}, dtype());
  ops().copy(h.select(1, 0), first_);
  return tanh_->forward(dense_->forward(first_, ctx), ctx);
}

Tensor BertPooler::backward(const Tensor& dpooled, nn::Context& ctx) {
  return dense_->backward(tanh_->backward(dpooled, ctx), ctx);
}

BertPretrainHead::BertPretrainHead(const config::BertConfig& c, nn::Param& word, DType dtype)
    : nn::Module("BertPretrainHead", dtype), word_(word) {
  pooler_ = &add_child("pooler", std::make_unique<BertPooler>(c.hidden, dtype));
  // The transform maps hidden to the embedding width: the decoder is the tied word embedding.
  const int64_t e = bert_embedding_size(c);
  transform_ = &add_child("cls.predictions.transform.dense",
                          std::make_unique<nn::Linear>(c.hidden, e, true, dtype));
  gelu_ = &add_child("cls.predictions.transform.act",
                     std::make_unique<nn::Activation>(backend::Eltwise::Gelu, dtype));
  ln_ = &add_child("cls.predictions.transform.LayerNorm",
                   std::make_unique<nn::LayerNorm>(e, kLnEps, dtype));
  bias_ =
      &add_param("cls.predictions.bias", {c.vocab_size}, nn::ParamKind::Bias, nn::Init::zeros());
  nsp_linear_ =
      &add_child("cls.seq_relationship", std::make_unique<nn::Linear>(c.hidden, 2, true, dtype));
}

Tensor BertPretrainHead::forward(const Tensor& h, nn::Context& ctx) {
  WIN_CHECK(positions_.defined(), ErrorKind::Internal, "BERT pretraining needs masked positions");
  const int64_t b = h.size(0), t = h.size(1), d = h.size(2);
  const int64_t p = positions_.size(1);
  WIN_CHECK(positions_.dim() == 2 && positions_.size(0) == b, ErrorKind::Internal,
            "masked positions ", positions_.shape(), " for a batch of ", b);
  h_shape_ = h.shape();
  // Rows of h to predict: b * T + position, each position checked against the sequence length.
  Tensor& idx = flat_idx_host_;  // made on the host, then moved to the model's device
  nn::ensure(idx, {b * p}, DType::I32);
  WIN_CHECK(positions_.dtype() == DType::I32, ErrorKind::Internal, "masked positions must be i32");
  const Tensor pos = backend::to_device(positions_, Device::CPU);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t j = 0; j < p; ++j) {
      const int32_t v = pos.at<int32_t>({i, j});
      WIN_CHECK(v >= 0 && v < t, ErrorKind::Data, "masked_lm_positions[", i, "][", j, "] = ", v,
                " is outside the sequence length ", t);
      idx.at<int32_t>({i * p + j}) = static_cast<int32_t>(i * t + v);
    }
  ensure(flat_idx_, {b * p}, DType::I32);
  backend::copy_across(idx, flat_idx_);
  const Tensor rows = h.contiguous().reshape({b * t, d});
  ensure(gathered_, {b * p, d}, dtype());
  ops().embedding(rows, flat_idx_, gathered_);
  t_ = ln_->forward(gelu_->forward(transform_->forward(gathered_, ctx), ctx), ctx);
  ensure(logits_, {b * p, word_.value.size(0)}, dtype());
  ops().gemm(false, true, 1.0, t_, word_.value, 0.0, logits_);
  ops().add_bias(bias_->value, logits_);
  ctx.macs += b * p * word_.value.size(1) * word_.value.size(0);
  nsp_ = nsp_linear_->forward(pooler_->forward(h, ctx), ctx);
  return logits_;
}

Tensor BertPretrainHead::backward(const Tensor& dmlm, nn::Context& ctx) {
  WIN_CHECK(dnsp_.defined(), ErrorKind::Internal,
            "BERT pretraining backward needs the NSP gradient");
  ops().gemm(true, false, 1.0, dmlm, t_, 1.0, word_.grad);  // tied decoder: dW += dlogits^T t
  ops().bias_grad(dmlm, bias_->grad);
  Tensor dt = transient(t_.shape(), dtype());
  ops().gemm(false, false, 1.0, dmlm, word_.value, 0.0, dt);
  const Tensor dg = transform_->backward(gelu_->backward(ln_->backward(dt, ctx), ctx), ctx);
  dt = Tensor();
  Tensor dh = transient(h_shape_, dtype());
  backend::zero(dh);
  Tensor dh_rows = dh.reshape({h_shape_[0] * h_shape_[1], h_shape_[2]});
  ops().embedding_backward(dg, flat_idx_, dh_rows);
  Tensor first_row = dh.select(1, 0);
  ops().axpy(1.0, pooler_->backward(nsp_linear_->backward(dnsp_, ctx), ctx), first_row);
  dnsp_ = Tensor();
  return dh;
}

BertClassifierHead::BertClassifierHead(const config::BertConfig& c, int64_t classes, DType dtype)
    : nn::Module("BertClassifierHead", dtype) {
  pooler_ = &add_child("pooler", std::make_unique<BertPooler>(c.hidden, dtype));
  drop_ = &add_child("dropout",
                     std::make_unique<nn::Dropout>(c.dropout, kClassifierDropoutStream, dtype));
  classifier_ =
      &add_child("classifier", std::make_unique<nn::Linear>(c.hidden, classes, true, dtype));
}

Tensor BertClassifierHead::forward(const Tensor& h, nn::Context& ctx) {
  h_shape_ = h.shape();
  return classifier_->forward(drop_->forward(pooler_->forward(h, ctx), ctx), ctx);
}

Tensor BertClassifierHead::backward(const Tensor& dlogits, nn::Context& ctx) {
  Tensor dh = transient(h_shape_, dtype());
  backend::zero(dh);
  Tensor first_row = dh.select(1, 0);
  ops().axpy(1.0, pooler_->backward(drop_->backward(classifier_->backward(dlogits, ctx), ctx), ctx),
             first_row);
  return dh;
}

}  // namespace win::models
