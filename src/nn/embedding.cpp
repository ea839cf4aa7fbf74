// Embedding lookup and its scatter-add backward on the op table (see embedding.hpp).
#include "nn/embedding.hpp"

#include "backend/transfer.hpp"
#include "core/error.hpp"

namespace win::nn {

Embedding::Embedding(int64_t vocab, int64_t dim, double init_std, DType dtype)
    : Module("Embedding", dtype), vocab_(vocab), dim_(dim) {
  WIN_CHECK(vocab > 0 && dim > 0, ErrorKind::Internal, "Embedding(", vocab, ", ", dim, ")");
  w_ = &add_param("weight", {vocab, dim}, ParamKind::Embedding, Init::normal(init_std));
}

Tensor Embedding::forward(const Tensor& ids, Context&) {
  WIN_CHECK(ids.dtype() == DType::I32, ErrorKind::Internal, "Embedding: ids must be i32, got ",
            dtype_name(ids.dtype()));
  ids_shape_ = ids.shape();
  const int64_t n = ids.numel();
  ensure(ids_, {n}, DType::I32);
  Tensor ids_view = ids_.reshape(ids_shape_);
  backend::copy_across(ids, ids_view);  // the loader's host ids onto this layer's device
  Dims out_shape = ids_shape_;
  out_shape.push_back(dim_);
  ensure(y_, out_shape, dtype());
  Tensor y2 = y_.reshape({n, dim_});
  try {
    ops().embedding(w_->value, ids_, y2);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::Data) throw;
    WIN_FAIL(ErrorKind::Data, e.what(), " (ids of shape ", ids_shape_, ", positions row-major)");
  }
  return y_;
}

Tensor Embedding::backward(const Tensor& dy0, Context&) {
  Dims want = ids_shape_;
  want.push_back(dim_);
  WIN_CHECK(dy0.shape() == want, ErrorKind::Internal, "Embedding backward: dy ", dy0.shape(),
            ", expected ", want);
  const Tensor dy = transient_contiguous(dy0).reshape({-1, dim_});
  ops().embedding_backward(dy, ids_, w_->grad);
  return Tensor();
}

}  // namespace win::nn
