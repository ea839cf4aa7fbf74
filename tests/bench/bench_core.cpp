// Micro-benchmarks of core pieces that sit on hot paths (Google Benchmark; not run by CTest):
// Philox fills (weight init, dropout masks), strided tensor copies, arena allocation per step.
// Run: build/tests/bench_core --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "core/allocator.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

using namespace win;

static void BM_PhiloxFillNormal(benchmark::State& state) {
  Tensor t = Tensor::empty({state.range(0)}, DType::F32);
  const Philox rng(1, 2);
  uint64_t step = 0;
  for (auto _ : state) {
    fill_normal(t, rng, 0.0, 1.0, step++);
    benchmark::DoNotOptimize(t.raw());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PhiloxFillNormal)->Arg(1 << 20);

static void BM_TransposeCopy(benchmark::State& state) {
  const int64_t n = state.range(0);
  Tensor a = Tensor::zeros({n, n}, DType::F32);
  Tensor b = Tensor::empty({n, n}, DType::F32);
  for (auto _ : state) {
    b.copy_from(a.transpose(0, 1));
    benchmark::DoNotOptimize(b.raw());
  }
  state.SetBytesProcessed(state.iterations() * n * n * 4);
}
BENCHMARK(BM_TransposeCopy)->Arg(512);

static void BM_ArenaStep(benchmark::State& state) {
  Arena arena;
  for (auto _ : state) {
    for (int i = 0; i < 32; ++i) {
      Tensor t = Tensor::empty({64, 128}, DType::F32, arena);
      benchmark::DoNotOptimize(t.raw());
    }
    arena.reset();
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_ArenaStep);

BENCHMARK_MAIN();
