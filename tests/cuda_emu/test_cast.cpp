// kernels/cast.cu on the CUDA stand-in: the fp32 -> bf16 rounding is the CPU's Ops::convert bit for
// bit (nearest even, NaN kept a NaN), bf16 -> fp32 is exact, and the accumulation adds into fp32,
// over the vector and scalar paths (aligned and shifted buffers, lengths around the vector width
// and over several blocks), never writing outside the buffers.
#include <gtest/gtest.h>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// Values that exercise rounding: ties to even both ways, the largest finite, subnormals, NaN,
// infinities, and random normals.
std::vector<float> cast_inputs(int64_t n, uint64_t seed) {
  std::vector<float> v = randn(n, seed, 3.0);
  const float special[] = {1.00390625f,  // 1 + 2^-8: a tie, rounds down to even
                           1.01171875f,  // 1 + 3 * 2^-8: a tie, rounds up to even
                           3.3895314e38f, -0.0f, 1e-40f, INFINITY, -INFINITY, NAN};
  for (size_t i = 0; i < std::size(special) && i < v.size(); ++i) v[i * 3 % v.size()] = special[i];
  return v;
}

}  // namespace

class EmuCast : public ::testing::TestWithParam<std::pair<int64_t, int64_t>> {};

TEST_P(EmuCast, RoundsAsTheCpuAndWidensExactly) {
  const auto [n, shift] = GetParam();
  const std::vector<float> x = cast_inputs(n, 7 + static_cast<uint64_t>(n));
  Guarded<float> src(n, x, shift);
  Guarded<__nv_bfloat16> half(n, shift);
  ASSERT_EQ(k::launch_cast_f32_to_bf16(src.ptr(), half.ptr(), n, nullptr), cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(half.guards_intact("bf16 output"));

  Tensor want = Tensor::empty({n}, DType::BF16);
  backend::ops_for(Device::CPU, DType::F32).convert(host(x, {n}), want);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(bits(half[i]), want.data<bf16>()[i].bits) << "element " << i << " = " << x[size_t(i)];

  Guarded<float> back(n, shift);
  ASSERT_EQ(k::launch_cast_bf16_to_f32(half.ptr(), back.ptr(), n, nullptr), cudaSuccess);
  EXPECT_TRUE(back.guards_intact("fp32 output"));
  for (int64_t i = 0; i < n; ++i) {
    const float w = bf16_to_float(half[i]);
    if (std::isnan(w))
      ASSERT_TRUE(std::isnan(back[i])) << i;
    else
      ASSERT_EQ(back[i], w) << i;
  }
}

TEST_P(EmuCast, AccumulatesBf16IntoFp32) {
  const auto [n, shift] = GetParam();
  std::vector<float> g = randn(n, 11, 1.0), acc0 = randn(n, 12, 1.0);
  Guarded<__nv_bfloat16> grad(n, shift);
  for (int64_t i = 0; i < n; ++i) grad[i] = float_to_bf16(g[size_t(i)]);
  Guarded<float> acc(n, acc0, shift);
  ASSERT_EQ(k::launch_accumulate_bf16_into_f32(grad.ptr(), acc.ptr(), n, nullptr), cudaSuccess);
  EXPECT_TRUE(acc.guards_intact("accumulator"));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(acc[i], acc0[size_t(i)] + bf16_to_float(grad[i])) << i;
}

// (length, shift in elements): the empty case, lengths around the 4-wide vector path, a shifted
// buffer (scalar path), and a length over several 256-thread blocks.
INSTANTIATE_TEST_SUITE_P(
    Lengths, EmuCast,
    ::testing::Values(std::pair<int64_t, int64_t>{0, 0}, std::pair<int64_t, int64_t>{1, 0},
                      std::pair<int64_t, int64_t>{7, 0}, std::pair<int64_t, int64_t>{8, 1},
                      std::pair<int64_t, int64_t>{1027, 0}, std::pair<int64_t, int64_t>{1027, 3},
                      std::pair<int64_t, int64_t>{70001, 0}));
