// BERT's downstream evaluation (paper §5.2 compares pretrained students after fine-tuning on a
// GLUE-style task): a pretrained model's backbone gets a fresh sequence-classification head and
// is fine-tuned on data.downstream_train (AdamW, eval.downstream_lr with 10% warm-up and linear
// decay, eval.downstream_epochs), then scored on data.downstream_test. Each fine-tune is its own
// resumable run under eval/downstream/<model>/; a finished one (final.h5) is only re-scored.
#pragma once

#include <string>

#include "config/deck.hpp"
#include "win/evaluate.hpp"
#include "win/run_context.hpp"

namespace win::method {

// True when the deck asks for a downstream evaluation (a pretraining BERT with downstream data).
bool has_downstream(const config::Deck& d);

// Fine-tunes the pretrained model `pretrained` (config, weights file) on the downstream task and
// returns its score on the downstream test set; `name` names its folder.
EvalResult downstream_score(const RunContext& rc, const std::string& name,
                            const config::ModelConfig& pretrained, const std::string& weights);

}  // namespace win::method
