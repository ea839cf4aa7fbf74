// kernels/fill.cu, kernels/strided_copy.cu and kernels/strided_axpby.cu on the CUDA stand-in.
// The copy is Ops::copy between layouts on the GPU (NCHW <-> channels-last activations, transposed
// views, padded rows), so it is held bit for bit to the CPU's copy of the same views (the f32
// backend's copy, and Tensor::copy_from for the 1-, 2- and 8-byte element types), over the whole
// destination storage: the gaps of a strided destination must keep their values. The layouts are
// chosen to take each of the launcher's paths: one memcpy (dense, or dims that merge into one
// dense run), the 32x32 shared-memory tiles (full and partial tiles, at the 16-element threshold,
// with one or two batch dimensions, negative strides), and the element walk over dst. The strided
// axpby is what Ops::axpy / scale fall back to for non-dense operands: checked against the CPU's
// axpy and scale on the same views, and a double loop for general alpha and beta. The fill is
// checked against the CPU's Tensor::fill bit for bit.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <functional>
#include <set>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// A launcher's 4-d shape and strides for a view of up to 4 dims, right-aligned as CudaOps does;
// the padding dims get a nonsense stride, which the launchers must ignore (their extent is 1).
using Array4 = std::array<int64_t, 4>;
Array4 shape4(const Tensor& t) {
  Array4 s = {1, 1, 1, 1};
  for (int i = 0; i < t.dim(); ++i) s[static_cast<size_t>(4 - t.dim() + i)] = t.size(i);
  return s;
}
Array4 strides4(const Tensor& t) {
  Array4 s = {1000003, 1000003, 1000003, 1000003};
  for (int i = 0; i < t.dim(); ++i) s[static_cast<size_t>(4 - t.dim() + i)] = t.stride(i);
  return s;
}

// Elements from the start of `base`'s storage to the first element of its view `view`.
int64_t element_offset(const Tensor& view, const Tensor& base) {
  return (static_cast<const char*>(view.raw()) - static_cast<const char*>(base.raw())) /
         static_cast<int64_t>(dtype_size(view.dtype()));
}

// Storage offsets (relative to the view's first element) that a view covers.
std::set<int64_t> covered(const Tensor& view) {
  std::set<int64_t> out;
  const Array4 n = shape4(view), s = strides4(view);
  for (int64_t a = 0; a < n[0]; ++a)
    for (int64_t b = 0; b < n[1]; ++b)
      for (int64_t c = 0; c < n[2]; ++c)
        for (int64_t d = 0; d < n[3]; ++d) out.insert(a * s[0] + b * s[1] + c * s[2] + d * s[3]);
  return out;
}

// Values for each element width: finite, so that the CPU's converting copy_from keeps their bits.
template <class T>
std::vector<T> values(int64_t n, uint64_t seed) {
  std::vector<T> out(static_cast<size_t>(n));
  if constexpr (std::is_same_v<T, uint8_t>) {
    std::mt19937_64 g(seed);
    for (auto& v : out) v = static_cast<uint8_t>(g());
  } else {
    const std::vector<float> r = randn(n, seed);
    for (size_t i = 0; i < out.size(); ++i) out[i] = T(r[i]);
  }
  return out;
}

template <class T>
std::vector<T> tensor_values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

template <class T>
int64_t first_byte_difference(const std::vector<T>& got, const std::vector<T>& want) {
  for (size_t i = 0; i < want.size(); ++i)
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) return static_cast<int64_t>(i);
  return -1;
}

// A source and a destination view of the same logical shape, each over a dense base tensor whose
// whole storage the test owns.
struct Views {
  Tensor src_base, src, dst_base, dst;
};
struct CopyCase {
  const char* name;
  std::function<Views(DType)> make;
};

Tensor dense(const Dims& shape, DType t) {
  return Tensor::empty(shape, t);
}
Views same(const Tensor& src_base, const Tensor& dst_base) {
  return {src_base, src_base, dst_base, dst_base};
}

// (N, C, H, W) dense into (N, C, H, W) stored channels-last, or the reverse.
Views nchw_to_nhwc(int64_t n, int64_t c, int64_t h, int64_t w, DType t) {
  const Tensor s = dense({n, c, h, w}, t), d = dense({n, h, w, c}, t);
  return {s, s, d, d.permute({0, 3, 1, 2})};
}
Views nhwc_to_nchw(int64_t n, int64_t c, int64_t h, int64_t w, DType t) {
  const Tensor s = dense({n, h, w, c}, t), d = dense({n, c, h, w}, t);
  return {s, s.permute({0, 3, 1, 2}), d, d};
}

const std::vector<CopyCase>& copy_cases() {
  static const std::vector<CopyCase> cases = {
      // The memcpy path: identical dense layouts, and channels-last on both sides (its dims
      // merge into one dense run).
      {"dense_3d",
       [](DType t) {
         return same(dense({3, 5, 7}, t), dense({3, 5, 7}, t));
       }},
      {"channels_last_both",
       [](DType t) {
         const Tensor s = dense({2, 5, 6, 4}, t), d = dense({2, 5, 6, 4}, t);
         return Views{s, s.permute({0, 3, 1, 2}), d, d.permute({0, 3, 1, 2})};
       }},
      {"single_element",
       [](DType t) {
         const Tensor s = dense({3, 4}, t), d = dense({2, 2}, t);
         return Views{s, s.slice(0, 2, 3).slice(1, 3, 4), d, d.slice(0, 1, 2).slice(1, 1, 2)};
       }},
      // Tiles: NCHW <-> NHWC with partial tiles (20 and 35 are not multiples of 32), and at the
      // 16-element threshold.
      {"nchw_to_nhwc_tiles", [](DType t) { return nchw_to_nhwc(2, 20, 5, 7, t); }},
      {"nhwc_to_nchw_tiles", [](DType t) { return nhwc_to_nchw(2, 48, 3, 11, t); }},
      {"nchw_to_nhwc_at_threshold", [](DType t) { return nchw_to_nhwc(1, 16, 4, 4, t); }},
      // A plain 2-d transpose (no batch dimension), and one whose source rows are padded.
      {"transpose_2d",
       [](DType t) {
         const Tensor s = dense({40, 33}, t), d = dense({33, 40}, t);
         return Views{s, s, d, d.transpose(0, 1)};
       }},
      {"transpose_padded_rows",
       [](DType t) {
         const Tensor s = dense({40, 64}, t), d = dense({50, 40}, t);
         return Views{s, s.slice(1, 0, 50), d, d.transpose(0, 1)};
       }},
      // Two batch dimensions around the transposed pair: logical (A, B, C, D), dst stored as
      // (B, A, D, C).
      {"batched_transposes_4d",
       [](DType t) {
         const Tensor s = dense({2, 3, 17, 40}, t), d = dense({3, 2, 40, 17}, t);
         return Views{s, s, d, d.permute({1, 0, 3, 2})};
       }},
      // The element walk: too few channels for a tile (3, and 15 just under the threshold),
      // padded destination rows, a stepped source slice, a destination with no unit stride.
      {"nchw_to_nhwc_three_channels", [](DType t) { return nchw_to_nhwc(2, 3, 6, 9, t); }},
      {"nchw_to_nhwc_below_threshold", [](DType t) { return nchw_to_nhwc(1, 15, 4, 4, t); }},
      {"padded_destination_rows",
       [](DType t) {
         const Tensor s = dense({37, 19}, t), d = dense({37, 24}, t);
         return Views{s, s, d, d.slice(1, 0, 19)};
       }},
      {"stepped_source_slice",
       [](DType t) {
         const Tensor s = dense({6, 40}, t), d = dense({6, 13}, t);
         return Views{s, s.slice(1, 1, 40, 3), d, d};
       }},
      {"stepped_destination",
       [](DType t) {
         const Tensor s = dense({9, 50}, t), d = dense({9, 100}, t);
         return Views{s, s, d, d.slice(1, 0, 100, 2)};
       }},
  };
  return cases;
}

template <class T>
void check_copy(const CopyCase& c) {
  SCOPED_TRACE(::testing::Message() << c.name << ", " << sizeof(T) << "-byte elements");
  Views v = c.make(dtype_of<T>);
  const std::vector<T> src_values = values<T>(v.src_base.numel(), 1);
  const std::vector<T> dst_values = values<T>(v.dst_base.numel(), 2);
  std::memcpy(v.src_base.raw(), src_values.data(), src_values.size() * sizeof(T));
  std::memcpy(v.dst_base.raw(), dst_values.data(), dst_values.size() * sizeof(T));

  Guarded<T> src(v.src_base.numel(), src_values), dst(v.dst_base.numel(), dst_values);
  const Array4 shape = shape4(v.src), ss = strides4(v.src), ds = strides4(v.dst);
  ASSERT_EQ(shape, shape4(v.dst));
  ASSERT_EQ(k::launch_strided_copy(src.ptr() + element_offset(v.src, v.src_base),
                                   dst.ptr() + element_offset(v.dst, v.dst_base),
                                   static_cast<int>(sizeof(T)), shape.data(), ss.data(), ds.data(),
                                   nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_TRUE(dst.guards_intact("dst"));
  EXPECT_TRUE(src.guards_intact("src"));
  EXPECT_EQ(first_byte_difference(src.values(), src_values), -1) << "the source was written";

  if constexpr (std::is_same_v<T, float>)
    cpu_ops().copy(v.src, v.dst);
  else
    v.dst.copy_from(v.src);
  EXPECT_EQ(first_byte_difference(dst.values(), tensor_values<T>(v.dst_base)), -1)
      << "first storage element that differs from the CPU's copy";
}

}  // namespace

// ---- fill ------------------------------------------------------------------------------------

TEST(EmuFill, WritesTheCpuFillBitsOverEveryLength) {
  // Lengths around one 256-thread block and over several; a misaligned buffer; values whose bits
  // a careless copy would change (-0, a subnormal, infinity).
  for (const float value : {3.25f, -0.0f, 1e-40f, -INFINITY}) {
    for (const int64_t n : {int64_t{1}, int64_t{5}, int64_t{256}, int64_t{257}, int64_t{1500}}) {
      SCOPED_TRACE(::testing::Message() << "value " << value << " n " << n);
      Guarded<float> dst(n, n % 2);
      k::launch_fill_f32(dst.ptr(), n, value, nullptr);
      ASSERT_EQ(cudaGetLastError(), cudaSuccess);
      EXPECT_TRUE(dst.guards_intact("dst"));
      Tensor want = Tensor::empty({n}, DType::F32);
      want.fill(value);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(float_bits(dst[i]), float_bits(want.data<float>()[i])) << i;
    }
  }
}

TEST(EmuFill, EmptyAndNegativeLengthsWriteNothing) {
  Guarded<float> dst(4);
  k::launch_fill_f32(dst.ptr(), 0, 1.0f, nullptr);
  k::launch_fill_f32(dst.ptr(), -3, 1.0f, nullptr);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (int64_t i = 0; i < 4; ++i) ASSERT_EQ(float_bits(dst[i]), 0xFFFFFFFFu) << i;
  EXPECT_TRUE(dst.guards_intact("dst"));
}

// ---- strided copy ----------------------------------------------------------------------------

class EmuStridedCopy : public ::testing::TestWithParam<size_t> {};

TEST_P(EmuStridedCopy, EqualsTheCpuCopyOverTheWholeDestination) {
  const CopyCase& c = copy_cases()[GetParam()];
  check_copy<uint8_t>(c);
  check_copy<bf16>(c);
  check_copy<float>(c);
  check_copy<double>(c);
}

INSTANTIATE_TEST_SUITE_P(Layouts, EmuStridedCopy, ::testing::Range(size_t{0}, copy_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& param) {
                           return std::string(copy_cases()[param.param].name);
                         });

TEST(EmuStridedCopyNegative, ReversedAxesCopyAsAPlainLoop) {
  // The header allows any strides that keep dst elements distinct, negative ones included (no
  // Tensor view makes them, so a plain loop is the reference). src points at element (0, 0), the
  // last of its buffer. Reversed rows and columns into a transposed dst take the tiles (|src
  // stride| 1 along dst's slow dim); reversed rows only into a dense dst take the walk.
  const int64_t rows = 24, cols = 40;
  const std::vector<float> x = randn(rows * cols, 3);
  struct Case {
    const char* name;
    Array4 ss, ds;
    int64_t src_start;
  };
  const Case cases[] = {
      {"both reversed, transposed dst (tiles)",
       {0, 0, -cols, -1},
       {0, 0, 1, rows},
       rows * cols - 1},
      {"rows reversed, dense dst (walk)", {0, 0, -cols, 1}, {0, 0, cols, 1}, (rows - 1) * cols},
  };
  const Array4 shape = {1, 1, rows, cols};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Guarded<float> src(rows * cols, x), dst(rows * cols);
    ASSERT_EQ(k::launch_strided_copy(src.ptr() + c.src_start, dst.ptr(), 4, shape.data(),
                                     c.ss.data(), c.ds.data(), nullptr),
              cudaSuccess);
    EXPECT_TRUE(dst.guards_intact("dst"));
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j)
        ASSERT_EQ(float_bits(dst[i * c.ds[2] + j * c.ds[3]]),
                  float_bits(x[static_cast<size_t>(c.src_start + i * c.ss[2] + j * c.ss[3])]))
            << i << ", " << j;
  }
}

TEST(EmuStridedCopy, RefusesBadElementSizesAndNegativeExtentsAndSkipsEmptyShapes) {
  Guarded<float> src(16, randn(16, 4)), dst(16);
  const Array4 shape = {1, 1, 4, 4}, strides = {16, 16, 4, 1};
  for (const int bytes : {0, 3, 16, -4}) {
    SCOPED_TRACE(bytes);
    EXPECT_EQ(k::launch_strided_copy(src.ptr(), dst.ptr(), bytes, shape.data(), strides.data(),
                                     strides.data(), nullptr),
              cudaErrorInvalidValue);
  }
  const Array4 negative = {1, -1, 4, 4}, empty = {2, 0, 4, 4};
  EXPECT_EQ(k::launch_strided_copy(src.ptr(), dst.ptr(), 4, negative.data(), strides.data(),
                                   strides.data(), nullptr),
            cudaErrorInvalidValue);
  EXPECT_EQ(k::launch_strided_copy(src.ptr(), dst.ptr(), 4, empty.data(), strides.data(),
                                   strides.data(), nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (int64_t i = 0; i < 16; ++i) ASSERT_EQ(float_bits(dst[i]), 0xFFFFFFFFu) << i;
  EXPECT_TRUE(dst.guards_intact("dst"));
}

// ---- strided axpby ---------------------------------------------------------------------------

namespace {

// y's storage after y = alpha x + beta y over views, with an x over its own storage (or none),
// run by the launcher; `want` is the expected storage. Elements of y's storage outside the view
// must keep their bits; the rest must be within `tolerance` of want by normalised error.
struct AxpbyViews {
  Tensor x_base, x, y_base, y;
};

std::vector<float> run_axpby(float alpha, const AxpbyViews* xv, float beta, const AxpbyViews& v,
                             const std::vector<float>& x_values,
                             const std::vector<float>& y_values) {
  Guarded<float> x(xv ? xv->x_base.numel() : 0, x_values), y(v.y_base.numel(), y_values);
  const Array4 shape = shape4(v.y), ys = strides4(v.y);
  const Array4 xs = xv ? strides4(xv->x) : Array4{};
  EXPECT_EQ(k::launch_strided_axpby_f32(
                alpha, xv ? x.ptr() + element_offset(xv->x, xv->x_base) : nullptr, xs.data(), beta,
                y.ptr() + element_offset(v.y, v.y_base), ys.data(), shape.data(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));
  EXPECT_TRUE(x.guards_intact("x"));
  return y.values();
}

::testing::AssertionResult gaps_kept(const std::vector<float>& got,
                                     const std::vector<float>& before, const AxpbyViews& v) {
  const std::set<int64_t> inside = covered(v.y);
  const int64_t start = element_offset(v.y, v.y_base);
  for (size_t i = 0; i < before.size(); ++i)
    if (!inside.count(static_cast<int64_t>(i) - start) &&
        float_bits(got[i]) != float_bits(before[i]))
      return ::testing::AssertionFailure() << "storage element " << i << " outside y was written";
  return ::testing::AssertionSuccess();
}

// x dense (N, C, H, W), y a channels-last view; and x a transposed view into padded rows of y.
AxpbyViews nchw_into_nhwc(int64_t n, int64_t c, int64_t h, int64_t w) {
  const Tensor x = dense({n, c, h, w}, DType::F32), y = dense({n, h, w, c}, DType::F32);
  return {x, x, y, y.permute({0, 3, 1, 2})};
}
AxpbyViews transposed_into_padded_rows() {
  const Tensor x = dense({19, 37}, DType::F32), y = dense({37, 24}, DType::F32);
  return {x, x.transpose(0, 1), y, y.slice(1, 0, 19)};
}

}  // namespace

TEST(EmuStridedAxpby, AddsAsTheCpuAxpyOnStridedViews) {
  // beta = 1 is Ops::axpy. The CPU computes old + float(alpha) * x in float, the kernel
  // alpha * x + 1 * y in float: the same roundings here (the GPU may contract into an fma, one
  // rounding fewer), so agreement to ~1e-7 relative; 1e-6 normalised.
  const float alpha = -0.75f;
  for (AxpbyViews v : {nchw_into_nhwc(3, 7, 9, 5), transposed_into_padded_rows()}) {
    SCOPED_TRACE(::testing::Message() << v.y.shape());
    const std::vector<float> xs = randn(v.x_base.numel(), 5), ys = randn(v.y_base.numel(), 6);
    const std::vector<float> got = run_axpby(alpha, &v, 1.0f, v, xs, ys);
    std::memcpy(v.x_base.raw(), xs.data(), xs.size() * sizeof(float));
    std::memcpy(v.y_base.raw(), ys.data(), ys.size() * sizeof(float));
    cpu_ops().axpy(alpha, v.x, v.y);
    EXPECT_LE(normalised_error(got, tensor_values<float>(v.y_base)), 1e-6);
    EXPECT_TRUE(gaps_kept(got, ys, v));
  }
}

TEST(EmuStridedAxpby, ScalesAsTheCpuScaleWithoutX) {
  // x null: y = beta y, Ops::scale on a non-dense tensor. One float product both sides.
  const float beta = 1.5f;
  for (AxpbyViews v : {nchw_into_nhwc(2, 4, 5, 3), transposed_into_padded_rows()}) {
    SCOPED_TRACE(::testing::Message() << v.y.shape());
    const std::vector<float> ys = randn(v.y_base.numel(), 7);
    const std::vector<float> got = run_axpby(0.0f, nullptr, beta, v, {}, ys);
    std::memcpy(v.y_base.raw(), ys.data(), ys.size() * sizeof(float));
    cpu_ops().scale(beta, v.y);
    EXPECT_LE(normalised_error(got, tensor_values<float>(v.y_base)), 1e-6);
    EXPECT_TRUE(gaps_kept(got, ys, v));
  }
}

TEST(EmuStridedAxpby, GeneralAlphaBetaMatchesADoubleLoop) {
  // alpha and beta both away from 1 (no CPU op has both): a double loop over the logical shape.
  // Two float products and a sum, each rounded: ~2e-7 relative per element; 1e-6 normalised. Also
  // x aliasing y with the same strides (allowed): y = (alpha + beta) y.
  const float alpha = 0.3f, beta = -1.7f;
  AxpbyViews v = nchw_into_nhwc(3, 7, 9, 5);  // 945 elements: four 256-thread blocks
  const std::vector<float> xs = randn(v.x_base.numel(), 8), ys = randn(v.y_base.numel(), 9);
  const Array4 n = shape4(v.y), sx = strides4(v.x), sy = strides4(v.y);
  std::vector<double> want(ys.begin(), ys.end()), want_aliased(ys.begin(), ys.end());
  for (int64_t a = 0; a < n[0]; ++a)
    for (int64_t b = 0; b < n[1]; ++b)
      for (int64_t c = 0; c < n[2]; ++c)
        for (int64_t d = 0; d < n[3]; ++d) {
          const auto xo = static_cast<size_t>(a * sx[0] + b * sx[1] + c * sx[2] + d * sx[3]);
          const auto yo = static_cast<size_t>(a * sy[0] + b * sy[1] + c * sy[2] + d * sy[3]);
          want[yo] = double{alpha} * xs[xo] + double{beta} * ys[yo];
          want_aliased[yo] = (double{alpha} + double{beta}) * ys[yo];
        }
  const std::vector<float> got = run_axpby(alpha, &v, beta, v, xs, ys);
  EXPECT_LE(normalised_error(got, want), 1e-6);
  EXPECT_TRUE(gaps_kept(got, ys, v));

  const AxpbyViews aliased{v.y_base, v.y, v.y_base, v.y};
  Guarded<float> y(v.y_base.numel(), ys);
  ASSERT_EQ(k::launch_strided_axpby_f32(alpha, y.ptr(), sy.data(), beta, y.ptr(), sy.data(),
                                        n.data(), nullptr),
            cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y = x"));
  EXPECT_LE(normalised_error(y.values(), want_aliased), 1e-6);
  EXPECT_TRUE(gaps_kept(y.values(), ys, aliased));
}

TEST(EmuStridedAxpby, EmptyShapesWriteNothing) {
  Guarded<float> x(8, randn(8, 10)), y(8);
  const Array4 empty = {2, 0, 2, 2}, strides = {4, 4, 2, 1};
  EXPECT_EQ(k::launch_strided_axpby_f32(1.0f, x.ptr(), strides.data(), 1.0f, y.ptr(),
                                        strides.data(), empty.data(), nullptr),
            cudaSuccess);
  EXPECT_EQ(k::launch_strided_axpby_f32(0.0f, nullptr, strides.data(), 2.0f, y.ptr(),
                                        strides.data(), empty.data(), nullptr),
            cudaSuccess);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  for (int64_t i = 0; i < 8; ++i) ASSERT_EQ(float_bits(y[i]), 0xFFFFFFFFu) << i;
  EXPECT_TRUE(y.guards_intact("y"));
}
