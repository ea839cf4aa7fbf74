// bf16 activations on the GPU (precision.hpp: bf16 precision with set_bf16_activations): the ops
// a ResNet runs on bf16 tensors (conversion, convolution with fp32 weights, channels-last batch
// norm with and without the fused ReLU, max pooling, the residual sums, global average pooling)
// against the CPU's f32 ops on the same bf16-rounded values, and a whole small ResNet step against
// the CPU's f32 step. bf16 keeps 8 significant bits, so outputs are held to a few bf16 roundings
// (normalised error ~1e-2) and statistics, which are summed in double from the same values, to
// fp32's. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backend/op_timing.hpp"
#include "backend/ops.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "bf16_testing.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "models/resnet.hpp"
#include "nn/batchnorm.hpp"
#include "nn/loss.hpp"
#include "nn/module.hpp"
#include "parity_testing.hpp"
#include "skip_without_gpu.hpp"

using namespace win;
using namespace win::testing_bf16;
using parity::host_randn;

namespace {

// bf16 precision with bf16 activations for one test, restored after.
struct Bf16Activations {
  backend::ScopedPrecision precision{backend::Precision::Bf16};
  Bf16Activations() { backend::set_bf16_activations(true); }
  ~Bf16Activations() { backend::set_bf16_activations(false); }
};

// Host f32 normal(0, std) values already rounded to bf16 (so both backends see the same inputs).
Tensor rounded_randn(const Dims& shape, uint64_t seed, double std = 1.0) {
  Tensor t = Tensor::empty(shape, DType::F32);
  const Philox rng(seed, 3);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] =
        static_cast<float>(bf16(static_cast<float>(rng.normal(0, static_cast<uint64_t>(i)) * std)));
  return t;
}

Tensor to_cpu(const Tensor& t) {
  return backend::to_device(t, Device::CPU);
}

double error(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to_vector(), b = want.to_vector();
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    m = std::max(m, std::abs(b[i]));
  }
  return d / std::max(m, 1e-30);
}

Tensor ones_times(int64_t n, float v) {
  Tensor t = Tensor::empty({n}, DType::F32);
  for (int64_t i = 0; i < n; ++i) t.data<float>()[i] = v;
  return t;
}

Tensor channels_last_copy(const Tensor& t) {
  Tensor c = empty_channels_last(t.shape(), t.dtype());
  c.copy_from(t);
  return c;
}

backend::Ops& cpu() {
  return backend::ops_for(Device::CPU, DType::F32);
}
backend::Ops& gpu() {
  return backend::ops_for(Device::CUDA, DType::F32);
}

}  // namespace

// Rounding to bf16 on the GPU is the CPU's rounding (nearest even), and widening is exact, also
// into another layout.
TEST(CudaBf16Activations, ConvertRoundsAsTheCpu) {
  SKIP_WITHOUT_GPU();
  const Tensor x = host_randn({3, 5, 4, 7}, 1);
  Tensor want = Tensor::empty(x.shape(), DType::BF16);
  cpu().convert(x, want);
  const Tensor g = gpu_bf16(x, true);  // NCHW f32 -> NHWC bf16
  EXPECT_EQ(to_cpu(g).to_vector(), want.to_vector());
  Allocator& a = backend::device_allocator(Device::CUDA);
  Tensor back = Tensor::empty(x.shape(), DType::F32, a);  // NHWC bf16 -> NCHW f32
  gpu().convert(g, back);
  Tensor want_back = Tensor::empty(x.shape(), DType::F32);
  cpu().convert(want, want_back);
  EXPECT_EQ(to_cpu(back).to_vector(), want_back.to_vector());
}

TEST(CudaBf16Activations, BatchNormMatchesTheCpuOnTheSameValues) {
  SKIP_WITHOUT_GPU();
  // 32 channels take the 4-wide accesses, 6 the one-at-a-time path.
  for (const Dims& shape : {Dims{6, 32, 5, 7}, Dims{4, 6, 5, 5}})
    for (const bool relu : {false, true}) {
      SCOPED_TRACE(::testing::Message() << shape << (relu ? " fused ReLU" : " plain"));
      const int64_t c = shape[1];
      const Tensor x = rounded_randn(shape, 2, 2.0), dy = rounded_randn(shape, 3);
      const Tensor gamma = host_randn({c}, 4), beta = host_randn({c}, 5);
      Tensor rm = host_randn({c}, 6), rv = ones_times(c, 1.5);
      Tensor mean = Tensor::empty({c}, DType::F32), var = Tensor::empty({c}, DType::F32);
      Tensor y = Tensor::empty(shape, DType::F32), dx = Tensor::empty(shape, DType::F32);
      Tensor dg = Tensor::zeros({c}, DType::F32), db = Tensor::zeros({c}, DType::F32);
      auto ref = cpu().batchnorm(relu);
      ref->forward_train(x, gamma, beta, 1e-5, 0.1, rm, rv, mean, var, y);
      ref->backward(x, y, dy, gamma, mean, var, 1e-5, dx, dg, db);

      auto on = [](const Tensor& t) { return backend::to_device(t, Device::CUDA); };
      Allocator& a = backend::device_allocator(Device::CUDA);
      const Tensor gx = gpu_bf16(x, true), gdy = gpu_bf16(dy, true);
      Tensor grm = on(host_randn({c}, 6)), grv = on(ones_times(c, 1.5));
      Tensor gmean = Tensor::empty({c}, DType::F32, a), gvar = Tensor::empty({c}, DType::F32, a);
      Tensor gy = empty_channels_last(shape, DType::BF16, a);
      Tensor gdx = empty_channels_last(shape, DType::BF16, a);
      Tensor gdg = on(Tensor::zeros({c}, DType::F32)), gdb = on(Tensor::zeros({c}, DType::F32));
      auto op = gpu().batchnorm(relu);
      op->forward_train(gx, on(gamma), on(beta), 1e-5, 0.1, grm, grv, gmean, gvar, gy);
      op->backward(gx, gy, gdy, on(gamma), gmean, gvar, 1e-5, gdx, gdg, gdb);
      EXPECT_LT(error(to_cpu(gmean), mean), 1e-5) << "mean";
      EXPECT_LT(error(to_cpu(gvar), var), 1e-5) << "var";
      EXPECT_LT(error(to_cpu(grm), rm), 1e-5) << "running mean";
      EXPECT_LT(error(to_cpu(grv), rv), 1e-5) << "running var";
      EXPECT_LT(error(host_f32(gy), y), 1e-2) << "y";  // y rounded to bf16 once
      EXPECT_LT(error(host_f32(gdx), dx), 2e-2) << "dx";
      EXPECT_LT(error(to_cpu(gdg), dg), 1e-4) << "dgamma";
      EXPECT_LT(error(to_cpu(gdb), db), 1e-5) << "dbeta";
    }
}

// The fused residual form (batch norm, shortcut sum and ReLU in one pass; the shortcut's gradient
// written by the dx pass) against the CPU's composition, in f32 and in bf16, through the layer.
TEST(CudaBf16Activations, BatchNormAddReluMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  for (const DType dt : {DType::F32, DType::BF16}) {
    SCOPED_TRACE(dtype_name(dt));
    const double tol = dt == DType::F32 ? 1e-5 : 2e-2;
    const Dims shape{6, 16, 5, 5};
    const Tensor x = rounded_randn(shape, 31, 2.0), r = rounded_randn(shape, 32);
    const Tensor dy = rounded_randn(shape, 33);
    nn::BatchNorm2d cpu_bn(16);
    std::unique_ptr<nn::BatchNorm2d> gpu_bn;
    {
      const nn::DeviceScope on_gpu(Device::CUDA);
      gpu_bn = std::make_unique<nn::BatchNorm2d>(16);
    }
    nn::init_params(cpu_bn, 34);
    nn::init_params(*gpu_bn, 34);
    nn::Context ctx;
    const Tensor y = cpu_bn.forward_add_relu(channels_last_copy(x), channels_last_copy(r), ctx);
    Tensor dr;
    const Tensor dx = cpu_bn.backward_add_relu(channels_last_copy(dy), ctx, &dr);

    // Channels-last on the GPU in both dtypes: the fused op takes packed NHWC tensors only.
    auto put = [&](const Tensor& t) { return gpu_as(t, dt, true); };
    (void)backend::take_op_timings();
    backend::set_op_timing(true);
    const Tensor gy = gpu_bn->forward_add_relu(put(x), put(r), ctx);
    Tensor gdr;
    const Tensor gdx = gpu_bn->backward_add_relu(put(dy), ctx, &gdr);
    backend::set_op_timing(false);
    bool fused = false;
    for (const auto& t : backend::take_op_timings())
      fused = fused || t.name == "batchnorm.forward_train_add_relu";
    EXPECT_TRUE(fused) << "the fused op did not run";
    EXPECT_LT(error(host_f32(gy), y), tol) << "y";
    EXPECT_LT(error(host_f32(gdr), dr), tol) << "shortcut gradient";
    EXPECT_LT(error(host_f32(gdx), dx), 2 * tol) << "dx";
    EXPECT_LT(error(to_cpu(gpu_bn->weight().grad), cpu_bn.weight().grad), 10 * tol) << "dgamma";
    EXPECT_LT(error(to_cpu(gpu_bn->bias().grad), cpu_bn.bias().grad), 10 * tol) << "dbeta";
    EXPECT_LT(error(to_cpu(gpu_bn->running_var()), cpu_bn.running_var()), 1e-5) << "running var";
  }
}

TEST(CudaBf16Activations, ConvolutionWithFp32WeightsMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  const backend::ScopedPrecision bf16(backend::Precision::Bf16);
  // 3x3 (weights repacked before rounding) and 1x1 (rounded in place).
  for (const int64_t k : {int64_t{3}, int64_t{1}}) {
    SCOPED_TRACE(::testing::Message() << "kernel " << k);
    const backend::Conv2dDesc d{k, k, 1, k / 2};
    const Dims xs{4, 16, 9, 9}, ws{24, 16, k, k}, ys{4, 24, 9, 9};
    const Tensor x = rounded_randn(xs, 7), w = rounded_randn(ws, 8, 0.2);
    const Tensor dy = rounded_randn(ys, 9);
    Tensor y = Tensor::empty(ys, DType::F32), dx = Tensor::empty(xs, DType::F32);
    Tensor dw = host_randn(ws, 10);  // accumulated into
    Tensor dw0 = dw.clone();
    auto ref = cpu().conv2d(d);
    ref->forward(x, w, Tensor(), y);
    ref->backward_data(dy, w, dx);
    Tensor no_bias;
    ref->backward_weights(x, dy, dw, no_bias);

    Allocator& a = backend::device_allocator(Device::CUDA);
    const Tensor gx = gpu_bf16(x, true), gdy = gpu_bf16(dy, true);
    const Tensor gw = backend::to_device(w, Device::CUDA);  // fp32 KCRS, as a parameter
    Tensor gdw = backend::to_device(dw0, Device::CUDA);
    Tensor gy = empty_channels_last(ys, DType::BF16, a);
    Tensor gdx = empty_channels_last(xs, DType::BF16, a);
    auto op = gpu().conv2d(d);
    op->forward(gx, gw, Tensor(), gy);
    op->backward_data(gdy, gw, gdx);
    op->backward_weights(gx, gdy, gdw, no_bias);
    EXPECT_LT(error(host_f32(gy), y), 1e-2) << "y";
    EXPECT_LT(error(host_f32(gdx), dx), 1e-2) << "dx";
    EXPECT_LT(error(to_cpu(gdw), dw), 1e-2) << "dw (accumulated)";
    // The gradient really accumulated: not just the start, not just the new part.
    EXPECT_GT(error(to_cpu(gdw), dw0), 1e-2);
  }
}

TEST(CudaBf16Activations, PoolingAndResidualOpsMatchTheCpu) {
  SKIP_WITHOUT_GPU();
  const Dims shape{3, 8, 6, 6};
  const Tensor a = rounded_randn(shape, 11), b = rounded_randn(shape, 12);
  Allocator& al = backend::device_allocator(Device::CUDA);
  const Tensor ga = gpu_bf16(a, true), gb = gpu_bf16(b, true);

  Tensor s = Tensor::empty(shape, DType::F32), gs = empty_channels_last(shape, DType::BF16, al);
  cpu().add_relu(a, b, s);
  gpu().add_relu(ga, gb, gs);
  EXPECT_LT(error(host_f32(gs), s), 1e-2) << "add_relu";
  Tensor g = Tensor::empty(shape, DType::F32), gg = empty_channels_last(shape, DType::BF16, al);
  cpu().relu_backward(s, b, g);
  gpu().relu_backward(gs, gb, gg);
  EXPECT_EQ(host_f32(gg).to_vector(), g.to_vector()) << "relu_backward (a mask: exact)";
  cpu().add(a, b, s);
  gpu().add(ga, gb, gs);
  EXPECT_LT(error(host_f32(gs), s), 1e-2) << "add";

  Tensor m = Tensor::empty({3, 8}, DType::F32), gm = Tensor::empty({3, 8}, DType::F32, al);
  cpu().global_avg_pool(a, m);
  gpu().global_avg_pool(ga, gm);
  EXPECT_LT(error(to_cpu(gm), m), 1e-6) << "global_avg_pool (f32 out)";
  const Tensor dm = host_randn({3, 8}, 13);
  Tensor dxa = Tensor::empty(shape, DType::F32), gdxa = empty_channels_last(shape, DType::BF16, al);
  cpu().global_avg_pool_backward(dm, dxa);
  gpu().global_avg_pool_backward(backend::to_device(dm, Device::CUDA), gdxa);
  EXPECT_LT(error(host_f32(gdxa), dxa), 1e-2) << "global_avg_pool_backward";

  // Max pooling on distinct values, so that no window has a tie, where backends may route the
  // gradient differently.
  const Dims qs{2, 4, 6, 6};
  const Tensor q = distinct_sixteenths(qs, 15);
  const Tensor gq = gpu_bf16(q, true);
  const backend::Pool2dDesc pd{backend::Pool2dDesc::Kind::Max, 3, 2, 1};
  const Dims ps{2, 4, 3, 3};
  Tensor p = Tensor::empty(ps, DType::F32), gp = empty_channels_last(ps, DType::BF16, al);
  auto ref = cpu().pool2d(pd);
  auto op = gpu().pool2d(pd);
  ref->forward(q, p);
  op->forward(gq, gp);
  EXPECT_EQ(host_f32(gp).to_vector(), p.to_vector()) << "max pool (a selection: exact)";
  const Tensor dp = rounded_randn(ps, 14);
  Tensor dpa = Tensor::empty(qs, DType::F32), gdpa = empty_channels_last(qs, DType::BF16, al);
  ref->backward(q, p, dp, dpa);
  op->backward(gq, gp, gpu_bf16(dp, true), gdpa);
  EXPECT_LT(error(host_f32(gdpa), dpa), 1e-2) << "max pool backward";
}

// A whole training step of a small ResNet (bottleneck blocks, projection shortcuts, the small
// stem) on the GPU with bf16 activations against the CPU's f32 step from the same weights and
// batch: the loss and every parameter gradient. The GPU in fp32 first, against the same CPU step
// to fp32 tolerance, so that a failure below is the bf16 path's.
//
// The bf16 gradients are held to the f32 ones by direction (cosine >= 0.97 each), not
// elementwise: this small network's gradients are sums that cancel (batch norm over 16 x 3 x 3
// values), so one bf16 rounding of the input image alone moves them by up to 15% of their
// largest element on the CPU, and the whole bf16 path by up to 25% (measured on the CUDA
// emulator, test_cuda_host_emu), while their cosines stay at 0.98 and above. A wrong layout, a
// missing term or a lost gradient turns a cosine far below that; the elementwise bound (0.5)
// only catches gross outliers.
TEST(CudaBf16Activations, ResNetStepMatchesTheCpuToBf16Rounding) {
  SKIP_WITHOUT_GPU();
  config::ResNetConfig c;
  c.layers = {1, 1};
  c.base_width = 8;
  c.stem = "small";
  c.image_size = 12;
  const Tensor x = host_randn({16, 3, 12, 12}, 21);
  Tensor labels = Tensor::empty({16}, DType::I32);
  for (int64_t i = 0; i < 16; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % 5);

  // loss and gradients (by name) of one step of a model built on `device`
  auto step = [&](Device device) {
    std::unique_ptr<models::Model> m;
    {
      const nn::DeviceScope scope(device);
      m = models::build_resnet(c, 5, DType::F32);
    }
    nn::init_params(*m, 22);
    nn::Context ctx;
    nn::CrossEntropyLoss ce;
    const nn::LossOutput l = ce(m->forward(backend::to_device(x, device), ctx), labels);
    m->backward(l.grad, ctx);
    std::vector<std::pair<std::string, Tensor>> grads;
    m->for_each_param(
        [&](const std::string& name, nn::Param& p) { grads.emplace_back(name, to_cpu(p.grad)); });
    return std::make_pair(l.loss, grads);
  };
  const auto want = step(Device::CPU);
  auto compare = [&](const auto& got, double loss_tol, double grad_tol) {
    EXPECT_NEAR(got.first, want.first, loss_tol * std::abs(want.first)) << "loss";
    ASSERT_EQ(got.second.size(), want.second.size());
    for (size_t i = 0; i < want.second.size(); ++i)
      EXPECT_LT(error(got.second[i].second, want.second[i].second), grad_tol)
          << want.second[i].first;
  };
  {
    SCOPED_TRACE("fp32 on the GPU");
    compare(step(Device::CUDA), 1e-5, 1e-3);
  }
  {
    SCOPED_TRACE("bf16 activations on the GPU");
    const Bf16Activations on;
    (void)backend::take_op_timings();
    backend::set_op_timing(true);
    const auto got = step(Device::CUDA);
    backend::set_op_timing(false);
    std::vector<backend::OpTiming> detailed;
    (void)backend::take_op_timings(&detailed);
    bool bf16_conv = false;
    for (const auto& r : detailed)
      bf16_conv = bf16_conv || r.name.find(" bf16") != std::string::npos;
    EXPECT_TRUE(bf16_conv) << "no convolution ran on bf16 activations";
    compare(got, 2e-2, 0.5);
    for (size_t i = 0; i < want.second.size(); ++i) {
      const auto a = got.second[i].second.to_vector(), b = want.second[i].second.to_vector();
      double ab = 0, aa = 0, bb = 0;
      for (size_t j = 0; j < a.size(); ++j) {
        ab += a[j] * b[j];
        aa += a[j] * a[j];
        bb += b[j] * b[j];
      }
      EXPECT_GE(ab / std::sqrt(aa * bb), 0.97) << want.second[i].first << ": gradient direction";
    }
  }
}
