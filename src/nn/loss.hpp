// Loss objects on top of the op table's losses (backend/ops.hpp): each owns its gradient buffer,
// allocated on first use and reused while the shape stays the same (no allocation in the steady
// state), and returns the loss value with a view of that gradient. Thin on purpose: the maths
// lives in the backends.
#pragma once

#include <cstdint>

#include "core/tensor.hpp"

namespace win::nn {

struct LossOutput {
  double loss = 0;
  Tensor grad;          // dLoss/dinput * grad_scale; valid until this loss object's next call
  int64_t counted = 0;  // cross-entropy: rows that counted (others: number of rows)
  int64_t correct = 0;  // cross-entropy: counted rows whose argmax is the label
};

// Softmax cross-entropy of logits (N, C) against i32 labels (N), mean over non-ignored rows.
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(int64_t ignore_index = -100) : ignore_index_(ignore_index) {}
  LossOutput operator()(const Tensor& logits, const Tensor& labels, double grad_scale = 1.0);

 private:
  int64_t ignore_index_;
  Tensor grad_;
  Tensor labels_;  // the labels on the logits' device when they arrive elsewhere
};

// Mean squared error over all elements (the imitation loss of WIN's narrow stage).
class MseLoss {
 public:
  LossOutput operator()(const Tensor& x, const Tensor& target, double grad_scale = 1.0);

 private:
  Tensor grad_;
};

// Hinton KD: T^2 * KL(softmax(teacher/T) || softmax(student/T)), mean over rows (N, C).
class KlDivLoss {
 public:
  explicit KlDivLoss(double temperature) : temperature_(temperature) {}
  LossOutput operator()(const Tensor& student, const Tensor& teacher, double grad_scale = 1.0);
  double temperature() const { return temperature_; }

 private:
  double temperature_;
  Tensor grad_;
};

}  // namespace win::nn
