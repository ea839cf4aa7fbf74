// Learning-rate schedules (see schedule.hpp).
#include "train/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace win::train {

LrSchedule::LrSchedule(const config::OptimConfig& cfg, int64_t steps_per_epoch, int64_t total_steps)
    : lr_(cfg.lr), gamma_(cfg.gamma), total_(total_steps) {
  WIN_CHECK(steps_per_epoch > 0, ErrorKind::Internal, "LrSchedule: steps_per_epoch ",
            steps_per_epoch, " must be > 0");
  WIN_CHECK(total_steps >= 0, ErrorKind::Internal, "LrSchedule: total_steps ", total_steps,
            " must be >= 0");
  WIN_CHECK(cfg.lr >= 0, ErrorKind::Config, "optim.lr ", cfg.lr, " must be >= 0");
  WIN_CHECK(cfg.warmup_epochs >= 0, ErrorKind::Config, "optim.warmup_epochs ", cfg.warmup_epochs,
            " must be >= 0");
  const auto spe = static_cast<double>(steps_per_epoch);
  warmup_ = cfg.warmup_steps > 0 ? cfg.warmup_steps : std::llround(cfg.warmup_epochs * spe);
  if (cfg.lr_schedule == "constant") {
    kind_ = Kind::Constant;
  } else if (cfg.lr_schedule == "step") {
    kind_ = Kind::Step;
    WIN_CHECK(cfg.gamma > 0, ErrorKind::Config, "optim.gamma ", cfg.gamma, " must be > 0");
    for (double m : cfg.milestones) {
      WIN_CHECK(m >= 0, ErrorKind::Config, "optim.milestones: epoch ", m, " must be >= 0");
      milestone_steps_.push_back(std::llround(m * spe));
    }
  } else if (cfg.lr_schedule == "cosine") {
    kind_ = Kind::Cosine;
  } else if (cfg.lr_schedule == "linear") {
    kind_ = Kind::Linear;
  } else {
    WIN_FAIL(ErrorKind::Config, "optim.lr_schedule: unknown schedule '", cfg.lr_schedule,
             "' (expected constant, step, cosine or linear)");
  }
}

double LrSchedule::lr_at(int64_t step) const {
  WIN_CHECK(step >= 0, ErrorKind::Internal, "LrSchedule: step ", step, " is negative");
  double lr = lr_;
  switch (kind_) {
    case Kind::Constant:
      break;
    case Kind::Step:
      for (int64_t m : milestone_steps_)
        if (step >= m) lr *= gamma_;
      break;
    case Kind::Cosine:
    case Kind::Linear: {
      if (step >= warmup_) {
        const int64_t span = total_ - warmup_;
        const double t =
            span > 0
                ? std::min(1.0, static_cast<double>(step - warmup_) / static_cast<double>(span))
                : 1.0;
        lr *= kind_ == Kind::Cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * t)) : 1.0 - t;
      }
      break;
    }
  }
  if (step < warmup_) lr *= static_cast<double>(step + 1) / static_cast<double>(warmup_);
  return lr;
}

}  // namespace win::train
