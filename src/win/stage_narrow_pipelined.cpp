// The pipelined narrow schedule (DESIGN §2): every block of the bridged student learns at once,
// each from its own imitation loss with its input held constant, so the blocks can live on
// different ranks and no gradient ever crosses one. The job is a grid of P pipeline stages x D
// data ranks (rank = p * D + q). Stage p owns a contiguous run of blocks (PipelinePlan): for
// each micro-batch it receives the teacher's and the student's activations at its first
// boundary from stage p-1, runs its frozen teacher blocks and its student blocks forward, sends
// both activations on to stage p+1, and then backpropagates each of its blocks' losses into that
// block alone. After the step's M micro-batches the D replicas of a stage average their blocks'
// gradients and update them. Stage p works on micro-batch m while stage p+1 works on m-1, so the
// stages overlap; every step ends with one small allreduce over all ranks (the losses and the
// stop request).
//
// A block j is the unit {M_{j-1,2}, S_j, M_{j,1}} (block 0: the stem, S_0, M_{0,1}): its input is
// the wide activation z_{j-1} of the student (narrow.input = "student") or the teacher's a_{j-1}
// (teacher-forced), lowered by M_{j-1,2}; tied bridges have no M2 and pass h_{j-1} itself. Since
// every block's input at step t comes from weights of step t, the result does not depend on P,
// on the partition or on D: one rank running the same schedule computes the same numbers.
//
// Checkpoints hold the whole S̄ and every block's optimizer state (gathered to all ranks first),
// so a run resumes on any grid.
#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "dist/collective.hpp"
#include "io/checkpoint.hpp"
#include "io/metrics.hpp"
#include "io/model_io.hpp"
#include "nn/param_store.hpp"
#include "train/grad_sync.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"
#include "train/signals.hpp"
#include "train/trainer.hpp"
#include "win/activation_link.hpp"
#include "win/narrow_common.hpp"
#include "win/pipeline_plan.hpp"
#include "win/stages.hpp"

namespace win::method {

namespace fs = std::filesystem;

namespace {

// The P x D grid of the job: `pipe` links the stages of one data rank, `data` the replicas of
// one stage.
struct Grid {
  int P = 1, D = 1, p = 0, q = 0;
  dist::Comm pipe, data;
};

Grid make_grid(int P) {
  const dist::Comm& w = dist::world();
  Grid g;
  g.P = P;
  g.D = w.size() / P;
  g.p = w.rank() / g.D;
  g.q = w.rank() % g.D;
  g.pipe = w.split(g.q, g.p);
  g.data = w.split(g.p, g.q);
  return g;
}

// Which block (unit) trains each parameter and owns each buffer; -1: none (the head, the last M2).
struct Ownership {
  std::map<const nn::Param*, int> param;
  std::vector<std::pair<Tensor*, int>> buffers;
};

Ownership ownership(BridgedModel& sbar) {
  Ownership o;
  models::Model& s = sbar.student();
  const int n = sbar.num_blocks();
  s.stem().for_each_param([&](const std::string&, nn::Param& p) { o.param[&p] = 0; });
  s.stem().for_each_buffer([&](const std::string&, Tensor& t) { o.buffers.emplace_back(&t, 0); });
  for (int j = 0; j < n; ++j) {
    s.block(j).for_each_param([&](const std::string&, nn::Param& p) { o.param[&p] = j; });
    s.block(j).for_each_buffer(
        [&](const std::string&, Tensor& t) { o.buffers.emplace_back(&t, j); });
    o.param[&sbar.bridge(j).m1()] = j;
    if (j + 1 < n && sbar.bridge(j).m2()) o.param[sbar.bridge(j).m2()] = j + 1;
  }
  return o;
}

// Per-block cost for the balanced partition: forward MACs of teacher block j and student unit j
// for one sample.
std::vector<double> block_costs(Task& task, models::Model& teacher, BridgedModel& sbar,
                                data::SampleSource& src) {
  data::Batch b;
  src.allocate(b, 1);
  src.fill(b, 0, 0, 0);
  nn::Context ctx;
  ctx.training = false;
  std::vector<double> cost(static_cast<size_t>(sbar.num_blocks()), 0.0);
  Tensor t = teacher.stem().forward(task.prepare(teacher, b), ctx);
  Tensor s = sbar.student().stem().forward(task.prepare(sbar, b), ctx);
  for (int j = 0; j < sbar.num_blocks(); ++j) {
    ctx.macs = 0;
    t = teacher.block(j).forward(t, ctx);
    s = sbar.bridge(j).forward(sbar.student().block(j).forward(s, ctx), ctx);
    cost[static_cast<size_t>(j)] = static_cast<double>(ctx.macs);
  }
  return cost;
}

}  // namespace

void run_narrow_pipelined(const RunContext& rc) {
  const auto& d = rc.deck();
  const auto& nc = d.narrow;
  const dist::Comm& world = dist::world();
  Grid g = make_grid(static_cast<int>(d.dist.pipeline));
  const auto M = static_cast<int>(d.dist.micro_batches);
  const bool teacher_forced = nc.input == "teacher";
  const std::string dir = rc.stage_dir("narrow");
  rc.write([&] { fs::create_directories(dir); });

  auto teacher = rc.load_teacher();
  auto task = make_task(d);
  auto sbar = initial_student(rc, *teacher);
  const int n = sbar->num_blocks();
  const bool free = sbar->bridge(0).mode() == BridgeMode::Free;
  const PipelinePlan plan =
      d.dist.partition.empty()
          ? PipelinePlan::balanced(block_costs(*task, *teacher, *sbar, *rc.train_source(false)),
                                   g.P)
          : PipelinePlan(d.dist.partition);
  WIN_CHECK(plan.stages() == g.P && plan.blocks() == n, ErrorKind::Config, "dist.partition gives ",
            plan.blocks(), " blocks to ", plan.stages(), " stages; the model has ", n,
            " blocks and dist.pipeline = ", g.P);
  const int first = plan.first(g.p), end = plan.end(g.p);
  log_info("narrow: pipelined over ", g.P, " stage(s) x ", g.D, " data rank(s); blocks per stage ",
           plan.describe(), "; ", M, " micro-batches per step",
           teacher_forced ? "; teacher-forced inputs" : "");

  const std::string stage_name = "narrow (pipelined)";
  const Ownership own = ownership(*sbar);
  auto unit_of = [&](const nn::ParamEntry& e) {
    const auto it = own.param.find(e.param);
    return it == own.param.end() ? -1 : it->second;
  };
  auto mine = [&](const nn::ParamEntry& e) {
    const int u = unit_of(e);
    return u >= first && u < end;
  };
  nn::ParamStore store(*sbar);
  auto optimizer = train::make_optimizer(nc.optim, store, mine);
  const int64_t B = nc.optim.batch_size;
  WIN_CHECK(B % (static_cast<int64_t>(M) * g.D) == 0, ErrorKind::Config, "narrow.batch_size ", B,
            " must be a multiple of dist.micro_batches (", M, ") x the ", g.D,
            " data rank(s) of each pipeline stage");
  data::LoaderOptions lo = rc.loader_options(B / M, 100);
  lo.batch_key = "narrow.batch_size / dist.micro_batches";
  lo.rank = g.q;
  lo.world = g.D;
  data::Loader loader(rc.train_source(true), lo);
  const int64_t total = nc.steps_per_block;
  const train::LrSchedule schedule(nc.optim, std::max<int64_t>(1, loader.steps_per_epoch() / M),
                                   total);
  // On GPUs, NCCL carries the activations and the gradient sums where every rank has a GPU of its
  // own (each decision is collective over its group); ranks that share one use MPI through host
  // memory.
  std::unique_ptr<dist::DeviceComm> nccl_pipe, nccl_data;
  if (rc.device() != Device::CPU) {
    std::string why_pipe, why_data;
    nccl_pipe = dist::make_device_comm(g.pipe, &why_pipe);
    nccl_data = dist::make_device_comm(g.data, &why_data);
    if (g.P > 1)
      log_info(
          stage_name, ": activations between stages ",
          nccl_pipe ? std::string("by NCCL") : cat("by MPI through host memory (", why_pipe, ")"));
    if (g.D > 1)
      log_info(
          stage_name, ": gradient allreduce ",
          nccl_data ? std::string("by NCCL") : cat("by MPI through host memory (", why_data, ")"));
  }
  ActivationLink link(g.pipe, rc.device(), nccl_pipe.get());
  train::GradientSync sync(g.data, store, d.dist.bucket_mb, mine, nccl_data.get());

  std::vector<std::string> columns = {"step", "lr", "loss"};
  for (int j = 0; j < n; ++j) columns.push_back(cat("block", j));
  columns.push_back("samples_per_s");
  io::MetricsTable metrics(columns);
  io::CheckpointDir ckpts((fs::path(dir) / "pipelined").string(),
                          static_cast<int>(d.checkpoint.keep));
  int64_t step = 0;
  train::check_same_data(world, loader.dataset_size(), stage_name);
  std::vector<std::string> state_names;
  for (const auto& s : optimizer->state()) state_names.push_back(s.name);
  if (std::string file;
      auto c = train::load_newest_everywhere(
          world, ckpts, &file, train::resumable(stage_name, *sbar, store, state_names))) {
    train::Trainer::get_model(*c, *sbar, file);
    for (const auto& e : store.entries())
      for (const auto& s : optimizer->state()) {
        Tensor dst =
            s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape());
        dst.copy_from(c->get_tensor("optim/" + e.name + "/" + s.name, file));
      }
    optimizer->set_step_count(c->get_int("optimizer_steps", file));
    step = c->get_int("step", file);
    loader.seek(c->get_int("epoch", file), c->get_int("consumed", file));
    metrics.from_tensor(c->get_tensor("extra/metrics", file));
    log_info(stage_name, ": resumed at step ", step, " of ", total, " from ", file);
  }

  // Every rank ends with the whole S̄ and every block's optimizer state: replicas first agree on
  // their BatchNorm statistics, then each parameter comes from its stage's first replica.
  // (MPI broadcasts from host memory: tensors on a GPU go through host copies, once per
  // checkpoint.)
  auto gather = [&] {
    train::average_buffers(g.data, *sbar);
    std::vector<Tensor> flat = {store.values()};  // handles: they share the storage
    for (const auto& s : optimizer->state()) flat.push_back(s.tensor);
    for (Tensor& t : flat) {
      Tensor h = backend::to_device(t, Device::CPU);
      for (const auto& e : store.entries()) {
        const int u = unit_of(e);
        if (u < 0) continue;
        world.bcast(std::span<float>(h.data<float>() + e.offset, static_cast<size_t>(e.numel)),
                    plan.stage_of(u) * g.D);
      }
      if (!h.shares_storage(t)) backend::copy_across(h, t);
    }
    for (const auto& [t, u] : own.buffers) {
      Tensor h = backend::to_device(*t, Device::CPU).contiguous();
      world.bcast(std::span<float>(h.data<float>(), static_cast<size_t>(h.numel())),
                  plan.stage_of(u) * g.D);
      if (!h.shares_storage(*t)) backend::copy_across(h, *t);
    }
  };
  auto checkpoint = [&] {
    gather();
    io::Checkpoint c;
    c.strings["stage"] = stage_name;
    c.strings["config"] = rc.toml();
    c.ints["step"] = step;
    c.ints["epoch"] = loader.epoch();
    c.ints["consumed"] = loader.consumed();
    c.ints["optimizer_steps"] = optimizer->step_count();
    c.ints["world_size"] = world.size();
    c.ints["pipeline"] = g.P;
    train::Trainer::put_model(c, *sbar);
    for (const auto& e : store.entries())
      for (const auto& s : optimizer->state())
        c.tensors["optim/" + e.name + "/" + s.name] = backend::to_device(
            s.tensor.slice(0, e.offset, e.offset + e.numel).reshape(e.param->value.shape()),
            Device::CPU);
    c.tensors["extra/metrics"] = metrics.to_tensor();
    rc.write([&] { ckpts.save(step, c); });
  };

  models::Model& student = sbar->student();
  nn::Context ctx, tctx;
  ctx.rng = Philox(static_cast<uint64_t>(d.run.seed) + 100, 0xD40);
  ctx.sample_offset = loader.slice_offset();
  train::CommReplicaSum replicas(g.data);
  ctx.replicas = d.dist.sync_bn ? &replicas : nullptr;
  tctx.training = false;
  std::vector<Tensor> a(static_cast<size_t>(n)), dz(static_cast<size_t>(n));
  Tensor t_in, s_in;  // activations received from the previous stage (reused buffers)
  Progress progress(stage_name, total, "step");
  progress.set_interval(d.run.progress_interval_s);
  progress.set_start(step);
  int64_t last_saved = step;
  double busy = 0, samples = 0;
  while (step < total) {
    const double t0 = monotonic_seconds();
    store.zero_grad();
    std::vector<double> red(static_cast<size_t>(n) + 1, 0.0);  // block losses, stop request
    for (int m = 0; m < M; ++m) {
      const data::Batch& b = loader.next();
      ctx.step = static_cast<uint64_t>(step * M + m);
      ctx.training = true;
      const Tensor xs = task->prepare(*sbar, b), xt = task->prepare(*teacher, b);
      const int tag = (m % 1024) * 4;
      link.reuse_point();     // the last micro-batch's sends may still read outputs we overwrite
      Tensor t_prev, s_prev;  // teacher and student activations at the current boundary
      if (g.p > 0) {
        link.recv(g.p - 1, tag, t_in);
        t_prev = t_in;
        if (!teacher_forced) {
          link.recv(g.p - 1, tag + 2, s_in);
          s_prev = s_in;
        }
      } else {
        t_prev = teacher->stem().forward(xt, tctx);
      }
      for (int j = first; j < end; ++j) {
        const size_t k = static_cast<size_t>(j);
        a[k] = teacher->block(j).forward(t_prev, tctx);
        Tensor in;
        if (j == 0)
          in = student.stem().forward(xs, ctx);
        else if (teacher_forced)
          in = sbar->bridge(j - 1).lower(t_prev, ctx);
        else
          in = free ? sbar->bridge(j - 1).lower(s_prev, ctx) : s_prev;
        const Tensor h = student.block(j).forward(in, ctx);
        const Tensor& z = sbar->bridge(j).lift(h, ctx);
        s_prev = free ? z : h;
        t_prev = a[k];
      }
      if (g.p + 1 < g.P) {
        link.send(t_prev, g.p + 1, tag);
        if (!teacher_forced) link.send(s_prev, g.p + 1, tag + 2);
      }
      for (int j = first; j < end; ++j) {  // each block's own loss, into that block alone
        const size_t k = static_cast<size_t>(j);
        Bridge& br = sbar->bridge(j);
        red[k] += imitation_loss(nc.loss, br.wide(), a[k], dz[k], 1.0 / M) / (M * g.D);
        br.set_wide_grad(dz[k]);
        const Tensor din = student.block(j).backward(br.backward(Tensor(), ctx), ctx);
        if (j == 0)
          student.stem().backward(din, ctx);
        else if (free)
          sbar->bridge(j - 1).lower_backward(din);
      }
    }
    // The last micro-batch's sends finish before the gradient sums start: two NCCL communicators
    // never run at once on one GPU (NCCL does not promise progress for that).
    link.reuse_point();
    sync.average();
    if (nc.optim.clip_grad_norm > 0) {
      // The norm over every block's gradient: each stage holds only its own (the rest of its
      // buffer is zero), the same on all its replicas; the pipeline ranks sum their shares.
      double sq = backend::ops_for(store.grads()).sum_squares(store.grads());
      g.pipe.allreduce(std::span<double>(&sq, 1));
      const double norm = std::sqrt(sq), max_norm = nc.optim.clip_grad_norm;
      if (std::isfinite(norm) && max_norm / (norm + 1e-6) < 1.0)
        backend::ops_for(store.grads()).scale(max_norm / (norm + 1e-6), store.grads());
    }
    red.back() = train::stop_requested() ? 1.0 : 0.0;
    world.allreduce(std::span<double>(red));
    double mean = 0;
    for (int j = 0; j < n; ++j) mean += red[static_cast<size_t>(j)] / n;
    if (!std::isfinite(mean)) {
      std::string which;
      for (int j = 0; j < n; ++j)
        if (!std::isfinite(red[static_cast<size_t>(j)])) which += cat(" ", j + 1);
      throw dist::CollectiveError(
          ErrorKind::Numerics,
          cat(stage_name, ": the imitation loss of block(s)", which, " is not finite at step ",
              step, " (lower narrow.optim.lr, or clip: narrow.optim.clip_grad_norm)"),
          true);
    }
    const double lr = schedule.lr_at(step);
    optimizer->step(lr);
    ++step;
    const double dt = monotonic_seconds() - t0;
    busy += dt;
    samples += static_cast<double>(B / g.D);
    std::vector<double> row = {static_cast<double>(step), lr, mean};
    row.insert(row.end(), red.begin(), red.end() - 1);
    row.push_back(static_cast<double>(B) / dt);
    metrics.add(row);
    progress.update(step, cat("imitation loss ", mean));
    if (step % d.checkpoint.every_steps == 0 || step == total) {
      checkpoint();
      last_saved = step;
    }
    if (red.back() > 0) {
      if (last_saved != step) checkpoint();
      progress.finish();
      WIN_FAIL(ErrorKind::Stopped, stage_name, ": stopped by a signal after step ", step,
               "; checkpoint written to ", ckpts.dir(), "; run again to resume");
    }
  }
  progress.finish();  // the last step's checkpoint gathered S̄ on every rank

  // Throughput and pipeline traffic of every rank, for the log (the step time includes waiting
  // for the other stages). Only activations travel forward between stages: a stage never
  // receives from the next one, which is what "no gradient crosses a rank" looks like in bytes.
  const auto W = static_cast<size_t>(world.size()), me = static_cast<size_t>(world.rank());
  std::vector<double> rate(3 * W, 0.0);
  rate[me] = busy > 0 ? samples / busy : 0;
  rate[W + me] = static_cast<double>(link.bytes_sent());
  rate[2 * W + me] = static_cast<double>(link.bytes_received());
  world.allreduce(std::span<double>(rate));
  if (busy > 0 && world.size() > 1) {
    std::string s, t;
    for (size_t r = 0; r < W; ++r) {
      s += cat(r ? ", " : "", "rank ", r, " (stage ", r / static_cast<size_t>(g.D), ") ",
               static_cast<int64_t>(rate[r]));
      t += cat(r ? ", " : "", "rank ", r, " sent ", static_cast<int64_t>(rate[W + r]), " received ",
               static_cast<int64_t>(rate[2 * W + r]));
    }
    log_info(stage_name, ": samples/s per rank: ", s);
    log_info(stage_name, ": bytes between pipeline stages (this run): ", t);
  }

  io::MetricsTable blocks({"block", "restart", "steps", "train_loss", "val_error", "kept"});
  for (int j = 0; j < n; ++j) {
    const double val = validation_error(rc, *task, *sbar, *teacher, j, nc.loss);
    const double train_loss = metrics.rows() ? metrics.last(cat("block", j)) : std::nan("");
    log_info("narrow: block ", j + 1, "/", n, ": imitation error ", val, " (validation), ",
             train_loss, " (last training step)");
    blocks.add({double(j), 0, double(total), train_loss, val, 1});
  }
  rc.write([&] {
    metrics.write_csv((fs::path(dir) / "pipelined" / "metrics.csv").string());
    blocks.write_csv((fs::path(dir) / "blocks.csv").string());
    io::save_weights(rc.final_weights("narrow"), *sbar, "narrow", {{"config", rc.toml()}});
  });
}

}  // namespace win::method
