// DESIGN §10: no allocation in the steady-state training step. After the first steps (which size
// every buffer and build every primitive), further steps of W1-W3 must not take tensor memory
// from the allocator: its counters stay put.
#include <gtest/gtest.h>

#include "app/bench_workloads.hpp"
#include "core/allocator.hpp"

using namespace win;

class SteadyState : public testing::TestWithParam<const char*> {};

TEST_P(SteadyState, NoTensorAllocationAfterWarmup) {
  auto w = app::make_workload(GetParam(), 0);
  nn::Context ctx;
  ctx.rng = Philox(0, 1);
  for (int i = 0; i < 2; ++i) {
    ctx.step = static_cast<uint64_t>(i);
    w->step(ctx);
  }
  const AllocStats before = cpu_allocator().stats();
  for (int i = 2; i < 4; ++i) {
    ctx.step = static_cast<uint64_t>(i);
    w->step(ctx);
  }
  const AllocStats after = cpu_allocator().stats();
  EXPECT_EQ(after.system_allocations, before.system_allocations) << GetParam();
  EXPECT_EQ(after.live_blocks, before.live_blocks);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

INSTANTIATE_TEST_SUITE_P(Workloads, SteadyState, testing::Values("mlp", "resnet", "bert"));
