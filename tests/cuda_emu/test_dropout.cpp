// kernels/dropout.cu on the CUDA stand-in. The GPU's dropout promises masks that are the CPU's bit
// for bit for the same (seed, stream, hi_counter, lo_offset), so that a run drops the same
// elements on either backend and for any split of the batch over ranks; and the kept values are
// x / (1 - p) rounded once from double, as on the CPU. So everything here is compared bit for bit
// with the CPU backend: the forward's mask and output, the mask-only draw that the fused attention
// uses, and the backward, over offsets that start and end inside a Philox block of four, counters
// that need the high words of the 128-bit counter, several thread blocks, in-place calls, empty
// inputs, and the refusals of p outside [0, 1).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "backend/ops.hpp"
#include "core/rng.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// Dropout's hi counter as nn::Dropout builds it: (step << 16) | stream id. A large step puts bits
// into the counter's top word as well.
uint64_t dropout_counter(uint64_t step, uint64_t stream_id) {
  return (step << 16) | stream_id;
}

struct CpuDropout {
  std::vector<uint8_t> mask;
  std::vector<float> y;
};

CpuDropout cpu_dropout(const std::vector<float>& x, const Dims& shape, double p, const Philox& rng,
                       uint64_t hi_counter, uint64_t lo_offset) {
  Tensor mask = Tensor::empty(shape, DType::U8), y = Tensor::empty(shape, DType::F32);
  cpu_ops().dropout(host(x, shape), p, rng, hi_counter, lo_offset, mask, y);
  const int64_t n = shape.product();
  return {std::vector<uint8_t>(mask.data<uint8_t>(), mask.data<uint8_t>() + n),
          std::vector<float>(y.data<float>(), y.data<float>() + n)};
}

// Where a mask or an output first differs from the CPU's, for a readable failure.
template <class T, class Bits>
::testing::AssertionResult same_bits(const std::vector<T>& got, const std::vector<T>& want,
                                     Bits bits_of, const char* what) {
  const int64_t n = static_cast<int64_t>(want.size());
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << what << ": " << got.size() << " elements for " << n;
  int64_t differ = 0, first = -1;
  for (int64_t i = 0; i < n; ++i)
    if (bits_of(got[static_cast<size_t>(i)]) != bits_of(want[static_cast<size_t>(i)])) {
      if (first < 0) first = i;
      ++differ;
    }
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << what << ": " << differ << " of " << n << " elements differ from the CPU, first at "
         << first << " (got bits " << bits_of(got[static_cast<size_t>(first)]) << ", want "
         << bits_of(want[static_cast<size_t>(first)]) << ")";
}

auto mask_bits = [](uint8_t v) { return static_cast<uint32_t>(v); };
auto value_bits = [](float v) { return float_bits(v); };

struct DropoutCase {
  int64_t n;
  uint64_t lo_offset;
  double p;
};

std::ostream& operator<<(std::ostream& os, const DropoutCase& c) {
  return os << "n=" << c.n << " lo_offset=" << c.lo_offset << " p=" << c.p;
}

}  // namespace

class EmuDropout : public ::testing::TestWithParam<DropoutCase> {};

TEST_P(EmuDropout, MaskAndOutputEqualTheCpuBitForBit) {
  const auto [n, lo_offset, p] = GetParam();
  const Philox rng(20240611, 7);
  const uint64_t hi_counter = dropout_counter(uint64_t{1} << 40 | 123, 5);
  const std::vector<float> x = randn(n, 100 + static_cast<uint64_t>(n), 2.0);
  Guarded<float> in(n, x), out(n);
  Guarded<uint8_t> mask(n);
  ASSERT_EQ(k::launch_dropout_f32(in.ptr(), n, p, rng.key()[0], rng.key()[1], hi_counter, lo_offset,
                                  mask.ptr(), out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(mask.guards_intact("mask"));
  EXPECT_TRUE(out.guards_intact("y"));
  EXPECT_TRUE(in.guards_intact("x"));

  const CpuDropout want = cpu_dropout(x, {n}, p, rng, hi_counter, lo_offset);
  EXPECT_TRUE(same_bits(mask.values(), want.mask, mask_bits, "mask"));
  EXPECT_TRUE(same_bits(out.values(), want.y, value_bits, "y"));
}

// Offsets and lengths that start and end inside a Philox block (each block decides four
// consecutive global positions), fit in one block, need a 64-bit block index (lo_offset past
// 2^34, and one crossing 2^34 so the block index carries into the counter's second word), and
// over 256 blocks of four so that the launch takes several thread blocks; p from none dropped
// to almost all dropped (keep_below = 1 at p = 1 - 2^-24), and ranges that end at the last
// position a counter can name (2^64 - 1), inside a block and at a block's end.
INSTANTIATE_TEST_SUITE_P(
    Offsets, EmuDropout,
    ::testing::Values(DropoutCase{1, 0, 0.5}, DropoutCase{3, 1, 0.5}, DropoutCase{4, 0, 0.1},
                      DropoutCase{7, 3, 0.3}, DropoutCase{13, (uint64_t{1} << 34) - 6, 0.5},
                      DropoutCase{1029, 2, 0.1}, DropoutCase{2501, (uint64_t{1} << 35) + 1, 0.5},
                      DropoutCase{600, 5, 0.0}, DropoutCase{600, 5, 1.0 - 0x1p-24},
                      DropoutCase{333, 1, 0.9}, DropoutCase{8, UINT64_MAX - 7, 0.5},
                      DropoutCase{6, UINT64_MAX - 5, 0.5}));

TEST(EmuDropoutForward, KeepsAllAtPZeroAndScalesKeptValuesAsTheCpu) {
  // p = 0 keeps every element with its value unchanged; a visible property of the CPU reference
  // the parameterised test relies on, checked directly here.
  const int64_t n = 517;
  const Philox rng(3, 4);
  const std::vector<float> x = randn(n, 5);
  Guarded<float> in(n, x), out(n);
  Guarded<uint8_t> mask(n);
  ASSERT_EQ(k::launch_dropout_f32(in.ptr(), n, 0.0, rng.key()[0], rng.key()[1], 9, 2, mask.ptr(),
                                  out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(mask.guards_intact("mask"));
  EXPECT_TRUE(out.guards_intact("y"));
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(mask[i], 1) << i;
    ASSERT_EQ(float_bits(out[i]), float_bits(x[static_cast<size_t>(i)])) << i;
  }
}

TEST(EmuDropoutForward, RunsInPlace) {
  // y may alias x (the header allows it): each element is read before its own write only.
  const int64_t n = 1203;
  const double p = 0.25;
  const Philox rng(11, 2);
  const uint64_t hi = dropout_counter(77, 3), lo = 6;
  const std::vector<float> x = randn(n, 12);
  Guarded<float> xy(n, x);
  Guarded<uint8_t> mask(n);
  ASSERT_EQ(k::launch_dropout_f32(xy.ptr(), n, p, rng.key()[0], rng.key()[1], hi, lo, mask.ptr(),
                                  xy.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(xy.guards_intact("x = y"));
  EXPECT_TRUE(mask.guards_intact("mask"));
  const CpuDropout want = cpu_dropout(x, {n}, p, rng, hi, lo);
  EXPECT_TRUE(same_bits(mask.values(), want.mask, mask_bits, "mask"));
  EXPECT_TRUE(same_bits(xy.values(), want.y, value_bits, "y"));
}

TEST(EmuDropoutMask, DrawsTheCpuMaskOfTheAttentionProbabilities) {
  // The fused attention draws its (B, H, T, T) mask with launch_dropout_mask at the counters of
  // the CPU's Dropout layer (nn::Dropout::fused_draw): hi = (step << 16) | stream id, lo = the
  // global position of the rank's first sample times H * T * T. Both backends must drop the same
  // probabilities, so the mask must be the CPU dropout's mask over that tensor, and the same bits
  // as the forward launcher's mask.
  const int64_t batch = 2, heads = 3, seq = 11, n = batch * heads * seq * seq;
  const double p = 0.1;
  const Philox rng(42, 9);
  const uint64_t hi = dropout_counter(1500, 12);
  const uint64_t lo = 6 * static_cast<uint64_t>(heads * seq * seq);  // this rank starts at sample 6
  Guarded<uint8_t> keep(n);
  ASSERT_EQ(k::launch_dropout_mask(n, p, rng.key()[0], rng.key()[1], hi, lo, keep.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(keep.guards_intact("mask"));
  const std::vector<float> probabilities = randn(n, 8);
  const CpuDropout want = cpu_dropout(probabilities, {batch, heads, seq, seq}, p, rng, hi, lo);
  EXPECT_TRUE(same_bits(keep.values(), want.mask, mask_bits, "attention mask"));

  Guarded<float> in(n, probabilities), out(n);
  Guarded<uint8_t> forward_mask(n);
  ASSERT_EQ(k::launch_dropout_f32(in.ptr(), n, p, rng.key()[0], rng.key()[1], hi, lo,
                                  forward_mask.ptr(), out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(forward_mask.guards_intact("forward mask"));
  EXPECT_TRUE(out.guards_intact("forward y"));
  EXPECT_TRUE(same_bits(keep.values(), forward_mask.values(), mask_bits, "mask-only vs forward"));
}

TEST(EmuDropoutBackward, ScalesKeptGradientsAsTheCpu) {
  // Lengths of one element, one partial thread block and several blocks; out of place and in
  // place (dx may alias dy). The mask has a few bytes other than 0 and 1: any non-zero byte keeps,
  // on the CPU as in the kernel.
  const double p = 0.4;
  for (const int64_t n : {int64_t{1}, int64_t{300}, int64_t{1100}}) {
    SCOPED_TRACE(n);
    const std::vector<float> dy = randn(n, 21 + static_cast<uint64_t>(n));
    std::vector<uint8_t> keep(static_cast<size_t>(n));
    std::mt19937 g(static_cast<unsigned>(n));
    for (auto& m : keep) m = static_cast<uint8_t>(g() % 3 == 0 ? 0 : (g() % 5 == 0 ? 3 : 1));

    Tensor want = Tensor::empty({n}, DType::F32);
    cpu_ops().dropout_backward(host(dy, {n}), Tensor::from(keep, {n}), p, want);
    const std::vector<float> want_dx(want.data<float>(), want.data<float>() + n);

    Guarded<float> grad(n, dy), dx(n);
    Guarded<uint8_t> mask(n, keep);
    ASSERT_EQ(k::launch_dropout_backward_f32(grad.ptr(), mask.ptr(), n, p, dx.ptr(), nullptr),
              cudaSuccess);
    EXPECT_TRUE(dx.guards_intact("dx"));
    EXPECT_TRUE(same_bits(dx.values(), want_dx, value_bits, "dx"));

    ASSERT_EQ(k::launch_dropout_backward_f32(grad.ptr(), mask.ptr(), n, p, grad.ptr(), nullptr),
              cudaSuccess);
    EXPECT_TRUE(grad.guards_intact("dx = dy"));
    EXPECT_TRUE(same_bits(grad.values(), want_dx, value_bits, "dx in place"));
  }
}

TEST(EmuDropout, RefusesProbabilitiesOutsideZeroToOneAndWritesNothing) {
  const int64_t n = 40;
  const std::vector<float> x = randn(n, 1);
  Guarded<float> in(n, x), out(n);
  Guarded<uint8_t> mask(n);
  for (const double p : {1.0, 1.5, -0.1, -1e-300, std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE(p);
    EXPECT_EQ(k::launch_dropout_f32(in.ptr(), n, p, 1, 2, 3, 4, mask.ptr(), out.ptr(), nullptr),
              cudaErrorInvalidValue);
    EXPECT_EQ(k::launch_dropout_mask(n, p, 1, 2, 3, 4, mask.ptr(), nullptr), cudaErrorInvalidValue);
    EXPECT_EQ(k::launch_dropout_backward_f32(in.ptr(), mask.ptr(), n, p, out.ptr(), nullptr),
              cudaErrorInvalidValue);
  }
  // Nothing launched: the outputs still hold their 0xFF fill.
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(mask[i], 0xFF) << i;
    ASSERT_EQ(float_bits(out[i]), 0xFFFFFFFFu) << i;
  }
  EXPECT_TRUE(mask.guards_intact("mask"));
  EXPECT_TRUE(out.guards_intact("y"));
}

TEST(EmuDropout, RefusesPositionsPastTheLastCounterAndWritesNothing) {
  const int64_t n = 8;
  const std::vector<float> x = randn(n, 2);
  Guarded<float> in(n, x), out(n);
  Guarded<uint8_t> mask(n);
  const uint64_t wraps = UINT64_MAX - 3;  // positions UINT64_MAX - 3 .. UINT64_MAX + 4
  EXPECT_EQ(k::launch_dropout_f32(in.ptr(), n, 0.5, 1, 2, 3, wraps, mask.ptr(), out.ptr(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_dropout_mask(n, 0.5, 1, 2, 3, wraps, mask.ptr(), nullptr),
            cudaErrorInvalidValue);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(mask[i], 0xFF) << i;
  // The last position that fits is drawn.
  const uint64_t fits = UINT64_MAX - (n - 1);
  ASSERT_EQ(k::launch_dropout_mask(n, 0.5, 1, 2, 3, fits, mask.ptr(), nullptr), cudaSuccess);
  for (int64_t i = 0; i < n; ++i) ASSERT_LE(mask[i], 1) << i;
  EXPECT_TRUE(mask.guards_intact("mask"));
  EXPECT_TRUE(out.guards_intact("y"));
}

TEST(EmuDropout, EmptyInputsSucceedAndWriteNothing) {
  Guarded<float> in(0), out(0);
  Guarded<uint8_t> mask(0);
  EXPECT_EQ(k::launch_dropout_f32(in.ptr(), 0, 0.5, 1, 2, 3, 4, mask.ptr(), out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_dropout_mask(0, 0.5, 1, 2, 3, 4, mask.ptr(), nullptr), cudaSuccess);
  EXPECT_EQ(k::launch_dropout_backward_f32(in.ptr(), mask.ptr(), 0, 0.5, out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(mask.guards_intact("mask"));
  EXPECT_TRUE(out.guards_intact("y"));
}
