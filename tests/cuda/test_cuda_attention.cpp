// The fused attention kernels (kernels/attention.cu) against a double-precision reference of what
// they compute: S = scale Q K^T + mask_bias[b, key], O = softmax(S) V, lse = logsumexp(S), and
// the backward dQ, dK, dV for a given dO. The inputs are the heads of (B, T, H dh) buffers, as a
// Linear's output is, with T not a multiple of the tiles, dh = 64 and a padded dh = 40, and a
// padding mask (-10000, as BERT's) on the last keys of one sequence. fp32 to ~1e-5 (the kernels
// compute in fp32); bf16 (inputs and outputs rounded) to bf16's rounding. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "attention.cuh"
#include "backend/op_timing.hpp"
#include "backend/transfer.hpp"
#include "core/dtype.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "nn/attention.hpp"
#include "nn/module.hpp"

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

struct Reference {
  std::vector<double> o, lse, dq, dk, dv;
};

Reference reference(const Problem& p, const std::vector<float>& q, const std::vector<float>& k,
                    const std::vector<float>& v, const std::vector<float>& mask,
                    const std::vector<float>& dout, double scale) {
  Reference r;
  r.o.assign(static_cast<size_t>(p.n()), 0.0);
  r.dq = r.dk = r.dv = r.o;
  r.lse.assign(static_cast<size_t>(p.b * p.h * p.t), 0.0);
  const auto T = static_cast<size_t>(p.t);
  std::vector<double> s(T * T), pr(T * T), dp(T * T);
  for (int64_t bi = 0; bi < p.b; ++bi)
    for (int64_t hi = 0; hi < p.h; ++hi) {
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
            acc += pr[size_t(i) * T + size_t(j)] * v[size_t(p.at(bi, hi, j, d))];
          r.o[size_t(p.at(bi, hi, i, d))] = acc;
        }
      }
      // dP = dO V^T; dS = P (dP - rowsum(dP P)); dQ = scale dS K; dK = scale dS^T Q; dV = P^T dO.
      for (int64_t i = 0; i < p.t; ++i) {
        double row = 0;
        for (int64_t j = 0; j < p.t; ++j) {
          double acc = 0;
          for (int64_t d = 0; d < p.dh; ++d)
            acc += double(dout[size_t(p.at(bi, hi, i, d))]) * v[size_t(p.at(bi, hi, j, d))];
          dp[size_t(i) * T + size_t(j)] = acc;
          row += acc * pr[size_t(i) * T + size_t(j)];
        }
        for (int64_t j = 0; j < p.t; ++j) {
          const double ds = pr[size_t(i) * T + size_t(j)] * (dp[size_t(i) * T + size_t(j)] - row);
          for (int64_t d = 0; d < p.dh; ++d) {
            r.dq[size_t(p.at(bi, hi, i, d))] += scale * ds * k[size_t(p.at(bi, hi, j, d))];
            r.dk[size_t(p.at(bi, hi, j, d))] += scale * ds * q[size_t(p.at(bi, hi, i, d))];
            r.dv[size_t(p.at(bi, hi, j, d))] +=
                pr[size_t(i) * T + size_t(j)] * dout[size_t(p.at(bi, hi, i, d))];
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

void check(const Problem& p, DType dt, double tol) {
  SCOPED_TRACE(::testing::Message() << "B " << p.b << " H " << p.h << " T " << p.t << " dh " << p.dh
                                    << (dt == DType::BF16 ? " bf16" : " f32"));
  std::vector<float> q = randn(p.n(), 1), k = randn(p.n(), 2), v = randn(p.n(), 3);
  std::vector<float> dout = randn(p.n(), 4);
  if (dt == DType::BF16) q = rounded(q), k = rounded(k), v = rounded(v), dout = rounded(dout);
  std::vector<float> mask(static_cast<size_t>(p.b * p.t), 0.0f);
  for (int64_t j = p.t - 5; j < p.t; ++j) mask[size_t((p.b - 1) * p.t + j)] = -10000.0f;
  const double scale = 1.0 / std::sqrt(static_cast<double>(p.dh));
  const Reference want = reference(p, q, k, v, mask, dout, scale);

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
  if (dt == DType::F32) {
    auto f = [](const Tensor& t) { return static_cast<float*>(t.raw()); };
    ASSERT_EQ(kernels::launch_attention_forward_f32(f(gq), f(gk), f(gv), m, p.b, p.h, p.t, p.dh, fs,
                                                    st, f(go), f(lse), nullptr),
              cudaSuccess);
    ASSERT_EQ(kernels::launch_attention_backward_f32(f(gq), f(gk), f(gv), m, f(go), f(gdo), f(lse),
                                                     p.b, p.h, p.t, p.dh, fs, st, f(delta), f(gdq),
                                                     f(gdk), f(gdv), nullptr),
              cudaSuccess);
  } else {
    auto f = [](const Tensor& t) { return static_cast<__nv_bfloat16*>(t.raw()); };
    ASSERT_EQ(
        kernels::launch_attention_forward_bf16(f(gq), f(gk), f(gv), m, p.b, p.h, p.t, p.dh, fs, st,
                                               f(go), static_cast<float*>(lse.raw()), nullptr),
        cudaSuccess);
    ASSERT_EQ(
        kernels::launch_attention_backward_bf16(
            f(gq), f(gk), f(gv), m, f(go), f(gdo), static_cast<const float*>(lse.raw()), p.b, p.h,
            p.t, p.dh, fs, st, static_cast<float*>(delta.raw()), f(gdq), f(gdk), f(gdv), nullptr),
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
  if (const std::string why = backend::device_unavailable(Device::CUDA); !why.empty())
    GTEST_SKIP() << why;
  check({2, 3, 37, 64}, DType::F32, 1e-5);
  check({1, 2, 70, 40}, DType::F32, 1e-5);
}

TEST(CudaAttention, FusedKernelsInBf16StayWithinItsRounding) {
  if (const std::string why = backend::device_unavailable(Device::CUDA); !why.empty())
    GTEST_SKIP() << why;
  // Inputs are the bf16 values themselves; what remains is P and the outputs rounded to bf16.
  check({2, 3, 37, 64}, DType::BF16, 2e-2);
}

// The reference itself (runs everywhere): its gradients against central differences of
// L = sum(O * dO), so that a failure of the GPU tests above is the kernels'.
TEST(CudaAttention, ReferenceGradientsMatchFiniteDifferences) {
  const Problem p{1, 2, 5, 3};
  std::vector<float> q = randn(p.n(), 5), k = randn(p.n(), 6), v = randn(p.n(), 7);
  const std::vector<float> dout = randn(p.n(), 8);
  std::vector<float> mask(static_cast<size_t>(p.t), 0.0f);
  mask.back() = -10000.0f;
  const double scale = 0.7;
  const Reference r = reference(p, q, k, v, mask, dout, scale);
  auto loss = [&] {
    const Reference x = reference(p, q, k, v, mask, dout, scale);
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

// SelfAttention in inference mode on the GPU takes the fused kernel (the op timings show
// attention.inference and no softmax) and gives the CPU layer's output; in training mode it
// composes gemm and softmax as before. A backward after an inference forward is refused.
TEST(CudaAttention, SelfAttentionInferenceUsesTheFusedKernel) {
  if (const std::string why = backend::device_unavailable(Device::CUDA); !why.empty())
    GTEST_SKIP() << why;
  const int64_t b = 3, t = 21, hidden = 64, heads = 4;
  std::vector<int32_t> mask(static_cast<size_t>(b * t), 1);
  for (int64_t j = t - 6; j < t; ++j) mask[static_cast<size_t>(t + j)] = 0;  // sequence 1 padded
  const Tensor x = Tensor::from(randn(b * t * hidden, 31), {b, t, hidden});

  nn::SelfAttention cpu(hidden, heads, 0.1, 1, DType::F32);
  nn::init_params(cpu, 41);
  cpu.set_mask(Tensor::from(mask, {b, t}));
  nn::Context eval;
  eval.training = false;
  const std::vector<double> want = cpu.forward(x, eval).to_vector();

  std::unique_ptr<nn::SelfAttention> gpu;
  {
    const nn::DeviceScope on_gpu(Device::CUDA);
    gpu = std::make_unique<nn::SelfAttention>(hidden, heads, 0.1, 1, DType::F32);
  }
  nn::init_params(*gpu, 41);  // drawn on the host: the same values
  gpu->set_mask(Tensor::from(mask, {b, t}));
  const Tensor gx = backend::to_device(x, Device::CUDA);
  (void)backend::take_op_timings();
  backend::set_op_timing(true);
  const Tensor y = gpu->forward(gx, eval);
  backend::set_op_timing(false);
  bool fused = false, softmax = false;
  for (const auto& r : backend::take_op_timings()) {
    fused = fused || r.name == "attention.inference";
    softmax = softmax || r.name.rfind("softmax", 0) == 0;
  }
  EXPECT_TRUE(fused) << "the fused kernel was not used";
  EXPECT_FALSE(softmax);
  EXPECT_LT(error(y.to_vector(), want), 1e-5);

  nn::Context train;  // dropout active: the composed path, and backward works
  const Tensor yt = gpu->forward(gx, train);
  EXPECT_NO_THROW(gpu->backward(yt, train));
  (void)gpu->forward(gx, eval);
  EXPECT_THROW(gpu->backward(yt, eval), Error);
}
