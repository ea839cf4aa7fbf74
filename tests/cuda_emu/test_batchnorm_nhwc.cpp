// kernels/batchnorm_nhwc.cu on the CUDA stand-in, against the CPU backend's batch norm (oneDNN) on
// the same channels-last inputs: the training forward (batch mean, biased variance, running
// statistics moved with the unbiased one), the eval forward, the backward (dx overwritten, dgamma
// and dbeta accumulated), the fused ReLU (its mask recomputed from x in the backward, bit for bit
// the mask a backward from y gives) and the residual form y = relu(bn(x) + r) with its shortcut
// gradient dr, composed on the CPU from bn, add_relu and relu_backward. fp32 and bf16 storage;
// channel counts that take the float4 path (C % 4 == 0, aligned) and the scalar one (C % 4 != 0,
// or misaligned buffers), one and several channel blocks (32 channels each), and row counts over
// one and several 512-row chunks of the column sums. Every output and the scratch keep their
// guards. Also: the same launches give the same bits (the column sums are deterministic), a
// large channel mean costs no precision (against a double loop), and the launchers' refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend/ops.hpp"
#include "core/strcat.hpp"
#include "emu_testing.hpp"

using namespace win;
using namespace win::emu_testing;
namespace k = win::kernels_emu;

namespace {

constexpr double kEps = 1e-5, kMomentum = 0.1;

// Tolerances on the normalised error against the CPU.
// fp32: both sides compute in fp32 from the same inputs (the kernel's sums in double, oneDNN's in
// float, and the stand-in contracts no a * b + c the CPU may fuse), so they differ by rounding:
// measured at most 5e-7 over these shapes (dgamma); 2e-6 leaves margin and still catches any error
// in a term (a wrong count, variance or coefficient moves the results by far more than 1e-4).
constexpr double kF32Tol = 2e-6;
// bf16 storage: the kernel rounds its fp32 result once to bf16 (relative error <= 2^-9, about
// 1.1e-3 in RMS; measured up to 1.8e-3 with the fp32 differences), so 4e-3 of normalised error;
// each element is also held to one bf16 step (2^-8 relative) of the CPU's fp32 value, see
// within_bf16_step.
constexpr double kBf16Tol = 4e-3;
// Per-channel outputs (mean, var, running statistics, dgamma, dbeta) stay fp32 in every variant.
constexpr double kStatTol = 2e-6;

// (N, H, W, C) of a channels-last activation: rows = N H W. shift (elements) offsets every buffer
// from its 64-byte-aligned allocation, so shift 1 sends C % 4 == 0 down the scalar path.
struct BnCase {
  int64_t n, h, w, c, shift;
  int64_t rows() const { return n * h * w; }
  int64_t numel() const { return rows() * c; }
};

std::string case_name(const BnCase& s) {
  return cat("N", s.n, "H", s.h, "W", s.w, "C", s.c, s.shift ? cat("Shifted", s.shift) : "");
}

void PrintTo(const BnCase& s, std::ostream* os) {
  *os << case_name(s);
}

// ---- fp32 / bf16 storage ----

// Every element within one bf16 step (2^-8 relative) of the fp32 value, plus an absolute floor
// for values that cancel to near zero (1e-5 of the RMS of want, far under a bf16 step of it).
::testing::AssertionResult within_bf16_step(const std::vector<float>& got,
                                            const std::vector<float>& want) {
  double ss = 0;
  for (float w : want) ss += double(w) * w;
  const double floor = 1e-5 * std::sqrt(ss / std::max<size_t>(want.size(), 1));
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!(std::abs(g - w) <= std::ldexp(std::abs(w), -8) + floor))
      return ::testing::AssertionFailure() << "element " << i << ": " << g << " for " << w;
  }
  return ::testing::AssertionSuccess();
}

// An activation buffer of T against the CPU's fp32 values.
template <class T>
void expect_close(const Guarded<T>& got, const std::vector<float>& want, const char* what) {
  const std::vector<float> g = as_float(got);
  if constexpr (std::is_same_v<T, float>) {
    EXPECT_LE(normalised_error(g, want), kF32Tol) << what;
  } else {
    EXPECT_LE(normalised_error(g, want), kBf16Tol) << what;
    EXPECT_TRUE(within_bf16_step(g, want)) << what;
  }
}

// ---- the launchers by storage type (as CudaOps calls them) ----

cudaError_t forward_train(const float* x, const float* r, int64_t rows, int64_t c, const float* g,
                          const float* b, float* rm, float* rv, float* m, float* v, float* y,
                          bool relu, void* scratch) {
  return k::launch_bn_nhwc_forward_train_f32(x, r, rows, c, g, b, kEps, kMomentum, rm, rv, m, v, y,
                                             relu, scratch, nullptr);
}
cudaError_t forward_train(const __nv_bfloat16* x, const __nv_bfloat16* r, int64_t rows, int64_t c,
                          const float* g, const float* b, float* rm, float* rv, float* m, float* v,
                          __nv_bfloat16* y, bool relu, void* scratch) {
  return k::launch_bn_nhwc_forward_train_bf16(x, r, rows, c, g, b, kEps, kMomentum, rm, rv, m, v, y,
                                              relu, scratch, nullptr);
}
cudaError_t forward_eval(const float* x, int64_t rows, int64_t c, const float* g, const float* b,
                         const float* rm, const float* rv, float* y, bool relu, void* scratch) {
  return k::launch_bn_nhwc_forward_eval_f32(x, rows, c, g, b, kEps, rm, rv, y, relu, scratch,
                                            nullptr);
}
cudaError_t forward_eval(const __nv_bfloat16* x, int64_t rows, int64_t c, const float* g,
                         const float* b, const float* rm, const float* rv, __nv_bfloat16* y,
                         bool relu, void* scratch) {
  return k::launch_bn_nhwc_forward_eval_bf16(x, rows, c, g, b, kEps, rm, rv, y, relu, scratch,
                                             nullptr);
}
cudaError_t backward(const float* x, const float* y, const float* beta, const float* dy,
                     int64_t rows, int64_t c, const float* g, const float* m, const float* v,
                     float* dx, float* dr, float* dg, float* db, void* scratch) {
  return k::launch_bn_nhwc_backward_f32(x, y, beta, dy, rows, c, g, m, v, kEps, dx, dr, dg, db,
                                        scratch, nullptr);
}
cudaError_t backward(const __nv_bfloat16* x, const __nv_bfloat16* y, const float* beta,
                     const __nv_bfloat16* dy, int64_t rows, int64_t c, const float* g,
                     const float* m, const float* v, __nv_bfloat16* dx, __nv_bfloat16* dr,
                     float* dg, float* db, void* scratch) {
  return k::launch_bn_nhwc_backward_bf16(x, y, beta, dy, rows, c, g, m, v, kEps, dx, dr, dg, db,
                                         scratch, nullptr);
}

// ---- inputs ----

// Per-channel parameters, running statistics and the gradients' old values (accumulated into).
struct Channels {
  std::vector<float> gamma, beta, running_mean, running_var, dgamma0, dbeta0;
};
Channels channels_for(int64_t c, uint64_t seed) {
  Channels p;
  p.gamma = randn(c, seed, 0.3);
  for (float& g : p.gamma) g += 1.0f;
  p.beta = randn(c, seed + 1, 0.5);  // the fused ReLU cuts a different share in each channel
  p.running_mean = randn(c, seed + 2, 0.2);
  p.running_var = randn(c, seed + 3, 0.2);
  for (float& v : p.running_var) v = 1.0f + std::abs(v);
  p.dgamma0 = randn(c, seed + 4, 0.1);
  p.dbeta0 = randn(c, seed + 5, 0.1);
  return p;
}
// x (rows, C): per-channel means and scales that differ, so a channel mix-up shows.
std::vector<float> activations(const BnCase& s, uint64_t seed, double offset = 0.0) {
  std::vector<float> x = randn(s.numel(), seed, 1.0);
  const std::vector<float> mu = randn(s.c, seed + 100, 1.0), sd = randn(s.c, seed + 200, 0.5);
  for (int64_t i = 0; i < s.numel(); ++i) {
    const size_t c = size_t(i % s.c);
    x[size_t(i)] =
        static_cast<float>(offset + mu[c] + (1.0 + std::abs(sd[c])) * static_cast<double>(x[i]));
  }
  return x;
}

// ---- the CPU side: (N, C, H, W) views of NHWC memory ----

Tensor nhwc(const std::vector<float>& v, const BnCase& s) {
  return host(v, {s.n, s.h, s.w, s.c}).permute({0, 3, 1, 2});
}
Tensor empty_nhwc(const BnCase& s) {
  return empty_channels_last({s.n, s.c, s.h, s.w}, DType::F32);
}

// The kernels' per-channel buffers.
struct DeviceChannels {
  Guarded<float> gamma, beta, running_mean, running_var, mean, var, dgamma, dbeta;
  DeviceChannels(const Channels& p, int64_t c, int64_t shift)
      : gamma(c, p.gamma, shift),
        beta(c, p.beta, shift),
        running_mean(c, p.running_mean, shift),
        running_var(c, p.running_var, shift),
        mean(c, shift),
        var(c, shift),
        dgamma(c, p.dgamma0, shift),
        dbeta(c, p.dbeta0, shift) {}
};

// The CPU's per-channel tensors.
struct HostChannels {
  Tensor gamma, beta, running_mean, running_var, mean, var, dgamma, dbeta;
  explicit HostChannels(const Channels& p)
      : gamma(host(p.gamma, {int64_t(p.gamma.size())})),
        beta(host(p.beta, {int64_t(p.gamma.size())})),
        running_mean(host(p.running_mean, {int64_t(p.gamma.size())})),
        running_var(host(p.running_var, {int64_t(p.gamma.size())})),
        mean(Tensor::zeros({int64_t(p.gamma.size())}, DType::F32)),
        var(Tensor::zeros({int64_t(p.gamma.size())}, DType::F32)),
        dgamma(host(p.dgamma0, {int64_t(p.gamma.size())})),
        dbeta(host(p.dbeta0, {int64_t(p.gamma.size())})) {}
};

void expect_stat(Guarded<float>& got, const Tensor& want, const char* what) {
  EXPECT_TRUE(got.guards_intact(what));
  EXPECT_LE(normalised_error(got.values(), to_vector(want)), kStatTol) << what;
}

// The training forward then backward of one batch, against the CPU's (fused ReLU or not); with
// the ReLU, the backward's mask comes from x and beta as CudaOps asks for it, and a second
// backward with the mask from y must give the same bits.
template <class T>
void check_training(const BnCase& s, bool relu) {
  const int64_t rows = s.rows(), c = s.c, n = s.numel();
  const Channels p = channels_for(c, 10 + uint64_t(c));
  const std::vector<float> x = as_float(stored<T>(activations(s, 20 + uint64_t(n))));
  const std::vector<float> dy = as_float(stored<T>(randn(n, 30 + uint64_t(n))));

  Guarded<T> gx(n, stored<T>(x), s.shift), gy(n, s.shift), gdy(n, stored<T>(dy), s.shift),
      gdx(n, s.shift);
  DeviceChannels d(p, c, s.shift);
  Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_scratch_bytes(rows, c)));
  ASSERT_EQ(
      forward_train(gx.ptr(), nullptr, rows, c, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                    d.running_var.ptr(), d.mean.ptr(), d.var.ptr(), gy.ptr(), relu, scratch.ptr()),
      cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);

  auto bn = cpu_ops().batchnorm(relu);
  HostChannels h(p);
  const Tensor hx = nhwc(x, s), hdy = nhwc(dy, s);
  Tensor hy = empty_nhwc(s), hdx = empty_nhwc(s);
  bn->forward_train(hx, h.gamma, h.beta, kEps, kMomentum, h.running_mean, h.running_var, h.mean,
                    h.var, hy);

  EXPECT_TRUE(gy.guards_intact("y"));
  expect_close(gy, to_vector(hy), "y");
  expect_stat(d.mean, h.mean, "mean");
  expect_stat(d.var, h.var, "var");
  expect_stat(d.running_mean, h.running_mean, "running_mean");
  expect_stat(d.running_var, h.running_var, "running_var");

  ASSERT_EQ(backward(gx.ptr(), nullptr, relu ? d.beta.ptr() : nullptr, gdy.ptr(), rows, c,
                     d.gamma.ptr(), d.mean.ptr(), d.var.ptr(), gdx.ptr(), nullptr, d.dgamma.ptr(),
                     d.dbeta.ptr(), scratch.ptr()),
            cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  bn->backward(hx, hy, hdy, h.gamma, h.mean, h.var, kEps, hdx, h.dgamma, h.dbeta);
  EXPECT_TRUE(gdx.guards_intact("dx"));
  expect_close(gdx, to_vector(hdx), "dx");
  expect_stat(d.dgamma, h.dgamma, "dgamma");
  expect_stat(d.dbeta, h.dbeta, "dbeta");
  EXPECT_TRUE(scratch.guards_intact("scratch"));

  if (!relu) return;
  // The mask from y (what a caller without beta gets): the kernel promises the recomputed mask
  // is y's bit for bit, so dx and the parameter gradients must not move by a bit.
  Guarded<T> gdx_from_y(n, s.shift);
  Guarded<float> dgamma_from_y(c, p.dgamma0, s.shift), dbeta_from_y(c, p.dbeta0, s.shift);
  ASSERT_EQ(backward(gx.ptr(), gy.ptr(), nullptr, gdy.ptr(), rows, c, d.gamma.ptr(), d.mean.ptr(),
                     d.var.ptr(), gdx_from_y.ptr(), nullptr, dgamma_from_y.ptr(),
                     dbeta_from_y.ptr(), scratch.ptr()),
            cudaSuccess);
  EXPECT_TRUE(gdx_from_y.guards_intact("dx (mask from y)"));
  EXPECT_EQ(0, std::memcmp(gdx_from_y.ptr(), gdx.ptr(), size_t(n) * sizeof(T)))
      << "dx differs between the masks from x and from y";
  EXPECT_EQ(dgamma_from_y.values(), d.dgamma.values());
  EXPECT_EQ(dbeta_from_y.values(), d.dbeta.values());
}

// y = relu(bn(x) + r) and its backward (dr and dx), against the CPU's composition: bn (no ReLU),
// add_relu; relu_backward, bn backward.
template <class T>
void check_residual(const BnCase& s) {
  const int64_t rows = s.rows(), c = s.c, n = s.numel();
  const Channels p = channels_for(c, 40 + uint64_t(c));
  const std::vector<float> x = as_float(stored<T>(activations(s, 50 + uint64_t(n))));
  const std::vector<float> r = as_float(stored<T>(randn(n, 60 + uint64_t(n))));
  const std::vector<float> dy = as_float(stored<T>(randn(n, 70 + uint64_t(n))));

  Guarded<T> gx(n, stored<T>(x), s.shift), gr(n, stored<T>(r), s.shift), gy(n, s.shift),
      gdy(n, stored<T>(dy), s.shift), gdx(n, s.shift), gdr(n, s.shift);
  DeviceChannels d(p, c, s.shift);
  Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_scratch_bytes(rows, c)));
  ASSERT_EQ(
      forward_train(gx.ptr(), gr.ptr(), rows, c, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                    d.running_var.ptr(), d.mean.ptr(), d.var.ptr(), gy.ptr(), true, scratch.ptr()),
      cudaSuccess);
  // As CudaOps' backward_add_relu: the mask from y (beta not given), dr written.
  ASSERT_EQ(
      backward(gx.ptr(), gy.ptr(), nullptr, gdy.ptr(), rows, c, d.gamma.ptr(), d.mean.ptr(),
               d.var.ptr(), gdx.ptr(), gdr.ptr(), d.dgamma.ptr(), d.dbeta.ptr(), scratch.ptr()),
      cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);

  auto bn = cpu_ops().batchnorm(false);
  HostChannels h(p);
  const Tensor hx = nhwc(x, s), hr = nhwc(r, s), hdy = nhwc(dy, s);
  Tensor hbn = empty_nhwc(s), hy = empty_nhwc(s), hdr = empty_nhwc(s), hdx = empty_nhwc(s);
  bn->forward_train(hx, h.gamma, h.beta, kEps, kMomentum, h.running_mean, h.running_var, h.mean,
                    h.var, hbn);
  cpu_ops().add_relu(hbn, hr, hy);
  cpu_ops().relu_backward(hy, hdy, hdr);
  bn->backward(hx, hbn, hdr, h.gamma, h.mean, h.var, kEps, hdx, h.dgamma, h.dbeta);

  for (auto* g : {&gy, &gdx, &gdr}) EXPECT_TRUE(g->guards_intact("activation output"));
  EXPECT_TRUE(scratch.guards_intact("scratch"));
  expect_close(gy, to_vector(hy), "y");
  expect_stat(d.mean, h.mean, "mean");
  expect_stat(d.var, h.var, "var");
  expect_stat(d.running_mean, h.running_mean, "running_mean");
  expect_stat(d.running_var, h.running_var, "running_var");
  // dr is dy where the kernel's own y > 0, exactly (no arithmetic).
  const std::vector<float> y_got = as_float(gy), dr_got = as_float(gdr);
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(dr_got[size_t(i)], y_got[size_t(i)] > 0 ? dy[size_t(i)] : 0.0f) << "dr " << i;
  EXPECT_LE(normalised_error(dr_got, to_vector(hdr)), kF32Tol) << "dr against the CPU's mask";
  expect_close(gdx, to_vector(hdx), "dx");
  expect_stat(d.dgamma, h.dgamma, "dgamma");
  expect_stat(d.dbeta, h.dbeta, "dbeta");
}

// The eval forward (running statistics) against the CPU's.
template <class T>
void check_eval(const BnCase& s, bool relu) {
  const int64_t rows = s.rows(), c = s.c, n = s.numel();
  const Channels p = channels_for(c, 80 + uint64_t(c));
  const std::vector<float> x = as_float(stored<T>(activations(s, 90 + uint64_t(n))));
  Guarded<T> gx(n, stored<T>(x), s.shift), gy(n, s.shift);
  DeviceChannels d(p, c, s.shift);
  Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_eval_scratch_bytes(c)));
  ASSERT_EQ(forward_eval(gx.ptr(), rows, c, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                         d.running_var.ptr(), gy.ptr(), relu, scratch.ptr()),
            cudaSuccess);
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  auto bn = cpu_ops().batchnorm(relu);
  HostChannels h(p);
  Tensor hy = empty_nhwc(s);
  bn->forward_eval(nhwc(x, s), h.gamma, h.beta, kEps, h.running_mean, h.running_var, hy);
  EXPECT_TRUE(gy.guards_intact("y"));
  EXPECT_TRUE(scratch.guards_intact("scratch"));
  expect_close(gy, to_vector(hy), "y");
  // The running statistics are inputs here.
  EXPECT_EQ(d.running_mean.values(), p.running_mean);
  EXPECT_EQ(d.running_var.values(), p.running_var);
}

// Shapes: C = 3 (scalar path), 20 (float4; leaves most of a 32-channel block idle), 64 (two
// channel blocks), 8 shifted (the scalar path for a float4-able C). Rows: 70 and 36 (one chunk,
// several blocks of the element-wise pass), 578 and 529 (two 512-row chunks, the second partial),
// 1083 (three, for the determinism test).
const BnCase kC3{2, 5, 7, 3, 0}, kC20{2, 5, 7, 20, 0}, kC64{1, 6, 6, 64, 0},
    kC8Shifted{2, 5, 7, 8, 1}, kTwoChunksC8{2, 17, 17, 8, 0}, kTwoChunksC3{1, 23, 23, 3, 0},
    kThreeChunksC8{3, 19, 19, 8, 0};

}  // namespace

class EmuBatchNormTrain : public ::testing::TestWithParam<std::tuple<BnCase, bool>> {};

TEST_P(EmuBatchNormTrain, Fp32ForwardAndBackwardMatchTheCpu) {
  check_training<float>(std::get<0>(GetParam()), std::get<1>(GetParam()));
}
TEST_P(EmuBatchNormTrain, Bf16ForwardAndBackwardMatchTheCpu) {
  check_training<__nv_bfloat16>(std::get<0>(GetParam()), std::get<1>(GetParam()));
}

// Each shape with and without the fused ReLU would double the run time on the stand-in (a launch
// spawns 256 threads): instead the scalar path, the float4 path and several chunks are each taken
// with and without the ReLU somewhere in the list.
INSTANTIATE_TEST_SUITE_P(
    Shapes, EmuBatchNormTrain,
    ::testing::Values(std::tuple{kC3, false}, std::tuple{kC3, true}, std::tuple{kC20, false},
                      std::tuple{kC64, true}, std::tuple{kC8Shifted, false},
                      std::tuple{kC8Shifted, true}, std::tuple{kTwoChunksC8, true},
                      std::tuple{kTwoChunksC3, false}),
    [](const auto& instance) {
      return case_name(std::get<0>(instance.param)) + (std::get<1>(instance.param) ? "Relu" : "");
    });

class EmuBatchNormResidual : public ::testing::TestWithParam<BnCase> {};

TEST_P(EmuBatchNormResidual, Fp32AddReluMatchesTheCpuComposition) {
  check_residual<float>(GetParam());
}
TEST_P(EmuBatchNormResidual, Bf16AddReluMatchesTheCpuComposition) {
  check_residual<__nv_bfloat16>(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Shapes, EmuBatchNormResidual,
                         ::testing::Values(kC20, kC8Shifted, kTwoChunksC8),
                         [](const auto& instance) { return case_name(instance.param); });

class EmuBatchNormEval : public ::testing::TestWithParam<std::tuple<BnCase, bool>> {};

TEST_P(EmuBatchNormEval, Fp32MatchesTheCpu) {
  check_eval<float>(std::get<0>(GetParam()), std::get<1>(GetParam()));
}
TEST_P(EmuBatchNormEval, Bf16MatchesTheCpu) {
  check_eval<__nv_bfloat16>(std::get<0>(GetParam()), std::get<1>(GetParam()));
}

// Eval takes one row (the training forward refuses it). The ReLU alternates over the shapes, as
// for training.
INSTANTIATE_TEST_SUITE_P(Shapes, EmuBatchNormEval,
                         ::testing::Values(std::tuple{BnCase{1, 1, 1, 8, 0}, true},
                                           std::tuple{kC3, false}, std::tuple{kC3, true},
                                           std::tuple{kC20, true}, std::tuple{kC64, false},
                                           std::tuple{kC8Shifted, true}),
                         [](const auto& instance) {
                           return case_name(std::get<0>(instance.param)) +
                                  (std::get<1>(instance.param) ? "Relu" : "");
                         });

// The column sums are chunked by shape only and added in a fixed order: a second identical
// forward and backward (same inputs, running statistics and gradient accumulators) gives the
// same bits, here over three chunks (the only shape with a full middle chunk).
TEST(EmuBatchNorm, RepeatedLaunchesGiveTheSameBits) {
  {
    const BnCase s = kThreeChunksC8;
    const int64_t rows = s.rows(), c = s.c, n = s.numel();
    const Channels p = channels_for(c, 3);
    const std::vector<float> x = activations(s, 4), dy = randn(n, 5);
    Guarded<float> gx(n, x, s.shift), gdy(n, dy, s.shift);
    std::vector<std::vector<float>> runs;
    for (int run = 0; run < 2; ++run) {
      Guarded<float> gy(n, s.shift), gdx(n, s.shift);
      DeviceChannels d(p, c, s.shift);
      Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_scratch_bytes(rows, c)));
      ASSERT_EQ(forward_train(gx.ptr(), nullptr, rows, c, d.gamma.ptr(), d.beta.ptr(),
                              d.running_mean.ptr(), d.running_var.ptr(), d.mean.ptr(), d.var.ptr(),
                              gy.ptr(), true, scratch.ptr()),
                cudaSuccess);
      ASSERT_EQ(
          backward(gx.ptr(), nullptr, d.beta.ptr(), gdy.ptr(), rows, c, d.gamma.ptr(), d.mean.ptr(),
                   d.var.ptr(), gdx.ptr(), nullptr, d.dgamma.ptr(), d.dbeta.ptr(), scratch.ptr()),
          cudaSuccess);
      std::vector<float> all;
      for (const auto* g :
           {&gy, &gdx, &d.mean, &d.var, &d.running_mean, &d.running_var, &d.dgamma, &d.dbeta}) {
        const std::vector<float> v = g->values();
        all.insert(all.end(), v.begin(), v.end());
      }
      runs.push_back(std::move(all));
    }
    ASSERT_EQ(runs[0].size(), runs[1].size());
    EXPECT_EQ(0, std::memcmp(runs[0].data(), runs[1].data(), runs[0].size() * sizeof(float)))
        << case_name(s);
  }
}

// The statistics sum x - K (K a value of the channel) in double, so a channel mean 1000 times its
// spread loses nothing: mean, var and y against a double loop to fp32 rounding (a one-pass
// E[x^2] - E[x]^2 in float would be off by whole units of var here).
TEST(EmuBatchNorm, LargeChannelMeansKeepFullPrecision) {
  const BnCase s{2, 5, 7, 8, 0};
  const int64_t rows = s.rows(), c = s.c, n = s.numel();
  const Channels p = channels_for(c, 6);
  const std::vector<float> x = activations(s, 7, 1000.0);
  Guarded<float> gx(n, x), gy(n);
  DeviceChannels d(p, c, 0);
  Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_scratch_bytes(rows, c)));
  ASSERT_EQ(
      forward_train(gx.ptr(), nullptr, rows, c, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                    d.running_var.ptr(), d.mean.ptr(), d.var.ptr(), gy.ptr(), false, scratch.ptr()),
      cudaSuccess);
  std::vector<double> mean(static_cast<size_t>(c), 0.0), var(static_cast<size_t>(c), 0.0),
      y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) mean[size_t(i % c)] += x[size_t(i)];
  for (double& m : mean) m /= double(rows);
  for (int64_t i = 0; i < n; ++i) {
    const double dv = x[size_t(i)] - mean[size_t(i % c)];
    var[size_t(i % c)] += dv * dv;
  }
  for (double& v : var) v /= double(rows);
  for (int64_t i = 0; i < n; ++i) {
    const size_t ch = size_t(i % c);
    y[size_t(i)] = (x[size_t(i)] - mean[ch]) / std::sqrt(var[ch] + kEps) * p.gamma[ch] + p.beta[ch];
  }
  EXPECT_TRUE(gy.guards_intact("y"));
  // mean ~1000: fp32 rounding of the mean itself is 6e-8 relative; var is O(1) and formed in
  // double from x - K, so it keeps fp32's relative precision. y is formed from x - mean with the
  // fp32 mean, which is off the exact one by up to half an ulp of 1000 (3e-5): every xhat moves by
  // up to 3e-5 / sigma (sigma >= 1 here), so 5e-5 (1.3e-5 measured).
  EXPECT_LE(normalised_error(d.mean.values(), mean), 1e-7);
  EXPECT_LE(normalised_error(d.var.values(), var), 1e-6);
  EXPECT_LE(normalised_error(gy.values(), y), 5e-5);
}

// Bad shapes come back as cudaErrorInvalidValue before anything is written or launched: the
// training forward needs two rows (an unbiased variance), every launcher at least one row and
// between 1 and 65535 * 32 channels.
TEST(EmuBatchNorm, RefusesShapesItCannotTake) {
  EXPECT_FALSE(k::bn_nhwc_supported(0, 8));
  EXPECT_FALSE(k::bn_nhwc_supported(4, 0));
  EXPECT_FALSE(k::bn_nhwc_supported(4, 65535LL * 32 + 1));
  EXPECT_TRUE(k::bn_nhwc_supported(1, 65535LL * 32));

  const int64_t c = 8;
  const Channels p = channels_for(c, 8);
  const std::vector<float> x = randn(2 * c, 9);
  Guarded<float> gx(2 * c, x), gy(2 * c), gdx(2 * c);
  Guarded<__nv_bfloat16> hx(2 * c, stored<__nv_bfloat16>(x)), hy(2 * c), hdx(2 * c);
  DeviceChannels d(p, c, 0);
  Guarded<unsigned char> scratch(int64_t(k::bn_nhwc_scratch_bytes(2, c)));
  auto train_f32 = [&](int64_t rows, int64_t channels) {
    return forward_train(gx.ptr(), nullptr, rows, channels, d.gamma.ptr(), d.beta.ptr(),
                         d.running_mean.ptr(), d.running_var.ptr(), d.mean.ptr(), d.var.ptr(),
                         gy.ptr(), false, scratch.ptr());
  };
  auto train_bf16 = [&](int64_t rows, int64_t channels) {
    return forward_train(hx.ptr(), nullptr, rows, channels, d.gamma.ptr(), d.beta.ptr(),
                         d.running_mean.ptr(), d.running_var.ptr(), d.mean.ptr(), d.var.ptr(),
                         hy.ptr(), false, scratch.ptr());
  };
  auto eval_f32 = [&](int64_t rows, int64_t channels) {
    return forward_eval(gx.ptr(), rows, channels, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                        d.running_var.ptr(), gy.ptr(), false, scratch.ptr());
  };
  auto eval_bf16 = [&](int64_t rows, int64_t channels) {
    return forward_eval(hx.ptr(), rows, channels, d.gamma.ptr(), d.beta.ptr(), d.running_mean.ptr(),
                        d.running_var.ptr(), hy.ptr(), false, scratch.ptr());
  };
  auto backward_f32 = [&](int64_t rows, int64_t channels) {
    return backward(gx.ptr(), nullptr, nullptr, gx.ptr(), rows, channels, d.gamma.ptr(),
                    d.running_mean.ptr(), d.running_var.ptr(), gdx.ptr(), nullptr, d.dgamma.ptr(),
                    d.dbeta.ptr(), scratch.ptr());
  };
  auto backward_bf16 = [&](int64_t rows, int64_t channels) {
    return backward(hx.ptr(), nullptr, nullptr, hx.ptr(), rows, channels, d.gamma.ptr(),
                    d.running_mean.ptr(), d.running_var.ptr(), hdx.ptr(), nullptr, d.dgamma.ptr(),
                    d.dbeta.ptr(), scratch.ptr());
  };
  EXPECT_EQ(train_f32(1, c), cudaErrorInvalidValue);
  EXPECT_EQ(train_bf16(1, c), cudaErrorInvalidValue);
  EXPECT_EQ(train_f32(0, c), cudaErrorInvalidValue);
  EXPECT_EQ(train_f32(2, 0), cudaErrorInvalidValue);
  EXPECT_EQ(train_bf16(2, 0), cudaErrorInvalidValue);
  EXPECT_EQ(train_f32(2, 65535LL * 32 + 1), cudaErrorInvalidValue);
  EXPECT_EQ(eval_f32(0, c), cudaErrorInvalidValue);
  EXPECT_EQ(eval_bf16(0, c), cudaErrorInvalidValue);
  EXPECT_EQ(eval_f32(2, 0), cudaErrorInvalidValue);
  EXPECT_EQ(eval_f32(2, 65535LL * 32 + 1), cudaErrorInvalidValue);
  EXPECT_EQ(backward_f32(0, c), cudaErrorInvalidValue);
  EXPECT_EQ(backward_bf16(0, c), cudaErrorInvalidValue);
  EXPECT_EQ(backward_f32(2, 0), cudaErrorInvalidValue);
  EXPECT_EQ(backward_bf16(2, 65535LL * 32 + 1), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);

  // Nothing written: the outputs still hold their fill, the statistics their starting values.
  const std::vector<unsigned char> untouched(size_t(2 * c) * sizeof(float), 0xFF);
  EXPECT_EQ(0, std::memcmp(gy.ptr(), untouched.data(), untouched.size()));
  EXPECT_EQ(0, std::memcmp(gdx.ptr(), untouched.data(), untouched.size()));
  EXPECT_EQ(0, std::memcmp(hy.ptr(), untouched.data(), untouched.size() / 2));
  EXPECT_EQ(0, std::memcmp(hdx.ptr(), untouched.data(), untouched.size() / 2));
  EXPECT_EQ(d.running_mean.values(), p.running_mean);
  EXPECT_EQ(d.running_var.values(), p.running_var);
  EXPECT_EQ(d.dgamma.values(), p.dgamma0);
  EXPECT_EQ(d.dbeta.values(), p.dbeta0);
  for (const auto* g : {&gy, &gdx, &d.mean, &d.var}) EXPECT_TRUE(g->guards_intact("output"));
  EXPECT_TRUE(scratch.guards_intact("scratch"));
}
