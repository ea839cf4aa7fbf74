// The GPU dropout must draw exactly the CPU's masks. kernels/philox_device.cuh re-implements
// Philox4x32-10, the key derivation and the dropout rule as __host__ __device__ functions; compiled
// here by the host compiler (no GPU needed, so this runs on every CUDA build, CI included), they
// are compared word for word with core/rng.hpp and decision for decision, value for value, with
// the CPU backend's dropout.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "backend/ops.hpp"
#include "core/rng.hpp"
#include "philox_device.cuh"

namespace {

using namespace win;
namespace ph = win::kernels::philox;

PhiloxCounter words(const ph::Block& b) {
  return {b.w[0], b.w[1], b.w[2], b.w[3]};
}

uint32_t float_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}

TEST(PhiloxDevice, KnownAnswerVectors) {
  EXPECT_EQ(words(ph::philox4x32_10({{0, 0, 0, 0}}, {{0, 0}})),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(words(ph::philox4x32_10({{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
                                    {{0xffffffff, 0xffffffff}})),
            (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(words(ph::philox4x32_10({{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
                                    {{0xa4093822, 0x299f31d0}})),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(PhiloxDevice, RawRoundsMatchCoreForManyCountersAndKeys) {
  std::mt19937_64 gen(12345);
  for (int t = 0; t < 20000; ++t) {
    const uint64_t a = gen(), b = gen(), k = gen();
    const PhiloxCounter ctr{static_cast<uint32_t>(a), static_cast<uint32_t>(a >> 32),
                            static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32)};
    const PhiloxKey key{static_cast<uint32_t>(k), static_cast<uint32_t>(k >> 32)};
    const ph::Block got = ph::philox4x32_10({{ctr[0], ctr[1], ctr[2], ctr[3]}}, {{key[0], key[1]}});
    ASSERT_EQ(words(got), philox4x32_10(ctr, key)) << "trial " << t;
  }
}

TEST(PhiloxDevice, KeysAndBlocksMatchCorePhilox) {
  std::mt19937_64 gen(777);
  const uint64_t edge[] = {
      0, 1, 2, 3, 4, 0xffffffffull, 0x100000000ull, 0x123456789abcdefull, ~uint64_t{0}};
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{42}, ~uint64_t{0}, gen()}) {
    for (uint64_t stream : {uint64_t{0}, uint64_t{1}, uint64_t{3}, uint64_t{1000}, gen()}) {
      EXPECT_EQ(ph::splitmix64(seed ^ stream), splitmix64(seed ^ stream));
      const Philox rng(seed, stream);
      const ph::Key key = ph::make_key(seed, stream);
      ASSERT_EQ(key.k[0], rng.key()[0]);
      ASSERT_EQ(key.k[1], rng.key()[1]);
      for (uint64_t hi : edge)
        for (uint64_t lo : edge)
          ASSERT_EQ(words(ph::block(key, hi, lo)), rng.block(hi, lo))
              << "seed " << seed << " stream " << stream << " hi " << hi << " lo " << lo;
      for (int t = 0; t < 500; ++t) {
        const uint64_t hi = gen(), lo = gen();
        ASSERT_EQ(words(ph::block(key, hi, lo)), rng.block(hi, lo));
      }
    }
  }
}

// Runs the CPU backend's dropout on n elements at (hi_counter, lo_offset) and checks that every
// mask bit and every output value equals what the device functions give for that element.
void expect_same_dropout(double p, uint64_t seed, uint64_t stream, uint64_t hi_counter,
                         uint64_t lo_offset, int64_t n) {
  SCOPED_TRACE(testing::Message() << "p " << p << " seed " << seed << " stream " << stream << " hi "
                                  << hi_counter << " lo_offset " << lo_offset);
  std::mt19937 gen(static_cast<uint32_t>(seed * 31 + stream));
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> xs(static_cast<size_t>(n));
  for (float& v : xs) v = normal(gen);
  const Tensor x = Tensor::from<float>(xs, {n});
  Tensor mask = Tensor::empty({n}, DType::U8);
  Tensor y = Tensor::empty({n}, DType::F32);
  const Philox rng(seed, stream);
  backend::ops_for(Device::CPU, DType::F32).dropout(x, p, rng, hi_counter, lo_offset, mask, y);

  const ph::Key key = ph::make_key(seed, stream);
  const uint32_t keep_below = ph::dropout_keep_below(p);
  const double inv_keep = 1.0 / (1.0 - p);
  const uint8_t* m = mask.data<uint8_t>();
  const float* py = y.data<float>();
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    const bool keep =
        ph::dropout_keep(key, hi_counter, lo_offset + static_cast<uint64_t>(i), keep_below);
    ASSERT_EQ(m[i], keep ? 1 : 0) << "element " << i;
    ASSERT_EQ(float_bits(py[i]),
              float_bits(ph::dropout_value(xs[static_cast<size_t>(i)], keep, inv_keep)))
        << "element " << i;
    kept += keep;
  }
  if (n >= 10000) {  // sanity: the decisions are a plausible Bernoulli(1 - p) sample
    const double rate = static_cast<double>(kept) / static_cast<double>(n);
    EXPECT_NEAR(rate, 1.0 - p, 5.0 * std::sqrt(p * (1.0 - p) / static_cast<double>(n)) + 1e-9);
  }

  // Backward: dx = mask ? dy / (1 - p) : 0 with the same double scaling.
  Tensor dx = Tensor::empty({n}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32).dropout_backward(x, mask, p, dx);
  const float* pdx = dx.data<float>();
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(float_bits(pdx[i]),
              float_bits(ph::dropout_value(xs[static_cast<size_t>(i)], m[i] != 0, inv_keep)))
        << "backward element " << i;
}

TEST(PhiloxDevice, DropoutDecisionsAndValuesMatchCpuBackend) {
  for (double p : {0.0, 0.1, 1.0 / 3.0, 0.5, 0.9, 0.999})
    expect_same_dropout(p, 1234, 5, 17, 0, 20000);
}

TEST(PhiloxDevice, DropoutMatchesCpuAtUnalignedAndLargeOffsets) {
  // lo_offset not a multiple of 4 (a block serves elements of two calls), above 2^32 (the high
  // counter word of lo), odd lengths, and large hi counters.
  for (uint64_t lo : {uint64_t{1}, uint64_t{2}, uint64_t{3}, uint64_t{4097},
                      (uint64_t{1} << 32) - 3, (uint64_t{1} << 40) + 5})
    expect_same_dropout(0.1, 99, 2, 3, lo, 4099);
  expect_same_dropout(0.25, 7, 1, ~uint64_t{0}, 6, 1001);
  expect_same_dropout(0.25, ~uint64_t{0}, 123456789, uint64_t{1} << 33, 0, 1);
}

TEST(PhiloxDevice, KeepBelowIsTheCpuThreshold) {
  EXPECT_EQ(ph::dropout_keep_below(0.0), 1u << 24);  // keeps everything: (word >> 8) < 2^24
  EXPECT_EQ(ph::dropout_keep_below(0.5), 1u << 23);
  EXPECT_EQ(ph::dropout_keep_below(0.1), static_cast<uint32_t>(std::llround(0.9 * 16777216.0)));
  EXPECT_TRUE(ph::dropout_keep_word(0xffffffffu, ph::dropout_keep_below(0.0)));
  EXPECT_FALSE(ph::dropout_keep_word(0x80000000u, ph::dropout_keep_below(0.5)));
  EXPECT_TRUE(ph::dropout_keep_word(0x7fffffffu, ph::dropout_keep_below(0.5)));
}

}  // namespace
