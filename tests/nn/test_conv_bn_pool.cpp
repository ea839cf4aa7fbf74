// Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d and GlobalAvgPool: finite-difference gradients of the
// f64 reference; hand-computed values that anchor the reference to something besides its own
// derivatives (a 1x1 conv is a matrix product, an impulse reproduces the kernel, padded averages
// count zeros, BN's running statistics follow PyTorch's formula); the f32 oneDNN backend against
// the f64 reference on contiguous and channels-last inputs; gradient accumulation.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <map>
#include <numeric>

#include "backend/ops.hpp"
#include "core/strcat.hpp"
#include "nn/batchnorm.hpp"
#include "nn/conv2d.hpp"
#include "nn/pool.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::nn;
using namespace win::testing_nn;

namespace {

struct ConvCfg {
  int64_t in, out, kernel, stride, pad;
  bool bias;
  Dims x;
};
// The shapes the brief names: 3x3 s1 p1 with bias, 3x3 s2 p1, 1x1 s2 p0 without bias, 7x7 s2 p3.
const ConvCfg kConvs[] = {{3, 4, 3, 1, 1, true, {2, 3, 6, 5}},
                          {3, 4, 3, 2, 1, true, {2, 3, 7, 6}},
                          {5, 3, 1, 2, 0, false, {2, 5, 6, 6}},
                          {2, 3, 7, 2, 3, true, {1, 2, 9, 8}}};

std::unique_ptr<Conv2d> make_conv(const ConvCfg& c, DType dt) {
  return std::make_unique<Conv2d>(c.in, c.out, c.kernel, c.stride, c.pad, c.bias, dt);
}

// BatchNorm with non-trivial affine parameters and running statistics (var > 0).
void randomise_bn(BatchNorm2d& bn, uint64_t seed) {
  const int64_t c = bn.num_features();
  bn.weight().value.copy_from(randn({c}, DType::F64, seed, 0.5));
  bn.bias().value.copy_from(randn({c}, DType::F64, seed + 1));
  bn.running_mean().copy_from(randn({c}, DType::F64, seed + 2));
  Tensor v = randn({c}, DType::F64, seed + 3);
  for (int64_t i = 0; i < c; ++i) set_flat(v, i, 0.5 + std::abs(get_flat(v, i)));
  bn.running_var().copy_from(v);
}

// A random permutation of 0.1 * {0, 1, ...}: no ties, and every gap (0.1) is far wider than a
// finite-difference step, so each window's argmax cannot change while it is probed.
Tensor distinct_values(const Dims& shape, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F64);
  std::vector<int64_t> perm(static_cast<size_t>(t.numel()));
  std::iota(perm.begin(), perm.end(), 0);
  const Philox rng(seed, 7);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng.u64(0, i) % i]);
  for (int64_t i = 0; i < t.numel(); ++i)
    set_flat(t, i, 0.1 * static_cast<double>(perm[static_cast<size_t>(i)]));
  return t;
}

void zero_grads(Module& m) {
  m.for_each_param([](const std::string&, Param& p) { p.grad.zero(); });
}

// Runs forward and backward of the f32 module on x32 and of the f64 module on the same values,
// in the given layout, and compares outputs, dx, parameter gradients and buffers (running
// statistics) by normalised error. Also checks that dx keeps x's layout.
void compare_backends(Module& ref, Module& fast, const Tensor& x32, bool cl, Context ctx,
                      double tol, const std::string& what) {
  const Tensor xf = cl ? channels_last(x32) : x32.contiguous();
  const Tensor xr = cl ? channels_last(x32.to(DType::F64)) : x32.to(DType::F64);
  zero_grads(ref);
  zero_grads(fast);
  const Tensor yf = fast.forward(xf, ctx), yr = ref.forward(xr, ctx);
  EXPECT_LT(normalized_error(yf, yr), tol) << what << ": y";
  const Tensor g = randn(yr.shape(), DType::F64, 77);
  Tensor gf = empty_like(yf), gr = empty_like(yr);
  gf.copy_from(g);
  gr.copy_from(g);
  const Tensor dxf = fast.backward(gf, ctx), dxr = ref.backward(gr, ctx);
  EXPECT_EQ(dxf.strides(), xf.strides()) << what << ": dx layout";
  EXPECT_LT(normalized_error(dxf, dxr), tol) << what << ": dx";
  std::map<std::string, Tensor> want;
  ref.for_each_param([&](const std::string& n, Param& p) { want[n] = p.grad; });
  ref.for_each_buffer([&](const std::string& n, Tensor& t) { want[n] = t; });
  fast.for_each_param([&](const std::string& n, Param& p) {
    EXPECT_LT(normalized_error(p.grad, want[n]), tol) << what << ": d" << n;
  });
  fast.for_each_buffer([&](const std::string& n, Tensor& t) {
    EXPECT_LT(normalized_error(t, want[n]), tol) << what << ": " << n;
  });
}

// Finite differences: step 1e-6, rtol 1e-6, atol 1e-9 (the harness defaults) for every test
// below. Convolutions and poolings are linear in x (and bilinear in x, W), so the central
// difference has no truncation error and only rounding ~ 1e-16 |L| / h ~ 1e-9 remains; BatchNorm
// is smooth, with truncation h^2 |f'''| ~ 1e-12.
constexpr GradCheckOptions kFd{};

// Pooling (kernel, stride, padding) shapes: overlapping with padding, tiling, stride 1.
constexpr std::array<int64_t, 3> kPools[] = {{3, 2, 1}, {2, 2, 0}, {3, 1, 1}};

}  // namespace

TEST(Conv2dGrad, FiniteDifferencesInDouble) {
  Context ctx;
  for (const ConvCfg& c : kConvs) {
    SCOPED_TRACE(::testing::Message() << "kernel " << c.kernel << " stride " << c.stride);
    auto conv = make_conv(c, DType::F64);
    init_params(*conv, 5);
    EXPECT_EQ(check_gradients(*conv, randn(c.x, DType::F64, 6), ctx, kFd), 0);
  }
}

TEST(Conv2dGrad, ChannelsLastInputFiniteDifferences) {
  Context ctx;
  ChannelsLastInput m(make_conv(kConvs[1], DType::F64));
  init_params(m, 7);
  EXPECT_EQ(check_gradients(m, randn(kConvs[1].x, DType::F64, 8), ctx, kFd), 0);
}

// Without the input gradient (a convolution on the data): the same parameter gradients, and no
// dx at all.
TEST(Conv2dGrad, WithoutInputGradientTheSameWeightGradientsAndNoDx) {
  Context ctx;
  const ConvCfg& c = kConvs[0];
  auto with = make_conv(c, DType::F64), without = make_conv(c, DType::F64);
  init_params(*with, 9);
  init_params(*without, 9);
  without->set_input_grad(false);
  const Tensor x = randn(c.x, DType::F64, 10);
  const Tensor y = with->forward(x, ctx);
  without->forward(x, ctx);
  const Tensor dy = randn(y.shape(), DType::F64, 11);
  with->weight().grad.zero();
  without->weight().grad.zero();
  EXPECT_TRUE(with->backward(dy, ctx).defined());
  EXPECT_FALSE(without->backward(dy, ctx).defined());
  EXPECT_EQ(without->weight().grad.to_vector(), with->weight().grad.to_vector());
  EXPECT_EQ(check_gradients(*without, x, ctx,
                            {.step = kFd.step,
                             .rtol = kFd.rtol,
                             .atol = kFd.atol,
                             .max_per_tensor = kFd.max_per_tensor,
                             .check_input = false}),
            0);
}

TEST(Conv2dKnownValues, OneByOneIsAMatrixProduct) {
  for (DType dt : {DType::F64, DType::F32}) {
    Conv2d conv(3, 2, 1, 1, 0, true, dt);
    const double w[2][3] = {{1, -2, 0.5}, {3, 0, -1}}, b[2] = {0.25, -4};
    for (int k = 0; k < 2; ++k) {
      set_flat(conv.bias()->value, k, b[k]);
      for (int c = 0; c < 3; ++c) set_flat(conv.weight().value, k * 3 + c, w[k][c]);
    }
    Tensor x = Tensor::empty({2, 3, 2, 2}, dt);
    for (int64_t i = 0; i < x.numel(); ++i) set_flat(x, i, static_cast<double>(i % 7) - 3);
    Context ctx;
    const Tensor y = conv.forward(x, ctx);
    EXPECT_EQ(ctx.macs, 2 * 2 * 4 * 3);  // N * K * P * Q outputs, C * 1 * 1 MACs each
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t k = 0; k < 2; ++k)
        for (int64_t p = 0; p < 4; ++p) {
          double want = b[k];
          for (int64_t c = 0; c < 3; ++c) want += w[k][c] * get_flat(x, (n * 3 + c) * 4 + p);
          EXPECT_EQ(get_flat(y, (n * 2 + k) * 4 + p), want) << dtype_name(dt);
        }
  }
}

TEST(Conv2dKnownValues, ImpulseReproducesTheFlippedKernel) {
  // PyTorch's conv is a cross-correlation: y(p, q) = sum x(p - 1 + r, q - 1 + s) w(r, s), so a
  // unit impulse at (2, 2) gives y(2 - 1 + i, 2 - 1 + j) = w(2 - i, 2 - j) and zeros elsewhere.
  for (DType dt : {DType::F64, DType::F32}) {
    Conv2d conv(1, 1, 3, 1, 1, false, dt);
    for (int64_t i = 0; i < 9; ++i) set_flat(conv.weight().value, i, static_cast<double>(i + 1));
    Tensor x = Tensor::zeros({1, 1, 5, 5}, dt);
    set_flat(x, 2 * 5 + 2, 1.0);
    Context ctx;
    const Tensor y = conv.forward(x, ctx);
    for (int64_t p = 0; p < 5; ++p)
      for (int64_t q = 0; q < 5; ++q) {
        const bool inside = p >= 1 && p <= 3 && q >= 1 && q <= 3;
        const double want = inside ? static_cast<double>((3 - p) * 3 + (3 - q) + 1) : 0.0;
        EXPECT_EQ(get_flat(y, p * 5 + q), want) << dtype_name(dt) << " at " << p << "," << q;
      }
  }
}

TEST(Conv2dBackend, F32MatchesF64ReferenceInBothLayouts) {
  // Tolerance 1e-5: f32 rounds each product and partial sum at 6e-8 relative; the sums here have
  // at most a few hundred terms (C*k*k forward, N*P*Q for dW), whose accumulated error is well
  // below 1e-5 of the result's norm. Inputs are the same f32 values for both, so only the
  // arithmetic differs. The last shape is large enough for oneDNN's jit kernels.
  std::vector<ConvCfg> cfgs(std::begin(kConvs), std::end(kConvs));
  cfgs.push_back({16, 32, 3, 1, 1, true, {4, 16, 14, 14}});
  Context ctx;
  for (const ConvCfg& c : cfgs)
    for (bool cl : {false, true}) {
      auto ref = make_conv(c, DType::F64), fast = make_conv(c, DType::F32);
      init_params(*ref, 11);
      copy_params(*ref, *fast);
      const Tensor x = randn(c.x, DType::F32, 12);
      compare_backends(*ref, *fast, x, cl, ctx, 1e-5,
                       cat("conv k", c.kernel, " s", c.stride, cl ? " channels-last" : " nchw"));
      Tensor y = fast->forward(x, ctx);
      EXPECT_EQ(y.strides(), empty_channels_last(y.shape(), DType::F32).strides());
    }
}

TEST(Conv2dBackend, OpsAcceptAnyLayoutMix) {
  // The op table allows any strides: oneDNN with x channels-last and y, dy, dx contiguous.
  const backend::Conv2dDesc d{3, 3, 2, 1};
  auto fast = backend::ops_for(Device::CPU, DType::F32).conv2d(d);
  auto ref = backend::ref_ops(DType::F64).conv2d(d);
  const Tensor x = channels_last(randn({2, 4, 7, 7}, DType::F32, 1));
  const Tensor w = randn({5, 4, 3, 3}, DType::F32, 2), b = randn({5}, DType::F32, 3);
  const Tensor dy = randn({2, 5, 4, 4}, DType::F32, 4);
  Tensor y = Tensor::empty({2, 5, 4, 4}, DType::F32), dx = Tensor::empty(x.shape(), DType::F32);
  Tensor dw = Tensor::zeros(w.shape(), DType::F32), db = Tensor::zeros({5}, DType::F32);
  fast->forward(x, w, b, y);
  fast->backward_data(dy, w, dx);
  fast->backward_weights(x, dy, dw, db);
  const auto f64 = [](const Tensor& t) { return t.to(DType::F64); };
  Tensor y64 = Tensor::empty(y.shape(), DType::F64), dx64 = Tensor::empty(x.shape(), DType::F64);
  Tensor dw64 = Tensor::zeros(w.shape(), DType::F64), db64 = Tensor::zeros({5}, DType::F64);
  ref->forward(f64(x), f64(w), f64(b), y64);
  ref->backward_data(f64(dy), f64(w), dx64);
  ref->backward_weights(f64(x), f64(dy), dw64, db64);
  EXPECT_LT(normalized_error(y, y64), 1e-5);
  EXPECT_LT(normalized_error(dx, dx64), 1e-5);
  EXPECT_LT(normalized_error(dw, dw64), 1e-5);
  EXPECT_LT(normalized_error(db, db64), 1e-5);
}

TEST(BatchNormGrad, TrainingAndEvalFiniteDifferences) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    BatchNorm2d bn(3, 1e-5, 0.1, DType::F64);
    randomise_bn(bn, 21);
    Context ctx;
    ctx.training = training;
    EXPECT_EQ(check_gradients(bn, randn({4, 3, 3, 2}, DType::F64, 22, 2.0), ctx, kFd), 0);
    ChannelsLastInput cl(std::make_unique<BatchNorm2d>(3, 1e-5, 0.1, DType::F64));
    init_params(cl, 1);
    EXPECT_EQ(check_gradients(cl, randn({2, 3, 2, 3}, DType::F64, 23), ctx, kFd), 0);
  }
}

TEST(BatchNormKnownValues, RunningStatisticsFollowPyTorch) {
  // One training forward from running (0, 1) with momentum 0.1 leaves mean 0.1 * batch mean and
  // var 0.9 + 0.1 * unbiased batch variance; eval then normalises with exactly those.
  for (DType dt : {DType::F64, DType::F32}) {
    BatchNorm2d bn(2, 1e-5, 0.1, dt);
    init_params(bn, 1);
    const Tensor x = randn({3, 2, 2, 2}, dt, 31, 3.0);
    Context ctx;
    bn.forward(x, ctx);
    std::vector<double> rm(2), rv(2);
    for (int64_t c = 0; c < 2; ++c) {
      std::vector<double> v;
      for (int64_t i = 0; i < x.numel(); ++i)
        if (i / 4 % 2 == c) v.push_back(get_flat(x, i));
      double mu = 0, ss = 0;
      for (double e : v) mu += e / static_cast<double>(v.size());
      for (double e : v) ss += (e - mu) * (e - mu);
      rm[c] = 0.1 * mu;
      rv[c] = 0.9 + 0.1 * ss / static_cast<double>(v.size() - 1);
      EXPECT_NEAR(get_flat(bn.running_mean(), c), rm[c], 1e-6) << dtype_name(dt);
      EXPECT_NEAR(get_flat(bn.running_var(), c), rv[c], 1e-5) << dtype_name(dt);
    }
    ctx.training = false;
    const Tensor y = bn.forward(x, ctx);
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto c = static_cast<size_t>(i / 4 % 2);
      EXPECT_NEAR(get_flat(y, i), (get_flat(x, i) - rm[c]) / std::sqrt(rv[c] + 1e-5), 1e-5);
    }
  }
}

TEST(BatchNormBackend, F32MatchesF64ReferenceInBothLayouts) {
  // Tolerance 1e-5: per-channel sums of N*H*W = 392 terms and a few divisions, in f32.
  for (bool training : {true, false})
    for (bool cl : {false, true}) {
      BatchNorm2d ref(16, 1e-5, 0.1, DType::F64), fast(16, 1e-5, 0.1, DType::F32);
      randomise_bn(ref, 41);
      copy_params(ref, fast);
      Context ctx;
      ctx.training = training;
      compare_backends(ref, fast, randn({8, 16, 7, 7}, DType::F32, 42, 2.0), cl, ctx, 1e-5,
                       cat("bn ", training ? "train" : "eval", cl ? " channels-last" : " nchw"));
    }
}

TEST(PoolGrad, FiniteDifferencesInDouble) {
  Context ctx;
  const Tensor x = distinct_values({2, 3, 7, 7}, 51);
  for (auto [k, s, p] : kPools) {
    SCOPED_TRACE(::testing::Message() << "kernel " << k << " stride " << s << " pad " << p);
    MaxPool2d mp(k, s, p, DType::F64);
    EXPECT_EQ(check_gradients(mp, x, ctx, kFd), 0);
    AvgPool2d ap(k, s, p, DType::F64);
    EXPECT_EQ(check_gradients(ap, randn({2, 3, 7, 7}, DType::F64, 52), ctx, kFd), 0);
  }
  ChannelsLastInput mp(std::make_unique<MaxPool2d>(3, 2, 1, DType::F64));
  EXPECT_EQ(check_gradients(mp, x, ctx, kFd), 0);
  GlobalAvgPool gap(DType::F64);
  EXPECT_EQ(check_gradients(gap, randn({2, 3, 4, 5}, DType::F64, 53), ctx, kFd), 0);
}

TEST(PoolKnownValues, MaxIgnoresPaddingAndAverageCountsIt) {
  for (DType dt : {DType::F64, DType::F32}) {
    Tensor x = Tensor::empty({1, 1, 4, 4}, dt);
    x.fill(-1.0);          // all negative: a max that let padded zeros in would return 0
    set_flat(x, 15, 2.0);  // only the last of the four 3x3 windows (stride 2, pad 1) sees it
    Context ctx;
    MaxPool2d mp(3, 2, 1, dt);
    EXPECT_EQ(mp.forward(x, ctx).to_vector(), (std::vector<double>{-1, -1, -1, 2}));
    // Ones averaged over 3x3 windows with padding 1 that count padded zeros: corner 4/9,
    // edge 6/9, interior 9/9 (windows at stride 2 over 4x4: rows 0 and 2 of the padded grid).
    x.fill(1.0);
    AvgPool2d ap(3, 2, 1, dt);
    const auto y = ap.forward(x, ctx).to_vector();
    const double want[4] = {4.0 / 9, 6.0 / 9, 6.0 / 9, 9.0 / 9};
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[static_cast<size_t>(i)], want[i], 1e-7);
  }
}

TEST(PoolBackend, F32MatchesF64ReferenceInBothLayouts) {
  // Max pooling moves values exactly (error 0 unless an argmax differs); averages sum <= 9 terms.
  Context ctx;
  for (bool cl : {false, true})
    for (auto [k, s, p] : kPools) {
      MaxPool2d mr(k, s, p, DType::F64), mf(k, s, p, DType::F32);
      compare_backends(mr, mf, randn({4, 8, 9, 9}, DType::F32, 61), cl, ctx, 1e-6, "maxpool");
      AvgPool2d ar(k, s, p, DType::F64), af(k, s, p, DType::F32);
      compare_backends(ar, af, randn({4, 8, 9, 9}, DType::F32, 62), cl, ctx, 1e-6, "avgpool");
    }
  GlobalAvgPool gr(DType::F64), gf(DType::F32);
  compare_backends(gr, gf, randn({4, 8, 5, 5}, DType::F32, 63), true, ctx, 1e-6, "gap");
}

TEST(GradAccumulation, BackwardTwiceDoublesParameterGrads) {
  for (DType dt : {DType::F64, DType::F32}) {
    std::vector<std::unique_ptr<Module>> ms;
    ms.push_back(make_conv(kConvs[0], dt));
    ms.push_back(std::make_unique<BatchNorm2d>(3, 1e-5, 0.1, dt));
    for (auto& m : ms) {
      init_params(*m, 3);
      zero_grads(*m);
      Context ctx;
      const Tensor x = randn(kConvs[0].x, dt, 71);
      const Tensor y = m->forward(x, ctx);
      Tensor g = empty_like(y);
      g.copy_from(randn(y.shape(), dt, 72));
      m->backward(g, ctx);
      std::map<std::string, Tensor> once;
      m->for_each_param([&](const std::string& n, Param& p) { once[n] = p.grad.clone(); });
      m->backward(g, ctx);
      m->for_each_param([&](const std::string& n, Param& p) {
        Tensor twice = once[n].clone();
        backend::ops_for(twice).scale(2.0, twice);
        EXPECT_LT(normalized_error(p.grad, twice), 1e-6) << m->type() << " " << n;
        EXPECT_GT(std::abs(get_flat(once[n], 0)), 0.0) << m->type() << " " << n;
      });
    }
  }
}

// BatchNorm2d with fuse_relu (a ResNet's BN + ReLU in one pass). Finite differences in double,
// same step and tolerance as above; the inputs are chosen so that no pre-activation lies within
// 1e-3 of ReLU's kink (checked with an unfused twin), so a step of 1e-6 never crosses it.
TEST(BatchNormReluGrad, FusedFiniteDifferencesAwayFromTheKink) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    BatchNorm2d fused(3, 1e-5, 0.1, DType::F64, true), plain(3, 1e-5, 0.1, DType::F64);
    randomise_bn(fused, 41);
    randomise_bn(plain, 41);
    const Tensor x = randn({4, 3, 3, 2}, DType::F64, 42, 2.0);
    Context ctx;
    ctx.training = training;
    const Tensor pre = plain.forward(x, ctx);
    double closest = 1e9;
    for (double v : pre.to_vector()) closest = std::min(closest, std::abs(v));
    ASSERT_GT(closest, 1e-3) << "test input too close to the ReLU kink";
    int clipped = 0;
    for (double v : pre.to_vector()) clipped += v < 0;
    EXPECT_GT(clipped, 0);  // the ReLU really clips something
    EXPECT_EQ(check_gradients(fused, x, ctx, kFd), 0);
  }
}

TEST(BatchNormReluBackend, FusedEqualsBatchNormThenReluAndF32MatchesF64) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    BatchNorm2d ref(8, 1e-5, 0.1, DType::F64, true), fast(8, 1e-5, 0.1, DType::F32, true),
        plain(8, 1e-5, 0.1, DType::F32);
    randomise_bn(ref, 51);
    copy_params(ref, fast);
    copy_params(ref, plain);
    const Tensor x64 = channels_last(randn({4, 8, 5, 5}, DType::F64, 52, 2.0));
    const Tensor x32 = channels_last(x64.to(DType::F32));
    Context ctx;
    ctx.training = training;
    const Tensor y = fast.forward(x32, ctx).clone();
    EXPECT_LT(normalized_error(y, ref.forward(x64, ctx)), 1e-6);
    // fused == relu(unfused) elementwise
    const auto p = plain.forward(x32, ctx).to_vector(), f = y.to_vector();
    for (size_t i = 0; i < p.size(); ++i) ASSERT_NEAR(f[i], std::max(p[i], 0.0), 1e-6) << i;
    const Tensor g64 = channels_last(randn({4, 8, 5, 5}, DType::F64, 53));
    const Tensor g32 = channels_last(g64.to(DType::F32));
    for (Param* q : {&ref.weight(), &ref.bias(), &fast.weight(), &fast.bias()}) q->grad.zero();
    EXPECT_LT(normalized_error(fast.backward(g32, ctx), ref.backward(g64, ctx)), 1e-5);
    EXPECT_LT(normalized_error(fast.weight().grad, ref.weight().grad), 1e-5);
    EXPECT_LT(normalized_error(fast.bias().grad, ref.bias().grad), 1e-5);
  }
}

TEST(AddRelu, MatchesAddThenReluAndItsBackward) {
  for (DType dt : {DType::F64, DType::F32}) {
    auto& ops = backend::ops_for(Device::CPU, dt);
    const Tensor a = channels_last(randn({2, 3, 4, 5}, dt, 61)),
                 b = channels_last(randn({2, 3, 4, 5}, dt, 62));
    Tensor y = empty_like(a), dx = empty_like(a);
    ops.add_relu(a, b, y);
    const auto av = a.to_vector(), bv = b.to_vector(), yv = y.to_vector();
    for (size_t i = 0; i < yv.size(); ++i) {
      // The sum rounded to the tensor's precision, exactly as the op computes it.
      const double sum = dt == DType::F32 ? static_cast<float>(av[i] + bv[i]) : av[i] + bv[i];
      ASSERT_EQ(yv[i], std::max(0.0, sum)) << i;
    }
    const Tensor dy = channels_last(randn({2, 3, 4, 5}, dt, 63));
    ops.relu_backward(y, dy, dx);
    const auto dyv = dy.to_vector(), dxv = dx.to_vector();
    for (size_t i = 0; i < dxv.size(); ++i) ASSERT_EQ(dxv[i], yv[i] > 0 ? dyv[i] : 0.0);
  }
}

// A residual block's last batch norm with the shortcut sum and ReLU (forward_add_relu) is
// relu(bn(x) + r), and its backward gives the shortcut the gradient through the ReLU and x the
// batch norm's backward of that, in training and eval mode. (On the CPU it is composed; a GPU
// fuses it, CudaBf16Activations.BatchNormAddReluMatchesTheCpu.)
TEST(BatchNormAddRelu, IsBatchNormThenAddReluWithBothGradients) {
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "eval");
    BatchNorm2d res(6, 1e-5, 0.1, DType::F64), plain(6, 1e-5, 0.1, DType::F64);
    randomise_bn(res, 71);
    copy_params(res, plain);
    const Tensor x = channels_last(randn({3, 6, 4, 4}, DType::F64, 72, 2.0));
    const Tensor r = channels_last(randn({3, 6, 4, 4}, DType::F64, 73));
    const Tensor dy = channels_last(randn({3, 6, 4, 4}, DType::F64, 74));
    Context ctx;
    ctx.training = training;
    const std::vector<double> y = res.forward_add_relu(x, r, ctx).to_vector();
    const std::vector<double> h = plain.forward(x, ctx).to_vector(), rv = r.to_vector();
    int clipped = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      ASSERT_EQ(y[i], std::max(0.0, h[i] + rv[i])) << i;
      clipped += y[i] == 0.0;
    }
    EXPECT_GT(clipped, 0);  // the ReLU clips something, so the mask matters below
    EXPECT_LT(clipped, static_cast<int>(y.size()));
    Tensor dr;
    const std::vector<double> dx = res.backward_add_relu(dy, ctx, &dr).to_vector();
    const std::vector<double> drv = dr.to_vector(), dyv = dy.to_vector();
    for (size_t i = 0; i < drv.size(); ++i) ASSERT_EQ(drv[i], y[i] > 0 ? dyv[i] : 0.0) << i;
    EXPECT_EQ(dx, plain.backward(dr, ctx).to_vector());
    EXPECT_EQ(res.weight().grad.to_vector(), plain.weight().grad.to_vector());
    EXPECT_EQ(res.bias().grad.to_vector(), plain.bias().grad.to_vector());
  }
}
