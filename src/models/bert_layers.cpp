// BertEmbeddings and BertLayer forward/backward (see bert_layers.hpp).
#include "models/bert_layers.hpp"

#include "backend/transfer.hpp"

#include "core/error.hpp"

namespace win::models {

namespace {
constexpr double kLnEps = 1e-12;
constexpr double kInitStd = 0.02;  // BERT's initializer_range
}  // namespace

int64_t bert_embedding_size(const config::BertConfig& c) {
  return c.embedding_size > 0 ? c.embedding_size : c.hidden;
}

BertEmbeddings::BertEmbeddings(const config::BertConfig& c, DType dtype)
    : nn::Module("BertEmbeddings", dtype) {
  const int64_t e = bert_embedding_size(c);
  word_ = &add_child("word_embeddings",
                     std::make_unique<nn::Embedding>(c.vocab_size, e, kInitStd, dtype));
  position_ = &add_child("position_embeddings",
                         std::make_unique<nn::Embedding>(c.max_positions, e, kInitStd, dtype));
  type_ = &add_child("token_type_embeddings",
                     std::make_unique<nn::Embedding>(c.type_vocab, e, kInitStd, dtype));
  ln_ = &add_child("LayerNorm", std::make_unique<nn::LayerNorm>(e, kLnEps, dtype));
  drop_ = &add_child("dropout",
                     std::make_unique<nn::Dropout>(c.dropout, kEmbeddingDropoutStream, dtype));
  if (e != c.hidden)
    projection_ = &add_child("projection", std::make_unique<nn::Linear>(e, c.hidden, true, dtype));
}

Tensor BertEmbeddings::forward(const Tensor& ids, nn::Context& ctx) {
  WIN_CHECK(ids.dim() == 2 && ids.dtype() == DType::I32, ErrorKind::Internal,
            "BertEmbeddings: ids must be (B, T) i32, got ", ids.shape());
  const int64_t b = ids.size(0), t = ids.size(1);
  WIN_CHECK(t <= position_->vocab(), ErrorKind::Data, "sequence length ", t,
            " exceeds the model's max_positions ", position_->vocab());
  if (!positions_.defined() || positions_.shape() != ids.shape()) {
    Tensor positions = Tensor::empty({b, t}, DType::I32);
    for (int64_t i = 0; i < b; ++i)
      for (int64_t j = 0; j < t; ++j) positions.at<int32_t>({i, j}) = static_cast<int32_t>(j);
    positions_ = backend::to_device(positions, device());
    zeros_ = Tensor::zeros({b, t}, DType::I32, alloc());
  }
  const Tensor& seg = segments_.defined() ? segments_ : zeros_;
  WIN_CHECK(seg.shape() == ids.shape(), ErrorKind::Internal, "segment ids ", seg.shape(),
            " for ids ", ids.shape());
  const Tensor w = word_->forward(ids, ctx);
  ensure(sum_, w.shape(), dtype());
  ops().add(w, position_->forward(positions_, ctx), sum_);
  ops().add(sum_, type_->forward(seg, ctx), sum_);
  const Tensor out = drop_->forward(ln_->forward(sum_, ctx), ctx);
  return projection_ ? projection_->forward(out, ctx) : out;
}

Tensor BertEmbeddings::backward(const Tensor& dy, nn::Context& ctx) {
  const Tensor de = projection_ ? projection_->backward(dy, ctx) : dy;
  const Tensor d = ln_->backward(drop_->backward(de, ctx), ctx);
  word_->backward(d, ctx);
  position_->backward(d, ctx);
  type_->backward(d, ctx);
  return Tensor();
}

BertLayer::BertLayer(const config::BertConfig& c, int index, DType dtype)
    : nn::Module("BertLayer", dtype) {
  self_ = &add_child("attention.self",
                     std::make_unique<nn::SelfAttention>(c.hidden, c.heads, c.attention_dropout,
                                                         layer_dropout_stream(index, 0), dtype));
  attn_dense_ = &add_child("attention.output.dense",
                           std::make_unique<nn::Linear>(c.hidden, c.hidden, true, dtype));
  attn_ln_ = &add_child("attention.output.LayerNorm",
                        std::make_unique<nn::LayerNorm>(c.hidden, kLnEps, dtype));
  attn_drop_ =
      &add_child("attention.output.dropout",
                 std::make_unique<nn::Dropout>(c.dropout, layer_dropout_stream(index, 1), dtype));
  inter_dense_ =
      &add_child("intermediate.dense", std::make_unique<nn::Linear>(c.hidden, c.ffn, true, dtype));
  gelu_ = &add_child("intermediate.gelu",
                     std::make_unique<nn::Activation>(backend::Eltwise::Gelu, dtype));
  out_dense_ =
      &add_child("output.dense", std::make_unique<nn::Linear>(c.ffn, c.hidden, true, dtype));
  out_ln_ =
      &add_child("output.LayerNorm", std::make_unique<nn::LayerNorm>(c.hidden, kLnEps, dtype));
  out_drop_ = &add_child("output.dropout", std::make_unique<nn::Dropout>(
                                               c.dropout, layer_dropout_stream(index, 2), dtype));
}

Tensor BertLayer::forward(const Tensor& x, nn::Context& ctx) {
  const Tensor a = attn_drop_->forward(attn_dense_->forward(self_->forward(x, ctx), ctx), ctx);
  ensure(sum1_, x.shape(), dtype());
  ops().add(a, x, sum1_);
  const Tensor h = attn_ln_->forward(sum1_, ctx);
  const Tensor o = out_drop_->forward(
      out_dense_->forward(gelu_->forward(inter_dense_->forward(h, ctx), ctx), ctx), ctx);
  ensure(sum2_, x.shape(), dtype());
  ops().add(o, h, sum2_);
  return out_ln_->forward(sum2_, ctx);
}

Tensor BertLayer::backward(const Tensor& dy, nn::Context& ctx) {
  // The residuals' gradient sums go into the input-gradient buffers of the branches' first
  // layers (a Linear's and SelfAttention's, read nowhere else), not into buffers of this layer.
  const Tensor dsum2 = out_ln_->backward(dy, ctx);
  Tensor dh = inter_dense_->backward(
      gelu_->backward(out_dense_->backward(out_drop_->backward(dsum2, ctx), ctx), ctx), ctx);
  ops().add(dh, dsum2, dh);  // the residual carries dsum2 to h
  const Tensor dsum1 = attn_ln_->backward(dh, ctx);
  Tensor dx = self_->backward(attn_dense_->backward(attn_drop_->backward(dsum1, ctx), ctx), ctx);
  ops().add(dx, dsum1, dx);
  return dx;
}

}  // namespace win::models
