// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
std::unique_ptr<BatchNormOp> RefOps<T>::batchnorm() {
  WIN_FAIL(ErrorKind::Internal, "batchnorm: not written yet");
}
template std::unique_ptr<BatchNormOp> RefOps<float>::batchnorm();
template std::unique_ptr<BatchNormOp> RefOps<double>::batchnorm();

}  // namespace win::backend
