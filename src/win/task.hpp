// How a family's networks are fed and trained on one batch: images (x -> class logits) or BERT
// (token ids with segment ids, attention mask and masked positions -> MLM and NSP logits, or
// class logits with a classification head). The supervised stages and the narrow stage are
// written once against this interface.
#pragma once

#include <memory>

#include "config/deck.hpp"
#include "data/loader.hpp"
#include "models/model.hpp"
#include "train/trainer.hpp"
#include "win/objective.hpp"

namespace win::method {

class Task {
 public:
  virtual ~Task() = default;
  // Hands the batch's side inputs to net (a Model or S̄) and returns its main input.
  virtual Tensor prepare(nn::Module& net, const data::Batch& b) = 0;
  // Forward, loss (against the labels and/or the teacher's outputs) and backward of net.
  virtual train::StepStats step(nn::Module& net, nn::Module* teacher, const data::Batch& b,
                                nn::Context& ctx, const LossSpec& loss) = 0;
  // The labels of forward's logits: class labels, or the MLM labels (-100 = nothing to predict).
  virtual const Tensor& labels_of(const data::Batch& b) const = 0;
  // BERT pretraining's second output: the NSP logits of the last forward of net (else nullptr).
  virtual const Tensor* nsp_logits(nn::Module&) const { return nullptr; }
};

std::unique_ptr<Task> make_task(const config::Deck& deck);
// The task of a model config alone (the downstream classification BERT of a pretraining deck).
std::unique_ptr<Task> make_task(const config::ModelConfig& model);

// The BERT model inside net (itself, or S̄'s student); nullptr for other families.
models::Model* architecture_of(nn::Module& net);

}  // namespace win::method
