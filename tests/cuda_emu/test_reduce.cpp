// kernels/reduce.cu on the CUDA stand-in. The sum of squares (gradient norms) is held to a double
// sum and to the CPU op, repeats bit for bit (its partition depends on the size only), squares in
// double (no float overflow or underflow) and writes no more scratch than it asks for; global
// average pooling and its backward are held to the CPU op over both forward paths (a thread per
// output when channels move fastest, a warp per output otherwise), fp32 and bf16 activations,
// dense and strided layouts, and the refusals of negative sizes, never writing outside their
// outputs (nor, backward, into the gaps of a strided dx).
#include <gtest/gtest.h>

#include <array>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

double double_sum_squares(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += static_cast<double>(v) * static_cast<double>(v);
  return s;
}

uint64_t bits_of(double v) {
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

}  // namespace

// ---- sum of squares ---------------------------------------------------------------------------

class EmuSumSquares : public ::testing::TestWithParam<int64_t> {};

TEST_P(EmuSumSquares, MatchesADoubleSumAndTheCpuAndRepeatsBitForBit) {
  const int64_t n = GetParam();
  const std::vector<float> x = randn(n, 100 + static_cast<uint64_t>(n), 2.0);
  Guarded<float> xs(n, x);
  const int64_t partials = k::sum_squares_scratch_doubles(n);
  Guarded<double> scratch(partials), out(1);
  ASSERT_EQ(k::launch_sum_squares_f32(xs.ptr(), n, scratch.ptr(), out.ptr(), nullptr), cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(scratch.guards_intact("scratch"));
  EXPECT_TRUE(out.guards_intact("out"));
  const double got = out[0];

  // Every square is exact in double (24-bit mantissas), so the orders of the sums differ only
  // by the rounding of n - 1 additions of non-negative terms: at most (n - 1) 2^-53 relative.
  const double want = double_sum_squares(x);
  const double tol = 1e-15 * static_cast<double>(std::max<int64_t>(n, 1)) * want;
  EXPECT_NEAR(got, want, tol) << "n = " << n;
  EXPECT_NEAR(got, cpu_ops().sum_squares(host(x, {n})), tol) << "n = " << n;
  if (n == 0) {
    EXPECT_EQ(bits_of(got), bits_of(0.0));  // written, not left as the 0xFF fill
  }

  // The partition and the order of the additions depend on n alone: stale scratch and a new
  // thread schedule change no bit.
  std::memset(scratch.ptr(), 0x5A, static_cast<size_t>(partials) * sizeof(double));
  std::memset(out.ptr(), 0xFF, sizeof(double));
  ASSERT_EQ(k::launch_sum_squares_f32(xs.ptr(), n, scratch.ptr(), out.ptr(), nullptr), cudaSuccess);
  EXPECT_EQ(bits_of(out[0]), bits_of(got)) << "n = " << n;
}

// The empty input, one element, lengths under and over one warp and one block, exactly one
// first-pass block (4096) and one more, and four first-pass blocks with a tail.
INSTANTIATE_TEST_SUITE_P(Lengths, EmuSumSquares,
                         ::testing::Values<int64_t>(0, 1, 31, 257, 4096, 4097, 3 * 4096 + 5));

TEST(EmuSumSquares, SquaresInDoubleSoNeitherOverflowNorUnderflow) {
  // 3e20^2 overflows float and 1e-30^2 underflows it; in double both are kept.
  std::vector<float> x(600, 1e-30f);
  x[17] = 3e20f;
  x[301] = -3e20f;
  const int64_t n = static_cast<int64_t>(x.size());
  Guarded<float> xs(n, x);
  Guarded<double> scratch(k::sum_squares_scratch_doubles(n)), out(1);
  ASSERT_EQ(k::launch_sum_squares_f32(xs.ptr(), n, scratch.ptr(), out.ptr(), nullptr), cudaSuccess);
  EXPECT_TRUE(out.guards_intact("out"));
  const double big = static_cast<double>(3e20f) * static_cast<double>(3e20f);
  EXPECT_DOUBLE_EQ(out[0], 2 * big);
  // Without the big values: 598 tiny squares, each ~1e-60, nowhere near float's range.
  x[17] = x[301] = 1e-30f;
  Guarded<float> tiny(n, x);
  ASSERT_EQ(k::launch_sum_squares_f32(tiny.ptr(), n, scratch.ptr(), out.ptr(), nullptr),
            cudaSuccess);
  EXPECT_NEAR(out[0], double_sum_squares(x), 1e-12 * double_sum_squares(x));
  EXPECT_GT(out[0], 0.0);
}

TEST(EmuSumSquares, ScratchIsOnePartialPer4096ElementsUpTo1024) {
  EXPECT_EQ(k::sum_squares_scratch_doubles(0), 1);
  EXPECT_EQ(k::sum_squares_scratch_doubles(1), 1);
  EXPECT_EQ(k::sum_squares_scratch_doubles(4096), 1);
  EXPECT_EQ(k::sum_squares_scratch_doubles(4097), 2);
  EXPECT_EQ(k::sum_squares_scratch_doubles(1024 * 4096), 1024);
  EXPECT_EQ(k::sum_squares_scratch_doubles(1024 * 4096 + 1), 1024);
  EXPECT_EQ(k::sum_squares_scratch_doubles(int64_t{1} << 40), 1024);
}

// ---- global average pooling -------------------------------------------------------------------

namespace {

// A 4-d activation (N, C, H, W) stored in some memory order, possibly a view that skips
// channels: `stored` is the dense buffer's shape in memory order, `order` the logical dims it
// holds outer to inner, and `channel_step` > 1 keeps every channel_step-th channel.
struct Layout {
  const char* name;
  std::array<int64_t, 4> shape;  // logical N, C, H, W
  std::array<int, 4> order;      // memory order, outer to inner, of the logical dims
  int64_t channel_step = 1;

  int64_t stored_numel() const { return shape[0] * shape[1] * channel_step * shape[2] * shape[3]; }
  // The CPU view of a buffer holding `values` in memory order.
  Tensor view(const Tensor& buffer) const {
    std::array<int, 4> inverse{};
    for (int k = 0; k < 4; ++k) inverse[static_cast<size_t>(order[static_cast<size_t>(k)])] = k;
    Tensor t = buffer.permute({inverse[0], inverse[1], inverse[2], inverse[3]});
    return channel_step > 1 ? t.slice(1, 0, t.size(1), channel_step) : t;
  }
  Dims stored_shape() const {
    Dims d;
    for (int k = 0; k < 4; ++k) {
      const int dim = order[static_cast<size_t>(k)];
      d.push_back(shape[static_cast<size_t>(dim)] * (dim == 1 ? channel_step : 1));
    }
    return d;
  }
};

std::ostream& operator<<(std::ostream& os, const Layout& l) {
  return os << l.name;
}

// NCHW with a plane over 32 (warp per output, lanes loop twice), channels-last (thread per
// output, two blocks), a 1x1 plane (thread per output), and NCHW every other channel (a view,
// warp per output).
const Layout kLayouts[] = {
    {"nchw_warp", {3, 13, 5, 7}, {0, 1, 2, 3}},
    {"channels_last_thread", {2, 150, 3, 4}, {0, 2, 3, 1}},
    {"plane_1x1_thread", {5, 70, 1, 1}, {0, 1, 2, 3}},
    {"nchw_every_other_channel", {2, 9, 6, 6}, {0, 1, 2, 3}, 2},
};

std::array<int64_t, 4> strides4(const Tensor& t) {
  return {t.stride(0), t.stride(1), t.stride(2), t.stride(3)};
}

// Launches the forward of x (the logical view of `buffer`) with T's launcher into a (N, C)
// output with row stride y_strides; returns the launcher's status.
template <class T>
cudaError_t pool(const Layout& l, Guarded<T>& buffer, Guarded<float>& y,
                 const std::array<int64_t, 2>& y_strides) {
  const Tensor probe = l.view(Tensor::empty(l.stored_shape(), DType::F32));
  const auto xs = strides4(probe);
  if constexpr (std::is_same_v<T, float>)
    return k::launch_global_avg_pool_f32(buffer.ptr(), l.shape.data(), xs.data(), y.ptr(),
                                         y_strides.data(), nullptr);
  else
    return k::launch_global_avg_pool_bf16(buffer.ptr(), l.shape.data(), xs.data(), y.ptr(),
                                          y_strides.data(), nullptr);
}

template <class T>
void check_pool_matches_cpu(const Layout& l, bool transposed_y) {
  const int64_t n = l.shape[0], c = l.shape[1], stored = l.stored_numel();
  std::vector<float> values = randn(stored, 200 + static_cast<uint64_t>(stored), 1.5);
  Guarded<T> buffer(stored);
  for (int64_t i = 0; i < stored; ++i) {
    if constexpr (std::is_same_v<T, float>) {
      buffer[i] = values[size_t(i)];
    } else {
      buffer[i] = float_to_bf16(values[size_t(i)]);
      values[size_t(i)] = bf16_to_float(buffer[i]);  // the CPU sees exactly what the kernel reads
    }
  }
  // y as (N, C) row-major, or transposed (C, N) in memory.
  const std::array<int64_t, 2> ys =
      transposed_y ? std::array<int64_t, 2>{1, n} : std::array<int64_t, 2>{c, 1};
  Guarded<float> y(n * c);
  ASSERT_EQ(pool(l, buffer, y, ys), cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));

  const Tensor x_cpu = l.view(host(values, l.stored_shape()));
  Tensor want = Tensor::empty({n, c}, DType::F32);
  cpu_ops().global_avg_pool(x_cpu, want);
  std::vector<float> got(static_cast<size_t>(n * c));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) got[size_t(i * c + j)] = y[i * ys[0] + j * ys[1]];
  const std::vector<float> want_v(want.data<float>(), want.data<float>() + n * c);
  // Both sum in double and round the mean to float once; the warp path adds in another order,
  // which can move a mean across a float rounding boundary: an ulp (6e-8) at a few elements.
  EXPECT_LE(normalised_error(got, want_v), 1e-7) << l;
}

}  // namespace

class EmuGlobalAvgPool : public ::testing::TestWithParam<Layout> {};

TEST_P(EmuGlobalAvgPool, ForwardMatchesTheCpuF32) {
  check_pool_matches_cpu<float>(GetParam(), false);
}
TEST_P(EmuGlobalAvgPool, ForwardMatchesTheCpuBf16IntoTransposedY) {
  check_pool_matches_cpu<__nv_bfloat16>(GetParam(), true);
}

TEST_P(EmuGlobalAvgPool, BackwardMatchesTheCpuAndLeavesTheGapsAlone) {
  const Layout& l = GetParam();
  const int64_t n = l.shape[0], c = l.shape[1], stored = l.stored_numel();
  // dy stored transposed, (C, N) in memory.
  const std::vector<float> dy_v = randn(n * c, 300 + static_cast<uint64_t>(n * c), 2.0);
  Guarded<float> dy(n * c, dy_v);
  const std::array<int64_t, 2> dys{1, n};
  std::vector<float> dy_rowmajor(static_cast<size_t>(n * c));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j) dy_rowmajor[size_t(i * c + j)] = dy_v[size_t(j * n + i)];

  Tensor want_buffer = Tensor::empty(l.stored_shape(), DType::F32);
  want_buffer.fill(NAN);
  Tensor want_view = l.view(want_buffer);
  cpu_ops().global_avg_pool_backward(host(dy_rowmajor, {n, c}), want_view);
  const float* want = want_buffer.data<float>();
  const auto dxs = strides4(want_view);

  Guarded<float> dx32(stored);
  ASSERT_EQ(k::launch_global_avg_pool_backward_f32(dy.ptr(), dys.data(), dx32.ptr(), l.shape.data(),
                                                   dxs.data(), nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(dx32.guards_intact("dx f32"));
  Guarded<__nv_bfloat16> dx16(stored);
  ASSERT_EQ(k::launch_global_avg_pool_backward_bf16(dy.ptr(), dys.data(), dx16.ptr(),
                                                    l.shape.data(), dxs.data(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(dx16.guards_intact("dx bf16"));

  // Both compute float(double(dy) / (H W)) element by element: the same bits; the bf16 output
  // is that float rounded once more. Gap elements (skipped channels) stay as filled: NaN on the
  // CPU, 0xFFFF bytes here.
  for (int64_t i = 0; i < stored; ++i) {
    if (std::isnan(want[i])) {
      ASSERT_EQ(bits(dx16[i]), 0xFFFFu) << l << ": bf16 gap element " << i << " was written";
      uint32_t b = 0;
      std::memcpy(&b, &dx32[i], sizeof b);
      ASSERT_EQ(b, 0xFFFFFFFFu) << l << ": f32 gap element " << i << " was written";
      continue;
    }
    ASSERT_EQ(dx32[i], want[i]) << l << ": element " << i;
    ASSERT_EQ(bits(dx16[i]), bits(float_to_bf16(want[i]))) << l << ": element " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, EmuGlobalAvgPool, ::testing::ValuesIn(kLayouts),
                         [](const ::testing::TestParamInfo<Layout>& layout) {
                           return std::string(layout.param.name);
                         });

TEST(EmuGlobalAvgPool, SumsInDoubleOnBothPaths) {
  // Planes of 36: +2^27, -2^27 and 34 ones. A float running sum loses the ones next to 2^27
  // (2^27 + 1 is not a float), a double one keeps them: the mean is exactly 34 / 36.
  for (const Layout& l : {kLayouts[0], kLayouts[1]}) {
    const int64_t n = 2, c = l.order[3] == 1 ? 40 : 3;  // channels-last: a thread per output
    const Layout sized{l.name, {n, c, 6, 6}, l.order};
    std::vector<float> values(static_cast<size_t>(sized.stored_numel()), 1.0f);
    Tensor buffer = host(values, sized.stored_shape());
    Tensor x = sized.view(buffer);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < c; ++j) {
        x.at<float>({i, j, 0, 0}) = 134217728.0f;
        x.at<float>({i, j, 3, 5}) = -134217728.0f;
      }
    Guarded<__nv_bfloat16> half(sized.stored_numel());
    for (int64_t i = 0; i < sized.stored_numel(); ++i)
      half[i] = float_to_bf16(buffer.data<float>()[i]);  // powers of two: exact in bf16
    Guarded<float> full(
        sized.stored_numel(),
        std::vector<float>(buffer.data<float>(), buffer.data<float>() + sized.stored_numel()));
    Guarded<float> y32(n * c), y16(n * c);
    ASSERT_EQ(pool(sized, full, y32, {c, 1}), cudaSuccess);
    ASSERT_EQ(pool(sized, half, y16, {c, 1}), cudaSuccess);
    EXPECT_TRUE(y32.guards_intact("y f32"));
    EXPECT_TRUE(y16.guards_intact("y bf16"));
    const float want = static_cast<float>(34.0 / 36.0);
    for (int64_t i = 0; i < n * c; ++i) {
      ASSERT_EQ(y32[i], want) << l << ": f32 output " << i;
      ASSERT_EQ(y16[i], want) << l << ": bf16 output " << i;
    }
  }
}

TEST(EmuGlobalAvgPool, EmptyPlanesGiveNaNLikeTheCpuAndEmptyBatchesWriteNothing) {
  const int64_t shape[4] = {2, 3, 0, 4}, xs[4] = {0, 0, 4, 1}, ys[2] = {3, 1};
  Guarded<float> x(0), y(6);
  ASSERT_EQ(k::launch_global_avg_pool_f32(x.ptr(), shape, xs, y.ptr(), ys, nullptr), cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));
  Tensor want = Tensor::empty({2, 3}, DType::F32);
  cpu_ops().global_avg_pool(Tensor::empty({2, 3, 0, 4}, DType::F32), want);
  for (int64_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(std::isnan(want.data<float>()[i]));  // the behaviour the kernel mirrors
    // 0 * inf: a NaN written by the kernel; the 0xFF fill is a NaN too, so look at the bits.
    uint32_t b = 0;
    std::memcpy(&b, &y[i], sizeof b);
    EXPECT_TRUE(std::isnan(y[i]) && b != 0xFFFFFFFFu) << "output " << i << " bits " << b;
  }
  // No images: nothing to write, forward or backward.
  const int64_t none[4] = {0, 3, 2, 2}, xs0[4] = {12, 4, 2, 1};
  Guarded<float> y0(0), dy0(0), dx0(0);
  ASSERT_EQ(k::launch_global_avg_pool_f32(x.ptr(), none, xs0, y0.ptr(), ys, nullptr), cudaSuccess);
  EXPECT_TRUE(y0.guards_intact("y of no images"));
  ASSERT_EQ(k::launch_global_avg_pool_backward_f32(dy0.ptr(), ys, dx0.ptr(), none, xs0, nullptr),
            cudaSuccess);
  EXPECT_TRUE(dx0.guards_intact("dx of no images"));
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
}

TEST(EmuGlobalAvgPool, RefusesNegativeSizes) {
  const int64_t xs[4] = {12, 4, 2, 1}, ys[2] = {3, 1};
  Guarded<float> x(24), y(6), dx(24);
  Guarded<__nv_bfloat16> x16(24), dx16(24);
  for (int d = 0; d < 4; ++d) {
    int64_t shape[4] = {2, 3, 2, 2};
    shape[d] = -1;
    EXPECT_EQ(k::launch_global_avg_pool_f32(x.ptr(), shape, xs, y.ptr(), ys, nullptr),
              cudaErrorInvalidValue)
        << "dim " << d;
    EXPECT_EQ(k::launch_global_avg_pool_bf16(x16.ptr(), shape, xs, y.ptr(), ys, nullptr),
              cudaErrorInvalidValue)
        << "dim " << d;
    EXPECT_EQ(k::launch_global_avg_pool_backward_f32(y.ptr(), ys, dx.ptr(), shape, xs, nullptr),
              cudaErrorInvalidValue)
        << "dim " << d;
    EXPECT_EQ(k::launch_global_avg_pool_backward_bf16(y.ptr(), ys, dx16.ptr(), shape, xs, nullptr),
              cudaErrorInvalidValue)
        << "dim " << d;
  }
  // Refused before any launch: the outputs still hold their 0xFF fill.
  for (int64_t i = 0; i < 24; ++i) {
    uint32_t b = 0;
    std::memcpy(&b, &dx[i], sizeof b);
    ASSERT_EQ(b, 0xFFFFFFFFu) << i;
    ASSERT_EQ(bits(dx16[i]), 0xFFFFu) << i;
  }
  for (int64_t i = 0; i < 6; ++i) {
    uint32_t b = 0;
    std::memcpy(&b, &y[i], sizeof b);
    ASSERT_EQ(b, 0xFFFFFFFFu) << i;
  }
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
}
