// Tests of the counter-based RNG and the OpenMP helpers: Philox against Random123's known-answer
// vectors, bit-identical fills for any thread count, and distribution checks. Seeds are fixed, so
// the statistical tests are deterministic; their tolerances (5 standard errors, or a chi-square
// bound with a ~1e-6 false-alarm rate) are what a fresh seed would pass almost surely.
#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"

namespace win {
namespace {

// Random123 kat_vectors, "philox4x32 10" lines: counter, key -> output.
static_assert(philox4x32_10({0, 0, 0, 0}, {0, 0}) ==
              PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});

TEST(Philox, KnownAnswerVectors) {
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (PhiloxCounter{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(
      philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
      (PhiloxCounter{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(
      philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
      (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, BlockCounterLayout) {
  const Philox rng(PhiloxKey{0xa4093822, 0x299f31d0});
  EXPECT_EQ(rng.block(0x0370734413198a2eull, 0x85a308d3243f6a88ull),
            (PhiloxCounter{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
  EXPECT_EQ(rng.u32(7, 9), rng.block(7, 9)[0]);
}

TEST(Philox, SeedsAndStreamsGiveDistinctKeysAndDraws) {
  const Philox a(1, 0), b(2, 0), c(1, 1), a2(1, 0);
  EXPECT_EQ(a.key(), a2.key());
  EXPECT_NE(a.key(), b.key());
  EXPECT_NE(a.key(), c.key());
  EXPECT_NE(b.key(), c.key());
  int equal_ab = 0, equal_ac = 0;
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(a.u32(0, i), a2.u32(0, i));
    equal_ab += a.u32(0, i) == b.u32(0, i);
    equal_ac += a.u32(0, i) == c.u32(0, i);
  }
  EXPECT_LE(equal_ab, 1);  // a 32-bit match by chance has probability 1000 / 2^32
  EXPECT_LE(equal_ac, 1);
  EXPECT_NE(a.u32(0, 5), a.u32(1, 5));  // the high counter word selects another sequence
}

class ThreadCount : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = num_threads(); }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

template <class T>
std::vector<T> fill_with_threads(int threads, bool normal, const Philox& rng) {
  set_num_threads(threads);
  Tensor t = Tensor::empty({100003}, dtype_of<T>);
  if (normal) {
    fill_normal(t, rng, 0.5, 2.0, 17);
  } else {
    fill_uniform(t, rng, -1.0, 3.0, 17);
  }
  const T* p = t.data<T>();
  return std::vector<T>(p, p + t.numel());
}

TEST_F(ThreadCount, FillsAreBitIdenticalForAnyThreadCount) {
  const Philox rng(12345, 3);
  for (bool normal : {false, true}) {
    const auto f1 = fill_with_threads<float>(1, normal, rng);
    const auto d1 = fill_with_threads<double>(1, normal, rng);
    for (int threads : {2, 4}) {
      const auto f = fill_with_threads<float>(threads, normal, rng);
      const auto d = fill_with_threads<double>(threads, normal, rng);
      EXPECT_EQ(0, std::memcmp(f.data(), f1.data(), f.size() * sizeof(float))) << threads;
      EXPECT_EQ(0, std::memcmp(d.data(), d1.data(), d.size() * sizeof(double))) << threads;
    }
    // Element i is the scalar draw at counter (17, i).
    for (uint64_t i : {0ull, 1ull, 4097ull, 100002ull}) {
      if (normal) {
        EXPECT_EQ(f1[i], 0.5f + 2.0f * rng.normal(17, i));
        EXPECT_EQ(d1[i], 0.5 + 2.0 * rng.normal_double(17, i));
      } else {
        EXPECT_EQ(f1[i], -1.0f + 4.0f * rng.uniform(17, i));
        EXPECT_EQ(d1[i], -1.0 + 4.0 * rng.uniform_double(17, i));
      }
    }
  }
}

TEST(Rng, FillsDifferAcrossSeedsStreamsAndOffsets) {
  Tensor a = Tensor::empty({1000}, DType::F32), b = Tensor::empty({1000}, DType::F32);
  auto count_equal = [&] {
    int n = 0;
    for (int64_t i = 0; i < 1000; ++i) n += a.data<float>()[i] == b.data<float>()[i];
    return n;
  };
  fill_uniform(a, Philox(1, 0), 0, 1, 0);
  fill_uniform(b, Philox(2, 0), 0, 1, 0);
  EXPECT_LE(count_equal(), 2);  // equal 24-bit values by chance: expected 1000 / 2^24
  fill_uniform(b, Philox(1, 1), 0, 1, 0);
  EXPECT_LE(count_equal(), 2);
  fill_uniform(b, Philox(1, 0), 0, 1, 1);
  EXPECT_LE(count_equal(), 2);
  fill_uniform(b, Philox(1, 0), 0, 1, 0);
  EXPECT_EQ(count_equal(), 1000);
}

TEST(Rng, UniformMoments) {
  // n = 1e6 draws of U[0,1): mean 1/2 with SE sqrt(1/12/n) = 2.9e-4, variance 1/12 with SE
  // sqrt((1/80 - 1/144)/n) = 7.5e-5. Tolerances are 5 SE.
  const Philox rng(42, 7);
  const int n = 1000000;
  double sum = 0, sum2 = 0, dsum = 0;
  for (int i = 0; i < n; ++i) {
    const float u = rng.uniform(0, i);
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
    sum2 += double{u} * u;
    const double d = rng.uniform_double(0, i);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    dsum += d;
  }
  const double mean = sum / n, var = sum2 / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 5 * 2.9e-4);
  EXPECT_NEAR(var, 1.0 / 12, 5 * 7.5e-5);
  EXPECT_NEAR(dsum / n, 0.5, 5 * 2.9e-4);
}

TEST(Rng, NormalMoments) {
  // n = 1e6: mean SE 1e-3, std SE 1/sqrt(2n) = 7.1e-4, P(|z| < 1) = 0.6827 with SE 4.7e-4.
  // Tolerances are 5 SE.
  const Philox rng(42, 8);
  const int n = 1000000;
  for (bool dbl : {false, true}) {
    double sum = 0, sum2 = 0;
    int inside = 0;
    for (int i = 0; i < n; ++i) {
      const double z = dbl ? rng.normal_double(3, i) : rng.normal(3, i);
      ASSERT_TRUE(std::isfinite(z));
      sum += z;
      sum2 += z * z;
      inside += std::abs(z) < 1;
    }
    const double mean = sum / n;
    EXPECT_NEAR(mean, 0.0, 5 * 1e-3) << dbl;
    EXPECT_NEAR(std::sqrt(sum2 / n - mean * mean), 1.0, 5 * 7.1e-4) << dbl;
    EXPECT_NEAR(static_cast<double>(inside) / n, 0.682689, 5 * 4.7e-4) << dbl;
  }
}

TEST(Rng, FillUniformRangeAndNormalShift) {
  Tensor t = Tensor::empty({4, 50000}, DType::F32);
  fill_uniform(t, Philox(9, 9), -2.0, 3.0, 0);
  double sum = 0;
  for (float v : t.to_vector()) {
    ASSERT_GE(v, -2.0f);
    ASSERT_LT(v, 3.0f);
    sum += v;
  }
  EXPECT_NEAR(sum / 200000, 0.5, 5 * 5 * std::sqrt(1.0 / 12 / 200000));  // 5 SE, SE scaled by 5
  fill_normal(t, Philox(9, 9), 10.0, 0.5, 0);
  sum = 0;
  for (double v : t.to_vector()) sum += v;
  EXPECT_NEAR(sum / 200000, 10.0, 5 * 0.5 / std::sqrt(200000.0));
  // A degenerate range is allowed and constant.
  fill_uniform(t, Philox(9, 9), 1.5, 1.5, 0);
  for (double v : t.to_vector()) ASSERT_EQ(v, 1.5);
}

TEST(Rng, FillRejectsUnsupportedTensors) {
  const Philox rng(1, 1);
  Tensor i32 = Tensor::empty({8}, DType::I32);
  EXPECT_THROW(fill_uniform(i32, rng, 0, 1, 0), Error);
  Tensor tr = Tensor::empty({4, 8}, DType::F32).transpose(0, 1);
  EXPECT_THROW(fill_normal(tr, rng, 0, 1, 0), Error);
  Tensor f = Tensor::empty({8}, DType::F32);
  EXPECT_THROW(fill_uniform(f, rng, 1, 0, 0), Error);
  EXPECT_THROW(fill_normal(f, rng, 0, -1, 0), Error);
}

TEST(Rng, UniformIntRangeAndBuckets) {
  const Philox rng(77, 1);
  // 10 buckets of 100000 draws: chi-square with 9 degrees of freedom exceeds 46 with
  // probability about 1e-6.
  const uint64_t n = 10;
  const int draws = 100000;
  std::vector<int> count(n, 0);
  for (int i = 0; i < draws; ++i) {
    const uint64_t k = rng.uniform_int(0, i, n);
    ASSERT_LT(k, n);
    ++count[k];
  }
  double chi2 = 0;
  const double expected = static_cast<double>(draws) / n;
  for (int c : count) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 46.0);

  for (int i = 0; i < 1000; ++i) EXPECT_EQ(rng.uniform_int(1, i, 1), 0u);
  const uint64_t big = (uint64_t{1} << 63) + 12345;
  uint64_t above_half = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t k = rng.uniform_int(2, i, big);
    ASSERT_LT(k, big);
    above_half += k >= big / 2;
  }
  EXPECT_NEAR(static_cast<double>(above_half), 500.0, 5 * std::sqrt(250.0));
}

TEST_F(ThreadCount, ParallelForCoversEveryIndexOnce) {
  for (int threads : {1, 3, 4}) {
    set_num_threads(threads);
    const int64_t n = 100003;
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> chunks{0};
    parallel_for(n, 1000, [&](int64_t begin, int64_t end) {
      EXPECT_EQ(begin % 1000, 0);
      EXPECT_EQ(end, std::min(n, begin + 1000));
      ++chunks;
      for (int64_t i = begin; i < end; ++i) ++hits[i];
    });
    EXPECT_EQ(chunks.load(), 101);
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  }
  int calls = 0;
  parallel_for(0, 10, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
  parallel_for(7, 10, [&](int64_t b, int64_t e) {
    ++calls;
    EXPECT_EQ(b, 0);
    EXPECT_EQ(e, 7);
  });
  EXPECT_EQ(calls, 1);
}

TEST_F(ThreadCount, SetNumThreads) {
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  set_num_threads(0);
  EXPECT_EQ(num_threads(), omp_get_num_procs());
}

}  // namespace
}  // namespace win
