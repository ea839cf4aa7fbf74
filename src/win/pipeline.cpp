// The order of `win run` (see stages.hpp).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/caching_allocator.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/comm.hpp"
#include "win/preflight.hpp"
#include "win/stages.hpp"

namespace win::method {

namespace fs = std::filesystem;

std::string stage_output(const RunContext& rc, const std::string& stage) {
  if (stage == "eval") return (fs::path(rc.stage_dir("eval")) / "results.csv").string();
  return rc.final_weights(stage);
}

void run_pipeline(const RunContext& rc) {
  preflight(rc);  // data, model against data, pipeline grid: before any stage (preflight.hpp)
  const auto& d = rc.deck();
  std::vector<std::string> stages = d.run.stages;
  // MAP folds the bridges right after narrow and fine-tunes the plain student.
  if (d.merge.when == "after_narrow") {
    auto m = std::find(stages.begin(), stages.end(), "merge");
    auto f = std::find(stages.begin(), stages.end(), "finetune");
    if (m != stages.end() && f != stages.end() && m > f) std::iter_swap(m, f);
  }
  rc.write([&] {
    fs::create_directories(rc.dir());
    std::ofstream out(fs::path(rc.dir()) / "config.toml");
    out << rc.toml();
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
  if (dist::world().is_root() && fs::exists(report)) {
    std::ifstream in(report);
    std::string line;
    std::fputs("\n", stdout);
    while (std::getline(in, line)) std::puts(line.c_str());
  }
}

}  // namespace win::method
