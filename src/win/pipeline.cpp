// The order of `win run` (see stages.hpp).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/load.hpp"
#include "core/caching_allocator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/comm.hpp"
#include "io/text_file.hpp"
#include "win/preflight.hpp"
#include "win/stages.hpp"

namespace win::method {

namespace fs = std::filesystem;

std::string stage_output(const RunContext& rc, const std::string& stage) {
  if (stage == "eval") return (fs::path(rc.stage_dir("eval")) / "results.csv").string();
  return rc.final_weights(stage);
}

// A run directory holds one experiment: its finished stages are skipped and its checkpoints
// resumed, so a deck that differs from the one the directory was started with (its config.toml)
// in a key that shapes the results would get the old results under the new deck's name, and
// config.toml would no longer describe them. Such a deck is refused, naming the keys, before
// anything is written. Keys that may change between invocations of the same run: where and how
// fast it computes (threads, device, precision, determinism, the pipeline grid, the allreduce
// buckets, prefetching, the evaluation batch), which stages run, logging, and checkpoint cadence;
// and what only the eval stage reads (data.test, the downstream data, eval.*) while eval is to
// run anew: `win eval`, or `win run` before eval has finished (tools/experiments.py scores the
// models of a validation run on the test set that way).
void check_same_experiment(const RunContext& rc, const std::string& rerun) {
  const std::string path = (fs::path(rc.dir()) / "config.toml").string();
  if (!rc.exists(path)) return;
  const config::Deck& now = rc.deck();
  config::Deck before;
  try {
    before = config::parse_deck(rc.read_text(path), path);
  } catch (const Error& e) {
    WIN_FAIL(ErrorKind::Config, "the run directory ", rc.dir(),
             " was started with a deck this win cannot read back (", e.what(),
             "): give this deck another run.name, or remove ", rc.dir(), " to start over");
  }
  before.run.name = now.run.name;
  before.run.dir = now.run.dir;
  before.run.threads = now.run.threads;
  before.run.stages = now.run.stages;
  before.run.device = now.run.device;
  before.run.precision = now.run.precision;
  before.run.deterministic = now.run.deterministic;
  before.run.log_level = now.run.log_level;
  before.run.progress_interval_s = now.run.progress_interval_s;
  before.checkpoint = now.checkpoint;
  before.dist.pipeline = now.dist.pipeline;
  before.dist.partition = now.dist.partition;
  before.dist.bucket_mb = now.dist.bucket_mb;
  before.data.prefetch = now.data.prefetch;
  before.eval.batch_size = now.eval.batch_size;
  if (rerun == "eval" || !rc.exists(stage_output(rc, "eval"))) {
    before.data.test = now.data.test;
    before.data.downstream_train = now.data.downstream_train;
    before.data.downstream_test = now.data.downstream_test;
    before.eval = now.eval;
  }
  if (rerun == "merge") before.merge.tolerance = now.merge.tolerance;
  const std::vector<std::string> changed = config::deck_differences(before, now);
  if (changed.empty()) return;
  std::string list;
  for (size_t i = 0; i < changed.size() && i < 8; ++i) list += (i ? "; " : "") + changed[i];
  if (changed.size() > 8) list += cat("; and ", changed.size() - 8, " more");
  WIN_FAIL(ErrorKind::Config, "the run directory ", rc.dir(), " holds a run of another deck (",
           path, "): ", list,
           ". Its finished stages would be skipped and its checkpoints resumed with the old "
           "settings: give this deck another run.name, or remove ",
           rc.dir(), " to start over");
}

void run_pipeline(const RunContext& rc) {
  preflight(rc);  // data, model against data, pipeline grid: before any stage (preflight.hpp)
  const auto& d = rc.deck();
  check_same_experiment(rc, "");
  std::vector<std::string> stages = d.run.stages;
  // MAP folds the bridges right after narrow and fine-tunes the plain student.
  if (d.merge.when == "after_narrow") {
    auto m = std::find(stages.begin(), stages.end(), "merge");
    auto f = std::find(stages.begin(), stages.end(), "finetune");
    if (m != stages.end() && f != stages.end() && m > f) std::iter_swap(m, f);
  }
  rc.write([&] {
    fs::create_directories(rc.dir());
    io::write_text_file((fs::path(rc.dir()) / "config.toml").string(), rc.toml());
  });
  for (const auto& s : stages) {
    if (s == "wide" && rc.teacher_from_checkpoint()) {
      log_info("wide: skipped, the teacher is ", d.teacher.checkpoint, " (teacher.checkpoint)");
      continue;
    }
    if (rc.exists(stage_output(rc, s))) {
      log_info(s, ": skipped, its output ", stage_output(rc, s), " exists");
      continue;
    }
    log_info("== stage ", s, " ==");
    if (s == "wide")
      run_wide(rc);
    else if (s == "narrow")
      run_narrow(rc);
    else if (s == "finetune")
      run_finetune(rc);
    else if (s == "merge")
      run_merge(rc);
    else if (s == "vanilla")
      run_vanilla(rc);
    else if (s == "kd")
      run_kd(rc);
    else if (s == "eval")
      run_eval(rc);
    else
      WIN_FAIL(ErrorKind::Config, "run.stages: unknown stage '", s, "'");
    // The stage's models are gone and the next one's have other shapes: the backward blocks
    // cached for this stage go back to the system.
    transient_allocator(rc.device()).trim();
  }
  const fs::path report = fs::path(rc.dir()) / "report.md";
  if (std::error_code ec; dist::world().is_root() && fs::exists(report, ec)) {
    std::ifstream in(report);
    std::string line;
    std::fputs("\n", stdout);
    while (std::getline(in, line)) std::puts(line.c_str());
  }
}

}  // namespace win::method
