// PENDING: placeholder until this group is written (replaced as a whole).
#include "backend/ref/ref_ops.hpp"
#include "core/error.hpp"

namespace win::backend {

template <class T>
Ops::CeResult RefOps<T>::cross_entropy(const Tensor&, const Tensor&, int64_t, double, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "cross_entropy: not written yet");
}
template Ops::CeResult RefOps<float>::cross_entropy(const Tensor&, const Tensor&, int64_t, double,
                                                    Tensor&);
template Ops::CeResult RefOps<double>::cross_entropy(const Tensor&, const Tensor&, int64_t, double,
                                                     Tensor&);

template <class T>
double RefOps<T>::mse(const Tensor&, const Tensor&, double, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "mse: not written yet");
}
template double RefOps<float>::mse(const Tensor&, const Tensor&, double, Tensor&);
template double RefOps<double>::mse(const Tensor&, const Tensor&, double, Tensor&);

template <class T>
double RefOps<T>::kl_div(const Tensor&, const Tensor&, double, double, Tensor&) {
  WIN_FAIL(ErrorKind::Internal, "kl_div: not written yet");
}
template double RefOps<float>::kl_div(const Tensor&, const Tensor&, double, double, Tensor&);
template double RefOps<double>::kl_div(const Tensor&, const Tensor&, double, double, Tensor&);

}  // namespace win::backend
