// `win bench`: the speed benchmarks of BENCHMARKS.md. --workload mlp|resnet|bert times training
// steps (median ms/step over timed steps after warm-up), reports samples/s and MFU (model FLOPs =
// 3 x forward FLOPs, divided by the measured sgemm limit of this machine); --workload sgemm
// measures that limit (oneDNN sgemm, 2048^3). --device cuda runs a workload on the GPU (G1
// resnet50, G2 bert-base, or W1-W3) with MFU against the GPU's nominal dense bf16 peak. Speed is
// reported, never asserted.
#include <oneapi/dnnl/dnnl.h>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "app/bench_workloads.hpp"
#include "app/commands.hpp"
#include "backend/cpu/dnnl_check.hpp"
#include "backend/info.hpp"
#include "backend/op_timing.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "core/caching_allocator.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "data/loader.hpp"
#include "dist/comm.hpp"
#include "train/grad_sync.hpp"

namespace win::app {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// GFLOP/s of a square sgemm: the physical limit MFU is measured against.
double sgemm_gflops(int64_t n, int reps) {
  Tensor a = Tensor::empty({n, n}, DType::F32), b = Tensor::empty({n, n}, DType::F32),
         c = Tensor::empty({n, n}, DType::F32);
  fill_uniform(a, Philox(1, 1), -1, 1, 0);
  fill_uniform(b, Philox(1, 2), -1, 1, 0);
  std::vector<double> t;
  for (int r = 0; r < reps + 1; ++r) {
    const double t0 = monotonic_seconds();
    WIN_DNNL_CHECK(dnnl_sgemm('N', 'N', n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n, 0.0f,
                              c.data<float>(), n));
    if (r > 0) t.push_back(monotonic_seconds() - t0);  // the first call JIT-compiles
  }
  return 2.0 * static_cast<double>(n * n * n) / median(t) / 1e9;
}

std::vector<int> parse_threads(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    WIN_CHECK(end && *end == 0 && v >= 1 && v <= 1024, ErrorKind::Usage,
              "win bench: --threads expects a comma-separated list of counts, got '", s, "'");
    out.push_back(static_cast<int>(v));
  }
  return out;
}

// Read + decode + augment throughput of image shards on one thread (the prefetch thread's job),
// against the rate at which W2's training step consumes samples, both measured here and now.
void bench_loader(const std::string& spec, int steps, int warmup, int threads) {
  data::Loader loader(data::image_source(spec, {.augment = true}, 0),
                      {128, 0, 1, 0, true, /*prefetch=*/0});
  for (int i = 0; i < warmup; ++i) loader.next();
  std::vector<double> times;
  for (int i = 0; i < steps * 5; ++i) {
    const double t0 = monotonic_seconds();
    loader.next();
    times.push_back(monotonic_seconds() - t0);
  }
  const double loader_rate = 128.0 / median(times);
  auto w2 = make_workload("resnet", 0);
  nn::Context ctx;
  w2->step(ctx);
  std::vector<double> t2;
  for (int i = 0; i < 3; ++i) {
    const double t0 = monotonic_seconds();
    w2->step(ctx);
    t2.push_back(monotonic_seconds() - t0);
  }
  const double w2_rate = 128.0 / median(t2);
  std::printf("%-8s %6d %7d %12.2f %12.1f %11s %9s %8s\n", "loader", 128, 1, median(times) * 1e3,
              loader_rate, "-", "-", "-");
  std::printf(
      "# loader (one thread, read + decode + augment, %s): %.0f samples/s; W2 at %d "
      "threads consumes %.0f samples/s: %.1fx\n",
      spec.c_str(), loader_rate, threads, w2_rate, loader_rate / w2_rate);
}

// W1-W3 data parallel: each of the W ranks steps on its slice of the workload's batch and the
// gradients are averaged (train::GradientSync, as in training: buckets start during backward).
// A step's time is the slowest rank's; printed by rank 0 with the time spent waiting for the
// allreduce after backward (which includes waiting for a slower rank).
int bench_data_parallel(const std::string& name, int steps, int warmup, int threads) {
  const dist::Comm& world = dist::world();
  set_num_threads(threads);
  auto w = make_workload(name, 0, world.size());
  train::GradientSync sync(world, w->store(), 25.0);
  nn::Context ctx;
  ctx.rng = Philox(0, 0xD0);
  ctx.grads_ready = &sync;
  std::vector<double> step_s, reduce_s;
  for (int i = 0; i < warmup + steps; ++i) {
    ctx.step = static_cast<uint64_t>(i);
    world.barrier();
    const double t0 = monotonic_seconds();
    sync.begin();
    const double loss = w->compute(ctx);  // starts buckets' allreduces as blocks finish backward
    const double t1 = monotonic_seconds();
    sync.finish();
    const double t2 = monotonic_seconds();
    w->update();
    std::array<double, 2> t = {monotonic_seconds() - t0, t2 - t1};
    world.allreduce(std::span<double>(t), dist::ReduceOp::Max);
    WIN_CHECK(std::isfinite(loss), ErrorKind::Numerics, "win bench ", name, ": loss is ", loss);
    if (i >= warmup) {
      step_s.push_back(t[0]);
      reduce_s.push_back(t[1]);
    }
  }
  const double med = median(step_s);
  const int64_t batch = w->batch() * world.size();
  if (world.is_root()) {
    std::printf("%-8s %6lld %7s %12.2f %12.1f %11s %9s %8s\n", name.c_str(),
                static_cast<long long>(batch), cat(world.size(), "x", threads).c_str(), med * 1e3,
                static_cast<double>(batch) / med, "-", "-", "-");
    std::printf(
        "# %d ranks x %d thread(s): gradient allreduce median %.3f ms per step (%.1f%% of "
        "the step), %.2f MB per rank per step\n",
        world.size(), threads, median(reduce_s) * 1e3, 100 * median(reduce_s) / med,
        static_cast<double>(w->store().grads().nbytes()) / 1e6);
  }
  return 0;
}

// Nominal dense bf16 tensor-core peak (TFLOP/s) of the GPU `win version` names, 0 if unknown.
double nominal_bf16_peak_tflops(const std::string& devices) {
  struct Known {
    const char* name;
    double tflops;
  };
  static constexpr std::array<Known, 4> kKnown{
      {{"H200", 989.4}, {"H100", 989.4}, {"A100", 312.0}, {"L40S", 362.1}}};
  for (const Known& k : kKnown)
    if (devices.find(k.name) != std::string::npos) return k.tflops;
  return 0;
}

// The op table of --profile: GPU time per op per step, against the median step.
void print_op_timings(const std::vector<backend::OpTiming>& rows, int steps, double step_ms) {
  double total = 0;
  for (const auto& r : rows) total += r.ms;
  std::printf("# per-op GPU time (--profile; outermost ops; a step is %.2f ms):\n", step_ms);
  std::printf("# %-26s %9s %12s %8s\n", "op", "calls", "ms/step", "share");
  for (const auto& r : rows)
    std::printf("# %-26s %9.1f %12.3f %7.1f%%\n", r.name.c_str(),
                static_cast<double>(r.calls) / steps, r.ms / steps, 100 * r.ms / steps / step_ms);
  std::printf("# %-26s %9s %12.3f %7.1f%%  (the rest: host time, waits, idle GPU)\n", "all ops", "",
              total / steps, 100 * total / steps / step_ms);
}

// Steps of one workload: `warmup` untimed (printed to stderr when report), then `steps` timed,
// each until `device` has done its work; the loss must stay finite. flops: the model FLOPs of a
// step (3 x forward).
struct StepTimes {
  std::vector<double> seconds;
  double flops = 0, loss = 0;
};
void warm_up(Workload& w, nn::Context& ctx, int warmup, Device device, bool report) {
  for (int i = 0; i < warmup; ++i) {
    ctx.step = static_cast<uint64_t>(i);
    const double t0 = monotonic_seconds();
    w.step(ctx);
    backend::synchronize(device);
    if (report)
      std::fprintf(stderr, "# warm-up step %d: %.1f ms\n", i + 1, (monotonic_seconds() - t0) * 1e3);
  }
}
StepTimes timed_steps(Workload& w, nn::Context& ctx, int warmup, int steps, Device device) {
  StepTimes r;
  for (int i = 0; i < steps; ++i) {
    ctx.step = static_cast<uint64_t>(warmup + i);
    ctx.macs = 0;
    const double t0 = monotonic_seconds();
    r.loss = w.step(ctx);
    backend::synchronize(device);
    r.seconds.push_back(monotonic_seconds() - t0);
    WIN_CHECK(std::isfinite(r.loss), ErrorKind::Numerics, "win bench ", w.name(), ": loss is ",
              r.loss, " at step ", warmup + i);
    r.flops = 3.0 * 2.0 * static_cast<double>(ctx.macs);
  }
  return r;
}

// One workload on the GPU: steps are timed from launch to the device finishing its queue.
int bench_gpu(const std::string& name, int steps, int warmup, backend::Precision precision,
              bool profile, bool deterministic, bool bf16_activations, bool fused_attention) {
  const std::string why = backend::device_unavailable(Device::CUDA);
  WIN_CHECK(why.empty(), ErrorKind::Usage, "win bench --device cuda: ", why);
  backend::set_precision(precision);
  backend::set_deterministic(deterministic);
  backend::set_bf16_activations(bf16_activations);
  backend::set_fused_attention(fused_attention);
  const std::string devices = backend::cuda_devices();
  const double peak = nominal_bf16_peak_tflops(devices);
  auto w = make_workload(name, 0, 1, Device::CUDA);
  nn::Context ctx;
  ctx.rng = Philox(0, 0xD0);
  warm_up(*w, ctx, warmup, Device::CUDA, true);
  const Allocator& gpu = allocator_for(Device::CUDA);
  const AllocStats before = gpu.stats();
  // Timed steps with --profile carry the events' small cost; the timings stand on their own.
  backend::set_op_timing(profile);
  const StepTimes t = timed_steps(*w, ctx, warmup, steps, Device::CUDA);
  const double flops = t.flops, loss = t.loss;
  backend::set_op_timing(false);
  std::vector<backend::OpTiming> detailed;
  const std::vector<backend::OpTiming> ops = backend::take_op_timings(&detailed);
  const AllocStats after = gpu.stats();
  const double med = median(t.seconds);
  const double tflops = flops / med / 1e12;
  const std::string mfu = peak > 0 ? cat(tflops / peak) : std::string("-");
  std::printf("%-9s %6lld %7s %12.2f %12.1f %11.1f %9.1f %8s\n", name.c_str(),
              static_cast<long long>(w->batch()), "cuda", med * 1e3,
              static_cast<double>(w->batch()) / med, flops / 1e9, tflops * 1e3, mfu.c_str());
  std::printf("# %s, precision %s%s%s (precision.hpp); loss %.4f after %d steps; MFU against %s\n",
              devices.c_str(), backend::precision_name(precision),
              cat(bf16_activations ? ", bf16 activations" : "",
                  fused_attention ? "" : ", composed attention")
                  .c_str(),
              deterministic ? "" : ", non-deterministic", loss, warmup + steps,
              peak > 0 ? cat("the nominal dense bf16 peak ", peak, " TFLOP/s").c_str()
                       : "nothing (GPU not in the table)");
  std::printf("# device memory: %.2f GiB peak, %lld cudaMalloc during the %d timed steps\n",
              static_cast<double>(after.peak_bytes) / (1 << 30),
              static_cast<long long>(after.system_allocations - before.system_allocations), steps);
  if (profile) {
    print_op_timings(ops, steps, med * 1e3);
    // The convolutions by shape and algorithm, the largest first.
    if (detailed.size() > 16) detailed.resize(16);
    if (!detailed.empty())
      std::printf("# by shape (kernel/stride in->out channels, input HxW, batch; largest 16):\n");
    for (const auto& r : detailed)
      std::printf("#   %-72s %5.1f %9.3f ms %6.1f%%\n", r.name.c_str(),
                  static_cast<double>(r.calls) / steps, r.ms / steps,
                  100 * r.ms / steps / (med * 1e3));
  }
  return 0;
}

int run_bench(const Args& args) {
  const std::string name = args.get("--workload").value_or("");
  WIN_CHECK(!name.empty(), ErrorKind::Usage,
            "win bench: --workload mlp|resnet|bert|loader|sgemm is required");
  // Refused before anything is printed: a table header followed by an error reads as a result.
  WIN_CHECK(is_workload(name), ErrorKind::Usage, "win bench: unknown workload '", name, "' (",
            kWorkloadNames, ")");
  const int steps = static_cast<int>(args.get_int("--steps").value_or(20));
  const int warmup = static_cast<int>(args.get_int("--warmup").value_or(3));
  WIN_CHECK(steps >= 1 && warmup >= 0, ErrorKind::Usage, "win bench: --steps >= 1, --warmup >= 0");
  const std::vector<int> threads =
      parse_threads(args.get("--threads").value_or(std::to_string(num_threads())));
  const std::string device = args.get("--device").value_or("cpu");
  WIN_CHECK(device == "cpu" || device == "cuda", ErrorKind::Usage,
            "win bench: --device cpu|cuda, got '", device, "'");
  WIN_CHECK(device == "cuda" || !is_gpu_workload(name), ErrorKind::Usage, "win bench: ", name,
            " is a GPU workload: add --device cuda");
  WIN_CHECK(device == "cuda" || !args.has("--precision"), ErrorKind::Usage,
            "win bench: --precision applies to --device cuda (the CPU computes fp32)");
  WIN_CHECK(device == "cuda" || (!args.has("--profile") && !args.has("--nondeterministic") &&
                                 !args.has("--composed-attention")),
            ErrorKind::Usage,
            "win bench: --profile, --nondeterministic and --composed-attention apply to --device "
            "cuda");
  const backend::Precision precision =
      backend::parse_precision(args.get("--precision").value_or("fp32"), "--precision");
  WIN_CHECK(!args.has("--bf16-activations") || precision == backend::Precision::Bf16,
            ErrorKind::Usage, "win bench: --bf16-activations needs --device cuda --precision bf16");
  if (device == "cuda") {
    WIN_CHECK(!dist::multi_rank(), ErrorKind::Usage,
              "win bench --device cuda runs on one rank (one GPU)");
    WIN_CHECK(name != "loader" && name != "sgemm", ErrorKind::Usage,
              "win bench --device cuda: ", name, " is a CPU measurement");
    const std::string why = backend::device_unavailable(Device::CUDA);
    WIN_CHECK(why.empty(), ErrorKind::Usage, "win bench --device cuda: ", why);
    std::printf("%-9s %6s %7s %12s %12s %11s %9s %8s\n", "workload", "batch", "device", "median_ms",
                "samples/s", "GFLOP/step", "GFLOP/s", "MFU");
    return bench_gpu(name, steps, warmup, precision, args.has("--profile"),
                     !args.has("--nondeterministic"), args.has("--bf16-activations"),
                     !args.has("--composed-attention"));
  }

  if (dist::world().is_root())
    std::printf("%-8s %6s %7s %12s %12s %11s %9s %8s\n", "workload", "batch", "threads",
                "median_ms", "samples/s", "GFLOP/step", "GFLOP/s", "MFU");
  if (dist::multi_rank()) {
    WIN_CHECK(name == "mlp" || name == "resnet" || name == "bert", ErrorKind::Usage,
              "win bench on several ranks: --workload mlp|resnet|bert (data parallel)");
    WIN_CHECK(threads.size() == 1, ErrorKind::Usage,
              "win bench on several ranks: one --threads count per rank");
    return bench_data_parallel(name, steps, warmup, threads.front());
  }
  for (int th : threads) {
    set_num_threads(th);
    const double peak = sgemm_gflops(2048, 3);
    if (name == "loader") {
      bench_loader(args.get("--data").value_or("data/fashion_mnist/train"), steps, warmup, th);
      continue;
    }
    if (name == "sgemm") {
      std::printf("%-8s %6d %7d %12s %12s %11s %9.1f %8s\n", "sgemm", 2048, th, "-", "-", "-", peak,
                  "1.000");
      continue;
    }
    transient_allocator(Device::CPU).trim();  // nothing cached by an earlier thread count's run
    cpu_allocator().reset_peak();
    auto w = make_workload(name, 0);
    nn::Context ctx;
    ctx.rng = Philox(0, 0xD0);
    warm_up(*w, ctx, warmup, Device::CPU, false);
    const StepTimes t = timed_steps(*w, ctx, warmup, steps, Device::CPU);
    const std::vector<double>& times = t.seconds;
    const double flops = t.flops;
    const double med = median(times);
    const double gflops = flops / med / 1e9;
    std::printf("%-8s %6lld %7d %12.2f %12.1f %11.3f %9.1f %8.3f\n", name.c_str(),
                static_cast<long long>(w->batch()), th, med * 1e3,
                static_cast<double>(w->batch()) / med, flops / 1e9, gflops, gflops / peak);
    std::printf("# sgemm limit at %d threads: %.1f GFLOP/s\n", th, peak);
    std::printf("# host memory: %.1f MiB of tensors at the peak of the workload's steps\n",
                static_cast<double>(cpu_allocator().stats().peak_bytes) / (1 << 20));
  }
  return 0;
}

}  // namespace

Command bench_command() {
  return {
      {.name = "bench",
       .synopsis = "--workload mlp|resnet|bert|resnet50|bert-base|loader|sgemm [--device cpu|cuda] "
                   "[--precision P] "
                   "[--steps N] [--warmup N] [--threads LIST]",
       .summary = "time training steps of the benchmark workloads (BENCHMARKS.md)",
       .details = "Prints median ms/step, samples/s, model GFLOP/step (3 x forward) and MFU\n"
                  "against this machine's sgemm limit, measured in the same run.",
       .options = {{"--workload", "NAME",
                    "mlp (W1), resnet (W2), bert (W3), resnet50 (G1), bert-base (G2), loader or "
                    "sgemm",
                    false},
                   {"--device", "DEV", "cpu (default) or cuda (one GPU)", false},
                   {"--precision", "P", "GPU products: fp32 (default), tf32 or bf16", false},
                   {"--profile", "", "--device cuda: GPU time per op (CUDA events)", false},
                   {"--nondeterministic", "",
                    "--device cuda: measure cuDNN's convolution algorithms and take the fastest "
                    "(as cudnn.benchmark)",
                    false},
                   {"--bf16-activations", "",
                    "--precision bf16: convolutions store activations in bf16, as autocast "
                    "(experimental)",
                    false},
                   {"--composed-attention", "",
                    "--device cuda: attention as gemm, softmax and dropout instead of the fused "
                    "kernels (to compare them)",
                    false},
                   {"--steps", "N", "timed steps (default 20)", false},
                   {"--warmup", "N", "untimed steps first (default 3)", false},
                   {"--threads", "LIST", "thread counts to run, e.g. 1,2 (default: all)", false},
                   {"--data", "SHARDS", "loader: image shards (default data/fashion_mnist/train)",
                    false}},
       .min_positionals = 0,
       .max_positionals = 0},
      run_bench};
}

}  // namespace win::app
