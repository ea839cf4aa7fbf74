// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
std::unique_ptr<LayerNormOp> RefOps<T>::layernorm() {
  WIN_FAIL(ErrorKind::Internal, "layernorm: not written yet");
}
template std::unique_ptr<LayerNormOp> RefOps<float>::layernorm();
template std::unique_ptr<LayerNormOp> RefOps<double>::layernorm();

}  // namespace win::backend
