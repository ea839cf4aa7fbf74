// The shared training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>

#include "core/build_info.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "train/clip.hpp"
#include "train/signals.hpp"

namespace win::train {

namespace {
constexpr uint64_t kDropoutStream = 0xD40;

// Test hooks: WIN_TEST_KILL_AT / WIN_TEST_SIGNAL_AT = "<stage prefix>@<step>" makes the process
// SIGKILL itself / send itself SIGUSR1 right after that step, so the resume tests can interrupt
// a run at a chosen point instead of racing a timer.
bool test_hook(const char* var, const std::string& stage, int64_t step) {
  const char* v = std::getenv(var);
  if (!v) return false;
  const std::string spec(v);
  const auto at = spec.rfind('@');
  if (at == std::string::npos) return false;
  return stage.rfind(spec.substr(0, at), 0) == 0 && spec.substr(at + 1) == std::to_string(step);
}
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

Trainer::Trainer(TrainerOptions opt, nn::Module& model, nn::ParamStore& store, Optimizer& optimizer,
                 const LrSchedule& schedule, data::Loader& loader)
    : opt_(std::move(opt)),
      model_(model),
      store_(store),
      opt_state_(optimizer),
      schedule_(schedule),
      loader_(loader),
      dir_(opt_.dir, opt_.keep),
      metrics_({"step", "epoch", "lr", "loss", "accuracy", "samples_per_s"}) {
  WIN_CHECK(opt_.total_steps >= 1, ErrorKind::Config, opt_.stage,
            ": the training length is 0 steps (set epochs or steps)");
}

void Trainer::put_model(io::Checkpoint& c, nn::Module& m) {
  m.for_each_param([&](const std::string& n, nn::Param& p) { c.tensors["model/" + n] = p.value; });
  m.for_each_buffer([&](const std::string& n, Tensor& t) { c.tensors["model/" + n] = t; });
}

void Trainer::get_model(const io::Checkpoint& c, nn::Module& m, const std::string& file) {
  auto load = [&](const std::string& n, Tensor& t) {
    const Tensor& s = c.get_tensor("model/" + n, file);
    WIN_CHECK(s.shape() == t.shape(), ErrorKind::Checkpoint, "checkpoint ", file, ": ", n,
              " has shape ", s.shape(), ", the model expects ", t.shape());
    t.copy_from(s);
  };
  m.for_each_param([&](const std::string& n, nn::Param& p) { load(n, p.value); });
  m.for_each_buffer([&](const std::string& n, Tensor& t) { load(n, t); });
}

void Trainer::checkpoint() {
  io::Checkpoint c;
  c.strings["stage"] = opt_.stage;
  c.strings["config"] = opt_.config_toml;
  c.strings["git_revision"] = build_git_revision();
  c.ints["step"] = step_;
  c.ints["epoch"] = loader_.epoch();
  c.ints["consumed"] = loader_.consumed();
  c.ints["optimizer_steps"] = opt_state_.step_count();
  c.ints["world_size"] = process_world_size();
  c.ints["seed"] = static_cast<int64_t>(opt_.seed);
  put_model(c, model_);
  for (const auto& e : store_.entries())
    for (const auto& s : opt_state_.state())
      c.tensors["optim/" + e.name + "/" + s.name] =
          s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape());
  c.tensors["extra/metrics"] = metrics_.to_tensor();
  if (save_) save_(c);
  const std::string path = dir_.save(step_, c);
  log_debug(opt_.stage, ": checkpoint ", path);
}

void Trainer::resume() {
  std::string file;
  const auto c = dir_.load_newest(&file);
  if (!c) return;
  WIN_CHECK(c->get_string("stage", file) == opt_.stage, ErrorKind::Checkpoint, "checkpoint ", file,
            " belongs to stage '", c->get_string("stage", file), "', not '", opt_.stage, "'");
  get_model(*c, model_, file);
  for (const auto& e : store_.entries())
    for (const auto& s : opt_state_.state()) {
      Tensor dst = s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape());
      const Tensor& src = c->get_tensor("optim/" + e.name + "/" + s.name, file);
      WIN_CHECK(src.shape() == dst.shape(), ErrorKind::Checkpoint, "checkpoint ", file,
                ": optimizer state of ", e.name, " has shape ", src.shape());
      dst.copy_from(src);
    }
  opt_state_.set_step_count(c->get_int("optimizer_steps", file));
  step_ = c->get_int("step", file);
  loader_.seek(c->get_int("epoch", file), c->get_int("consumed", file));
  metrics_.from_tensor(c->get_tensor("extra/metrics", file));
  if (load_) load_(*c, file);
  log_info(opt_.stage, ": resumed at step ", step_, " of ", opt_.total_steps, " from ", file);
}

const io::MetricsTable& Trainer::run(const StepFn& step_fn) {
  resume();
  nn::Context ctx;
  ctx.rng = Philox(opt_.seed, kDropoutStream);
  Progress progress(opt_.stage, opt_.total_steps, "step");
  progress.set_interval(opt_.progress_interval_s);
  int64_t last_saved = step_;
  double running = std::nan("");
  while (step_ < opt_.total_steps) {
    const int64_t epoch = loader_.epoch();
    const double t0 = now_s();
    const data::Batch& batch = loader_.next();
    ctx.step = static_cast<uint64_t>(step_);
    ctx.training = true;
    store_.zero_grad();
    const StepStats s = step_fn(batch, ctx);
    WIN_CHECK(std::isfinite(s.loss), ErrorKind::Numerics, opt_.stage, ": the loss is ", s.loss,
              " at step ", step_, " (lower the learning rate, or clip: clip_grad_norm)");
    if (opt_.clip_grad_norm > 0) clip_grad_norm(store_, opt_.clip_grad_norm);
    const double lr = schedule_.lr_at(step_);
    opt_state_.step(lr);
    ++step_;
    const double dt = now_s() - t0;
    const double acc = s.counted > 0
                           ? static_cast<double>(s.correct) / static_cast<double>(s.counted)
                           : std::nan("");
    metrics_.add({static_cast<double>(step_), static_cast<double>(epoch), lr, s.loss, acc,
                  static_cast<double>(loader_.local_batch()) / dt});
    running = std::isnan(running) ? s.loss : 0.98 * running + 0.02 * s.loss;
    progress.update(step_, cat("loss ", running));
    if (step_ % opt_.checkpoint_every == 0 || step_ == opt_.total_steps) {
      checkpoint();
      last_saved = step_;
    }
    if (test_hook("WIN_TEST_KILL_AT", opt_.stage, step_)) std::raise(SIGKILL);
    if (test_hook("WIN_TEST_SIGNAL_AT", opt_.stage, step_)) std::raise(SIGUSR1);
    if (stop_requested()) {
      if (last_saved != step_) checkpoint();
      progress.finish();
      WIN_FAIL(ErrorKind::Stopped, opt_.stage, ": stopped by a signal after step ", step_,
               "; checkpoint written to ", dir_.dir(), "; run again to resume");
    }
  }
  progress.finish();
  return metrics_;
}

}  // namespace win::train
