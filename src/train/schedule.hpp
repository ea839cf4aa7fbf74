// Learning-rate schedules from the deck (optim.lr_schedule): a linear warm-up from 0 to lr over
// warmup_epochs, then constant, step (times gamma at each milestone epoch), cosine or linear decay
// (to 0 at total_steps). The paper's ResNet schedule is step with warmup_epochs = 5, milestones
// [30, 60, 80], gamma = 0.1. A pure function of the step, so a resumed run needs no state.
#pragma once

#include <cstdint>
#include <vector>

#include "config/deck.hpp"

namespace win::train {

class LrSchedule {
 public:
  enum class Kind { Constant, Step, Cosine, Linear };

  // steps_per_epoch > 0; total_steps: the length of the run (where cosine and linear reach 0).
  LrSchedule(const config::OptimConfig& cfg, int64_t steps_per_epoch, int64_t total_steps);

  // The learning rate of step `step` (0-based). Warm-up steps s < W get lr * (s + 1) / W, so the
  // first step already moves and step W - 1 reaches the full rate; W = round(warmup_epochs *
  // steps_per_epoch). After warm-up, t = (s - W) / (total_steps - W) in [0, 1] drives
  // cosine (lr * (1 + cos(pi t)) / 2) and linear (lr * (1 - t)) decay. Step decay counts the
  // milestones m with s >= round(m * steps_per_epoch) and applies at every step, warm-up included.
  double lr_at(int64_t step) const;

  Kind kind() const { return kind_; }
  int64_t warmup_steps() const { return warmup_; }
  int64_t total_steps() const { return total_; }

 private:
  Kind kind_;
  double lr_, gamma_;
  int64_t warmup_, total_;
  std::vector<int64_t> milestone_steps_;
};

}  // namespace win::train
