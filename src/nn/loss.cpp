// Loss objects: gradient buffers reused across calls, maths delegated to the backend ops.
#include "nn/loss.hpp"

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "nn/module.hpp"

namespace win::nn {

LossOutput CrossEntropyLoss::operator()(const Tensor& logits, const Tensor& labels,
                                        double grad_scale) {
  ensure(grad_, logits.shape(), logits.dtype(), &logits);
  // Host labels from the loader go to the logits' device.
  const Tensor& lab = backend::on_device(labels, logits.device(), labels_);
  const auto r =
      backend::ops_for(logits).cross_entropy(logits, lab, ignore_index_, grad_scale, grad_);
  return {r.loss, grad_, r.counted, r.correct};
}

LossOutput MseLoss::operator()(const Tensor& x, const Tensor& target, double grad_scale) {
  ensure(grad_, x.shape(), x.dtype(), &x);
  const double loss = backend::ops_for(x).mse(x, target, grad_scale, grad_);
  return {loss, grad_, x.dim() > 0 ? x.size(0) : 1, 0};
}

LossOutput KlDivLoss::operator()(const Tensor& student, const Tensor& teacher, double grad_scale) {
  ensure(grad_, student.shape(), student.dtype(), &student);
  const double loss =
      backend::ops_for(student).kl_div(student, teacher, temperature_, grad_scale, grad_);
  return {loss, grad_, student.dim() > 0 ? student.size(0) : 1, 0};
}

}  // namespace win::nn
