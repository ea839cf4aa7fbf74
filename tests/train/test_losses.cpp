// Losses of the op table (cross-entropy, MSE, Hinton KL) and the nn loss objects: finite-difference
// gradients in double, known values, f32 (the CPU backend's loops) against the f64 reference, and
// bit-identical reductions for 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backend/ops.hpp"
#include "core/parallel.hpp"
#include "nn/loss.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::testing_nn;
using backend::Ops;

namespace {

constexpr int64_t kIgnore = -100;

Ops& f64() {
  return backend::ops_for(Device::CPU, DType::F64);
}
Ops& f32() {
  return backend::ops_for(Device::CPU, DType::F32);
}

Tensor labels_of(const std::vector<int32_t>& v) {
  return Tensor::from(v, {static_cast<int64_t>(v.size())});
}

// Labels in [0, c) from a fixed pattern, with every `ignore_every`-th row ignored (0: none).
Tensor make_labels(int64_t n, int64_t c, int64_t ignore_every) {
  std::vector<int32_t> v;
  for (int64_t i = 0; i < n; ++i)
    v.push_back(ignore_every > 0 && i % ignore_every == 1 ? static_cast<int32_t>(kIgnore)
                                                          : static_cast<int32_t>((i * 7 + 3) % c));
  return labels_of(v);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// Softmax of row i of x / temp, in double, written independently of the library.
std::vector<double> softmax_row(const Tensor& x, int64_t i, double temp) {
  const int64_t c = x.size(1);
  std::vector<double> p(static_cast<size_t>(c));
  double m = -INFINITY, s = 0;
  for (int64_t j = 0; j < c; ++j) m = std::max(m, x.at<double>({i, j}) / temp);
  for (int64_t j = 0; j < c; ++j)
    s += p[static_cast<size_t>(j)] = std::exp(x.at<double>({i, j}) / temp - m);
  for (auto& v : p) v /= s;
  return p;
}

}  // namespace

// ---- finite differences in double: step 1e-6, rtol 1e-6, atol 1e-9 (smooth functions, central
// differences are exact to ~h^2 |f'''| + eps/h ~ 1e-10) ----------------------------------------

TEST(LossGrad, CrossEntropyFiniteDifferencesWithIgnoredRows) {
  const Tensor x = randn({7, 5}, DType::F64, 1, 2.0);
  const Tensor labels = make_labels(7, 5, 3);  // rows 1 and 4 ignored
  Tensor g = Tensor::empty(x.shape(), DType::F64), scratch = Tensor::empty(x.shape(), DType::F64);
  const auto r = f64().cross_entropy(x, labels, kIgnore, 1.0, g);
  EXPECT_EQ(r.counted, 5);
  auto f = [&](const Tensor& xp) {
    return f64().cross_entropy(xp, labels, kIgnore, 1.0, scratch).loss;
  };
  EXPECT_EQ(check_function_gradient(f, x, g, {}, "logits"), 0);
}

TEST(LossGrad, MseFiniteDifferences) {
  const Tensor x = randn({4, 3, 5}, DType::F64, 2), t = randn({4, 3, 5}, DType::F64, 3);
  Tensor g = Tensor::empty(x.shape(), DType::F64), scratch = Tensor::empty(x.shape(), DType::F64);
  f64().mse(x, t, 1.0, g);
  auto f = [&](const Tensor& xp) { return f64().mse(xp, t, 1.0, scratch); };
  EXPECT_EQ(check_function_gradient(f, x, g, {}, "x"), 0);
}

TEST(LossGrad, KlDivFiniteDifferencesAtTemperatures1And4) {
  const Tensor s = randn({5, 6}, DType::F64, 4, 2.0), t = randn({5, 6}, DType::F64, 5, 2.0);
  for (double temp : {1.0, 4.0}) {
    Tensor g = Tensor::empty(s.shape(), DType::F64), scratch = Tensor::empty(s.shape(), DType::F64);
    f64().kl_div(s, t, temp, 1.0, g);
    auto f = [&](const Tensor& sp) { return f64().kl_div(sp, t, temp, 1.0, scratch); };
    EXPECT_EQ(check_function_gradient(f, s, g, {}, "student"), 0) << "T = " << temp;
  }
}

TEST(LossGrad, GradScaleMultipliesTheGradientOnly) {
  const Tensor x = randn({6, 4}, DType::F64, 6);
  const Tensor labels = make_labels(6, 4, 0);
  Tensor g1 = Tensor::empty(x.shape(), DType::F64), g3 = Tensor::empty(x.shape(), DType::F64);
  const auto r1 = f64().cross_entropy(x, labels, kIgnore, 1.0, g1);
  const auto r3 = f64().cross_entropy(x, labels, kIgnore, 3.0, g3);
  EXPECT_EQ(r1.loss, r3.loss);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(get_flat(g3, i), 3 * get_flat(g1, i), 1e-15);
}

// ---- known values --------------------------------------------------------------------------

TEST(LossValues, CrossEntropyOfUniformLogitsIsLogC) {
  const Tensor x = Tensor::zeros({8, 10}, DType::F64);
  const Tensor labels = make_labels(8, 10, 0);
  Tensor g = Tensor::empty(x.shape(), DType::F64);
  const auto r = f64().cross_entropy(x, labels, kIgnore, 1.0, g);
  EXPECT_NEAR(r.loss, std::log(10.0), 1e-15);
  EXPECT_EQ(r.counted, 8);
  // Gradient (1/C - onehot) / N.
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 10; ++j)
      EXPECT_NEAR(g.at<double>({i, j}), (0.1 - (j == labels.at<int32_t>({i}) ? 1.0 : 0.0)) / 8.0,
                  1e-16);
}

TEST(LossValues, CrossEntropyWithIgnoredRowsEqualsCrossEntropyOverKeptRows) {
  const Tensor x = randn({9, 6}, DType::F64, 7, 3.0);
  const Tensor labels = make_labels(9, 6, 3);  // rows 1, 4, 7 ignored
  std::vector<int64_t> kept;
  std::vector<int32_t> kept_labels;
  for (int64_t i = 0; i < 9; ++i)
    if (labels.at<int32_t>({i}) != kIgnore) {
      kept.push_back(i);
      kept_labels.push_back(labels.at<int32_t>({i}));
    }
  Tensor xk = Tensor::empty({static_cast<int64_t>(kept.size()), 6}, DType::F64);
  for (size_t k = 0; k < kept.size(); ++k)
    xk.select(0, static_cast<int64_t>(k)).copy_from(x.select(0, kept[k]));
  Tensor g = Tensor::empty(x.shape(), DType::F64), gk = Tensor::empty(xk.shape(), DType::F64);
  g.fill(7.0);  // overwritten, ignored rows included
  const auto r = f64().cross_entropy(x, labels, kIgnore, 1.0, g);
  const auto rk = f64().cross_entropy(xk, labels_of(kept_labels), kIgnore, 1.0, gk);
  EXPECT_EQ(r.counted, 6);
  EXPECT_NEAR(r.loss, rk.loss, 1e-14);
  EXPECT_EQ(r.correct, rk.correct);
  for (size_t k = 0; k < kept.size(); ++k)
    for (int64_t j = 0; j < 6; ++j)
      EXPECT_NEAR(g.at<double>({kept[k], j}), gk.at<double>({static_cast<int64_t>(k), j}), 1e-16);
  for (int64_t i : {1, 4, 7})
    for (int64_t j = 0; j < 6; ++j) EXPECT_EQ(g.at<double>({i, j}), 0.0);
}

TEST(LossValues, CrossEntropyCountsCorrectRowsAndIsStableForHugeLogits) {
  // Rows: argmax 2 (label 2: correct), argmax 0 (label 1: wrong), ignored, argmax 1 of a tie
  // broken towards the first maximum (label 1: correct), huge logits.
  const Tensor x =
      Tensor::from<double>({0, 1, 5, 4, 2, 0, 9, 9, 9, 0, 3, 3, 1000, 0, -1000}, {5, 3});
  const Tensor labels = labels_of({2, 1, static_cast<int32_t>(kIgnore), 1, 1});
  Tensor g = Tensor::empty(x.shape(), DType::F64);
  const auto r = f64().cross_entropy(x, labels, kIgnore, 1.0, g);
  EXPECT_EQ(r.counted, 4);
  EXPECT_EQ(r.correct, 2);
  const double row0 = std::log(1 + std::exp(-5.0) + std::exp(-4.0));
  const double row1 = 2 + std::log(1 + std::exp(-2.0) + std::exp(-4.0));
  const double row3 = std::log(1 + 1 + std::exp(-3.0));
  const double row4 = 1000 + std::log(1 + std::exp(-1000.0));
  EXPECT_NEAR(r.loss, (row0 + row1 + row3 + row4) / 4, 1e-12);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_TRUE(std::isfinite(get_flat(g, i)));
}

TEST(LossValues, CrossEntropyWithEveryRowIgnoredIsZero) {
  const Tensor x = randn({3, 4}, DType::F64, 8);
  const Tensor labels = labels_of({-100, -100, -100});
  Tensor g = Tensor::empty(x.shape(), DType::F64);
  g.fill(1.0);
  const auto r = f64().cross_entropy(x, labels, kIgnore, 1.0, g);
  EXPECT_EQ(r.loss, 0.0);
  EXPECT_EQ(r.counted, 0);
  for (int64_t i = 0; i < g.numel(); ++i) EXPECT_EQ(get_flat(g, i), 0.0);
}

TEST(LossValues, BadLabelIsADataErrorNamingTheRow) {
  for (Ops* ops : {&f64(), &f32()}) {
    const DType dt = ops == &f64() ? DType::F64 : DType::F32;
    const Tensor x = randn({5, 4}, dt, 9);
    Tensor g = Tensor::empty(x.shape(), dt);
    for (int32_t bad : {4, -1}) {
      const Tensor labels = labels_of({0, 1, 2, bad, 3});
      try {
        ops->cross_entropy(x, labels, kIgnore, 1.0, g);
        ADD_FAILURE() << "label " << bad << " accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::Data);
        EXPECT_NE(std::string(e.what()).find("row 3"), std::string::npos) << e.what();
      }
    }
  }
}

TEST(LossValues, KlDivOfIdenticalLogitsIsZero) {
  const Tensor s = randn({6, 7}, DType::F64, 10, 3.0);
  Tensor g = Tensor::empty(s.shape(), DType::F64);
  EXPECT_EQ(f64().kl_div(s, s, 4.0, 1.0, g), 0.0);
  for (int64_t i = 0; i < g.numel(); ++i) EXPECT_EQ(get_flat(g, i), 0.0);
}

TEST(LossValues, KlDivMatchesTheDefinition) {
  const Tensor s = randn({4, 5}, DType::F64, 11, 2.0), t = randn({4, 5}, DType::F64, 12, 2.0);
  for (double temp : {1.0, 4.0}) {
    double want = 0;
    for (int64_t i = 0; i < 4; ++i) {
      const auto p = softmax_row(t, i, temp), q = softmax_row(s, i, temp);
      for (size_t j = 0; j < p.size(); ++j) want += p[j] * std::log(p[j] / q[j]);
    }
    want *= temp * temp / 4;
    Tensor g = Tensor::empty(s.shape(), DType::F64);
    EXPECT_NEAR(f64().kl_div(s, t, temp, 1.0, g), want, 1e-14 * std::max(1.0, want));
    // dL/ds = T (q - p) / N.
    for (int64_t i = 0; i < 4; ++i) {
      const auto p = softmax_row(t, i, temp), q = softmax_row(s, i, temp);
      for (int64_t j = 0; j < 5; ++j)
        EXPECT_NEAR(g.at<double>({i, j}), temp * (q[j] - p[j]) / 4, 1e-15);
    }
  }
}

TEST(LossValues, MseValueAndGradient) {
  const Tensor x = Tensor::from<double>({1, 2, 3, 4}, {2, 2});
  const Tensor t = Tensor::from<double>({0, 2, 5, 1}, {2, 2});
  Tensor g = Tensor::empty(x.shape(), DType::F64);
  EXPECT_DOUBLE_EQ(f64().mse(x, t, 1.0, g), (1.0 + 0 + 4 + 9) / 4);
  EXPECT_EQ(g.to_vector(), (std::vector<double>{0.5, 0, -1, 1.5}));  // 2 (x - t) / 4
}

TEST(LossValues, StridedInputsGiveTheSameResultsAsContiguous) {
  // The reference's any-stride path against the contiguous one: transposed (C, N) storage.
  const Tensor xt = randn({6, 9}, DType::F64, 13), tt = randn({6, 9}, DType::F64, 14);
  const Tensor x = xt.transpose(0, 1), t = tt.transpose(0, 1);  // (9, 6), column stride 9
  const Tensor xc = x.contiguous(), tc = t.contiguous();
  const Tensor labels = make_labels(9, 6, 4);
  Tensor gs = Tensor::empty({6, 9}, DType::F64).transpose(0, 1);
  Tensor gc = Tensor::empty({9, 6}, DType::F64);
  EXPECT_NEAR(f64().cross_entropy(x, labels, kIgnore, 1.0, gs).loss,
              f64().cross_entropy(xc, labels, kIgnore, 1.0, gc).loss, 1e-14);
  EXPECT_LT(normalized_error(gs, gc), 1e-14);
  EXPECT_NEAR(f64().kl_div(x, t, 2.0, 1.0, gs), f64().kl_div(xc, tc, 2.0, 1.0, gc), 1e-14);
  EXPECT_LT(normalized_error(gs, gc), 1e-14);
  EXPECT_NEAR(f64().mse(x, t, 1.0, gs), f64().mse(xc, tc, 1.0, gc), 1e-14);
  EXPECT_LT(normalized_error(gs, gc), 1e-14);
}

// ---- f32 (the CPU backend's vectorised loops) against the f64 reference ---------------------
// f32 has 24 bits; the exp polynomial is within 2 ulp: 1e-5 normalised error leaves margin.

TEST(LossBackend, F32MatchesF64Reference) {
  const int64_t n = 64, c = 1000;
  const Tensor x64 = randn({n, c}, DType::F64, 15, 3.0), t64 = randn({n, c}, DType::F64, 16, 3.0);
  const Tensor x32 = x64.to(DType::F32), t32 = t64.to(DType::F32);
  const Tensor labels = make_labels(n, c, 5);
  Tensor g64 = Tensor::empty({n, c}, DType::F64), g32 = Tensor::empty({n, c}, DType::F32);

  const auto r64 = f64().cross_entropy(x64, labels, kIgnore, 1.0, g64);
  const auto r32 = f32().cross_entropy(x32, labels, kIgnore, 1.0, g32);
  EXPECT_NEAR(r32.loss, r64.loss, 1e-5 * r64.loss);
  EXPECT_EQ(r32.counted, r64.counted);
  EXPECT_EQ(r32.correct, r64.correct);
  EXPECT_LT(normalized_error(g32, g64), 1e-5);

  for (double temp : {1.0, 4.0}) {
    const double k64 = f64().kl_div(x64, t64, temp, 1.0, g64);
    const double k32 = f32().kl_div(x32, t32, temp, 1.0, g32);
    EXPECT_NEAR(k32, k64, 1e-5 * k64) << "T = " << temp;
    EXPECT_LT(normalized_error(g32, g64), 1e-5) << "T = " << temp;
  }

  const double m64 = f64().mse(x64, t64, 1.0, g64);
  const double m32 = f32().mse(x32, t32, 1.0, g32);
  EXPECT_NEAR(m32, m64, 1e-6 * m64);
  EXPECT_LT(normalized_error(g32, g64), 1e-6);
}

// ---- determinism: per-row / fixed-chunk partial sums, added in order ------------------------

class LossThreads : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = num_threads(); }
  void TearDown() override { set_num_threads(saved_); }
  int saved_ = 1;
};

TEST_F(LossThreads, ReductionsAreBitIdenticalFor1And2Threads) {
  const int64_t n = 4096, c = 1000;
  const Tensor x = randn({n, c}, DType::F32, 17, 4.0), t = randn({n, c}, DType::F32, 18, 4.0);
  const Tensor labels = make_labels(n, c, 7);
  Tensor g[2] = {Tensor::empty({n, c}, DType::F32), Tensor::empty({n, c}, DType::F32)};
  double ce[2], kl[2], mse[2];
  int64_t correct[2];
  for (int k = 0; k < 2; ++k) {
    set_num_threads(k + 1);
    const auto r = f32().cross_entropy(x, labels, kIgnore, 1.0, g[k]);
    ce[k] = r.loss;
    correct[k] = r.correct;
  }
  EXPECT_EQ(std::memcmp(&ce[0], &ce[1], sizeof(double)), 0) << ce[0] << " vs " << ce[1];
  EXPECT_EQ(correct[0], correct[1]);
  EXPECT_TRUE(same_bits(g[0], g[1]));
  for (int k = 0; k < 2; ++k) {
    set_num_threads(k + 1);
    kl[k] = f32().kl_div(x, t, 4.0, 1.0, g[k]);
  }
  EXPECT_EQ(std::memcmp(&kl[0], &kl[1], sizeof(double)), 0) << kl[0] << " vs " << kl[1];
  EXPECT_TRUE(same_bits(g[0], g[1]));
  for (int k = 0; k < 2; ++k) {
    set_num_threads(k + 1);
    mse[k] = f32().mse(x, t, 1.0, g[k]);
  }
  EXPECT_EQ(std::memcmp(&mse[0], &mse[1], sizeof(double)), 0) << mse[0] << " vs " << mse[1];
  EXPECT_TRUE(same_bits(g[0], g[1]));
}

// ---- the nn loss objects --------------------------------------------------------------------

TEST(LossObjects, ReuseTheirGradientBufferAndAgreeWithTheOps) {
  const Tensor x = randn({8, 5}, DType::F32, 19), t = randn({8, 5}, DType::F32, 20);
  const Tensor labels = make_labels(8, 5, 3);
  Tensor g = Tensor::empty(x.shape(), DType::F32);
  nn::CrossEntropyLoss ce;
  const auto a = ce(x, labels);
  const void* first = a.grad.raw();
  const auto b = ce(x, labels, 2.0);
  EXPECT_EQ(b.grad.raw(), first);
  const auto r = f32().cross_entropy(x, labels, kIgnore, 2.0, g);
  EXPECT_EQ(b.loss, r.loss);
  EXPECT_EQ(b.counted, r.counted);
  EXPECT_EQ(b.correct, r.correct);
  EXPECT_TRUE(same_bits(b.grad, g));

  nn::KlDivLoss kd(4.0);
  const auto k = kd(x, t);
  EXPECT_EQ(k.loss, f32().kl_div(x, t, 4.0, 1.0, g));
  EXPECT_TRUE(same_bits(k.grad, g));

  nn::MseLoss mse;
  const auto m = mse(x, t);
  EXPECT_EQ(m.loss, f32().mse(x, t, 1.0, g));
  EXPECT_TRUE(same_bits(m.grad, g));
}
