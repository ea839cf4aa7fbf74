// The merge stage (fold the bridges, then check merged against unmerged on held-out data: an
// exact merge beyond merge.tolerance fails with a numerics error), the eval stage (every trained
// model on the test set: top-1, and top-5 when there are more than 10 classes) and report.md,
// the paper-style comparison of teacher, vanilla, KD and WIN students.
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/metrics.hpp"
#include "io/model_io.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "win/evaluate.hpp"
#include "win/merge.hpp"
#include "win/stages.hpp"

namespace win::method {

namespace fs = std::filesystem;

void run_merge(const RunContext& rc) {
  const auto& d = rc.deck();
  const bool map = d.merge.when == "after_narrow";
  auto sbar = build_bridged(d.model, models::teacher_config(d.model, d.teacher),
                            bridge_mode_of(d.narrow.bridge_mode), DType::F32);
  io::load_weights(rc.final_weights(map ? "narrow" : "finetune"), *sbar);
  MergeReport report;
  auto merged = merge_bridges(*sbar, d.model, &report);
  auto held_out = rc.val_source();
  if (!held_out) held_out = rc.test_source();
  if (!held_out) held_out = rc.train_source(false);
  const double rel = max_relative_difference(*sbar, *merged, *held_out, 256);
  fs::create_directories(rc.stage_dir("merge"));
  {
    std::ofstream out(fs::path(rc.stage_dir("merge")) / "check.txt");
    out << "merged from " << (map ? "narrow (MAP)" : "finetune (MAF)") << "\n"
        << "bridges folded " << report.folded << "\nexact " << (report.exact ? "yes" : "no") << "\n"
        << "max_relative_difference " << rel << "\ntolerance " << d.merge.tolerance << "\n";
    for (const auto& why : report.inexact) out << "inexact " << why << "\n";
  }
  log_info("merge: ", report.folded,
           " bridges folded; max|merged - unmerged| / max|unmerged| = ", rel, " on held-out data",
           report.exact ? "" : " (an approximate merge)");
  if (report.exact)
    WIN_CHECK(rel <= d.merge.tolerance, ErrorKind::Numerics,
              "merge check failed: max|merged - "
              "unmerged| / max|unmerged| = ",
              rel, " exceeds merge.tolerance = ", d.merge.tolerance,
              " for a merge that is exact in exact arithmetic");
  else
    for (const auto& why : report.inexact) log_warn("merge is approximate at ", why);
  io::save_weights(rc.final_weights("merge"), *merged, "merged", {{"config", rc.toml()}});
}

namespace {

struct Row {
  std::string name, note;
  int64_t params = 0, macs = 0;
  EvalResult r;
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

}  // namespace

void run_eval(const RunContext& rc) {
  const auto& d = rc.deck();
  auto test = rc.test_source();
  std::string on = "test";
  if (!test) {
    test = rc.val_source();
    on = "validation";
  }
  WIN_CHECK(test != nullptr, ErrorKind::Config, "eval: no test or validation data (set data.test)");
  const auto tc = models::teacher_config(d.model, d.teacher);
  const auto sp = models::profile_model(*models::build_model(d.model, DType::F32), d.model);
  const auto tp = models::profile_model(*models::build_model(tc, DType::F32), tc);
  std::vector<Row> rows;
  auto score = [&](const std::string& name, const std::string& note, const config::ModelConfig& c,
                   const std::string& weights, const models::ModelProfile& p) {
    if (!fs::exists(weights)) return;
    auto m = models::build_model(c, DType::F32);
    io::load_weights(weights, *m);
    Row row{name, note, p.params, p.macs, evaluate_classifier(*m, *test, d.eval.batch_size)};
    log_info("eval: ", name, ": top-1 ", pct(row.r.top1), "% on ", row.r.samples, " ", on,
             " samples");
    rows.push_back(row);
  };
  const std::string teacher_file =
      rc.teacher_from_checkpoint() ? d.teacher.checkpoint : rc.final_weights("wide");
  score("teacher", cat("wide, x", d.teacher.widen), tc, teacher_file, tp);
  score("vanilla", "labels only", d.model, rc.final_weights("vanilla"), sp);
  score("KD", d.kd.loss, d.model, rc.final_weights("kd"), sp);
  const bool map = d.merge.when == "after_narrow";
  score("WIN", map ? "merged after narrow (MAP)" : "merged after fine-tuning (MAF)", d.model,
        rc.final_weights(map ? "finetune" : "merge"), sp);
  WIN_CHECK(!rows.empty(), ErrorKind::Checkpoint, "eval: no trained model in ", rc.dir(),
            " (run the training stages first)");
  fs::create_directories(rc.stage_dir("eval"));
  io::MetricsTable t({"model", "params", "macs", "loss", "top1", "top5", "samples"});
  for (size_t i = 0; i < rows.size(); ++i)
    t.add({double(i), double(rows[i].params), double(rows[i].macs), rows[i].r.loss, rows[i].r.top1,
           rows[i].r.top5, double(rows[i].r.samples)});
  t.write_csv(stage_output(rc, "eval"));

  const bool top5 = d.model.classes > 10;
  std::ofstream md(fs::path(rc.dir()) / "report.md");
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  md << "# " << d.run.name << "\n\n"
     << "win " << build_version() << " (" << build_git_revision() << "), " << date << "; seed "
     << d.run.seed << "; " << on << " set of " << rows.front().r.samples << " samples.\n\n"
     << "| model | | params | MACs/sample | " << on << " top-1 (%)" << (top5 ? " | top-5 (%)" : "")
     << " | loss |\n| --- | --- | --- | --- | --- |" << (top5 ? " --- |" : "") << " --- |\n";
  for (const auto& r : rows)
    md << "| " << r.name << " | " << r.note << " | " << human(double(r.params)) << " | "
       << human(double(r.macs)) << " | " << pct(r.r.top1) << (top5 ? " | " + pct(r.r.top5) : "")
       << " | " << r.r.loss << " |\n";
  auto budget = [](const config::OptimConfig& o) {
    return o.steps > 0 ? cat(o.steps, " steps of ", o.batch_size) : cat(o.epochs, " epochs");
  };
  md << "\nBudgets: teacher " << budget(d.wide.optim) << "; vanilla " << budget(d.vanilla.optim)
     << "; KD " << budget(d.kd.optim) << "; WIN " << d.narrow.steps_per_block
     << " imitation steps of " << d.narrow.optim.batch_size << " per block (" << d.narrow.budget
     << " budget) + " << budget(d.finetune.optim) << " of fine-tuning.\n";
  const fs::path blocks = fs::path(rc.stage_dir("narrow")) / "blocks.csv";
  if (fs::exists(blocks)) md << "Per-block imitation errors: `narrow/blocks.csv`. ";
  const fs::path check = fs::path(rc.stage_dir("merge")) / "check.txt";
  if (fs::exists(check)) md << "Merge check: `merge/check.txt`.";
  md << "\n";
  log_info("report: ", (fs::path(rc.dir()) / "report.md").string());
}

}  // namespace win::method
