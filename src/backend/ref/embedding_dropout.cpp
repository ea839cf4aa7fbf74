// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
void RefOps<T>::embedding(const Tensor&, const Tensor&, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "embedding: not written yet");
}
template void RefOps<float>::embedding(const Tensor&, const Tensor&, Tensor&);
template void RefOps<double>::embedding(const Tensor&, const Tensor&, Tensor&);

template <class T>
void RefOps<T>::embedding_backward(const Tensor&, const Tensor&, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "embedding_backward: not written yet");
}
template void RefOps<float>::embedding_backward(const Tensor&, const Tensor&, Tensor&);
template void RefOps<double>::embedding_backward(const Tensor&, const Tensor&, Tensor&);

template <class T>
void RefOps<T>::dropout(const Tensor&, double, const Philox&, uint64_t, Tensor&, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "dropout: not written yet");
}
template void RefOps<float>::dropout(const Tensor&, double, const Philox&, uint64_t, Tensor&,
                                     Tensor&);
template void RefOps<double>::dropout(const Tensor&, double, const Philox&, uint64_t, Tensor&,
                                      Tensor&);

template <class T>
void RefOps<T>::dropout_backward(const Tensor&, const Tensor&, double, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "dropout_backward: not written yet");
}
template void RefOps<float>::dropout_backward(const Tensor&, const Tensor&, double, Tensor&);
template void RefOps<double>::dropout_backward(const Tensor&, const Tensor&, double, Tensor&);

}  // namespace win::backend
