// CachingAllocator: blocks come back to the requests of their size class,
// the counters follow what is handed out and cached, trim() returns the cache to the backing
// allocator, and a view keeps its block from being handed out again.
#include <gtest/gtest.h>

#include "core/caching_allocator.hpp"
#include "core/tensor.hpp"

using namespace win;

TEST(CachingAllocator, SizeClassesCoverTheRequestAndWasteLittle) {
  size_t previous = 0;
  for (size_t bytes = 1; bytes < (size_t{1} << 30); bytes = bytes * 5 / 4 + 1) {
    const size_t c = CachingAllocator::size_class(bytes);
    EXPECT_GE(c, bytes);
    EXPECT_LE(c, bytes + std::max<size_t>(511, bytes / 16)) << bytes;
    EXPECT_GE(c, previous) << "classes must not shrink as requests grow: " << bytes;
    EXPECT_EQ(CachingAllocator::size_class(c), c) << "a class is its own class";
    previous = c;
  }
}

TEST(CachingAllocator, ReusesAReleasedBlockWithoutTheBacking) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({1000}, DType::F32, pool);
    first = a.raw();
  }
  EXPECT_EQ(heap.stats().system_allocations, 1);
  EXPECT_EQ(heap.stats().live_blocks, 1) << "the released block stays cached";
  Tensor b = Tensor::empty({1000}, DType::F32, pool);
  EXPECT_EQ(b.raw(), first);
  Tensor c = Tensor::empty({999}, DType::F32, pool);  // same class, but the block is taken
  EXPECT_NE(c.raw(), first);
  EXPECT_EQ(heap.stats().system_allocations, 2);
  EXPECT_EQ(pool.stats().system_allocations, 2);
}

TEST(CachingAllocator, OnlyItsOwnSizeClassTakesABlockBack) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  void* big = nullptr;
  {
    Tensor a = Tensor::empty({100000}, DType::F32, pool);
    big = a.raw();
  }
  Tensor half = Tensor::empty({50000}, DType::F32, pool);  // a smaller class: a block of its own
  EXPECT_NE(half.raw(), big);
  Tensor same = Tensor::empty({99000}, DType::F32, pool);  // the same class: the cached block
  EXPECT_EQ(same.raw(), big);
  EXPECT_EQ(heap.stats().system_allocations, 2);
}

// The order of requests and releases of a step, replayed: the second time takes nothing from the
// backing allocator. (Letting a cached block serve smaller classes breaks this: with this
// sequence, in sizes of 512 bytes, the second step's C takes the 9 that E needs later.)
TEST(CachingAllocator, ASecondStepOfTheSameShapesTakesNothingNew) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  auto step = [&] {
    auto take = [&](int64_t units) { return Tensor::empty({units * 128}, DType::F32, pool); };
    { Tensor a = take(9); }
    Tensor b = take(8), c = take(8), d = take(16);
    b = Tensor();
    Tensor e = take(9);
  };
  step();
  const int64_t first = heap.stats().system_allocations;
  for (int i = 0; i < 3; ++i) step();
  EXPECT_EQ(heap.stats().system_allocations, first);
}

TEST(CachingAllocator, CountersFollowHandedOutAndCachedBlocks) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  const size_t c = CachingAllocator::size_class(4000 * 4);
  {
    Tensor a = Tensor::empty({4000}, DType::F32, pool);
    Tensor b = Tensor::empty({4000}, DType::F32, pool);
    EXPECT_EQ(pool.stats().live_blocks, 2);
    EXPECT_EQ(pool.stats().bytes_in_use, 2 * c);
  }
  AllocStats s = pool.stats();
  EXPECT_EQ(s.live_blocks, 0);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.peak_bytes, 2 * c);
  EXPECT_EQ(s.reserved_bytes, 2 * c);
  pool.reset_peak();
  EXPECT_EQ(pool.stats().peak_bytes, 0u);
  pool.trim();
  EXPECT_EQ(pool.stats().reserved_bytes, 0u);
  EXPECT_EQ(heap.stats().live_blocks, 0) << "trim gives every cached block back";
}

TEST(CachingAllocator, AViewKeepsItsBlockFromBeingHandedOut) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  Tensor view;
  void* first = nullptr;
  {
    Tensor a = Tensor::empty({64, 32}, DType::F32, pool);
    first = a.raw();
    view = a.reshape({32, 64});
  }
  Tensor b = Tensor::empty({64, 32}, DType::F32, pool);
  EXPECT_NE(b.raw(), first);
  view = Tensor();
  Tensor c = Tensor::empty({64, 32}, DType::F32, pool);
  EXPECT_EQ(c.raw(), first);
}

TEST(CachingAllocator, ZeroedRequestsGetZerosFromARecycledBlock) {
  HeapAllocator heap;
  CachingAllocator pool(heap);
  {
    Tensor a = Tensor::empty({256}, DType::F32, pool);
    a.fill(7.0);
  }
  const Tensor z = Tensor::zeros({256}, DType::F32, pool);
  EXPECT_EQ(heap.stats().system_allocations, 1) << "the zeros came from the cached block";
  for (int64_t i = 0; i < 256; ++i) ASSERT_EQ(z.at<float>({i}), 0.0f) << i;
}

TEST(CachingAllocator, TheProcessPoolsSitOnTheirDevicesAllocators) {
  CachingAllocator& cpu = transient_allocator(Device::CPU);
  EXPECT_EQ(&cpu, &transient_allocator(Device::CPU));
  EXPECT_EQ(cpu.device(), Device::CPU);
  const int64_t before = cpu_allocator().stats().system_allocations;
  cpu.trim();
  { const Tensor t = Tensor::empty({12345}, DType::F32, cpu); }
  EXPECT_EQ(cpu_allocator().stats().system_allocations, before + 1);
  cpu.trim();
}
