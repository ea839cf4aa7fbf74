// The shared training loop (see trainer.hpp).
#include "train/trainer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <csignal>
#include <cstdlib>

#include "backend/transfer.hpp"
#include "core/build_info.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "dist/collective.hpp"
#include "dist/device_comm.hpp"
#include "train/clip.hpp"
#include "train/grad_sync.hpp"
#include "train/signals.hpp"

namespace win::train {

namespace {
constexpr uint64_t kDropoutStream = 0xD40;

// Test hooks: WIN_TEST_KILL_AT / WIN_TEST_SIGNAL_AT = "<stage prefix>@<step>" makes the process
// SIGKILL itself / send itself SIGUSR1 right after that step, so the resume tests can interrupt
// a run at a chosen point instead of racing a timer. With WIN_TEST_HOOK_RANK set, only that rank
// does (the multi-rank fault tests).
bool test_hook(const char* var, const std::string& stage, int64_t step) {
  const char* v = std::getenv(var);
  if (!v) return false;
  if (const char* r = std::getenv("WIN_TEST_HOOK_RANK"); r && std::atoi(r) != process_rank())
    return false;
  const std::string spec(v);
  const auto at = spec.rfind('@');
  if (at == std::string::npos) return false;
  return stage.rfind(spec.substr(0, at), 0) == 0 && spec.substr(at + 1) == std::to_string(step);
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
  WIN_CHECK(loader_.world() == comm().size(), ErrorKind::Internal, opt_.stage, ": the loader cuts ",
            loader_.world(), " slices for ", comm().size(), " data-parallel ranks");
}

const dist::Comm& Trainer::comm() const {
  return opt_.comm ? *opt_.comm : dist::world();
}

void Trainer::put_model(io::Checkpoint& c, nn::Module& m) {
  // Host copies of device tensors (the file is written from the host).
  auto host = [](const Tensor& t) { return backend::to_device(t, Device::CPU); };
  m.for_each_param(
      [&](const std::string& n, nn::Param& p) { c.tensors["model/" + n] = host(p.value); });
  m.for_each_buffer([&](const std::string& n, Tensor& t) { c.tensors["model/" + n] = host(t); });
}

void Trainer::get_model(const io::Checkpoint& c, nn::Module& m, const std::string& file) {
  auto load = [&](const std::string& n, Tensor& t) {
    const Tensor& s = c.get_tensor("model/" + n, file);
    WIN_CHECK(s.shape() == t.shape(), ErrorKind::Checkpoint, "checkpoint ", file, ": ", n,
              " has shape ", s.shape(), ", the model expects ", t.shape());
    backend::copy_across(s, t);
  };
  m.for_each_param([&](const std::string& n, nn::Param& p) { load(n, p.value); });
  m.for_each_buffer([&](const std::string& n, Tensor& t) { load(n, t); });
}

void Trainer::checkpoint() {
  // One set of BatchNorm statistics for the file, and the same on every replica afterwards, so
  // that a resumed run continues exactly like this one.
  average_buffers(comm(), model_);
  io::Checkpoint c;
  c.strings["stage"] = opt_.stage;
  c.strings["config"] = opt_.config_toml;
  c.strings["git_revision"] = build_git_revision();
  c.ints["step"] = step_;
  c.ints["epoch"] = loader_.epoch();
  c.ints["consumed"] = loader_.consumed();
  c.ints["optimizer_steps"] = opt_state_.step_count();
  c.ints["world_size"] = comm().size();
  c.ints["seed"] = static_cast<int64_t>(opt_.seed);
  put_model(c, model_);
  for (const auto& e : store_.entries())
    for (const auto& s : opt_state_.state())
      c.tensors["optim/" + e.name + "/" + s.name] = backend::to_device(
          s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape()),
          Device::CPU);
  c.tensors["extra/metrics"] = metrics_.to_tensor();
  if (save_) save_(c);
  dist::on_root(comm(), [&] {
    const std::string path = dir_.save(step_, c);
    log_debug(opt_.stage, ": checkpoint ", path);
  });
}

std::optional<io::Checkpoint> load_newest_everywhere(const dist::Comm& comm,
                                                     const io::CheckpointDir& dir,
                                                     std::string* file,
                                                     const io::CheckpointDir::Check& check) {
  std::optional<io::Checkpoint> c;
  *file = dist::from_root(comm, [&] {
    std::string f;
    c = dir.load_newest(&f, check);
    return c ? f : std::string();
  });
  if (!file->empty() && !c) c = io::load_checkpoint(*file);
  return c;
}

void check_same_data(const dist::Comm& comm, int64_t samples, const std::string& stage) {
  if (comm.size() == 1) return;
  std::vector<int64_t> each(static_cast<size_t>(comm.size()), 0);  // one slot per rank
  each[static_cast<size_t>(comm.rank())] = samples;
  comm.allreduce(std::span<int64_t>(each));
  if (std::all_of(each.begin(), each.end(), [&](int64_t v) { return v == each.front(); })) return;
  std::string per_rank;
  for (size_t r = 0; r < each.size(); ++r) per_rank += cat(r ? ", " : "", "rank ", r, " ", each[r]);
  throw dist::CollectiveError(
      ErrorKind::Data,
      cat(stage, ": the ranks read different training data (samples: ", per_rank,
          "): every rank must see the same data.train (a working directory per rank, or a file "
          "system that shows the ranks different files?)"),
      true);
}

io::CheckpointDir::Check resumable(std::string stage, nn::Module& model,
                                   const nn::ParamStore& store,
                                   std::vector<std::string> state_names) {
  return [stage = std::move(stage), &model, &store, names = std::move(state_names)](
             const io::Checkpoint& c, const std::string& file) {
    WIN_CHECK(c.get_string("stage", file) == stage, ErrorKind::Checkpoint, "checkpoint ", file,
              " belongs to stage '", c.get_string("stage", file), "', not '", stage, "'");
    auto fits = [&](const std::string& key, const Dims& want, const std::string& what) {
      const Tensor& t = c.get_tensor(key, file);
      WIN_CHECK(t.shape() == want, ErrorKind::Checkpoint, "checkpoint ", file, ": ", what,
                " has shape ", t.shape(), ", the model expects ", want);
    };
    model.for_each_param(
        [&](const std::string& n, nn::Param& p) { fits("model/" + n, p.value.shape(), n); });
    model.for_each_buffer(
        [&](const std::string& n, Tensor& t) { fits("model/" + n, t.shape(), n); });
    for (const auto& e : store.entries())
      for (const auto& s : names)
        fits("optim/" + e.name + "/" + s, e.param->value.shape(),
             "optimizer state " + s + " of " + e.name);
    for (const char* k : {"step", "epoch", "consumed", "optimizer_steps"}) (void)c.get_int(k, file);
    (void)c.get_tensor("extra/metrics", file);
  };
}

void Trainer::resume() {
  std::string file;
  std::vector<std::string> names;
  for (const auto& s : opt_state_.state()) names.push_back(s.name);
  const auto c =
      load_newest_everywhere(comm(), dir_, &file, resumable(opt_.stage, model_, store_, names));
  if (!c) return;  // c is this stage's, every tensor of the model's shape (resumable)
  get_model(*c, model_, file);
  for (const auto& e : store_.entries())  // shapes checked by resumable() before any restore
    for (const auto& s : opt_state_.state()) {
      Tensor dst = s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape());
      backend::copy_across(c->get_tensor("optim/" + e.name + "/" + s.name, file), dst);
    }
  opt_state_.set_step_count(c->get_int("optimizer_steps", file));
  step_ = c->get_int("step", file);
  loader_.seek(c->get_int("epoch", file), c->get_int("consumed", file));
  metrics_.from_tensor(c->get_tensor("extra/metrics", file));
  if (load_) load_(*c, file);
  log_info(opt_.stage, ": resumed at step ", step_, " of ", opt_.total_steps, " from ", file);
  if (const auto it = c->ints.find("world_size");
      it != c->ints.end() && it->second != comm().size())
    log_info(opt_.stage, ": the checkpoint was written by ", it->second,
             " data-parallel rank(s), continuing on ", comm().size(),
             " (the global batch and the data order stay the same)");
}

void Trainer::report_throughput(double samples, double seconds, double allreduce_s) {
  const dist::Comm& c = comm();
  std::vector<double> v(static_cast<size_t>(c.size()) + 1, 0.0);
  v[static_cast<size_t>(c.rank())] = seconds > 0 ? samples / seconds : 0;
  v.back() = seconds > 0 ? allreduce_s / seconds : 0;
  c.allreduce(std::span<double>(v));
  throughput_.allreduce_share = v.back() / c.size();
  v.pop_back();
  throughput_.samples_per_s = v;
  if (c.size() == 1 || samples == 0) return;
  std::string per_rank;
  double total = 0;
  for (size_t r = 0; r < v.size(); ++r) {
    per_rank += cat(r ? ", " : "", "rank ", r, " ", static_cast<int64_t>(v[r]));
    total += v[r];
  }
  // On the device path finish() only queues a wait, so the host cannot time the allreduce.
  log_info(opt_.stage, ": samples/s per rank: ", per_rank, " (together ",
           static_cast<int64_t>(total), "); gradient allreduce ",
           on_device_ ? std::string("on the GPUs (NCCL, not timed by the host)")
                      : cat(static_cast<int>(100 * throughput_.allreduce_share + 0.5),
                            "% of the step time"));
}

const io::MetricsTable& Trainer::run(const StepFn& step_fn) {
  const dist::Comm& group = comm();
  check_same_data(group, loader_.dataset_size(), opt_.stage);
  resume();
  // Gradients on GPUs are summed by NCCL on a side stream when every rank of the group has a GPU
  // of its own; ranks that share one reduce through host memory.
  std::unique_ptr<dist::DeviceComm> own_comm;
  dist::DeviceComm* device_comm = nullptr;
  const Tensor& grads = store_.grads();
  if (group.size() > 1 && grads.defined() && grads.device() != Device::CPU) {
    std::string why = opt_.device_comm_why;
    if (opt_.comm == nullptr && (opt_.device_comm != nullptr || !why.empty())) {
      device_comm = opt_.device_comm;  // the job's (or the job's reason for having none)
    } else {
      own_comm = dist::make_device_comm(group, &why);
      device_comm = own_comm.get();
    }
    log_info(opt_.stage, ": gradient allreduce ",
             device_comm ? std::string("by NCCL, overlapping backward")
                         : cat("through host memory and MPI (", why, ")"));
  }
  on_device_ = device_comm != nullptr;
  GradientSync sync(group, store_, opt_.bucket_mb, {}, device_comm);
  CommReplicaSum replicas(group);
  nn::Context ctx;
  ctx.rng = Philox(opt_.seed, kDropoutStream);
  ctx.sample_offset = loader_.slice_offset();
  ctx.replicas = opt_.sync_bn ? &replicas : nullptr;
  // Buckets of gradients start their allreduce while backward goes on (models announce each
  // finished block through ctx.grads_ready).
  ctx.grads_ready = group.size() > 1 ? &sync : nullptr;
  Progress progress(opt_.stage, opt_.total_steps, "step");
  progress.set_interval(opt_.progress_interval_s);
  progress.set_start(step_);
  int64_t last_saved = step_;
  double running = std::nan("");
  double busy_s = 0, allreduce_s = 0, samples = 0;
  const auto world = static_cast<double>(group.size());
  while (step_ < opt_.total_steps) {
    const int64_t epoch = loader_.epoch();
    const double t0 = monotonic_seconds();
    const data::Batch& batch = loader_.next();
    ctx.step = static_cast<uint64_t>(step_);
    ctx.training = true;
    store_.zero_grad();
    if (count_ && group.size() > 1) {
      const auto mine = static_cast<double>(count_(batch));
      const double all = group.allreduce_value(mine);
      ctx.label_weight = all > 0 ? world * mine / all : 1.0;
    }
    sync.begin();
    const StepStats s = step_fn(batch, ctx);
    if (test_hook("WIN_TEST_SIGNAL_AT", opt_.stage, step_ + 1)) std::raise(SIGUSR1);
    const double t1 = monotonic_seconds();
    sync.finish();  // every started reduction completes before anything else is decided
    allreduce_s += monotonic_seconds() - t1;
    // One small reduction carries the step's statistics and the stop request: every rank then
    // takes the same decisions below.
    std::array<double, 4> red = {s.loss, static_cast<double>(s.correct),
                                 static_cast<double>(s.counted), stop_requested() ? 1.0 : 0.0};
    group.allreduce(std::span<double>(red));
    const double loss = red[0] / world;
    if (!std::isfinite(loss)) {
      const std::string msg = cat(opt_.stage, ": the loss is ", loss, " at step ", step_,
                                  group.size() > 1 ? cat(" (this rank's: ", s.loss, ")") : "",
                                  " (lower the learning rate, or clip: clip_grad_norm)");
      if (group.size() > 1)
        throw dist::CollectiveError(ErrorKind::Numerics, msg, group.size() == dist::world().size());
      WIN_FAIL(ErrorKind::Numerics, msg);
    }
    if (opt_.clip_grad_norm > 0) clip_grad_norm(store_, opt_.clip_grad_norm);
    const double lr = schedule_.lr_at(step_);
    opt_state_.step(lr);
    ++step_;
    const double dt = monotonic_seconds() - t0;
    busy_s += dt;
    samples += static_cast<double>(loader_.local_batch());
    const auto correct = static_cast<int64_t>(red[1]), counted = static_cast<int64_t>(red[2]);
    const double acc =
        counted > 0 ? static_cast<double>(correct) / static_cast<double>(counted) : std::nan("");
    metrics_.add({static_cast<double>(step_), static_cast<double>(epoch), lr, loss, acc,
                  static_cast<double>(loader_.local_batch()) * world / dt});
    running = std::isnan(running) ? loss : 0.98 * running + 0.02 * loss;
    progress.update(step_, cat("loss ", running));
    if (step_ % opt_.checkpoint_every == 0 || step_ == opt_.total_steps) {
      checkpoint();
      last_saved = step_;
    }
    if (test_hook("WIN_TEST_KILL_AT", opt_.stage, step_)) std::raise(SIGKILL);
    if (test_hook("WIN_TEST_THROW_AT", opt_.stage, step_))
      WIN_FAIL(ErrorKind::Data, opt_.stage, ": test fault injected after step ", step_,
               " (WIN_TEST_THROW_AT)");
    if (red[3] > 0) {
      if (last_saved != step_) checkpoint();
      progress.finish();
      WIN_FAIL(ErrorKind::Stopped, opt_.stage, ": stopped by a signal after step ", step_,
               "; checkpoint written to ", dir_.dir(), "; run again to resume");
    }
  }
  progress.finish();
  throughput_.buckets = sync.num_buckets();
  throughput_.buckets_in_backward = sync.started_in_backward();
  report_throughput(samples, busy_s, allreduce_s);
  return metrics_;
}

}  // namespace win::train
