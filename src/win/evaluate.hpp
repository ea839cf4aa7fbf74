// Evaluation of a model on a whole sample source, in eval mode (BatchNorm's running statistics,
// no dropout): loss, top-1 and top-5 accuracy over every prediction (each image or sequence; for
// BERT pretraining each masked token), and the NSP accuracy for BERT pretraining.
#pragma once

#include "dist/comm.hpp"

#include <memory>

#include "data/loader.hpp"
#include "nn/module.hpp"
#include "win/task.hpp"

namespace win::method {

struct EvalResult {
  int64_t samples = 0;      // images or sequences
  int64_t predictions = 0;  // what loss/top1/top5 average over (masked tokens for MLM)
  double loss = 0;
  double top1 = 0;
  double top5 = 0;
  double nsp = -1;  // NSP accuracy; -1 when the model has no NSP head
};

// Collective over `comm`: rank r scores batches r, r + W, ... and the sums are reduced, so N ranks
// share the work and all return the same result (counts exact; the loss within round-off).
EvalResult evaluate(Task& task, nn::Module& model, data::SampleSource& source, int64_t batch,
                    const dist::Comm& comm = dist::world());

// max |a(x) - b(x)| / max |a(x)| over every output (BERT: MLM and NSP logits) of the first
// `samples` samples of source, eval mode.
double max_relative_difference(Task& task, nn::Module& a, nn::Module& b, data::SampleSource& source,
                               int64_t samples);

}  // namespace win::method
