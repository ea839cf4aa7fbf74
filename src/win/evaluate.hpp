// Evaluation of a classifier on a whole sample source, in eval mode (BatchNorm's running
// statistics, no dropout): loss, top-1 and top-5 accuracy over every sample.
#pragma once

#include <memory>

#include "data/loader.hpp"
#include "nn/module.hpp"

namespace win::method {

struct EvalResult {
  int64_t samples = 0;
  double loss = 0;
  double top1 = 0;
  double top5 = 0;
};

EvalResult evaluate_classifier(nn::Module& model, data::SampleSource& source, int64_t batch);

// max |a(x) - b(x)| / max |a(x)| over the first `samples` samples of source, eval mode.
double max_relative_difference(nn::Module& a, nn::Module& b, data::SampleSource& source,
                               int64_t samples);

}  // namespace win::method
