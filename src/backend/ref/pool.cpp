// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
std::unique_ptr<Pool2dOp> RefOps<T>::pool2d(const Pool2dDesc&) {
  WIN_FAIL(ErrorKind::Internal, "pool2d: not written yet");
}
template std::unique_ptr<Pool2dOp> RefOps<float>::pool2d(const Pool2dDesc&);
template std::unique_ptr<Pool2dOp> RefOps<double>::pool2d(const Pool2dDesc&);

}  // namespace win::backend
