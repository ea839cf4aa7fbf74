// Run directory, data split and teacher loading for the stage drivers (see run_context.hpp).
#include "win/run_context.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/info.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "data/bert_shard.hpp"
#include "data/image_shard.hpp"
#include "dist/collective.hpp"
#include "win/preflight.hpp"
#if WIN_HAVE_CUDA
#include "dist/nccl_comm.hpp"
#endif
#include "io/model_io.hpp"
#include "win/teacher.hpp"

namespace win::method {

namespace fs = std::filesystem;

namespace {

class SubsetSource final : public data::SampleSource {
 public:
  SubsetSource(std::unique_ptr<data::SampleSource> src, std::vector<int64_t> idx)
      : src_(std::move(src)), idx_(std::move(idx)) {}
  int64_t size() const override { return static_cast<int64_t>(idx_.size()); }
  std::unique_ptr<data::SampleSource> clone() const override {
    return std::make_unique<SubsetSource>(src_->clone(), idx_);
  }
  void allocate(data::Batch& b, int64_t local) const override { src_->allocate(b, local); }
  void fill(data::Batch& b, int64_t slot, int64_t sample, int64_t epoch) override {
    src_->fill(b, slot, idx_[static_cast<size_t>(sample)], epoch);
  }

 private:
  std::unique_ptr<data::SampleSource> src_;
  std::vector<int64_t> idx_;
};

// Images or token shards, by data.format.
std::unique_ptr<data::SampleSource> open_source(const config::Deck& d, const std::string& spec,
                                                bool augment) {
  WIN_CHECK(!spec.empty(), ErrorKind::Config, "data: no shards given for this stage");
  if (d.data.format == "bert")
    return data::bert_source(spec,
                             d.model.bert.head == "classify" ? data::BertShardKind::Classification
                                                             : data::BertShardKind::Pretraining,
                             d.model.bert.vocab_size);
  data::AugmentOptions aug;
  aug.augment = augment && d.data.augment;
  aug.crop_padding = d.data.crop_padding;
  aug.flip = d.data.flip;
  // Every set of the run is normalised with the training set's statistics (the models' inputs
  // as they were trained), not with its own; without training data, with its own.
  if (!d.data.train.empty() && spec != d.data.train) {
    data::ImageStatistics train = data::image_statistics(d.data.train);
    aug.mean = std::move(train.mean);
    aug.std = std::move(train.std);
  }
  return data::image_source(spec, aug, static_cast<uint64_t>(d.run.seed));
}

}  // namespace

std::unique_ptr<data::SampleSource> subset_source(std::unique_ptr<data::SampleSource> src,
                                                  std::vector<int64_t> indices) {
  return std::make_unique<SubsetSource>(std::move(src), std::move(indices));
}

RunContext::RunContext(config::Deck deck, std::string deck_toml)
    : deck_(std::move(deck)), toml_(std::move(deck_toml)) {
  const int world = dist::world().size();
  // Every rank checks the same deck, so every rank fails together: a clean exit with code 2, one
  // message, before any work.
  auto refuse = [&](const std::string& msg) {
    if (world == 1) WIN_FAIL(ErrorKind::Config, msg);
    throw dist::CollectiveError(ErrorKind::Config, msg, true);
  };
  const bool pipelined = deck_.narrow.schedule == "pipelined";
  check_grid(deck_, world);  // the pipeline grid first: the batch splits below divide by it
  const auto& stages = deck_.run.stages;
  auto runs = [&](const char* s) {
    return std::find(stages.begin(), stages.end(), s) != stages.end();
  };
  const std::pair<const char*, const config::OptimConfig*> batches[] = {
      {"wide", &deck_.wide.optim},
      {"finetune", &deck_.finetune.optim},
      {"vanilla", &deck_.vanilla.optim},
      {"kd", &deck_.kd.optim},
      {"narrow", &deck_.narrow.optim}};
  for (const auto& [stage, o] : batches) {
    if (!runs(stage)) continue;
    const int64_t parts = std::string(stage) == "narrow" && pipelined
                              ? deck_.dist.micro_batches * (world / deck_.dist.pipeline)
                              : world;
    const bool micro = std::string(stage) == "narrow" && pipelined;
    if (o->batch_size % parts != 0)
      refuse(cat(stage, ".batch_size = ", o->batch_size, " does not split over ", parts,
                 micro ? cat(" (dist.micro_batches = ", deck_.dist.micro_batches, " x ",
                             world / deck_.dist.pipeline, " data ranks per pipeline stage)")
                       : std::string(" data-parallel ranks"),
                 micro ? ": each micro-batch is cut into equal slices. Choose a batch size or a "
                         "dist.micro_batches that divide"
                       : ": the global batch is cut into equal slices. Launch a rank count that "
                         "divides it (checkpoints resume at any such count)"));
  }
  if (deck_.run.device == "cuda") {
    // Every rank must have a GPU, or all stop together (a rank alone would leave the others
    // waiting in a collective).
    const std::string why = backend::device_unavailable(Device::CUDA);
    const int lacking = dist::world().allreduce_value<int32_t>(why.empty() ? 0 : 1);
    if (lacking > 0)
      refuse(cat("run.device = \"cuda\": ", lacking, " of ", world,
                 " rank(s) have no usable CUDA device",
                 why.empty() ? std::string() : cat(" (this one: ", why, ")")));
    int gpu = 0;
#if WIN_HAVE_CUDA
    if (world > 1) gpu = backend::select_gpu(dist::local_rank(dist::world()));
#endif
    device_ = Device::CUDA;
    backend::set_precision(backend::parse_precision(deck_.run.precision, "run.precision"));
    backend::set_deterministic(deck_.run.deterministic);
    log_info("device: cuda (GPU ", gpu, " of this node, ", backend::cuda_devices(), "), precision ",
             deck_.run.precision,
             deck_.run.deterministic ? "" : ", non-deterministic algorithms allowed");
  }
  placement_ = std::make_unique<nn::DeviceScope>(device_);
  if (device_ != Device::CPU && world > 1)  // collective: every rank constructs this context
    device_comm_ = dist::make_device_comm(dist::world(), &device_comm_why_);
  if (world > 1)
    log_info("ranks: ", world, " (data parallel: wide, finetune, vanilla, kd, ",
             deck_.narrow.schedule == "pipelined"
                 ? cat("narrow on a grid of ", deck_.dist.pipeline, " pipeline x ",
                       world / deck_.dist.pipeline, " data ranks")
                 : std::string("and the sequential narrow"),
             ")");
}

void RunContext::write(const std::function<void()>& fn) const {
  dist::on_root(dist::world(), [&] {
    try {
      fn();
    } catch (const fs::filesystem_error& e) {
      // A directory that cannot be made or a file that cannot be replaced in the run directory:
      // the user's setting (run.dir) or file system, not a bug in win.
      WIN_FAIL(ErrorKind::Output, "cannot write ",
               e.path1().empty() ? std::string("the run directory") : e.path1().string(), ": ",
               e.code().message(), " (run.dir = \"", deck_.run.dir, "\")");
    }
  });
}

bool RunContext::exists(const std::string& path) const {
  return dist::from_root(dist::world(), [&] {
           std::error_code ec;
           const bool there = fs::exists(path, ec);
           // A directory that cannot be searched (permissions) is the user's file system, not
           // a bug in win: an output error naming the path and the reason.
           WIN_CHECK(!ec, ErrorKind::Output, "cannot look for ", path, ": ", ec.message(),
                     " (run.dir = \"", deck_.run.dir, "\")");
           return std::string(there ? "1" : "0");
         }) == "1";
}

std::string RunContext::read_text(const std::string& path) const {
  return dist::from_root(dist::world(), [&] {
    std::ifstream in(path);
    WIN_CHECK(in, ErrorKind::Checkpoint, path, ": cannot read");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  });
}

std::string RunContext::dir() const {
  return (fs::path(deck_.run.dir) / deck_.run.name).string();
}
std::string RunContext::stage_dir(const std::string& s) const {
  return (fs::path(dir()) / s).string();
}
std::string RunContext::final_weights(const std::string& s) const {
  return (fs::path(stage_dir(s)) / "final.h5").string();
}
bool RunContext::stage_done(const std::string& s) const {
  return exists(final_weights(s));
}

std::vector<int64_t> RunContext::split(bool validation) const {
  // A fixed permutation (seed 0, independent of run.seed: every run and stage sees the same
  // split); the last val_fraction of it is the validation set.
  auto all = open_source(deck_, deck_.data.train, false);
  const int64_t n = all->size();
  const auto order = data::epoch_order(n, 0, 0, true);
  const auto n_val =
      static_cast<int64_t>(std::llround(deck_.data.val_fraction * static_cast<double>(n)));
  std::vector<int64_t> out(order.begin() + (validation ? n - n_val : 0),
                           order.begin() + (validation ? n : n - n_val));
  std::sort(out.begin(), out.end());  // read in file order; the loader shuffles anyway
  return out;
}

std::unique_ptr<data::SampleSource> RunContext::train_source(bool augment) const {
  auto src = open_source(deck_, deck_.data.train, augment);
  if (deck_.data.val.empty() && deck_.data.val_fraction > 0)
    return subset_source(std::move(src), split(false));
  return src;
}

std::unique_ptr<data::SampleSource> RunContext::val_source() const {
  if (!deck_.data.val.empty()) return open_source(deck_, deck_.data.val, false);
  if (deck_.data.val_fraction > 0)
    return subset_source(open_source(deck_, deck_.data.train, false), split(true));
  return nullptr;
}

std::unique_ptr<data::SampleSource> RunContext::test_source() const {
  if (deck_.data.test.empty()) return nullptr;
  return open_source(deck_, deck_.data.test, false);
}

std::unique_ptr<data::SampleSource> RunContext::eval_source(std::string* on,
                                                            const std::string& who) const {
  if (auto test = test_source()) {
    *on = "test";
    return test;
  }
  auto val = val_source();
  WIN_CHECK(val != nullptr, ErrorKind::Config, who,
            ": no test or validation data (set data.test, data.val or data.val_fraction)");
  *on = "validation";
  return val;
}

train::TrainerOptions RunContext::trainer_options(const std::string& stage, const std::string& dir,
                                                  int64_t total_steps, const config::OptimConfig& o,
                                                  uint64_t seed_offset) const {
  train::TrainerOptions to;
  to.stage = stage;
  to.dir = dir;
  to.total_steps = total_steps;
  to.checkpoint_every = deck_.checkpoint.every_steps;
  to.keep = static_cast<int>(deck_.checkpoint.keep);
  to.clip_grad_norm = o.clip_grad_norm;
  to.progress_interval_s = deck_.run.progress_interval_s;
  to.config_toml = toml_;
  to.seed = static_cast<uint64_t>(deck_.run.seed) + seed_offset;
  to.bucket_mb = deck_.dist.bucket_mb;
  to.sync_bn = deck_.dist.sync_bn;
  to.device_comm = device_comm_.get();
  to.device_comm_why = device_comm_why_;
  return to;
}

data::LoaderOptions RunContext::loader_options(int64_t batch, uint64_t seed_offset) const {
  data::LoaderOptions o;
  o.global_batch = batch;
  o.rank = dist::world().rank();
  o.world = dist::world().size();
  o.seed = static_cast<uint64_t>(deck_.run.seed) + seed_offset;
  o.prefetch = static_cast<int>(deck_.data.prefetch);
  return o;
}

int64_t RunContext::steps_of(const config::OptimConfig& o, int64_t steps_per_epoch) const {
  if (o.steps > 0) return o.steps;
  return std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(o.epochs * static_cast<double>(steps_per_epoch))));
}

std::unique_ptr<models::Model> RunContext::load_teacher() const {
  if (teacher_from_checkpoint()) return build_teacher(deck_, DType::F32);
  WIN_CHECK(stage_done("wide"), ErrorKind::Checkpoint, "no teacher: run the wide stage first (",
            final_weights("wide"), " is missing) or set teacher.checkpoint");
  auto t = build_teacher(deck_, DType::F32);
  io::load_weights(final_weights("wide"), *t);
  return t;
}

}  // namespace win::method
