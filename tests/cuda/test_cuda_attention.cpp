// The fused attention kernels (kernels/attention.cu, and attention_tc.cu on tensor cores) against a
// double-precision reference of what they compute: S = scale Q K^T + mask_bias[b, key], P =
// softmax(S), D = P * keep / (1 - p), O = D V, lse = logsumexp(S), and the backward dQ, dK, dV for
// a given dO, with and without a dropout mask. The inputs are the heads of (B, T, H dh) buffers, as
// a Linear's output is, with T not a multiple of the tiles, dh = 64 and a padded dh = 40, and a
// padding mask (-10000, as BERT's) on the last keys of one sequence. fp32 to ~1e-5 (the kernels
// compute in fp32); bf16 (inputs and outputs rounded) to bf16's rounding. Then SelfAttention on the
// GPU, which takes the kernels in inference and in training (dropout drawn as the CPU's Dropout
// draws it), against the CPU layer. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attention.cuh"
#include "attention_tc.cuh"
#include "backend/op_timing.hpp"
#include "backend/precision.hpp"
#include "backend/transfer.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "dropout.cuh"
#include "nn/attention.hpp"
#include "nn/module.hpp"
#include "skip_without_gpu.hpp"

using namespace win;

namespace {

struct Problem {
  int64_t b, h, t, dh;
  int64_t n() const { return b * t * h * dh; }
  // Element (batch, head, row, d) of a dense (B, T, H dh) buffer.
  int64_t at(int64_t bi, int64_t hi, int64_t r, int64_t d) const {
    return ((bi * t + r) * h + hi) * dh + d;
  }
};

std::vector<float> randn(int64_t n, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  const Philox rng(seed, 11);
  for (size_t i = 0; i < v.size(); ++i) v[i] = rng.normal(0, i);
  return v;
}

// A (B, H, T, T) mask keeping about 90%.
std::vector<uint8_t> keep_mask(const Problem& p, uint64_t seed) {
  std::vector<uint8_t> m(static_cast<size_t>(p.b * p.h * p.t * p.t));
  const Philox rng(seed, 12);
  for (size_t i = 0; i < m.size(); ++i) m[i] = rng.normal(0, i) > -1.2816 ? 1 : 0;
  return m;
}

struct Reference {
  std::vector<double> o, lse, dq, dk, dv;
};

// keep: (B, H, T, T) dropout mask with probability p, or empty for no dropout.
Reference reference(const Problem& p, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<float>& mask,
                    const std::vector<float>& dout, double scale,
                    const std::vector<uint8_t>& keep = {}, double drop_p = 0.0) {
  Reference r;
  r.o.assign(static_cast<size_t>(p.n()), 0.0);
  r.dq = r.dk = r.dv = r.o;
  r.lse.assign(static_cast<size_t>(p.b * p.h * p.t), 0.0);
  const auto T = static_cast<size_t>(p.t);
  std::vector<double> s(T * T), pr(T * T), dp(T * T), f(T * T, 1.0);
  for (int64_t bi = 0; bi < p.b; ++bi)
    for (int64_t hi = 0; hi < p.h; ++hi) {
      // f: the dropout factor keep / (1 - p) of each probability of this head
      if (!keep.empty())
        for (size_t ij = 0; ij < T * T; ++ij)
          f[ij] = keep[size_t(bi * p.h + hi) * T * T + ij] ? 1.0 / (1.0 - drop_p) : 0.0;
      for (int64_t i = 0; i < p.t; ++i) {
        double mx = -INFINITY;
        for (int64_t j = 0; j < p.t; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < p.dh; ++d)
            dot += double(q[size_t(p.at(bi, hi, i, d))]) * k[size_t(p.at(bi, hi, j, d))];
          s[size_t(i) * T + size_t(j)] = scale * dot + mask[size_t(bi * p.t + j)];
          mx = std::max(mx, s[size_t(i) * T + size_t(j)]);
        }
        double z = 0;
        for (int64_t j = 0; j < p.t; ++j) z += std::exp(s[size_t(i) * T + size_t(j)] - mx);
        r.lse[size_t((bi * p.h + hi) * p.t + i)] = mx + std::log(z);
        for (int64_t j = 0; j < p.t; ++j)
          pr[size_t(i) * T + size_t(j)] = std::exp(s[size_t(i) * T + size_t(j)] - mx) / z;
        for (int64_t d = 0; d < p.dh; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < p.t; ++j)
            acc += pr[size_t(i) * T + size_t(j)] * f[size_t(i) * T + size_t(j)] *
                   v[size_t(p.at(bi, hi, j, d))];
          r.o[size_t(p.at(bi, hi, i, d))] = acc;
        }
      }
      // dD = dO V^T, dP = dD f; dS = P (dP - rowsum(dP P)); dQ = scale dS K; dK = scale dS^T Q;
      // dV = D^T dO.
      for (int64_t i = 0; i < p.t; ++i) {
        double row = 0;
        for (int64_t j = 0; j < p.t; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < p.dh; ++d)
            acc += double(dout[size_t(p.at(bi, hi, i, d))]) * v[size_t(p.at(bi, hi, j, d))];
          dp[size_t(i) * T + size_t(j)] = acc * f[size_t(i) * T + size_t(j)];
          row += dp[size_t(i) * T + size_t(j)] * pr[size_t(i) * T + size_t(j)];
        }
        for (int64_t j = 0; j < p.t; ++j) {
          const double ds = pr[size_t(i) * T + size_t(j)] * (dp[size_t(i) * T + size_t(j)] - row);
          for (int64_t d = 0; d < p.dh; ++d) {
            r.dq[size_t(p.at(bi, hi, i, d))] += scale * ds * k[size_t(p.at(bi, hi, j, d))];
            r.dk[size_t(p.at(bi, hi, j, d))] += scale * ds * q[size_t(p.at(bi, hi, i, d))];
            r.dv[size_t(p.at(bi, hi, j, d))] += pr[size_t(i) * T + size_t(j)] *
                                                f[size_t(i) * T + size_t(j)] *
                                                dout[size_t(p.at(bi, hi, i, d))];
          }
        }
      }
    }
  return r;
}

// max |a - b| / max |b|
double error(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    m = std::max(m, std::abs(b[i]));
  }
  return d / std::max(m, 1e-30);
}

// Host floats rounded to bf16 (the inputs the bf16 kernels see), as floats.
std::vector<float> rounded(const std::vector<float>& x) {
  std::vector<float> r(x.size());
  for (size_t i = 0; i < x.size(); ++i) r[i] = static_cast<float>(bf16(x[i]));
  return r;
}

Tensor on_gpu(const std::vector<float>& x, DType dt) {
  const Tensor h = Tensor::from(x, {static_cast<int64_t>(x.size())});
  return backend::to_device(dt == DType::F32 ? h : h.to(dt), Device::CUDA);
}

// tensor_cores: attention_tc.cuh's kernels, given bf16 values as inputs (so that only their
// rounding of P and dS is left).
void check(const Problem& p, DType dt, double tol, double drop_p = 0.0, bool tensor_cores = false) {
  SCOPED_TRACE(::testing::Message() << "B " << p.b << " H " << p.h << " T " << p.t << " dh " << p.dh
                                    << (dt == DType::BF16 ? " bf16" : " f32") << " dropout "
                                    << drop_p << (tensor_cores ? " tensor cores" : ""));
  std::vector<float> q = randn(p.n(), 1), k = randn(p.n(), 2), v = randn(p.n(), 3);
  std::vector<float> dout = randn(p.n(), 4);
  if (dt == DType::BF16 || tensor_cores)
    q = rounded(q), k = rounded(k), v = rounded(v), dout = rounded(dout);
  std::vector<float> mask(static_cast<size_t>(p.b * p.t), 0.0f);
  for (int64_t j = p.t - 5; j < p.t; ++j) mask[size_t((p.b - 1) * p.t + j)] = -10000.0f;
  const double scale = 1.0 / std::sqrt(static_cast<double>(p.dh));
  const std::vector<uint8_t> keep = drop_p > 0.0 ? keep_mask(p, 9) : std::vector<uint8_t>{};
  const Reference want = reference(p, q, k, v, mask, dout, scale, keep, drop_p);

  Allocator& a = backend::device_allocator(Device::CUDA);
  const Tensor gq = on_gpu(q, dt), gk = on_gpu(k, dt), gv = on_gpu(v, dt), gdo = on_gpu(dout, dt);
  const Tensor gmask = on_gpu(mask, DType::F32);
  Tensor go = Tensor::empty({p.n()}, dt, a), gdq = Tensor::empty({p.n()}, dt, a);
  Tensor gdk = Tensor::empty({p.n()}, dt, a), gdv = Tensor::empty({p.n()}, dt, a);
  Tensor lse = Tensor::empty({p.b * p.h * p.t}, DType::F32, a);
  Tensor delta = Tensor::empty({p.b * p.h * p.t}, DType::F32, a);
  const kernels::AttentionStrides st = kernels::attention_strides_bthd(p.h, p.t, p.dh);
  const auto fs = static_cast<float>(scale);
  auto* m = static_cast<const float*>(gmask.raw());
  Tensor gkeep;
  if (!keep.empty())
    gkeep =
        backend::to_device(Tensor::from(keep, {static_cast<int64_t>(keep.size())}), Device::CUDA);
  auto* kp = keep.empty() ? nullptr : static_cast<const uint8_t*>(gkeep.raw());
  if (dt == DType::F32) {
    auto f = [](const Tensor& t) { return static_cast<float*>(t.raw()); };
    const auto forward = tensor_cores ? kernels::launch_attention_tc_forward_f32
                                      : kernels::launch_attention_forward_f32;
    const auto backward = tensor_cores ? kernels::launch_attention_tc_backward_f32
                                       : kernels::launch_attention_backward_f32;
    ASSERT_EQ(forward(f(gq), f(gk), f(gv), m, kp, drop_p, p.b, p.h, p.t, p.dh, fs, st, f(go),
                      f(lse), nullptr),
              cudaSuccess);
    ASSERT_EQ(backward(f(gq), f(gk), f(gv), m, kp, drop_p, f(go), f(gdo), f(lse), p.b, p.h, p.t,
                       p.dh, fs, st, f(delta), f(gdq), f(gdk), f(gdv), nullptr),
              cudaSuccess);
  } else {
    auto f = [](const Tensor& t) { return static_cast<__nv_bfloat16*>(t.raw()); };
    const auto forward = tensor_cores ? kernels::launch_attention_tc_forward_bf16
                                      : kernels::launch_attention_forward_bf16;
    const auto backward = tensor_cores ? kernels::launch_attention_tc_backward_bf16
                                       : kernels::launch_attention_backward_bf16;
    ASSERT_EQ(forward(f(gq), f(gk), f(gv), m, kp, drop_p, p.b, p.h, p.t, p.dh, fs, st, f(go),
                      static_cast<float*>(lse.raw()), nullptr),
              cudaSuccess);
    ASSERT_EQ(backward(f(gq), f(gk), f(gv), m, kp, drop_p, f(go), f(gdo),
                       static_cast<const float*>(lse.raw()), p.b, p.h, p.t, p.dh, fs, st,
                       static_cast<float*>(delta.raw()), f(gdq), f(gdk), f(gdv), nullptr),
              cudaSuccess);
  }
  EXPECT_LT(error(go.to_vector(), want.o), tol) << "O";
  EXPECT_LT(error(lse.to_vector(), want.lse), 1e-5) << "lse";
  EXPECT_LT(error(gdq.to_vector(), want.dq), tol) << "dQ";
  EXPECT_LT(error(gdk.to_vector(), want.dk), tol) << "dK";
  EXPECT_LT(error(gdv.to_vector(), want.dv), tol) << "dV";
}

}  // namespace

TEST(CudaAttention, FusedKernelsMatchADoubleReferenceInFp32) {
  SKIP_WITHOUT_GPU();
  check({2, 3, 37, 64}, DType::F32, 1e-5);
  check({1, 2, 70, 40}, DType::F32, 1e-5);
}

TEST(CudaAttention, FusedKernelsInBf16StayWithinItsRounding) {
  SKIP_WITHOUT_GPU();
  // Inputs are the bf16 values themselves; what remains is P and the outputs rounded to bf16.
  check({2, 3, 37, 64}, DType::BF16, 2e-2);
}

// The mask-only dropout launcher (what the fused attention's mask comes from) writes the bits
// Ops::dropout writes on the CPU, at an offset that is not a multiple of a Philox block.
TEST(CudaAttention, DropoutMaskMatchesTheCpuDropout) {
  SKIP_WITHOUT_GPU();
  const int64_t n = 5003;
  const Philox rng(21, 4);
  const uint64_t hi = 9, lo = 4099;
  const Tensor x = Tensor::from(randn(n, 13), {n});
  Tensor mask = Tensor::empty({n}, DType::U8), y = Tensor::empty({n}, DType::F32);
  backend::ops_for(Device::CPU, DType::F32).dropout(x, 0.1, rng, hi, lo, mask, y);
  Tensor gmask = Tensor::empty({n}, DType::U8, backend::device_allocator(Device::CUDA));
  ASSERT_EQ(kernels::launch_dropout_mask(n, 0.1, rng.key()[0], rng.key()[1], hi, lo,
                                         static_cast<uint8_t*>(gmask.raw()), nullptr),
            cudaSuccess);
  const std::vector<double> got = gmask.to_vector(), want = mask.to_vector();
  EXPECT_EQ(got, want);
  EXPECT_NE(std::count(want.begin(), want.end(), 0.0), 0);
}

// The tensor-core kernels (attention_tc.cuh) on the GPU's own wmma: within the rounding of P and
// dS to bf16, which the CPU stand-in of test_cuda_emu measured at 1e-3 to 6e-3 (EmuAttention-
// TensorCores); with bf16 storage, the outputs' rounding on top.
TEST(CudaAttention, TensorCoreKernelsStayWithinBf16Rounding) {
  SKIP_WITHOUT_GPU();
  check({2, 3, 37, 64}, DType::F32, 1.2e-2, 0.0, true);
  check({1, 2, 70, 40}, DType::F32, 1.2e-2, 0.1, true);
  check({2, 2, 130, 128}, DType::F32, 1.2e-2, 0.1, true);
  check({2, 3, 37, 64}, DType::BF16, 2e-2, 0.1, true);
}

TEST(CudaAttention, FusedKernelsWithDropoutMatchADoubleReference) {
  SKIP_WITHOUT_GPU();
  check({2, 3, 37, 64}, DType::F32, 1e-5, 0.1);
  check({1, 2, 70, 40}, DType::F32, 1e-5, 0.1);
  check({2, 3, 37, 64}, DType::BF16, 2e-2, 0.1);
}

// The reference itself (runs everywhere): its gradients against central differences of
// L = sum(O * dO), with and without a dropout mask, so that a failure of the GPU tests above is
// the kernels'.
class ReferenceGradients : public testing::TestWithParam<double> {};

TEST_P(ReferenceGradients, MatchFiniteDifferences) {
  const Problem p{1, 2, 5, 3};
  const double drop_p = GetParam();
  std::vector<float> q = randn(p.n(), 5), k = randn(p.n(), 6), v = randn(p.n(), 7);
  const std::vector<float> dout = randn(p.n(), 8);
  std::vector<float> mask(static_cast<size_t>(p.t), 0.0f);
  mask.back() = -10000.0f;
  const double scale = 0.7;
  std::vector<uint8_t> keep;
  if (drop_p > 0.0) {
    keep = keep_mask(p, 3);
    // Not all kept, not all dropped: the mask must matter.
    ASSERT_NE(std::count(keep.begin(), keep.end(), uint8_t{1}), 0);
    ASSERT_NE(std::count(keep.begin(), keep.end(), uint8_t{0}), 0);
  }
  const Reference r = reference(p, q, k, v, mask, dout, scale, keep, drop_p);
  if (drop_p > 0.0) {  // and the dropped output is not the undropped one
    const Reference plain = reference(p, q, k, v, mask, dout, scale);
    EXPECT_GT(error(r.o, plain.o), 1e-3);
  }
  auto loss = [&] {
    const Reference x = reference(p, q, k, v, mask, dout, scale, keep, drop_p);
    double l = 0;
    for (size_t i = 0; i < x.o.size(); ++i) l += x.o[i] * dout[i];
    return l;
  };
  const float h = 1e-2f;  // float inputs: a large step, the loss is smooth
  auto fd = [&](std::vector<float>& x, size_t i) {
    const float orig = x[i];
    x[i] = orig + h;
    const double lp = loss();
    x[i] = orig - h;
    const double lm = loss();
    x[i] = orig;
    return (lp - lm) / (2.0 * (static_cast<double>(orig + h) - static_cast<double>(orig)));
  };
  for (size_t i = 0; i < q.size(); ++i) {
    EXPECT_NEAR(fd(q, i), r.dq[i], 2e-3) << "dQ " << i;
    EXPECT_NEAR(fd(k, i), r.dk[i], 2e-3) << "dK " << i;
    EXPECT_NEAR(fd(v, i), r.dv[i], 2e-3) << "dV " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(CudaAttention, ReferenceGradients, testing::Values(0.0, 0.3),
                         [](const testing::TestParamInfo<double>& i) {
                           return i.param > 0.0 ? std::string("WithDropout")
                                                : std::string("WithoutDropout");
                         });

namespace {

// The same SelfAttention (attention dropout 0.1) on the CPU and on the GPU: parameters drawn on
// the host from `seed` (the same values), and a padding mask of the last `padded` keys of
// sequence 1.
struct LayerPair {
  std::unique_ptr<nn::SelfAttention> cpu, gpu;
  Tensor mask;  // (B, T) int32, 1 = a key attended to
};
LayerPair layer_pair(int64_t b, int64_t t, int64_t hidden, int64_t heads, int64_t padded,
                     uint64_t seed) {
  std::vector<int32_t> mask(static_cast<size_t>(b * t), 1);
  for (int64_t j = t - padded; j < t; ++j) mask[static_cast<size_t>(t + j)] = 0;
  LayerPair l;
  l.mask = Tensor::from(mask, {b, t});
  l.cpu = std::make_unique<nn::SelfAttention>(hidden, heads, 0.1, 1, DType::F32);
  {
    const nn::DeviceScope on_gpu(Device::CUDA);
    l.gpu = std::make_unique<nn::SelfAttention>(hidden, heads, 0.1, 1, DType::F32);
  }
  for (nn::SelfAttention* layer : {l.cpu.get(), l.gpu.get()}) {
    nn::init_params(*layer, seed);
    layer->set_mask(l.mask);
  }
  return l;
}

}  // namespace

// SelfAttention on the GPU takes the fused kernels (the op timings show attention.* and no
// softmax) in inference and in training, and gives the CPU layer's output; in training, with
// attention dropout 0.1, also its input gradient and parameter gradients, which only agree when
// the fused kernel drops exactly the probabilities the CPU's Dropout drops. A backward after an
// inference forward is refused.
TEST(CudaAttention, SelfAttentionUsesTheFusedKernelsAndMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  const int64_t b = 3, t = 21, hidden = 64, heads = 4;
  const Tensor x = Tensor::from(randn(b * t * hidden, 31), {b, t, hidden});
  const Tensor dy = Tensor::from(randn(b * t * hidden, 32), {b, t, hidden});
  LayerPair layers = layer_pair(b, t, hidden, heads, 6, 41);
  nn::SelfAttention& cpu = *layers.cpu;
  std::unique_ptr<nn::SelfAttention>& gpu = layers.gpu;
  const Tensor gx = backend::to_device(x, Device::CUDA);
  const Tensor gdy = backend::to_device(dy, Device::CUDA);

  // Which ops one call ran on the GPU: fused attention seen, softmax not.
  auto ran_fused = [](const std::function<void()>& call) {
    (void)backend::take_op_timings();
    backend::set_op_timing(true);
    call();
    backend::set_op_timing(false);
    bool fused = false, softmax = false;
    for (const auto& r : backend::take_op_timings()) {
      fused = fused || r.name.rfind("attention.", 0) == 0;
      softmax = softmax || r.name.rfind("softmax", 0) == 0;
    }
    return fused && !softmax;
  };

  nn::Context eval;
  eval.training = false;
  {
    const std::vector<double> want = cpu.forward(x, eval).to_vector();
    Tensor y;
    EXPECT_TRUE(ran_fused([&] { y = gpu->forward(gx, eval); })) << "inference";
    EXPECT_TRUE(gpu->fused());
    EXPECT_LT(error(y.to_vector(), want), 1e-5) << "inference output";
  }

  nn::Context train;  // dropout active, drawn from (rng, step, sample offset)
  train.rng = Philox(77, 3);
  train.step = 5;
  train.sample_offset = 2;
  const std::vector<double> want_y = cpu.forward(x, train).to_vector();
  const std::vector<double> want_dx = cpu.backward(dy, train).to_vector();
  {
    nn::Context no_drop = train;  // the dropout must change the output, or the test proves little
    nn::SelfAttention plain(hidden, heads, 0.0, 1, DType::F32);
    nn::init_params(plain, 41);
    plain.set_mask(layers.mask);
    EXPECT_GT(error(plain.forward(x, no_drop).to_vector(), want_y), 1e-3);
  }
  Tensor y, dx;
  EXPECT_TRUE(ran_fused([&] { y = gpu->forward(gx, train); })) << "training forward";
  EXPECT_TRUE(ran_fused([&] { dx = gpu->backward(gdy, train); })) << "training backward";
  EXPECT_LT(error(y.to_vector(), want_y), 1e-5) << "training output";
  EXPECT_LT(error(dx.to_vector(), want_dx), 1e-5) << "dx";
  std::vector<std::vector<double>> want_grads;
  double scale = 0;  // the layer's largest parameter gradient
  cpu.for_each_param([&](const std::string&, nn::Param& p) {
    want_grads.push_back(p.grad.to_vector());
    for (double g : want_grads.back()) scale = std::max(scale, std::abs(g));
  });
  size_t i = 0;
  gpu->for_each_param([&](const std::string& name, nn::Param& p) {
    ASSERT_LT(i, want_grads.size());
    const std::vector<double> got = p.grad.to_vector();
    if (name == "key.bias") {
      // Exactly zero in exact arithmetic: the key bias adds q_i . b to every score of row i, a
      // shift the softmax ignores (each row of dS sums to 0). Both backends leave rounding
      // noise, which a normalised difference would only compare with itself.
      double most_gpu = 0, most_cpu = 0;
      for (size_t j = 0; j < got.size(); ++j) {
        most_gpu = std::max(most_gpu, std::abs(got[j]));
        most_cpu = std::max(most_cpu, std::abs(want_grads[i][j]));
      }
      EXPECT_LT(most_gpu, 1e-5 * scale) << name << " (GPU)";
      EXPECT_LT(most_cpu, 1e-5 * scale) << name << " (CPU)";
    } else {
      EXPECT_LT(error(got, want_grads[i]), 1e-5) << name;
    }
    ++i;
  });
  EXPECT_EQ(i, want_grads.size());

  (void)gpu->forward(gx, eval);
  EXPECT_THROW(gpu->backward(gdy, eval), Error);
}

// Under run.precision = "bf16" SelfAttention takes the tensor-core kernels (attention.*_tc) in
// training, with dropout, and agrees with the CPU layer to bf16 rounding: the projections round
// their products' operands too (each some 1e-3 relative), so 3e-2 bounds the sum with margin,
// while a wrong mask, dropout or layout moves results by order 1.
TEST(CudaAttention, SelfAttentionUnderBf16TakesTheTensorCoreKernels) {
  SKIP_WITHOUT_GPU();
  const backend::ScopedPrecision bf16(backend::Precision::Bf16);
  const int64_t b = 2, t = 37, hidden = 128, heads = 2;  // dh = 64, as BERT's
  const Tensor x = Tensor::from(randn(b * t * hidden, 33), {b, t, hidden});
  const Tensor dy = Tensor::from(randn(b * t * hidden, 34), {b, t, hidden});
  LayerPair layers = layer_pair(b, t, hidden, heads, 4, 43);
  nn::SelfAttention& cpu = *layers.cpu;
  const std::unique_ptr<nn::SelfAttention>& gpu = layers.gpu;

  nn::Context train;
  train.rng = Philox(78, 3);
  train.step = 2;
  const std::vector<double> want_y = cpu.forward(x, train).to_vector();
  const std::vector<double> want_dx = cpu.backward(dy, train).to_vector();
  (void)backend::take_op_timings();
  backend::set_op_timing(true);
  const Tensor y = gpu->forward(backend::to_device(x, Device::CUDA), train);
  const Tensor dx = gpu->backward(backend::to_device(dy, Device::CUDA), train);
  backend::set_op_timing(false);
  bool forward_tc = false, backward_tc = false;
  for (const auto& r : backend::take_op_timings()) {
    forward_tc = forward_tc || r.name == std::string("attention.forward_tc");
    backward_tc = backward_tc || r.name == std::string("attention.backward_tc");
  }
  EXPECT_TRUE(forward_tc && backward_tc);
  EXPECT_LT(error(y.to_vector(), want_y), 3e-2) << "output";
  EXPECT_LT(error(dx.to_vector(), want_dx), 3e-2) << "dx";
}
