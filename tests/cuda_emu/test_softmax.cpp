// kernels/softmax.cu on the CUDA stand-in, held to the CPU backend's softmax (oneDNN) on the same
// inputs: forward y = softmax(x) and backward dx = y * (dy - sum(dy * y)) per row, in fp32 and
// bf16 storage, over every register width of the warp-per-row path (values per lane 1, 2, 4, 8,
// 16, 32) and the block-per-row path (d > 1024). Logits reach ±120, where exp overflows or
// underflows fp32 unless the row maximum is subtracted first; -inf logits (attention's masks) must
// give exact zeros (against a double loop). It also checks that the documented aliasing
// (y = x, dx = dy) gives the out-of-place bits, that empty inputs launch nothing, and that no
// launch reads or writes outside its buffers (Guarded). The launchers have no refusals (no
// argument makes them return cudaErrorInvalidValue), so none is tested.
#include <gtest/gtest.h>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// fp32: expf is within ~2 ulp and the row sums (up to 3000 terms) are added in a different order
// from oneDNN's, so outputs differ by a few fp32 roundings times sqrt(d): ~1e-6 normalised; 1e-5
// leaves a margin without hiding a wrong term (a missed element or a wrong sum gives >= 1e-4).
constexpr double kF32Tol = 1e-5;
// bf16 storage: the output is rounded to 8 significant bits, a relative error <= 2^-8 ~ 3.9e-3
// per element and so at most that normalised (the fp32 math adds ~1e-6): 4e-3 is that bound
// (~2.3e-3 measured), and a wrong term gives errors of order 1.
constexpr double kBf16Tol = 4e-3;

struct Shape {
  int64_t rows, d;
};
void PrintTo(const Shape& s, std::ostream* os) {
  *os << s.rows << "x" << s.d;
}

// Logits with a per-row offset of ~±40 and up to ±120 (exp(89) already overflows fp32, so a kernel
// that does not subtract the row maximum gives inf/NaN) and a spread of ~3, so that the
// probabilities range over many orders of magnitude. Rows 0 and 1 are sure to be far out (one all
// positive, one all negative, whose exp underflows to 0 unless its own maximum is subtracted); row
// 2 has one logit 100 above the rest, in column 255 where d allows (on the block path the last
// warp's): a maximum taken over only some of the threads would leave exp(~97) to overflow. Row 3
// stays near 0, as attention scores do.
std::vector<float> logits(Shape s, uint64_t seed) {
  std::vector<float> x = randn(s.rows * s.d, seed, 3.0);
  std::vector<float> offset = randn(s.rows, seed + 1, 40.0);
  if (s.rows > 0) offset[0] = 95.0f;
  if (s.rows > 1) offset[1] = -120.0f;
  if (s.rows > 2) offset[2] = 0.0f;
  if (s.rows > 3) offset[3] = 0.0f;
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t j = 0; j < s.d; ++j)
      x[static_cast<size_t>(r * s.d + j)] += offset[static_cast<size_t>(r)];
  if (s.rows > 2) x[static_cast<size_t>(2 * s.d + std::min<int64_t>(s.d - 1, 255))] = 100.0f;
  return x;
}

std::vector<float> cpu_forward(const std::vector<float>& x, Shape s) {
  Tensor y = Tensor::empty({s.rows, s.d}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32).softmax()->forward(host(x, {s.rows, s.d}), y);
  return to_vector(y);
}

std::vector<float> cpu_backward(const std::vector<float>& y, const std::vector<float>& dy,
                                Shape s) {
  Tensor dx = Tensor::empty({s.rows, s.d}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32)
      .softmax()
      ->backward(host(y, {s.rows, s.d}), host(dy, {s.rows, s.d}), dx);
  return to_vector(dx);
}

template <class T>
cudaError_t forward(const T* x, T* y, Shape s) {
  if constexpr (std::is_same_v<T, float>)
    return k::launch_softmax_forward_f32(x, y, s.rows, s.d, nullptr);
  else
    return k::launch_softmax_forward_bf16(x, y, s.rows, s.d, nullptr);
}

template <class T>
cudaError_t backward(const T* y, const T* dy, T* dx, Shape s) {
  if constexpr (std::is_same_v<T, float>)
    return k::launch_softmax_backward_f32(y, dy, dx, s.rows, s.d, nullptr);
  else
    return k::launch_softmax_backward_bf16(y, dy, dx, s.rows, s.d, nullptr);
}

// One forward of storage type T against the CPU's on the values the kernel read.
template <class T>
void check_forward(Shape s, double tol) {
  const int64_t n = s.rows * s.d;
  Guarded<T> x(n, stored<T>(logits(s, 10 + static_cast<uint64_t>(n)))), y(n);
  ASSERT_EQ(forward<T>(x.ptr(), y.ptr(), s), cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));
  EXPECT_TRUE(x.guards_intact("x"));
  // Unwritten outputs are still NaN (0xFF bytes), which fails this comparison.
  EXPECT_LT(normalised_error(as_float(y.values()), cpu_forward(as_float(x.values()), s)), tol);
}

// One backward of storage type T against the CPU's, from a real softmax output y (positive rows
// summing to 1, as the formula assumes) and a random dy.
template <class T>
void check_backward(Shape s, double tol) {
  const int64_t n = s.rows * s.d;
  const uint64_t seed = 20 + static_cast<uint64_t>(n);
  Guarded<T> y(n, stored<T>(cpu_forward(logits(s, seed), s)));
  Guarded<T> dy(n, stored<T>(randn(n, seed + 1))), dx(n);
  ASSERT_EQ(backward<T>(y.ptr(), dy.ptr(), dx.ptr(), s), cudaSuccess);
  EXPECT_TRUE(dx.guards_intact("dx"));
  EXPECT_TRUE(dy.guards_intact("dy"));
  const std::vector<float> want = cpu_backward(as_float(y.values()), as_float(dy.values()), s);
  EXPECT_LT(normalised_error(as_float(dx.values()), want), tol);
}

std::string shape_name(const ::testing::TestParamInfo<Shape>& info) {
  return "rows" + std::to_string(info.param.rows) + "_d" + std::to_string(info.param.d);
}

}  // namespace

class EmuSoftmaxWidths : public ::testing::TestWithParam<Shape> {};

TEST_P(EmuSoftmaxWidths, ForwardMatchesTheCpu) {
  check_forward<float>(GetParam(), kF32Tol);
}
TEST_P(EmuSoftmaxWidths, Bf16ForwardMatchesTheCpu) {
  check_forward<__nv_bfloat16>(GetParam(), kBf16Tol);
}
TEST_P(EmuSoftmaxWidths, BackwardMatchesTheCpu) {
  check_backward<float>(GetParam(), kF32Tol);
}
TEST_P(EmuSoftmaxWidths, Bf16BackwardMatchesTheCpu) {
  check_backward<__nv_bfloat16>(GetParam(), kBf16Tol);
}

// d picks the path: values per lane 1 (d = 2, 8, 32: lanes idle or a full warp), 2 (33, 64),
// 4 (100), 8 (256), 16 (500), 32 (1000, and 1024, the widest warp row), then the block path
// (1025, and 3000: several columns per thread and a tail). 10 rows make two warp-path blocks of 8
// warps, the second with 2 rows and 6 idle warps; the block path (one block per row) gets 3 rows
// to stay fast.
INSTANTIATE_TEST_SUITE_P(Widths, EmuSoftmaxWidths,
                         ::testing::Values(Shape{10, 2}, Shape{10, 8}, Shape{10, 32}, Shape{10, 33},
                                           Shape{10, 64}, Shape{10, 100}, Shape{10, 256},
                                           Shape{10, 500}, Shape{10, 1000}, Shape{10, 1024},
                                           Shape{3, 1025}, Shape{3, 3000}),
                         shape_name);

// Attention's masked positions arrive as -inf logits: their probabilities are exactly 0 and the
// rest is the softmax of the unmasked logits (a double loop here: the masked rows are not the
// CPU backend's contract). Rows of width 1 are exactly 1. Warp path and block path.
TEST(EmuSoftmax, MinusInfinityLogitsGetExactZeros) {
  for (const Shape s : {Shape{5, 1}, Shape{6, 77}, Shape{2, 1500}}) {
    SCOPED_TRACE(std::to_string(s.rows) + "x" + std::to_string(s.d));
    std::vector<float> x = logits(s, 31);
    // Mask every third position but the row's first (so no row is fully masked).
    for (int64_t r = 0; r < s.rows; ++r)
      for (int64_t j = 1; j < s.d; j += 3) x[static_cast<size_t>(r * s.d + j)] = -INFINITY;
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < s.rows; ++r) {
      const float* row = x.data() + r * s.d;
      const double m = *std::max_element(row, row + s.d);
      double sum = 0;
      for (int64_t j = 0; j < s.d; ++j) sum += std::exp(double(row[j]) - m);
      for (int64_t j = 0; j < s.d; ++j)
        want[static_cast<size_t>(r * s.d + j)] = std::exp(double(row[j]) - m) / sum;
    }
    const int64_t n = s.rows * s.d;
    Guarded<float> xs(n, x), y(n);
    ASSERT_EQ(forward<float>(xs.ptr(), y.ptr(), s), cudaSuccess);
    EXPECT_TRUE(y.guards_intact("y"));
    EXPECT_LT(normalised_error(y.values(), want), kF32Tol);
    for (int64_t i = 0; i < n; ++i) {
      if (want[static_cast<size_t>(i)] == 0.0) {
        ASSERT_EQ(y[i], 0.0f) << i;
      }
      if (s.d == 1) {
        ASSERT_EQ(y[i], 1.0f) << i;
      }
    }
  }
}

// y may alias x and dx may alias dy (softmax.cuh): in place gives the out-of-place bits.
template <class T>
void check_in_place(Shape s) {
  const int64_t n = s.rows * s.d;
  const std::vector<T> x = stored<T>(logits(s, 61)), dy = stored<T>(randn(n, 62));
  Guarded<T> x_apart(n, x), y_apart(n), in_place(n, x);
  ASSERT_EQ(forward<T>(x_apart.ptr(), y_apart.ptr(), s), cudaSuccess);
  ASSERT_EQ(forward<T>(in_place.ptr(), in_place.ptr(), s), cudaSuccess);
  EXPECT_TRUE(in_place.guards_intact("y = x"));
  EXPECT_TRUE(same_bits(y_apart.values(), in_place.values())) << "forward";
  // ... and the out-of-place result is right, else equal bits would prove little.
  const double tol = std::is_same_v<T, float> ? kF32Tol : kBf16Tol;
  EXPECT_LT(normalised_error(as_float(y_apart.values()), cpu_forward(as_float(x), s)), tol);

  Guarded<T> dy_apart(n, dy), dx_apart(n), dx_in_place(n, dy);
  ASSERT_EQ(backward<T>(y_apart.ptr(), dy_apart.ptr(), dx_apart.ptr(), s), cudaSuccess);
  ASSERT_EQ(backward<T>(y_apart.ptr(), dx_in_place.ptr(), dx_in_place.ptr(), s), cudaSuccess);
  EXPECT_TRUE(dx_in_place.guards_intact("dx = dy"));
  EXPECT_TRUE(same_bits(dx_apart.values(), dx_in_place.values())) << "backward";
}

TEST(EmuSoftmax, InPlaceGivesTheOutOfPlaceBits) {
  for (const Shape s : {Shape{10, 100}, Shape{3, 1100}}) {
    SCOPED_TRACE(std::to_string(s.rows) + "x" + std::to_string(s.d));
    check_in_place<float>(s);
  }
  // The bf16 variants share the code; one shape checks that their stores alias as well.
  check_in_place<__nv_bfloat16>(Shape{10, 100});
}

// rows == 0 or d == 0: cudaSuccess and nothing written (the buffers keep their sentinel bytes).
TEST(EmuSoftmax, EmptyInputsLaunchNothing) {
  for (const Shape s : {Shape{0, 16}, Shape{16, 0}}) {
    const std::vector<float> sentinel(64, 7.0f);
    Guarded<float> x(64, sentinel), y(64, sentinel);
    Guarded<__nv_bfloat16> xh(64, to_bf16(sentinel)), yh(64, to_bf16(sentinel));
    EXPECT_EQ(forward<float>(x.ptr(), y.ptr(), s), cudaSuccess);
    EXPECT_EQ(forward<__nv_bfloat16>(xh.ptr(), yh.ptr(), s), cudaSuccess);
    EXPECT_EQ(backward<float>(x.ptr(), x.ptr(), y.ptr(), s), cudaSuccess);
    EXPECT_EQ(backward<__nv_bfloat16>(xh.ptr(), xh.ptr(), yh.ptr(), s), cudaSuccess);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    EXPECT_EQ(y.values(), sentinel);
    EXPECT_TRUE(same_bits(yh.values(), to_bf16(sentinel)));
    EXPECT_TRUE(y.guards_intact("y"));
    EXPECT_TRUE(yh.guards_intact("bf16 y"));
  }
}
