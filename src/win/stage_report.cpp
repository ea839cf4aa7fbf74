// The merge stage (fold the bridges, then check merged against unmerged on held-out data: an
// exact merge beyond merge.tolerance fails with a numerics error), the eval stage (every trained
// model on the test set: top-1, and top-5 when there are more than 10 classes) and report.md,
// the paper-style comparison of teacher, vanilla, KD and WIN students.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backend/precision.hpp"
#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/metrics.hpp"
#include "io/model_io.hpp"
#include "io/text_file.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "win/downstream.hpp"
#include "win/evaluate.hpp"
#include "win/merge.hpp"
#include "win/stages.hpp"
#include "win/task.hpp"

namespace win::method {

namespace fs = std::filesystem;

void run_merge(const RunContext& rc) {
  const auto& d = rc.deck();
  const backend::ScopedPrecision exact(backend::Precision::Fp32);
  const bool map = d.merge.when == "after_narrow";
  auto sbar = build_bridged(d.model, models::teacher_config(d.model, d.teacher),
                            bridge_mode_of(d.narrow.bridge_mode), DType::F32);
  const std::string from = map ? "narrow" : "finetune";
  WIN_CHECK(rc.exists(rc.final_weights(from)), ErrorKind::Checkpoint, "merge (merge.when = \"",
            d.merge.when, "\") folds the ", from, " stage's output, and ", rc.final_weights(from),
            " does not exist: run that stage first (win run --stages ", from, ")");
  io::load_weights(rc.final_weights(from), *sbar);
  MergeReport report;
  auto merged = merge_bridges(*sbar, d.model, &report);
  auto held_out = rc.val_source();
  if (!held_out) held_out = rc.test_source();
  if (!held_out) held_out = rc.train_source(false);
  auto task = make_task(d);
  const double rel = max_relative_difference(*task, *sbar, *merged, *held_out, 256);
  rc.write([&] {
    fs::create_directories(rc.stage_dir("merge"));
    std::ostringstream out;
    out << "merged from " << (map ? "narrow (MAP)" : "finetune (MAF)") << "\n"
        << "bridges folded " << report.folded << "\nbridges tied " << report.tied << "\nexact "
        << (report.exact ? "yes" : "no") << "\n"
        << "max_relative_difference " << rel << "\ntolerance " << d.merge.tolerance << "\n";
    for (const auto& why : report.inexact) out << "inexact " << why << "\n";
    io::write_text_file((fs::path(rc.stage_dir("merge")) / "check.txt").string(), out.str());
  });
  log_info("merge: ", report.folded, " bridges folded",
           report.tied > 0 ? cat(", ", report.tied, " tied (M2 M1 = I: nothing to fold)") : "",
           "; max|merged - unmerged| / max|unmerged| = ", rel, " on held-out data",
           report.exact ? "" : " (an approximate merge)");
  if (report.exact && !(rel <= d.merge.tolerance)) {
    // check.txt now describes this failed merge: an earlier merge's weights beside it would
    // mark the stage done with weights it does not describe.
    const std::string stale = rc.final_weights("merge");
    const bool removed = rc.exists(stale);
    if (removed) rc.write([&] { fs::remove(stale); });
    WIN_FAIL(ErrorKind::Numerics,
             "merge check failed: max|merged - unmerged| / max|unmerged| = ", rel,
             " exceeds merge.tolerance = ", d.merge.tolerance,
             " for a merge that is exact in exact arithmetic (merge/check.txt",
             removed ? "; the earlier merge/final.h5 was removed" : "", ")");
  } else
    for (const auto& why : report.inexact) log_warn("merge is approximate at ", why);
  if (!report.exact && !map && d.merge.post_finetune_steps > 0) {
    // A short fine-tune of the merged student recovers what the approximate fold lost; with
    // finetune's loss and optimiser, for post_finetune_steps steps.
    rc.write([&] {
      io::save_weights((fs::path(rc.stage_dir("merge")) / "merged.h5").string(), *merged, "merged",
                       {{"config", rc.toml()}});
    });
    config::TrainStageConfig cfg = d.finetune;
    cfg.optim.steps = d.merge.post_finetune_steps;
    std::unique_ptr<models::Model> teacher;
    if (cfg.loss != "ce") teacher = rc.load_teacher();
    log_info("merge: fine-tuning the merged student for ", cfg.optim.steps, " steps");
    train_model(rc, *merged, d.model, teacher.get(), "merge post-finetune",
                (fs::path(rc.stage_dir("merge")) / "post_finetune").string(), cfg, 2000);
  }
  rc.write([&] {
    io::save_weights(rc.final_weights("merge"), *merged, "merged", {{"config", rc.toml()}});
  });
}

namespace {

struct Row {
  std::string name, note;
  int64_t params = 0, macs = 0;
  EvalResult r;
  double downstream = -1;  // downstream test accuracy (BERT pretraining with downstream data)
};

std::string pct(double v) {
  char b[16];
  std::snprintf(b, sizeof b, "%.2f", 100.0 * v);
  return b;
}

std::string human(double v) {
  const char* u[] = {"", "K", "M", "G"};
  int i = 0;
  while (v >= 1000 && i < 3) v /= 1000, ++i;
  char b[32];
  std::snprintf(b, sizeof b, i ? "%.2f%s" : "%.0f%s", v, u[i]);
  return b;
}

std::string budget(const config::OptimConfig& o) {
  return o.steps > 0 ? cat(o.steps, " steps of ", o.batch_size)
                     : cat(o.epochs, " epochs of ", o.batch_size);
}

// report.md: the paper-style table of every model scored, and how it was trained.
void write_report(const RunContext& rc, const std::vector<Row>& rows, const std::string& on) {
  const auto& d = rc.deck();
  const bool pretrain = d.model.family == "bert" && d.model.bert.head == "pretrain";
  const bool top5 = !pretrain && d.model.classes > 10;
  const bool down = has_downstream(d);
  std::ostringstream md;
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  md << "# " << d.run.name << "\n\n"
     << "win " << build_version() << " (" << build_git_revision() << "), " << date << "; seed "
     << d.run.seed << "; " << on << " set of " << rows.front().r.samples
     << (d.model.family == "bert" ? " sequences" : " samples")
     << (pretrain ? cat(" (", rows.front().r.predictions, " masked tokens)") : std::string())
     << ".\n\n| model | | params | MACs/sample |";
  int cols = 4;
  auto col = [&](const std::string& h) {
    md << " " << h << " |";
    ++cols;
  };
  if (pretrain) {
    col(on + " MLM acc (%)");
    col("MLM loss");
    col(on + " NSP acc (%)");
    if (down) col("downstream test acc (%)");
  } else {
    col(on + " top-1 (%)");
    if (top5) col("top-5 (%)");
    col("loss");
  }
  md << "\n|";
  for (int i = 0; i < cols; ++i) md << " --- |";
  md << "\n";
  for (const auto& r : rows) {
    md << "| " << r.name << " | " << r.note << " | " << human(double(r.params)) << " | "
       << human(double(r.macs)) << " | " << pct(r.r.top1) << " | ";
    if (pretrain) {
      md << r.r.loss << " | " << pct(r.r.nsp) << " |";
      if (down) md << " " << pct(r.downstream) << " |";
    } else {
      if (top5) md << pct(r.r.top5) << " | ";
      md << r.r.loss << " |";
    }
    md << "\n";
  }
  md << "\nBudgets: teacher " << budget(d.wide.optim) << "; vanilla " << budget(d.vanilla.optim)
     << "; KD " << budget(d.kd.optim) << "; WIN " << d.narrow.steps_per_block
     << " imitation steps of " << d.narrow.optim.batch_size << " per block (" << d.narrow.budget
     << " budget) + " << budget(d.finetune.optim) << " of fine-tuning.";
  if (down)
    md << " Downstream: each model fine-tuned " << d.eval.downstream_epochs << " epochs of "
       << d.eval.downstream_batch_size << " at lr " << d.eval.downstream_lr << " on "
       << d.data.downstream_train << ", scored on " << d.data.downstream_test << ".";
  md << "\n";
  const fs::path blocks = fs::path(rc.stage_dir("narrow")) / "blocks.csv";
  std::error_code ec;  // a file that cannot be looked for is left unmentioned
  if (fs::exists(blocks, ec)) md << "Per-block imitation errors: `narrow/blocks.csv`. ";
  const fs::path check = fs::path(rc.stage_dir("merge")) / "check.txt";
  if (fs::exists(check, ec)) md << "Merge check: `merge/check.txt`.";
  md << "\n";
  io::write_text_file((fs::path(rc.dir()) / "report.md").string(), md.str());
}

}  // namespace

void run_eval(const RunContext& rc) {
  const auto& d = rc.deck();
  const auto tc = models::teacher_config(d.model, d.teacher);
  const bool map = d.merge.when == "after_narrow";
  struct Candidate {
    std::string name, note;
    const config::ModelConfig* config;
    std::string weights;
  };
  const std::vector<Candidate> all = {
      {"teacher", cat("wide, x", d.teacher.widen), &tc,
       rc.teacher_from_checkpoint() ? d.teacher.checkpoint : rc.final_weights("wide")},
      {"vanilla", "labels only", &d.model, rc.final_weights("vanilla")},
      {"KD", d.kd.loss, &d.model, rc.final_weights("kd")},
      {"WIN", map ? "merged after narrow (MAP)" : "merged after fine-tuning (MAF)", &d.model,
       rc.final_weights(map ? "finetune" : "merge")}};
  std::vector<Candidate> found;
  for (const auto& c : all)
    if (rc.exists(c.weights)) found.push_back(c);
  WIN_CHECK(!found.empty(), ErrorKind::Checkpoint, "eval: no trained model in ", rc.dir(),
            " (run the training stages first)");

  std::string on;
  auto test = rc.eval_source(&on, "eval");
  const auto sp = models::profile_model(*models::build_model(d.model, DType::F32), d.model);
  const auto tp = models::profile_model(*models::build_model(tc, DType::F32), tc);
  auto task = make_task(d);
  std::vector<Row> rows;
  for (const auto& c : found) {
    auto m = models::build_model(*c.config, DType::F32);
    io::load_weights(c.weights, *m);
    const auto& p = c.config == &tc ? tp : sp;
    Row row{c.name, c.note, p.params, p.macs, evaluate(*task, *m, *test, d.eval.batch_size)};
    log_info("eval: ", c.name, ": top-1 ", pct(row.r.top1), "% on ", row.r.predictions, " ", on,
             " predictions", row.r.nsp >= 0 ? cat(", NSP ", pct(row.r.nsp), "%") : std::string());
    if (has_downstream(d)) {
      std::string dir = c.name;
      for (auto& ch : dir) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      row.downstream = downstream_score(rc, dir, *c.config, c.weights).top1;
      log_info("eval: ", c.name, ": downstream test accuracy ", pct(row.downstream), "%");
    }
    rows.push_back(row);
  }
  // model: 0 teacher, 1 vanilla, 2 KD, 3 WIN (the order of report.md); -1 = not measured.
  io::MetricsTable t({"model", "params", "macs", "loss", "top1", "top5", "predictions", "samples",
                      "nsp", "downstream"});
  for (const auto& r : rows) {
    const double id = r.name == "teacher" ? 0 : r.name == "vanilla" ? 1 : r.name == "KD" ? 2 : 3;
    t.add({id, double(r.params), double(r.macs), r.r.loss, r.r.top1, r.r.top5,
           double(r.r.predictions), double(r.r.samples), r.r.nsp, r.downstream});
  }
  rc.write([&] {
    fs::create_directories(rc.stage_dir("eval"));
    t.write_csv(stage_output(rc, "eval"));
    write_report(rc, rows, on);
  });
  log_info("report: ", (fs::path(rc.dir()) / "report.md").string());
}

}  // namespace win::method
