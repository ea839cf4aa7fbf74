// The narrow stage (paper Algorithm 1, DESIGN §2 `sequential`): for block i = 1..n, train the
// bridged student's prefix so that z_i = M_{i,1} h_i imitates the frozen teacher's activation after
// its block i (MSE, or KL over the channels at each position). `train_prefix` trains the whole
// prefix S̄^(i); otherwise only the newest S̄_i = {M_{i-1,2}, S_i, M_{i,1}}. Each block gets
// steps_per_block steps (times i with budget = "linear"); with `restarts` > 1 the newest block is
// re-initialised and retrained, and the restart that imitates best on validation data is kept.
// Every (block, restart) is its own resumable training run in narrow/block<i>/restart<r>; a
// finished block leaves narrow/block<i>/best.h5, the stage narrow/final.h5 and blocks.csv.
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "backend/ops.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/metrics.hpp"
#include "io/model_io.hpp"
#include "io/text_file.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "nn/param_store.hpp"
#include "train/trainer.hpp"
#include "win/bridged_model.hpp"
#include "win/narrow_common.hpp"
#include "win/stages.hpp"
#include "win/task.hpp"

namespace win::method {

namespace fs = std::filesystem;

namespace {

// Names of the parameters trained for block i.
train::ParamFilter block_filter(BridgedModel& sbar, int i, bool prefix) {
  const std::string block = sbar.student().block_name(i) + ".";
  const std::string bridge = cat("bridges.", i, ".");
  const std::string prev_m2 = cat("bridges.", i - 1, ".m2");
  std::vector<std::string> earlier;  // with train_prefix: the stem and blocks before i too
  if (prefix)
    for (int j = 0; j < i; ++j) {
      earlier.push_back(sbar.student().block_name(j) + ".");
      earlier.push_back(cat("bridges.", j, "."));
    }
  std::vector<std::string> stem;
  if (prefix)
    sbar.student().stem().for_each_param(
        [&](const std::string& n, nn::Param&) { stem.push_back(n); });
  return [=](const nn::ParamEntry& e) {
    if (e.name.rfind(block, 0) == 0 || e.name.rfind(bridge, 0) == 0 || e.name == prev_m2)
      return true;
    for (const auto& p : earlier)
      if (e.name.rfind(p, 0) == 0) return true;
    for (const auto& s : stem)
      if (e.name == s) return true;
    return false;
  };
}

}  // namespace

void run_narrow(const RunContext& rc) {
  const auto& d = rc.deck();
  const auto& nc = d.narrow;
  if (nc.schedule == "pipelined") {
    run_narrow_pipelined(rc);
    return;
  }
  const std::string dir = rc.stage_dir("narrow");
  rc.write([&] { fs::create_directories(dir); });
  auto teacher = rc.load_teacher();
  auto task = make_task(d);
  auto sbar = initial_student(rc, *teacher);
  const uint64_t seed = static_cast<uint64_t>(d.run.seed);

  io::MetricsTable blocks({"block", "restart", "steps", "train_loss", "val_error", "kept"});
  const int n = sbar->num_blocks();
  for (int i = 0; i < n; ++i) {
    const std::string bdir = (fs::path(dir) / cat("block", i)).string();
    const std::string best_file = (fs::path(bdir) / "best.h5").string();
    const int64_t steps = nc.steps_per_block * (nc.budget == "linear" ? i + 1 : 1);
    if (rc.exists(best_file)) {
      io::load_weights(best_file, *sbar);
      log_info("narrow: block ", i + 1, " of ", n, " already done");
    } else {
      const std::string start = (fs::path(bdir) / "start.h5").string();
      rc.write([&] {
        fs::create_directories(bdir);
        if (!fs::exists(start)) io::save_weights(start, *sbar, "narrow-start");
      });
      double best = std::numeric_limits<double>::infinity();
      int best_r = 0;
      for (int r = 0; r < nc.restarts; ++r) {
        const std::string rdir = (fs::path(bdir) / cat("restart", r)).string();
        const std::string out = (fs::path(rdir) / "final.h5").string();
        const std::string score = (fs::path(rdir) / "result.txt").string();
        double train_loss = 0, val = 0;
        if (rc.exists(out) && rc.exists(score)) {
          std::istringstream(rc.read_text(score)) >> train_loss >> val;
        } else {
          io::load_weights(start, *sbar);
          if (r > 0) {  // a fresh draw of the newest block and its bridge
            const std::string block = sbar->student().block_name(i) + ".";
            const std::string bridge = cat("bridges.", i, ".");
            sbar->for_each_param([&](const std::string& name, nn::Param& p) {
              if (name.rfind(block, 0) != 0 && name.rfind(bridge, 0) != 0) return;
              Tensor fresh = Tensor::empty(p.value.shape(), p.value.dtype());
              nn::Init in = p.init;
              const Philox rng(seed + 7919 * static_cast<uint64_t>(r), 0x7E57);
              if (in.kind == nn::Init::Kind::Uniform)
                fill_uniform(fresh, rng, -in.a, in.a, std::hash<std::string>{}(name));
              else if (in.kind == nn::Init::Kind::Normal)
                fill_normal(fresh, rng, 0.0, in.a, std::hash<std::string>{}(name));
              else
                fresh.fill(in.kind == nn::Init::Kind::Ones ? 1.0 : 0.0);
              p.value.copy_from(fresh);
            });
          }
          nn::ParamStore store(*sbar);
          auto optimizer =
              train::make_optimizer(nc.optim, store, block_filter(*sbar, i, nc.train_prefix));
          const uint64_t offset = 100 + 10 * static_cast<uint64_t>(i) + static_cast<uint64_t>(r);
          data::LoaderOptions lo = rc.loader_options(nc.optim.batch_size, offset);
          lo.batch_key = "narrow.batch_size";
          data::Loader loader(rc.train_source(true), lo);
          const train::LrSchedule schedule(nc.optim, loader.steps_per_epoch(), steps);
          const std::string name = cat("narrow block ", i + 1, "/", n,
                                       (nc.restarts > 1 ? cat(" restart ", r + 1) : std::string()));
          train::Trainer trainer(rc.trainer_options(name, rdir, steps, nc.optim, offset), *sbar,
                                 store, *optimizer, schedule, loader);
          nn::Context tctx;
          tctx.training = false;
          Tensor dz;
          const auto& m = trainer.run([&](const data::Batch& b, nn::Context& ctx) {
            const Tensor target = teacher_prefix(*task, *teacher, b, i, tctx);
            const Tensor& z = sbar->forward_prefix(task->prepare(*sbar, b), i, ctx);
            train::StepStats s;
            s.loss = imitation_loss(nc.loss, z, target, dz);
            sbar->backward_prefix(dz, i, ctx);
            return s;
          });
          train_loss = m.last("loss");
          val = validation_error(rc, *task, *sbar, *teacher, i, nc.loss);
          rc.write([&] {
            m.write_csv((fs::path(rdir) / "metrics.csv").string());
            m.write_h5((fs::path(rdir) / "metrics.h5").string());
            io::save_weights(out, *sbar, "narrow");
            io::write_text_file(score, cat(train_loss, ' ', val, '\n'));
          });
        }
        log_info("narrow: block ", i + 1, "/", n,
                 (nc.restarts > 1 ? cat(" restart ", r + 1) : std::string()), ": imitation error ",
                 val, " (validation), ", train_loss, " (last training step)");
        if (val < best) {
          best = val;
          best_r = r;
        }
      }
      io::load_weights((fs::path(bdir) / cat("restart", best_r) / "final.h5").string(), *sbar);
      rc.write([&] {
        io::write_text_file((fs::path(bdir) / "kept.txt").string(), cat(best_r, '\n'));
        io::save_weights(best_file, *sbar, "narrow");
      });
    }
  }
  rc.write([&] {
    // The per-block summary, from every block's restarts (also those of earlier invocations).
    for (int i = 0; i < n; ++i) {
      const fs::path bdir = fs::path(dir) / cat("block", i);
      int kept = 0;
      std::ifstream(bdir / "kept.txt") >> kept;
      const int64_t steps = nc.steps_per_block * (nc.budget == "linear" ? i + 1 : 1);
      for (int r = 0; r < nc.restarts; ++r) {
        double train_loss = 0, val = 0;
        std::ifstream in(bdir / cat("restart", r) / "result.txt");
        if (!(in >> train_loss >> val)) continue;
        blocks.add({double(i), double(r), double(steps), train_loss, val, double(r == kept)});
      }
    }
    blocks.write_csv((fs::path(dir) / "blocks.csv").string());
    io::save_weights(rc.final_weights("narrow"), *sbar, "narrow", {{"config", rc.toml()}});
  });
}

}  // namespace win::method
