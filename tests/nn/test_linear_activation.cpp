// Linear, ReLU, GELU, Sequential and Flatten: finite-difference gradients in double; the f32
// backend (oneDNN) against the f64 reference by normalised error.
#include <gtest/gtest.h>

#include "nn/activation.hpp"
#include "nn/linear.hpp"
#include "nn/sequential.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::nn;
using namespace win::testing_nn;
using backend::Eltwise;

TEST(LinearGrad, FiniteDifferencesInDouble) {
  // step 1e-6, rtol 1e-6: a smooth function of its inputs, so central differences are exact to
  // about h^2 * |f'''| + eps/h ~ 1e-10.
  Linear l(7, 5, true, DType::F64);
  init_params(l, 3);
  Context ctx;
  EXPECT_EQ(check_gradients(l, randn({4, 7}, DType::F64, 1), ctx), 0);
  Linear nb(6, 3, false, DType::F64);
  init_params(nb, 4);
  EXPECT_EQ(check_gradients(nb, randn({2, 3, 6}, DType::F64, 2), ctx), 0);  // leading dims
}

TEST(ActivationGrad, GeluAndTanhFiniteDifferences) {
  for (Eltwise k : {Eltwise::Gelu, Eltwise::Tanh}) {
    Activation act(k, DType::F64);
    Context ctx;
    EXPECT_EQ(check_gradients(act, randn({3, 11}, DType::F64, 5), ctx), 0) << act.type();
  }
}

TEST(ActivationGrad, ReluFiniteDifferencesAwayFromTheKink) {
  // Inputs at least 0.1 from 0 while h = 1e-6: the kink is never straddled.
  Tensor x = randn({4, 9}, DType::F64, 6);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double v = get_flat(x, i);
    set_flat(x, i, v >= 0 ? v + 0.1 : v - 0.1);
  }
  Activation relu(Eltwise::Relu, DType::F64);
  Context ctx;
  EXPECT_EQ(check_gradients(relu, x, ctx), 0);
}

TEST(SequentialGrad, MlpFiniteDifferences) {
  Sequential s(DType::F64);
  s.add(std::make_unique<Linear>(5, 8, true, DType::F64));
  s.add(std::make_unique<Activation>(Eltwise::Gelu, DType::F64));
  s.add(std::make_unique<Linear>(8, 3, true, DType::F64));
  init_params(s, 9);
  Context ctx;
  EXPECT_EQ(check_gradients(s, randn({6, 5}, DType::F64, 7), ctx), 0);
}

// The f32 backend against the f64 reference on the same weights and inputs: outputs and every
// gradient within 1e-5 normalised error (f32 has 24 bits; these products sum <= 64 terms).
TEST(LinearBackend, F32MatchesF64Reference) {
  Linear ref(64, 48, true, DType::F64), fast(64, 48, true, DType::F32);
  init_params(ref, 11);
  copy_params(ref, fast);
  const Tensor x64 = randn({33, 64}, DType::F64, 12);
  const Tensor x32 = x64.to(DType::F32);
  Context ctx;
  const Tensor y64 = ref.forward(x64, ctx).clone(), y32 = fast.forward(x32, ctx).clone();
  EXPECT_LT(normalized_error(y32, y64), 1e-5);
  const Tensor g = randn(y64.shape(), DType::F64, 13);
  ref.weight().grad.zero();
  ref.bias()->grad.zero();
  fast.weight().grad.zero();
  fast.bias()->grad.zero();
  const Tensor dx64 = ref.backward(g, ctx).clone();
  const Tensor dx32 = fast.backward(g.to(DType::F32), ctx).clone();
  EXPECT_LT(normalized_error(dx32, dx64), 1e-5);
  EXPECT_LT(normalized_error(fast.weight().grad, ref.weight().grad), 1e-5);
  EXPECT_LT(normalized_error(fast.bias()->grad, ref.bias()->grad), 1e-5);
}

TEST(ActivationBackend, F32MatchesF64ReferenceOnChannelsLast) {
  for (Eltwise k : {Eltwise::Relu, Eltwise::Gelu, Eltwise::Tanh}) {
    Activation ref(k, DType::F64), fast(k, DType::F32);
    Tensor x64 = empty_channels_last({2, 5, 3, 4}, DType::F64);
    x64.copy_from(randn({2, 5, 3, 4}, DType::F64, 21));
    Tensor x32 = empty_channels_last({2, 5, 3, 4}, DType::F32);
    x32.copy_from(x64);
    Context ctx;
    const Tensor y32 = fast.forward(x32, ctx);
    EXPECT_EQ(y32.strides(), x32.strides());  // layout preserved
    EXPECT_LT(normalized_error(y32, ref.forward(x64, ctx)), 1e-6);
    Tensor g32 = empty_channels_last({2, 5, 3, 4}, DType::F32);
    const Tensor g64 = randn({2, 5, 3, 4}, DType::F64, 22);
    g32.copy_from(g64);
    EXPECT_LT(normalized_error(fast.backward(g32, ctx), ref.backward(g64, ctx)), 1e-6);
  }
}

TEST(Flatten, KeepsPyTorchOrderForChannelsLastInput) {
  Flatten f(DType::F32);
  Tensor x = empty_channels_last({2, 3, 2, 2}, DType::F32);
  Tensor logical = Tensor::empty({2, 3, 2, 2}, DType::F32);
  for (int64_t i = 0; i < 24; ++i) set_flat(logical, i, static_cast<double>(i));
  x.copy_from(logical);
  Context ctx;
  const Tensor y = f.forward(x, ctx);
  EXPECT_EQ(y.shape(), (Dims{2, 12}));
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(get_flat(y, i), static_cast<double>(i));
  EXPECT_EQ(f.backward(y, ctx).shape(), (Dims{2, 3, 2, 2}));
}

// Linear with fuse_relu: finite differences in double away from ReLU's kink (step 1e-6, rtol 1e-6:
// inputs are checked to keep every pre-activation at least 1e-3 from 0), equality with
// Linear then ReLU, and the f32 oneDNN matmul epilogue against the f64 reference.
TEST(LinearReluGrad, FusedFiniteDifferencesAwayFromTheKink) {
  Linear fused(7, 5, true, DType::F64, true), plain(7, 5, true, DType::F64);
  init_params(fused, 31);
  copy_params(fused, plain);
  const Tensor x = randn({6, 7}, DType::F64, 32);
  Context ctx;
  double closest = 1e9;
  int clipped = 0;
  for (double v : plain.forward(x, ctx).to_vector()) {
    closest = std::min(closest, std::abs(v));
    clipped += v < 0;
  }
  ASSERT_GT(closest, 1e-3);
  EXPECT_GT(clipped, 0);
  EXPECT_EQ(check_gradients(fused, x, ctx), 0);
}

TEST(LinearReluBackend, F32FusedMatchesF64AndUnfused) {
  Linear ref(96, 40, true, DType::F64, true), fast(96, 40, true, DType::F32, true);
  Linear plain(96, 40, true, DType::F32);
  init_params(ref, 33);
  copy_params(ref, fast);
  copy_params(ref, plain);
  const Tensor x64 = randn({50, 96}, DType::F64, 34);
  const Tensor x32 = x64.to(DType::F32);
  Context ctx;
  const Tensor y = fast.forward(x32, ctx).clone();
  EXPECT_LT(normalized_error(y, ref.forward(x64, ctx)), 1e-5);
  const auto p = plain.forward(x32, ctx).to_vector(), f = y.to_vector();
  for (size_t i = 0; i < f.size(); ++i) ASSERT_NEAR(f[i], std::max(p[i], 0.0), 1e-5) << i;
  const Tensor g = randn({50, 40}, DType::F64, 35);
  for (Linear* l : {&ref, &fast}) {
    l->weight().grad.zero();
    l->bias()->grad.zero();
  }
  EXPECT_LT(normalized_error(fast.backward(g.to(DType::F32), ctx), ref.backward(g, ctx)), 1e-5);
  EXPECT_LT(normalized_error(fast.weight().grad, ref.weight().grad), 1e-5);
  EXPECT_LT(normalized_error(fast.bias()->grad, ref.bias()->grad), 1e-5);
}
