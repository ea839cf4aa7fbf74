// Supervised objectives of the training stages on classification logits: cross-entropy with the
// labels (`ce`), Hinton distillation from the teacher's logits at temperature T scaled by T^2
// (`kd`), or (1 - alpha) ce + alpha kd (`ce+kd`). Each returns the loss and writes d loss / d
// logits into a buffer it owns.
#pragma once

#include <string>

#include "core/tensor.hpp"
#include "train/trainer.hpp"

namespace win::method {

struct LossSpec {
  std::string kind = "ce";  // ce | kd | ce+kd
  double temperature = 4.0;
  double alpha = 0.5;
  bool needs_teacher() const { return kind != "ce"; }
};

class Objective {
 public:
  // teacher may be undefined for `ce`. Returns loss, and correct/counted of the argmax.
  // label_weight scales the cross-entropy term and its gradient (nn::Context::label_weight).
  train::StepStats operator()(const Tensor& logits, const Tensor& labels, const Tensor& teacher,
                              const LossSpec& spec, double label_weight = 1.0);
  const Tensor& grad() const { return grad_; }

 private:
  Tensor grad_, tmp_;
  Tensor labels_;  // host labels staged on the logits' device
};

}  // namespace win::method
