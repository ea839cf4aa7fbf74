// The stages of `win run` (DESIGN §2, §5): each reads what earlier stages left in the run
// directory and writes its own folder; a stage whose output exists is skipped. The WIN student
// is S̄ trained by `narrow` and `finetune` and folded by `merge` (MAF, the default), or folded
// right after `narrow` and then fine-tuned as a plain thin model (MAP: merge.when =
// "after_narrow"). `vanilla` and `kd` are the baselines; `eval` scores every model there is and
// writes report.md.
#pragma once

#include <string>

#include "config/deck.hpp"
#include "nn/module.hpp"
#include "win/run_context.hpp"

namespace win::method {

void run_wide(const RunContext& rc);
void run_narrow(const RunContext& rc);
// The pipelined narrow schedule (stage_narrow_pipelined.cpp); run_narrow calls it.
void run_narrow_pipelined(const RunContext& rc);
void run_finetune(const RunContext& rc);
void run_merge(const RunContext& rc);
void run_vanilla(const RunContext& rc);
void run_kd(const RunContext& rc);
void run_eval(const RunContext& rc);

// All of the deck's stages in order (merge moved before finetune for MAP), skipping finished
// ones, then report.md.
void run_pipeline(const RunContext& rc);

// A config error naming each changed key when the run directory was started with a deck that
// differs from this one in a key that shapes its results (its config.toml; nothing when there is
// none). rerun: "" for win run, or the stage a command reruns whatever its output ("eval",
// "merge"), whose own settings may then change.
void check_same_experiment(const RunContext& rc, const std::string& rerun);

// Trains net (whose weights hold the start) with cfg's loss and optimiser into `dir` (resumable
// through its checkpoints there); `model` says how batches feed net. Returns the mean training
// loss of the last epoch. Shared by the supervised stages, the post-merge fine-tune and the
// downstream fine-tunes of BERT's eval.
double train_model(const RunContext& rc, nn::Module& net, const config::ModelConfig& model,
                   nn::Module* teacher, const std::string& stage, const std::string& dir,
                   const config::TrainStageConfig& cfg, uint64_t seed_offset,
                   std::unique_ptr<data::SampleSource> source = nullptr);

// The file a stage leaves when it is complete.
std::string stage_output(const RunContext& rc, const std::string& stage);

}  // namespace win::method
