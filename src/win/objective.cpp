// Classification objectives (see objective.hpp).
#include "win/objective.hpp"

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "nn/module.hpp"

namespace win::method {

train::StepStats Objective::operator()(const Tensor& logits, const Tensor& labels,
                                       const Tensor& teacher, const LossSpec& spec,
                                       double label_weight) {
  auto& ops = backend::ops_for(logits);
  nn::ensure(grad_, logits.shape(), logits.dtype(), &logits);
  const Tensor& lab = backend::on_device(labels, logits.device(), labels_);
  train::StepStats s;
  const bool ce = spec.kind == "ce" || spec.kind == "ce+kd";
  const bool kd = spec.kind == "kd" || spec.kind == "ce+kd";
  WIN_CHECK(ce || kd, ErrorKind::Config, "unknown loss '", spec.kind, "' (ce, kd, ce+kd)");
  const double w_ce = (kd && ce ? 1.0 - spec.alpha : 1.0) * label_weight;
  const double w_kd = kd && ce ? spec.alpha : 1.0;
  // Always count accuracy, also for pure KD.
  nn::ensure(tmp_, logits.shape(), logits.dtype(), &logits);
  const auto r = ops.cross_entropy(logits, lab, -100, w_ce, ce ? grad_ : tmp_);
  s.correct = r.correct;
  s.counted = r.counted;
  if (ce) s.loss += w_ce * r.loss;
  if (kd) {
    WIN_CHECK(teacher.defined(), ErrorKind::Internal, "the ", spec.kind,
              " loss needs teacher logits");
    Tensor& dst = ce ? tmp_ : grad_;
    s.loss += w_kd * ops.kl_div(logits, teacher, spec.temperature, w_kd, dst);
    if (ce) ops.axpy(1.0, tmp_, grad_);
  }
  return s;
}

}  // namespace win::method
