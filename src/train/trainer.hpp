// The training loop shared by every stage (wide, narrow, finetune, vanilla, kd): for each step,
// zero the gradients, let the stage do forward and backward on the loader's next batch, clip,
// update with the schedule's learning rate, record metrics, show progress, and checkpoint every
// N steps and at the end. It resumes from the stage's newest complete checkpoint — weights,
// BatchNorm statistics, optimizer state, step, data position, metrics and whatever the stage adds
// through its hooks — so that a resumed run is bitwise identical to an uninterrupted one. On
// SIGUSR1/SIGTERM it finishes the step, checkpoints and raises Stopped (exit 75). A non-finite
// loss is a numerics error (exit 5) naming the stage and step.
//
// Data parallel (DESIGN §7): every rank of `comm` is a replica that runs the step on its slice of
// the global batch; the gradients are averaged in buckets (GradientSync), the step's loss and
// counts and the stop request are reduced in one small allreduce, so every decision (stop, fail
// on NaN) is taken by all ranks together. The root writes the checkpoints, after the replicas'
// BatchNorm statistics were averaged, and every rank resumes from them — also at another rank
// count, since the data position is counted in global samples.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "data/loader.hpp"
#include "dist/comm.hpp"
#include "dist/device_comm.hpp"
#include "io/checkpoint.hpp"
#include "io/metrics.hpp"
#include "nn/module.hpp"
#include "nn/param_store.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"

namespace win::train {

struct TrainerOptions {
  std::string stage;  // for progress, logs and checkpoint metadata
  std::string dir;    // the stage's checkpoint directory
  int64_t total_steps = 0;
  int64_t checkpoint_every = 1000;
  int keep = 2;
  double clip_grad_norm = 0;
  double progress_interval_s = 10;
  std::string config_toml;           // stored in every checkpoint
  uint64_t seed = 0;                 // keys the dropout stream
  const dist::Comm* comm = nullptr;  // the data-parallel group; null: every rank of the job
  // The job's device communicator (RunContext makes one for the whole run: NCCL's setup costs a
  // second or more per communicator), used when the group is the whole job; null: run() makes
  // its own when the gradients are on GPUs. device_comm_why: why the job has none, for the log.
  dist::DeviceComm* device_comm = nullptr;
  std::string device_comm_why;
  double bucket_mb = 25.0;  // gradient allreduce bucket (dist.bucket_mb)
  bool sync_bn = false;     // BatchNorm statistics over the global batch (dist.sync_bn)
};

// Where the time of one rank's steps went, reduced over the group at the end of run().
struct Throughput {
  std::vector<double> samples_per_s;  // per rank, over this run's steps
  double allreduce_share = 0;         // mean fraction of step time spent averaging gradients
  int64_t buckets = 0;                // gradient buckets per step
  int64_t buckets_in_backward = 0;    // of those, started during backward (all steps)
};

struct StepStats {
  double loss = 0;
  int64_t correct = 0;  // classification: rows whose argmax is the label
  int64_t counted = 0;  // rows that counted
};

// The newest complete checkpoint of dir as rank 0 of comm finds it: rank 0 picks the file (trying
// older ones when the newest is damaged) and every rank loads that same file, so all resume at
// the same step even when a shared file system shows them different listings. nullopt: none.
// `check` (run on rank 0) refuses a file that reads well but cannot resume this stage, so that
// an older one is tried (resumable() makes the usual one).
std::optional<io::Checkpoint> load_newest_everywhere(const dist::Comm& comm,
                                                     const io::CheckpointDir& dir,
                                                     std::string* file,
                                                     const io::CheckpointDir::Check& check = {});

// Every rank of comm must read the same training set: a per-rank working directory or a file
// system that shows ranks different files would otherwise train each rank on its own sample
// order without a word. Compares the sample counts (`samples`, this rank's) and raises a data
// error on every rank, naming each rank's count, when they differ. Collective.
void check_same_data(const dist::Comm& comm, int64_t samples, const std::string& stage);

// The check that c can resume `stage` of `model` whose optimizer keeps `state_names` per
// parameter of `store`: the stage, every weight and optimizer state with the model's shape, and
// the loop's counters present. A checkpoint error naming the file and what does not fit.
io::CheckpointDir::Check resumable(std::string stage, nn::Module& model,
                                   const nn::ParamStore& store,
                                   std::vector<std::string> state_names);

class Trainer {
 public:
  using StepFn = std::function<StepStats(const data::Batch&, nn::Context&)>;
  using SaveHook = std::function<void(io::Checkpoint&)>;
  using LoadHook = std::function<void(const io::Checkpoint&, const std::string& file)>;

  Trainer(TrainerOptions opt, nn::Module& model, nn::ParamStore& store, Optimizer& optimizer,
          const LrSchedule& schedule, data::Loader& loader);

  // Rows of a batch that its loss averages over (labels not ignored), for losses whose count varies
  // between replicas (BERT's masked tokens): with it, each step weights the replicas by their
  // share of the global count (nn::Context::label_weight). Without it, every replica weighs 1/W.
  void set_label_counter(std::function<int64_t(const data::Batch&)> f) { count_ = std::move(f); }

  // Stage state beyond the loop's own (e.g. the narrow stage's block and restart).
  void set_hooks(SaveHook save, LoadHook load) {
    save_ = std::move(save);
    load_ = std::move(load);
  }
  // Trains from the newest checkpoint (or step 0) to total_steps; returns the metrics
  // (columns: step, epoch, lr, loss, accuracy, samples_per_s).
  const io::MetricsTable& run(const StepFn& step);
  int64_t step() const { return step_; }
  const Throughput& throughput() const { return throughput_; }

  // The weights (parameters and buffers) of a module in checkpoint form, and back.
  static void put_model(io::Checkpoint& c, nn::Module& m);
  static void get_model(const io::Checkpoint& c, nn::Module& m, const std::string& file);

 private:
  void resume();
  void checkpoint();
  void report_throughput(double samples, double seconds, double allreduce_s);
  int64_t early_buckets_ = 0, buckets_ = 0;
  bool on_device_ = false;  // gradients summed by a DeviceComm in the last run()
  const dist::Comm& comm() const;

  TrainerOptions opt_;
  nn::Module& model_;
  nn::ParamStore& store_;
  Optimizer& opt_state_;
  const LrSchedule& schedule_;
  data::Loader& loader_;
  io::CheckpointDir dir_;
  io::MetricsTable metrics_;
  int64_t step_ = 0;
  Throughput throughput_;
  SaveHook save_;
  std::function<int64_t(const data::Batch&)> count_;
  LoadHook load_;
};

}  // namespace win::train
