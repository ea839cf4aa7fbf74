// `win eval` and `win merge`: one stage of a deck on its run directory, on demand, whether or not
// `win run` already did it (e.g. after copying in a teacher, or to re-score with another test
// set via --set data.test=...). `win eval --weights FILE` scores one weights file of the deck's
// student (or, with --teacher, teacher) architecture and prints the numbers without touching the
// run directory.
#include <cstdio>

#include "app/commands.hpp"
#include "config/load.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/parallel.hpp"
#include "dist/comm.hpp"
#include "io/model_io.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"
#include "win/evaluate.hpp"
#include "win/stages.hpp"
#include "win/task.hpp"

namespace win::app {

namespace {

method::RunContext context_of(const Args& args, const char* cmd) {
  if (args.positionals.empty())
    WIN_FAIL(ErrorKind::Usage, "win ", cmd, ": missing argument: usage: win ", cmd,
             " DECK.toml [options]");
  const config::Deck deck = load_deck_everywhere(args.positionals[0], args.all("--set"));
  set_log_level(*parse_log_level(deck.run.log_level));
  set_num_threads(static_cast<int>(deck.run.threads));
  return method::RunContext(deck, config::deck_to_toml(deck));
}

int run_eval_cmd(const Args& args) {
  const method::RunContext rc = context_of(args, "eval");
  const auto weights = args.get("--weights");
  WIN_CHECK(weights || !args.has("--teacher"), ErrorKind::Usage,
            "win eval: --teacher goes with --weights (it says the file holds a teacher)");
  if (!weights) {
    method::check_same_experiment(rc, "eval");  // the models and budgets of report.md are its
    method::run_eval(rc);
    return 0;
  }
  const auto& d = rc.deck();
  const config::ModelConfig c =
      args.has("--teacher") ? models::teacher_config(d.model, d.teacher) : d.model;
  auto model = models::build_model(c, DType::F32);
  io::load_weights(*weights, *model);
  std::string on;
  auto test = rc.eval_source(&on, "win eval");
  auto task = method::make_task(c);
  const method::EvalResult r = method::evaluate(*task, *model, *test, d.eval.batch_size);
  if (!dist::world().is_root()) return 0;
  std::printf("weights      %s\nset          %s (%lld samples, %lld predictions)\n",
              weights->c_str(), on.c_str(), static_cast<long long>(r.samples),
              static_cast<long long>(r.predictions));
  std::printf("loss         %.6f\ntop1         %.4f\ntop5         %.4f\n", r.loss, r.top1, r.top5);
  if (r.nsp >= 0) std::printf("nsp          %.4f\n", r.nsp);
  return 0;
}

int run_merge_cmd(const Args& args) {
  const method::RunContext rc = context_of(args, "merge");
  method::check_same_experiment(rc, "merge");
  method::run_merge(rc);
  return 0;
}

OptionSpec set_option() {
  return {"--set", "KEY=VALUE", "override a deck key (as for win run)", true};
}

}  // namespace

Command eval_command() {
  return {{.name = "eval",
           .synopsis = "DECK.toml [--set key=value]... [--weights FILE.h5 [--teacher]]",
           .summary = "evaluate the trained models of a deck's run directory, or one weights file",
           .details = "Without --weights: the eval stage of `win run` (every trained model of\n"
                      "runs/<name> on the test set, or validation when there is none; for BERT\n"
                      "pretraining also the downstream fine-tunes), rewriting eval/results.csv\n"
                      "and report.md. With --weights: loss, top-1, top-5 (and NSP accuracy) of\n"
                      "that file as the deck's student (--teacher: its teacher), printed only.",
           .options = {set_option(),
                       {"--weights", "FILE.h5", "score this weights file only", false},
                       {"--teacher", "", "with --weights: the file holds a teacher", false}},
           .min_positionals = 0,
           .max_positionals = 1},
          run_eval_cmd};
}

Command merge_command() {
  return {{.name = "merge",
           .synopsis = "DECK.toml [--set key=value]...",
           .summary = "fold the bridges of the deck's narrow/fine-tuned student into a plain model",
           .details = "The merge stage of `win run`: reads finetune/final.h5 (or narrow/final.h5\n"
                      "for merge.when = \"after_narrow\"), writes merge/final.h5 and\n"
                      "merge/check.txt with max|merged - unmerged| / max|unmerged| on held-out\n"
                      "data; an exact merge beyond merge.tolerance fails with exit 5.",
           .options = {set_option()},
           .min_positionals = 0,
           .max_positionals = 1},
          run_merge_cmd};
}

}  // namespace win::app
