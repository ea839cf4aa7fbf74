// kernels/layernorm.cu on the CUDA stand-in, held to the CPU backend's layer norm (oneDNN) on the
// same inputs: forward y, mean and biased var, and backward dx with dgamma/dbeta ACCUMULATED into
// non-zero starting values, in fp32 and bf16 storage, over every register width of the
// warp-per-row path (values per lane 1, 2, 4, 8, 12, 16, 24, 32) and the block-per-row path
// (d > 1024), and over row counts that make 1, 2, several and the maximum 128 chunks of the
// deterministic column sums (including a short last chunk and chunks longer than 64 rows). It
// also checks that dgamma/dbeta are the same bits run to run whatever the scratch held, that the
// documented aliasing (y = x, dx = dy) gives the out-of-place bits, that empty inputs launch
// nothing, and that no launch reads or writes outside its buffers (Guarded). The launchers have
// no refusals (no argument makes them return cudaErrorInvalidValue), so none is tested.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/ops.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

// BERT's layers use 1e-12; a larger eps keeps rstd sensitive to the variance as well.
constexpr float kEps = 1e-5f;

// fp32 paths: the kernel and oneDNN both sum the row (up to ~2000 terms) in fp32 in different
// orders, so mean, var, y and dx differ by a few fp32 roundings times sqrt(d) at most: ~1e-6
// normalised; 1e-5 leaves a margin without hiding a wrong term (which gives >= 1e-3).
constexpr double kF32Tol = 1e-5;
// dgamma/dbeta are column sums over up to ~8300 rows that oneDNN adds in fp32 (the kernel per
// warp in fp32, then in double): the CPU's own rounding grows like sqrt(rows) * 6e-8, ~5e-6 at
// most (7e-7 measured at 8257 rows), while a missing chunk or row is off by >= 1e-3.
constexpr double kSumTol = 1e-5;
// bf16 storage: the output is rounded to 8 significant bits, a relative error <= 2^-8 ~ 3.9e-3
// per element and so at most that normalised (the fp32 math adds ~1e-6): 4e-3 is that bound
// (~2e-3 measured), and a wrong term gives errors of order 1.
constexpr double kBf16Tol = 4e-3;

struct Shape {
  int64_t rows, d;
};
void PrintTo(const Shape& s, std::ostream* os) {
  *os << s.rows << "x" << s.d;
}

// Rows with their own offset and spread (|mean| up to ~10 std), so that a one-pass variance or a
// mean/variance taken over the wrong row would show.
std::vector<float> layer_inputs(Shape s, uint64_t seed) {
  std::vector<float> x = randn(s.rows * s.d, seed);
  const std::vector<float> offset = randn(s.rows, seed + 1, 4.0);
  const std::vector<float> spread = randn(s.rows, seed + 2, 1.0);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t j = 0; j < s.d; ++j) {
      float& v = x[static_cast<size_t>(r * s.d + j)];
      v = offset[static_cast<size_t>(r)] + (0.5f + std::fabs(spread[static_cast<size_t>(r)])) * v;
    }
  return x;
}

// gamma around 1 and beta around 0, both varying per column, so a column mix-up shows.
std::vector<float> gamma_of(int64_t d) {
  std::vector<float> g = randn(d, 901, 0.5);
  for (float& v : g) v += 1.0f;
  return g;
}

// dy with a positive mean, so that the column sums dbeta do not cancel to ~0 (whose relative
// error would mean nothing).
std::vector<float> upstream_gradient(Shape s, uint64_t seed) {
  std::vector<float> dy = randn(s.rows * s.d, seed);
  for (float& v : dy) v += 0.5f;
  return dy;
}

struct Forward {
  std::vector<float> y, mean, var;
};
Forward cpu_forward(const std::vector<float>& x, const std::vector<float>& gamma,
                    const std::vector<float>& beta, Shape s) {
  Tensor mean = Tensor::empty({s.rows}, DType::F32), var = Tensor::empty({s.rows}, DType::F32);
  Tensor y = Tensor::empty({s.rows, s.d}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32)
      .layernorm()
      ->forward(host(x, {s.rows, s.d}), host(gamma, {s.d}), host(beta, {s.d}), kEps, mean, var, y);
  return {to_vector(y), to_vector(mean), to_vector(var)};
}

struct Backward {
  std::vector<float> dx, dgamma, dbeta;
};
Backward cpu_backward(const std::vector<float>& x, const std::vector<float>& dy,
                      const std::vector<float>& gamma, const Forward& stats,
                      const std::vector<float>& dgamma0, const std::vector<float>& dbeta0,
                      Shape s) {
  Tensor dx = Tensor::empty({s.rows, s.d}, DType::F32);
  Tensor dgamma = host(dgamma0, {s.d}), dbeta = host(dbeta0, {s.d});
  backend::ops_for(Device::CPU, DType::F32)
      .layernorm()
      ->backward(host(x, {s.rows, s.d}), host(dy, {s.rows, s.d}), host(gamma, {s.d}),
                 host(stats.mean, {s.rows}), host(stats.var, {s.rows}), kEps, dx, dgamma, dbeta);
  return {to_vector(dx), to_vector(dgamma), to_vector(dbeta)};
}

// Everything one backward launch needs, on guarded "device" buffers; the scratch has exactly the
// documented size, so a write past it lands in a guard.
template <class T>
struct DeviceBackward {
  DeviceBackward(const std::vector<T>& x_in, const std::vector<T>& dy_in,
                 const std::vector<float>& gamma_in, const Forward& stats,
                 const std::vector<float>& dgamma0, const std::vector<float>& dbeta0, Shape s_in)
      : s(s_in),
        x(s.rows * s.d, x_in),
        dy(s.rows * s.d, dy_in),
        gamma(s.d, gamma_in),
        mean(s.rows, stats.mean),
        var(s.rows, stats.var),
        dx(s.rows * s.d),
        dgamma(s.d, dgamma0),
        dbeta(s.d, dbeta0),
        scratch(k::layernorm_backward_scratch_doubles(s.rows, s.d)) {}

  cudaError_t launch(T* dx_ptr) {
    if constexpr (std::is_same_v<T, float>)
      return k::launch_layernorm_backward_f32(x.ptr(), dy.ptr(), gamma.ptr(), mean.ptr(), var.ptr(),
                                              kEps, s.rows, s.d, dx_ptr, dgamma.ptr(), dbeta.ptr(),
                                              scratch.ptr(), nullptr);
    else
      return k::launch_layernorm_backward_bf16(x.ptr(), dy.ptr(), gamma.ptr(), mean.ptr(),
                                               var.ptr(), kEps, s.rows, s.d, dx_ptr, dgamma.ptr(),
                                               dbeta.ptr(), scratch.ptr(), nullptr);
  }
  cudaError_t launch() { return launch(dx.ptr()); }

  ::testing::AssertionResult guards_intact() const {
    for (const auto& [buf, name] :
         {std::pair{&dgamma, "dgamma"}, std::pair{&dbeta, "dbeta"}, std::pair{&mean, "mean"},
          std::pair{&var, "var"}, std::pair{&gamma, "gamma"}})
      if (auto r = buf->guards_intact(name); !r) return r;
    for (const auto& [buf, name] : {std::pair{&x, "x"}, std::pair{&dy, "dy"}, std::pair{&dx, "dx"}})
      if (auto r = buf->guards_intact(name); !r) return r;
    return scratch.guards_intact("scratch");
  }

  Shape s;
  Guarded<T> x, dy;
  Guarded<float> gamma, mean, var;
  Guarded<T> dx;
  Guarded<float> dgamma, dbeta;
  Guarded<double> scratch;
};

// Runs one forward of storage type T on (x, gamma, beta) and compares y, mean and var with the
// CPU's on the values the kernel actually read (bf16-rounded for bf16).
template <class T>
void check_forward(Shape s, double y_tol) {
  const std::vector<float> x32 = layer_inputs(s, 100 + static_cast<uint64_t>(s.rows * s.d));
  const std::vector<float> gamma = gamma_of(s.d), beta = randn(s.d, 902, 0.3);
  Guarded<T> x(s.rows * s.d, stored<T>(x32)), y(s.rows * s.d);
  Guarded<float> g(s.d, gamma), b(s.d, beta), mean(s.rows), var(s.rows);
  cudaError_t rc;
  if constexpr (std::is_same_v<T, float>)
    rc = k::launch_layernorm_forward_f32(x.ptr(), g.ptr(), b.ptr(), kEps, s.rows, s.d, mean.ptr(),
                                         var.ptr(), y.ptr(), nullptr);
  else
    rc = k::launch_layernorm_forward_bf16(x.ptr(), g.ptr(), b.ptr(), kEps, s.rows, s.d, mean.ptr(),
                                          var.ptr(), y.ptr(), nullptr);
  ASSERT_EQ(rc, cudaSuccess);
  EXPECT_TRUE(y.guards_intact("y"));
  EXPECT_TRUE(mean.guards_intact("mean"));
  EXPECT_TRUE(var.guards_intact("var"));
  EXPECT_TRUE(x.guards_intact("x"));

  const Forward want = cpu_forward(as_float(x), gamma, beta, s);
  // Unwritten outputs are still NaN (0xFF bytes), which fails these comparisons.
  EXPECT_LT(normalised_error(mean.values(), want.mean), kF32Tol) << "mean";
  EXPECT_LT(normalised_error(var.values(), want.var), kF32Tol) << "var";
  EXPECT_LT(normalised_error(as_float(y), want.y), y_tol) << "y";
}

// Runs one backward of storage type T against the CPU's, from the CPU forward's statistics (so
// that the backward is judged on its own), accumulating into non-zero dgamma/dbeta.
template <class T>
void check_backward(Shape s, double dx_tol) {
  const uint64_t seed = 300 + static_cast<uint64_t>(s.rows * 7 + s.d);
  const std::vector<float> x32 = layer_inputs(s, seed), dy32 = upstream_gradient(s, seed + 5);
  const std::vector<float> gamma = gamma_of(s.d), beta = randn(s.d, 902, 0.3);
  const std::vector<float> dgamma0 = randn(s.d, 903, 2.0), dbeta0 = randn(s.d, 904, 2.0);
  const std::vector<T> x_stored = stored<T>(x32), dy_stored = stored<T>(dy32);
  const std::vector<float> x_read = as_float(x_stored), dy_read = as_float(dy_stored);
  const Forward stats = cpu_forward(x_read, gamma, beta, s);
  DeviceBackward<T> dev(x_stored, dy_stored, gamma, stats, dgamma0, dbeta0, s);
  ASSERT_EQ(dev.launch(), cudaSuccess);
  EXPECT_TRUE(dev.guards_intact());

  const Backward want = cpu_backward(x_read, dy_read, gamma, stats, dgamma0, dbeta0, s);
  EXPECT_LT(normalised_error(as_float(dev.dx), want.dx), dx_tol) << "dx";
  // dgamma/dbeta are fp32 in both variants; judged as the increments, so that the starting
  // values (which a kernel that overwrote instead of accumulating would lose) do not dilute the
  // error.
  std::vector<float> got_dg(s.d), got_db(s.d), want_dg(s.d), want_db(s.d);
  for (size_t j = 0; j < size_t(s.d); ++j) {
    got_dg[j] = dev.dgamma[int64_t(j)] - dgamma0[j];
    got_db[j] = dev.dbeta[int64_t(j)] - dbeta0[j];
    want_dg[j] = want.dgamma[j] - dgamma0[j];
    want_db[j] = want.dbeta[j] - dbeta0[j];
  }
  EXPECT_LT(normalised_error(got_dg, want_dg), kSumTol) << "dgamma increment";
  EXPECT_LT(normalised_error(got_db, want_db), kSumTol) << "dbeta increment";
  EXPECT_LT(normalised_error(dev.dgamma.values(), want.dgamma), kSumTol) << "dgamma";
  EXPECT_LT(normalised_error(dev.dbeta.values(), want.dbeta), kSumTol) << "dbeta";
}

std::string shape_name(const ::testing::TestParamInfo<Shape>& info) {
  return "rows" + std::to_string(info.param.rows) + "_d" + std::to_string(info.param.d);
}

}  // namespace

// ---- every register width of the warp path, and the block path ------------------------------

class EmuLayerNormWidths : public ::testing::TestWithParam<Shape> {};

TEST_P(EmuLayerNormWidths, ForwardMatchesTheCpu) {
  check_forward<float>(GetParam(), kF32Tol);
}
TEST_P(EmuLayerNormWidths, Bf16ForwardMatchesTheCpu) {
  check_forward<__nv_bfloat16>(GetParam(), kBf16Tol);
}
TEST_P(EmuLayerNormWidths, BackwardMatchesTheCpu) {
  check_backward<float>(GetParam(), kF32Tol);
}
TEST_P(EmuLayerNormWidths, Bf16BackwardMatchesTheCpu) {
  check_backward<__nv_bfloat16>(GetParam(), kBf16Tol);
}

// d picks the path: values per lane 1 (d = 8, 32: a partly idle and a full warp), 2 (33: one
// column past a warp), 4 (100), 8 (200), 12 (384), 16 (500), 24 (768), 32 (1000, and 1024, the
// widest warp row), then the block path (1025, and 2100: several columns per thread and a tail).
// 10 rows make two warp-path blocks of 8 warps, the second with 2 rows and 6 idle warps; the
// block path (one block per row) gets 3 rows to stay fast. Chunk counts are the next suite's.
INSTANTIATE_TEST_SUITE_P(Widths, EmuLayerNormWidths,
                         ::testing::Values(Shape{10, 8}, Shape{10, 32}, Shape{10, 33},
                                           Shape{10, 100}, Shape{10, 200}, Shape{10, 384},
                                           Shape{10, 500}, Shape{10, 768}, Shape{10, 1000},
                                           Shape{10, 1024}, Shape{3, 1025}, Shape{3, 2100}),
                         shape_name);

// ---- chunk counts of the deterministic column sums --------------------------------------------

class EmuLayerNormChunks : public ::testing::TestWithParam<Shape> {};

TEST_P(EmuLayerNormChunks, BackwardMatchesTheCpuOverChunkCounts) {
  check_backward<float>(GetParam(), kF32Tol);
}

// rows -> chunks x rows per chunk: 1 -> 1 x 1; 64 -> 1 x 64; 65 -> 2 (64 + 1); 200 -> 4 (3 x 64
// + 8); 8257 -> the maximum 128, of 65 rows (longer than the minimum 64) but the last of 2 (one
// launch of 128 blocks: the costliest case here, so the only one at the maximum). d = 8 keeps
// the big ones cheap; d = 1025 runs the block path's separate column kernel over 2 chunks.
INSTANTIATE_TEST_SUITE_P(Rows, EmuLayerNormChunks,
                         ::testing::Values(Shape{1, 8}, Shape{64, 8}, Shape{65, 8}, Shape{200, 8},
                                           Shape{8257, 8}, Shape{65, 1025}),
                         shape_name);

TEST(EmuLayerNorm, ChunkCountsFollowTheDocumentedRule) {
  // 64 rows a chunk, or more when that would make over 128 chunks (layernorm.cu, kMinChunkRows
  // and kMaxChunks); the scratch holds a dgamma and a dbeta partial per chunk and column.
  EXPECT_EQ(k::layernorm_backward_chunks(0), 0);
  EXPECT_EQ(k::layernorm_backward_chunks(1), 1);
  EXPECT_EQ(k::layernorm_backward_chunks(64), 1);
  EXPECT_EQ(k::layernorm_backward_chunks(65), 2);
  EXPECT_EQ(k::layernorm_backward_chunks(200), 4);
  EXPECT_EQ(k::layernorm_backward_chunks(8192), 128);
  EXPECT_EQ(k::layernorm_backward_chunks(8257), 128);
  for (int64_t rows = 1; rows < 300000; rows = rows * 3 / 2 + 1) {
    const int64_t chunks = k::layernorm_backward_chunks(rows);
    EXPECT_GE(chunks, 1) << rows;
    EXPECT_LE(chunks, 128) << rows;
    EXPECT_EQ(k::layernorm_backward_scratch_doubles(rows, 768), 2 * chunks * 768) << rows;
  }
  EXPECT_EQ(k::layernorm_backward_scratch_doubles(100, 0), 0);
}

// Same inputs, same bits: twice on the warp path over 4 chunks and twice on the block path, the
// second time with the scratch holding other garbage (zeros instead of NaN), so that a partial that
// was never written, or read before it was, shows.
TEST(EmuLayerNorm, BackwardIsTheSameBitsRunToRun) {
  for (const Shape s : {Shape{200, 8}, Shape{3, 1025}}) {
    const std::vector<float> x = layer_inputs(s, 41), dy = upstream_gradient(s, 42);
    const std::vector<float> gamma = gamma_of(s.d), dgamma0 = randn(s.d, 43),
                             dbeta0 = randn(s.d, 44);
    const Forward stats = cpu_forward(x, gamma, randn(s.d, 45), s);
    DeviceBackward<float> first(x, dy, gamma, stats, dgamma0, dbeta0, s);
    DeviceBackward<float> second(x, dy, gamma, stats, dgamma0, dbeta0, s);
    std::memset(second.scratch.ptr(), 0, size_t(second.scratch.size()) * sizeof(double));
    ASSERT_EQ(first.launch(), cudaSuccess);
    ASSERT_EQ(second.launch(), cudaSuccess);
    EXPECT_TRUE(first.guards_intact());
    EXPECT_TRUE(second.guards_intact());
    EXPECT_TRUE(same_bits(first.dgamma.values(), second.dgamma.values())) << s.rows << "x" << s.d;
    EXPECT_TRUE(same_bits(first.dbeta.values(), second.dbeta.values())) << s.rows << "x" << s.d;
    EXPECT_TRUE(same_bits(first.dx.values(), second.dx.values())) << s.rows << "x" << s.d;
    // And not merely the same garbage twice.
    const Backward want = cpu_backward(x, dy, gamma, stats, dgamma0, dbeta0, s);
    EXPECT_LT(normalised_error(first.dgamma.values(), want.dgamma), kSumTol);
  }
}

// y may alias x and dx may alias dy (layernorm.cuh): in place gives the out-of-place bits, on the
// warp path and on the block path (whose column kernel must read dy before dx overwrites it).
template <class T>
void check_in_place(Shape s) {
  const std::vector<T> x = stored<T>(layer_inputs(s, 51)), dy = stored<T>(upstream_gradient(s, 52));
  const std::vector<float> gamma = gamma_of(s.d), beta = randn(s.d, 53, 0.3);
  const int64_t n = s.rows * s.d;

  Guarded<T> x_apart(n, x), y_apart(n), x_in_place(n, x);
  Guarded<float> g(s.d, gamma), b(s.d, beta), mean(s.rows), var(s.rows);
  auto forward = [&](const T* src, T* dst) {
    if constexpr (std::is_same_v<T, float>)
      return k::launch_layernorm_forward_f32(src, g.ptr(), b.ptr(), kEps, s.rows, s.d, mean.ptr(),
                                             var.ptr(), dst, nullptr);
    else
      return k::launch_layernorm_forward_bf16(src, g.ptr(), b.ptr(), kEps, s.rows, s.d, mean.ptr(),
                                              var.ptr(), dst, nullptr);
  };
  ASSERT_EQ(forward(x_apart.ptr(), y_apart.ptr()), cudaSuccess);
  ASSERT_EQ(forward(x_in_place.ptr(), x_in_place.ptr()), cudaSuccess);
  EXPECT_TRUE(x_in_place.guards_intact("y = x"));
  EXPECT_TRUE(same_bits(y_apart.values(), x_in_place.values())) << "forward in place";

  const Forward stats = cpu_forward(as_float(x_apart), gamma, beta, s);
  const std::vector<float> zeros(size_t(s.d), 0.0f);
  DeviceBackward<T> apart(x, dy, gamma, stats, zeros, zeros, s);
  DeviceBackward<T> in_place(x, dy, gamma, stats, zeros, zeros, s);
  ASSERT_EQ(apart.launch(), cudaSuccess);
  ASSERT_EQ(in_place.launch(in_place.dy.ptr()), cudaSuccess);
  EXPECT_TRUE(in_place.guards_intact());
  EXPECT_TRUE(same_bits(apart.dx.values(), in_place.dy.values())) << "dx in place";
  EXPECT_TRUE(same_bits(apart.dgamma.values(), in_place.dgamma.values())) << "dgamma in place";
  EXPECT_TRUE(same_bits(apart.dbeta.values(), in_place.dbeta.values())) << "dbeta in place";
  // The out-of-place result itself is right (else equal bits would prove little).
  const double y_tol = std::is_same_v<T, float> ? kF32Tol : kBf16Tol;
  EXPECT_LT(normalised_error(as_float(y_apart), stats.y), y_tol);
}

TEST(EmuLayerNorm, InPlaceGivesTheOutOfPlaceBits) {
  for (const Shape s : {Shape{10, 100}, Shape{3, 1100}}) {
    SCOPED_TRACE(std::to_string(s.rows) + "x" + std::to_string(s.d));
    check_in_place<float>(s);
  }
  // The bf16 variants share the code; one shape checks that their stores alias as well.
  check_in_place<__nv_bfloat16>(Shape{10, 100});
}

// rows == 0 or d == 0: cudaSuccess and nothing written (the buffers keep their sentinel bytes).
TEST(EmuLayerNorm, EmptyInputsLaunchNothing) {
  for (const Shape s : {Shape{0, 16}, Shape{16, 0}}) {
    const std::vector<float> sentinel(64, 7.0f);
    Guarded<float> x(64, sentinel), y(64, sentinel), g(64, sentinel), b(64, sentinel);
    Guarded<float> mean(64, sentinel), var(64, sentinel), dx(64, sentinel);
    Guarded<__nv_bfloat16> xh(64, to_bf16(sentinel)), yh(64, to_bf16(sentinel));
    Guarded<double> scratch(4, std::vector<double>(4, 7.0));
    ASSERT_EQ(k::layernorm_backward_scratch_doubles(s.rows, s.d), 0);
    EXPECT_EQ(k::launch_layernorm_forward_f32(x.ptr(), g.ptr(), b.ptr(), kEps, s.rows, s.d,
                                              mean.ptr(), var.ptr(), y.ptr(), nullptr),
              cudaSuccess);
    EXPECT_EQ(k::launch_layernorm_forward_bf16(xh.ptr(), g.ptr(), b.ptr(), kEps, s.rows, s.d,
                                               mean.ptr(), var.ptr(), yh.ptr(), nullptr),
              cudaSuccess);
    EXPECT_EQ(k::launch_layernorm_backward_f32(x.ptr(), x.ptr(), g.ptr(), mean.ptr(), var.ptr(),
                                               kEps, s.rows, s.d, dx.ptr(), g.ptr(), b.ptr(),
                                               scratch.ptr(), nullptr),
              cudaSuccess);
    EXPECT_EQ(k::launch_layernorm_backward_bf16(xh.ptr(), xh.ptr(), g.ptr(), mean.ptr(), var.ptr(),
                                                kEps, s.rows, s.d, yh.ptr(), g.ptr(), b.ptr(),
                                                scratch.ptr(), nullptr),
              cudaSuccess);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
    for (const auto* buf : {&y, &g, &b, &mean, &var, &dx}) {
      EXPECT_EQ(buf->values(), sentinel);
      EXPECT_TRUE(buf->guards_intact("output"));
    }
    EXPECT_TRUE(same_bits(yh.values(), to_bf16(sentinel)));
    EXPECT_EQ(scratch.values(), std::vector<double>(4, 7.0));
  }
}
