// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
void RefOps<T>::sgd_update(Tensor&, const Tensor&, Tensor&, double, double, bool, double, bool) {
  WIN_FAIL(ErrorKind::Internal, "sgd_update: not written yet");
}
template void RefOps<float>::sgd_update(Tensor&, const Tensor&, Tensor&, double, double, bool,
                                        double, bool);
template void RefOps<double>::sgd_update(Tensor&, const Tensor&, Tensor&, double, double, bool,
                                         double, bool);

template <class T>
void RefOps<T>::adamw_update(Tensor&, const Tensor&, Tensor&, Tensor&, double, double, double,
                             double, double, int64_t) {
  WIN_FAIL(ErrorKind::Internal, "adamw_update: not written yet");
}
template void RefOps<float>::adamw_update(Tensor&, const Tensor&, Tensor&, Tensor&, double, double,
                                          double, double, double, int64_t);
template void RefOps<double>::adamw_update(Tensor&, const Tensor&, Tensor&, Tensor&, double, double,
                                           double, double, double, int64_t);

}  // namespace win::backend
