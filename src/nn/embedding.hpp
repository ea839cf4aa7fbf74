// Embedding: a lookup table weight (V, D), as torch.nn.Embedding (parameter "weight",
// initialised N(0, init_std): 1 in PyTorch, 0.02 in BERT). forward takes an i32 tensor of ids of
// any shape and returns (..., D); backward accumulates the rows of dy into weight.grad (ids that
// repeat add up, and a tied weight used elsewhere too just keeps accumulating) and returns an
// undefined tensor: integer ids have no gradient. An id outside [0, V) is a Data error naming
// its position (row-major in the ids tensor) and the ids' shape.
#pragma once

#include "nn/module.hpp"

namespace win::nn {

class Embedding final : public Module {
 public:
  Embedding(int64_t vocab, int64_t dim, double init_std = 1.0, DType dtype = DType::F32);
  Tensor forward(const Tensor& ids, Context& ctx) override;
  Tensor backward(const Tensor& dy, Context& ctx) override;

  int64_t vocab() const { return vocab_; }
  int64_t dim() const { return dim_; }
  Param& weight() { return *w_; }

 private:
  int64_t vocab_, dim_;
  Param* w_;
  Tensor ids_;  // a private copy of the flattened ids (N): the caller may refill its batch
  Dims ids_shape_;
  Tensor y_;
};

}  // namespace win::nn
