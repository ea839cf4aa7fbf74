// What every stage driver of `win run` shares: the deck, the run directory layout (DESIGN §5:
// runs/<name>/config.toml, one folder per stage, report.md), the data of the deck (train /
// validation / test sources: validation is data.val, or a fixed slice of data.train when
// data.val is empty and data.val_fraction > 0), and the models' construction.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/deck.hpp"
#include "data/loader.hpp"
#include "models/model.hpp"
#include "train/trainer.hpp"

namespace win::method {

class RunContext {
 public:
  RunContext(config::Deck deck, std::string deck_toml);

  const config::Deck& deck() const { return deck_; }
  const std::string& toml() const { return toml_; }
  std::string dir() const;                                // runs/<name>
  std::string stage_dir(const std::string& s) const;      // runs/<name>/<stage>
  std::string final_weights(const std::string& s) const;  // <stage>/final.h5
  bool stage_done(const std::string& s) const;            // its final output exists
  // Files of the run directory are written by rank 0 alone: fn runs there, the other ranks wait
  // for it, and a failure is the same error on every rank (dist::on_root).
  void write(const std::function<void()>& fn) const;
  // Whether a file of the run directory exists, and a small text file's contents, as rank 0 sees
  // them: decisions that lead into collectives must be the same on every rank, and a shared file
  // system may show another rank a stale view for a while.
  bool exists(const std::string& path) const;
  std::string read_text(const std::string& path) const;

  // Sample sources of the deck's data. `augment` applies to images only.
  std::unique_ptr<data::SampleSource> train_source(bool augment) const;
  std::unique_ptr<data::SampleSource> val_source() const;   // nullptr when there is none
  std::unique_ptr<data::SampleSource> test_source() const;  // nullptr when there is none
  // What eval scores: the test set, or validation data when the deck has none; `on` names which.
  // A config error (naming `who`) when there is neither.
  std::unique_ptr<data::SampleSource> eval_source(std::string* on, const std::string& who) const;

  // Loader options for a stage trained with batch `batch` on this rank.
  data::LoaderOptions loader_options(int64_t batch, uint64_t seed_offset = 0) const;
  // The training loop's options for one run of a stage: the deck's checkpoint, progress and
  // clipping settings, keyed by run.seed + seed_offset.
  train::TrainerOptions trainer_options(const std::string& stage, const std::string& dir,
                                        int64_t total_steps, const config::OptimConfig& o,
                                        uint64_t seed_offset) const;
  // Steps of a stage: optim.steps, or epochs x steps per epoch of the training set.
  int64_t steps_of(const config::OptimConfig& o, int64_t steps_per_epoch) const;

  // The teacher: from teacher.checkpoint, or the wide stage's output (an error when neither).
  std::unique_ptr<models::Model> load_teacher() const;
  bool teacher_from_checkpoint() const { return !deck_.teacher.checkpoint.empty(); }
  // Where models compute (run.device); the GPU precision is set process-wide (run.precision).
  Device device() const { return device_; }

 private:
  std::vector<int64_t> split(bool validation) const;  // the train/val split of data.train
  config::Deck deck_;
  std::string toml_;
  Device device_ = Device::CPU;
  // run.device for every module built while this context lives (on its thread): the stages
  // build models without naming a device.
  std::unique_ptr<nn::DeviceScope> placement_;
  // The job's NCCL communicator for the data-parallel stages (several GPU ranks, each with its
  // own GPU), made once; else why there is none.
  std::unique_ptr<dist::DeviceComm> device_comm_;
  std::string device_comm_why_;
};

// A subset of a source's samples, in the given order.
std::unique_ptr<data::SampleSource> subset_source(std::unique_ptr<data::SampleSource> src,
                                                  std::vector<int64_t> indices);

}  // namespace win::method
