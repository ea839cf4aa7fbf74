// The supervised stages: wide (the teacher with labels), vanilla (the student from scratch),
// kd (the student distilled from the teacher) and finetune (S̄ after narrow, or the merged
// student for MAP), all through one routine on top of train::Trainer. Restarts (finetune's
// `restarts`) train from the same start with different data orders and keep the run with the
// lowest training loss over its last epoch.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "io/model_io.hpp"
#include "io/text_file.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "nn/param_store.hpp"
#include "train/trainer.hpp"
#include "win/bridged_model.hpp"
#include "win/stages.hpp"
#include "win/task.hpp"

namespace win::method {

namespace fs = std::filesystem;

namespace {

// Mean training loss over the last epoch's steps (the restart selection criterion).
double last_epoch_loss(const io::MetricsTable& m, int64_t steps_per_epoch) {
  const size_t n = m.rows();
  const size_t k = std::min<size_t>(n, static_cast<size_t>(std::max<int64_t>(steps_per_epoch, 1)));
  double s = 0;
  for (size_t r = n - k; r < n; ++r) s += m.at(r, "loss");
  return k ? s / static_cast<double>(k) : std::numeric_limits<double>::infinity();
}

// Per step (metrics.csv/.h5) and per epoch (epochs.csv).
void write_metrics(const io::MetricsTable& m, const std::string& dir) {
  m.write_csv((fs::path(dir) / "metrics.csv").string());
  m.write_h5((fs::path(dir) / "metrics.h5").string());
  io::per_epoch(m).write_csv((fs::path(dir) / "epochs.csv").string());
}

}  // namespace

double train_model(const RunContext& rc, nn::Module& net, const config::ModelConfig& model,
                   nn::Module* teacher, const std::string& stage, const std::string& dir,
                   const config::TrainStageConfig& cfg, uint64_t seed_offset,
                   std::unique_ptr<data::SampleSource> source) {
  LossSpec loss{cfg.loss, cfg.kd_temperature, cfg.kd_alpha};
  WIN_CHECK(!loss.needs_teacher() || teacher, ErrorKind::Internal, stage, ": ", cfg.loss,
            " needs a teacher");
  nn::ParamStore store(net);
  auto optimizer = train::make_optimizer(cfg.optim, store);
  if (!source) source = rc.train_source(true);
  data::LoaderOptions lo = rc.loader_options(cfg.optim.batch_size, seed_offset);
  lo.batch_key = stage + ".batch_size";
  data::Loader loader(std::move(source), lo);
  const int64_t total = rc.steps_of(cfg.optim, loader.steps_per_epoch());
  const train::LrSchedule schedule(cfg.optim, loader.steps_per_epoch(), total);
  train::Trainer trainer(rc.trainer_options(stage, dir, total, cfg.optim, seed_offset), net, store,
                         *optimizer, schedule, loader);
  auto task = make_task(model);
  // Only masked-token losses count a varying number of rows per replica; elsewhere every replica
  // weighs 1/W already and the count's allreduce would be a wasted collective per step.
  if (model.family == "bert" && model.bert.head == "pretrain")
    trainer.set_label_counter([&](const data::Batch& b) {
      const Tensor& l = task->labels_of(b);
      int64_t n = 0;
      for (int64_t i = 0; i < l.numel(); ++i) n += l.data<int32_t>()[i] != -100;
      return n;
    });
  const auto& metrics = trainer.run([&](const data::Batch& b, nn::Context& ctx) {
    return task->step(net, teacher, b, ctx, loss);
  });
  rc.write([&] { write_metrics(metrics, dir); });
  return last_epoch_loss(metrics, loader.steps_per_epoch());
}

namespace {

// A stage with restarts: each restart from the same start in <stage>/restart<r>; the best one's
// weights become <stage>/final.h5.
void train_stage(const RunContext& rc, nn::Module& net, models::Model* teacher,
                 const std::string& stage, const config::TrainStageConfig& cfg) {
  const config::ModelConfig& model = rc.deck().model;
  const std::string dir = rc.stage_dir(stage);
  rc.write([&] { fs::create_directories(dir); });
  if (cfg.restarts <= 1) {
    train_model(rc, net, model, teacher, stage, dir, cfg, 0);
    rc.write([&] {
      io::save_weights(rc.final_weights(stage), net, stage, {{"config", rc.toml()}});
    });
    return;
  }
  // Remember the start, so that every restart begins from it.
  const std::string start = (fs::path(dir) / "start.h5").string();
  if (!rc.exists(start)) rc.write([&] { io::save_weights(start, net, stage + "-start"); });
  double best = std::numeric_limits<double>::infinity();
  int best_r = 0;
  for (int r = 0; r < cfg.restarts; ++r) {
    const std::string rdir = (fs::path(dir) / cat("restart", r)).string();
    const std::string out = (fs::path(rdir) / "final.h5").string();
    const std::string score = (fs::path(rdir) / "train_loss.txt").string();
    double loss = 0;
    if (rc.exists(out) && rc.exists(score)) {
      std::istringstream(rc.read_text(score)) >> loss;
    } else {
      io::load_weights(start, net);
      log_info(stage, ": restart ", r + 1, " of ", cfg.restarts);
      loss =
          train_model(rc, net, model, teacher, stage, rdir, cfg, 1000 * static_cast<uint64_t>(r));
      rc.write([&] {
        io::save_weights(out, net, stage, {{"config", rc.toml()}});
        io::write_text_file(score, cat(loss, '\n'));
      });
    }
    log_info(stage, ": restart ", r + 1, " ended with training loss ", loss);
    if (loss < best) {
      best = loss;
      best_r = r;
    }
  }
  io::load_weights((fs::path(dir) / cat("restart", best_r) / "final.h5").string(), net);
  log_info(stage, ": keeping restart ", best_r + 1, " (lowest training loss ", best, ")");
  rc.write([&] { io::save_weights(rc.final_weights(stage), net, stage, {{"config", rc.toml()}}); });
}

}  // namespace

void run_wide(const RunContext& rc) {
  auto teacher =
      models::build_model(models::teacher_config(rc.deck().model, rc.deck().teacher), DType::F32);
  nn::init_params(*teacher, static_cast<uint64_t>(rc.deck().run.seed));
  train_stage(rc, *teacher, nullptr, "wide", rc.deck().wide);
}

void run_vanilla(const RunContext& rc) {
  auto student = models::build_model(rc.deck().model, DType::F32);
  nn::init_params(*student, static_cast<uint64_t>(rc.deck().run.seed) + 1);
  train_stage(rc, *student, nullptr, "vanilla", rc.deck().vanilla);
}

void run_kd(const RunContext& rc) {
  auto student = models::build_model(rc.deck().model, DType::F32);
  nn::init_params(*student, static_cast<uint64_t>(rc.deck().run.seed) + 1);
  auto teacher = rc.load_teacher();
  train_stage(rc, *student, teacher.get(), "kd", rc.deck().kd);
}

void run_finetune(const RunContext& rc) {
  const auto& d = rc.deck();
  std::unique_ptr<models::Model> teacher;
  if (d.finetune.loss != "ce") teacher = rc.load_teacher();
  if (d.merge.when == "after_narrow") {  // MAP: fine-tune the plain, merged student
    auto student = models::build_model(d.model, DType::F32);
    io::load_weights(rc.final_weights("merge"), *student);
    train_stage(rc, *student, teacher.get(), "finetune", d.finetune);
    return;
  }
  auto sbar = build_bridged(d.model, models::teacher_config(d.model, d.teacher),
                            bridge_mode_of(d.narrow.bridge_mode), DType::F32);
  io::load_weights(rc.final_weights("narrow"), *sbar);
  train_stage(rc, *sbar, teacher.get(), "finetune", d.finetune);
}

}  // namespace win::method
