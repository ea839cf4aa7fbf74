// Tensor views and strides, conversions, and allocator accounting: views share storage and never
// allocate; the arena stops taking memory from the system after the first iteration of a loop.
#include <gtest/gtest.h>

#include <cmath>

#include "core/allocator.hpp"
#include "core/tensor.hpp"

using namespace win;

namespace {
Tensor iota(const Dims& shape) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(i);
  return t;
}
}  // namespace

TEST(Tensor, ContiguousStridesAndElementAccess) {
  Tensor t = iota({2, 3, 4});
  EXPECT_EQ(t.strides(), (Dims{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.at<float>({1, 2, 3}), 23.0f);
  EXPECT_EQ(t.nbytes(), 24u * 4u);
}

TEST(Tensor, SliceSelectTransposeAreViews) {
  Tensor t = iota({4, 5});
  Tensor s = t.slice(1, 1, 5, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Dims{4, 2}));
  EXPECT_EQ(s.strides(), (Dims{5, 2}));
  EXPECT_FALSE(s.is_contiguous());
  EXPECT_TRUE(s.shares_storage(t));
  EXPECT_EQ(s.at<float>({2, 1}), 13.0f);

  Tensor r = t.select(0, 3);
  EXPECT_EQ(r.shape(), (Dims{5}));
  EXPECT_EQ(r.at<float>({4}), 19.0f);

  Tensor tt = t.transpose(0, 1);
  EXPECT_EQ(tt.shape(), (Dims{5, 4}));
  EXPECT_EQ(tt.at<float>({4, 3}), 19.0f);
  // Writes through a view are visible in the base tensor.
  tt.at<float>({0, 1}) = -1.0f;
  EXPECT_EQ(t.at<float>({1, 0}), -1.0f);
}

TEST(Tensor, PermuteReshapeUnsqueeze) {
  Tensor t = iota({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_EQ(p.shape(), (Dims{4, 2, 3}));
  EXPECT_EQ(p.at<float>({3, 1, 2}), t.at<float>({1, 2, 3}));
  Tensor c = p.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(t));
  EXPECT_EQ(c.at<float>({3, 1, 2}), 23.0f);
  EXPECT_EQ(c.reshape({4, -1}).shape(), (Dims{4, 6}));
  EXPECT_EQ(t.unsqueeze(1).shape(), (Dims{2, 1, 3, 4}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Dims{2, 3, 4, 1}));
  // Reshaping a non-contiguous view would reinterpret memory wrongly: refused.
  EXPECT_THROW(p.reshape({24}), Error);
  EXPECT_THROW(t.reshape({5, -1}), Error);
  EXPECT_THROW(t.permute({0, 0, 1}), Error);
}

TEST(Tensor, OutOfRangeViewsAreErrors) {
  Tensor t = iota({3, 3});
  EXPECT_THROW(t.slice(0, 2, 4), Error);
  EXPECT_THROW(t.select(1, 3), Error);
  EXPECT_THROW(t.at<float>({3, 0}), Error);
  EXPECT_THROW(t.data<int32_t>(), Error);  // wrong dtype
  EXPECT_THROW(t.transpose(0, 2), Error);
}

TEST(Tensor, CopyConvertsDtypesAndStrides) {
  Tensor t = iota({3, 4});
  Tensor d = t.transpose(0, 1).to(DType::F64);
  EXPECT_EQ(d.at<double>({3, 2}), 11.0);
  Tensor i = Tensor::from<float>({-2.7f, 3.2f}, {2}).to(DType::I32);
  EXPECT_EQ(i.at<int32_t>({0}), -2);
  EXPECT_EQ(i.at<int32_t>({1}), 3);
  Tensor b = Tensor::from<float>({1.0f, 3.14159f, -0.0078125f}, {3}).to(DType::BF16);
  std::vector<double> back = b.to_vector();
  EXPECT_EQ(back[0], 1.0);
  EXPECT_NEAR(back[1], 3.14159, 3.14159 / 128);  // bf16 keeps 8 significant bits
  EXPECT_EQ(back[2], -0.0078125);                // a power of two is exact
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between two bf16 values (1 and 1 + 2^-7): ties go to the even one, 1.
  EXPECT_EQ(static_cast<float>(bf16(1.0f + 1.0f / 256)), 1.0f);
  // 1 + 3*2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
  EXPECT_EQ(static_cast<float>(bf16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);
  EXPECT_TRUE(std::isnan(static_cast<float>(bf16(std::nanf("")))));
}

TEST(Tensor, FillAndZeroOnStridedViews) {
  Tensor t = Tensor::zeros({4, 4}, DType::F32);
  t.slice(1, 0, 4, 2).fill(2.0);
  EXPECT_EQ(t.at<float>({3, 2}), 2.0f);
  EXPECT_EQ(t.at<float>({3, 1}), 0.0f);
  t.slice(1, 0, 4, 2).zero();
  for (double v : t.to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(Allocator, ViewsAndCopiesOfHandlesDoNotAllocate) {
  HeapAllocator heap;
  Tensor t = Tensor::empty({64, 64}, DType::F32, heap);
  const int64_t before = heap.stats().system_allocations;
  for (int i = 0; i < 100; ++i) {
    Tensor v = t.slice(0, 1, 10).transpose(0, 1);
    Tensor w = v;
    (void)w;
  }
  EXPECT_EQ(heap.stats().system_allocations, before);
  EXPECT_EQ(heap.stats().live_blocks, 1);
  t = Tensor();
  EXPECT_EQ(heap.stats().live_blocks, 0);
  EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST(Allocator, ArenaReusesMemoryAfterFirstIteration) {
  Arena arena(4096);  // deliberately too small: the first step must grow it
  std::vector<int64_t> system_allocs;
  for (int step = 0; step < 5; ++step) {
    {
      Tensor a = Tensor::empty({256, 256}, DType::F32, arena);
      Tensor b = Tensor::empty({1000}, DType::F64, arena);
      Tensor c = Tensor::empty({128, 3, 3}, DType::F32, arena);
      a.fill(1.0);
      b.fill(2.0);
      c.fill(3.0);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(a.raw()) % 64, 0u);
      EXPECT_EQ(a.at<float>({255, 255}), 1.0f);  // blocks do not overlap
      EXPECT_EQ(b.at<double>({999}), 2.0);
    }
    arena.reset();
    system_allocs.push_back(arena.stats().system_allocations);
  }
  // Step 0 grew the arena (initial chunk + growth + the coalesced chunk made by its reset);
  // from then on a step of the same shape takes nothing from the system.
  EXPECT_GE(system_allocs[0], 3);
  for (size_t i = 1; i < system_allocs.size(); ++i) EXPECT_EQ(system_allocs[i], system_allocs[0]);
}

TEST(Allocator, ArenaResetWithLiveTensorIsAnError) {
  Arena arena;
  Tensor t = Tensor::empty({10}, DType::F32, arena);
  EXPECT_THROW(arena.reset(), Error);
  t = Tensor();
  EXPECT_NO_THROW(arena.reset());
}
