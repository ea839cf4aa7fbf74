// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
std::unique_ptr<Conv2dOp> RefOps<T>::conv2d(const Conv2dDesc&) {
  WIN_FAIL(ErrorKind::Internal, "conv2d: not written yet");
}
template std::unique_ptr<Conv2dOp> RefOps<float>::conv2d(const Conv2dDesc&);
template std::unique_ptr<Conv2dOp> RefOps<double>::conv2d(const Conv2dDesc&);

}  // namespace win::backend
