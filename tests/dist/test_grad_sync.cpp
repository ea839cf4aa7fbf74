// GradientSync under mpiexec at 1, 2 and 4 ranks: each rank runs backward on its slice of one
// global batch and averages; every rank must then hold the gradient that one process computes on
// the whole batch (each rank computes that reference itself, so no rank trusts another's
// numbers). In f64 the two differ only by summation order; in f32 by a stated tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "dist/comm.hpp"
#include "nn/activation.hpp"
#include "nn/linear.hpp"
#include "nn/loss.hpp"
#include "nn/param_store.hpp"
#include "nn/sequential.hpp"
#include "train/grad_sync.hpp"

using namespace win;

namespace {

constexpr int64_t kBatch = 12;  // divides by 1, 2, 3 and 4 ranks
constexpr int64_t kIn = 6, kHidden = 5, kClasses = 3;

std::unique_ptr<nn::Sequential> mlp(DType dt) {
  auto m = std::make_unique<nn::Sequential>(dt);
  m->add(std::make_unique<nn::Linear>(kIn, kHidden, true, dt));
  m->add(std::make_unique<nn::Activation>(backend::Eltwise::Tanh, dt));
  m->add(std::make_unique<nn::Linear>(kHidden, kClasses, true, dt));
  nn::init_params(*m, 7);
  return m;
}

// Rows [begin, end) of a fixed global batch: smooth inputs, labels cycling over the classes.
Tensor inputs(DType dt, int64_t begin, int64_t end) {
  Tensor x = Tensor::empty({end - begin, kIn}, dt);
  for (int64_t i = begin; i < end; ++i)
    for (int64_t j = 0; j < kIn; ++j) {
      const double v = std::sin(0.37 * static_cast<double>(i) + 1.3 * static_cast<double>(j));
      if (dt == DType::F64)
        x.at<double>({i - begin, j}) = v;
      else
        x.at<float>({i - begin, j}) = static_cast<float>(v);
    }
  return x;
}
Tensor labels(int64_t begin, int64_t end) {
  std::vector<int32_t> l;
  for (int64_t i = begin; i < end; ++i) l.push_back(static_cast<int32_t>(i % kClasses));
  return Tensor::from(l, {end - begin});
}

// The flat gradient after backward of the mean cross-entropy over rows [begin, end).
void backward_on(nn::Sequential& m, nn::ParamStore& store, DType dt, int64_t begin, int64_t end) {
  nn::Context ctx;
  nn::CrossEntropyLoss ce;
  store.zero_grad();
  const Tensor logits = m.forward(inputs(dt, begin, end), ctx);
  const auto out = ce(logits, labels(begin, end));
  m.backward(out.grad, ctx);
}

std::vector<double> flat(const Tensor& t) {
  return t.to_vector();
}

// max |a - b| / max |b|
double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    ref = std::max(ref, std::abs(b[i]));
  }
  return d / ref;
}

void check(DType dt, double bucket_mb, double tol) {
  const dist::Comm& w = dist::world();
  const int64_t per = kBatch / w.size();
  auto local = mlp(dt);
  nn::ParamStore local_store(*local);
  backward_on(*local, local_store, dt, w.rank() * per, (w.rank() + 1) * per);
  train::GradientSync sync(w, local_store, bucket_mb);
  sync.average();

  auto whole = mlp(dt);
  nn::ParamStore whole_store(*whole);
  backward_on(*whole, whole_store, dt, 0, kBatch);
  const double rel = rel_diff(flat(local_store.grads()), flat(whole_store.grads()));
  EXPECT_LE(rel, tol) << w.size() << " ranks, bucket " << bucket_mb << " MiB";
  if (w.size() > 1) {
    // Not trivially equal: a rank's own slice gives a different gradient than the whole batch.
    auto alone = mlp(dt);
    nn::ParamStore alone_store(*alone);
    backward_on(*alone, alone_store, dt, w.rank() * per, (w.rank() + 1) * per);
    EXPECT_GT(rel_diff(flat(alone_store.grads()), flat(whole_store.grads())), 1e-3);
  }
}

}  // namespace

TEST(GradientSync, AveragedSliceGradientsEqualTheWholeBatchGradientF64) {
  check(DType::F64, 25.0, 1e-13);
}

TEST(GradientSync, AveragedSliceGradientsEqualTheWholeBatchGradientF32) {
  check(DType::F32, 25.0, 1e-6);
}

TEST(GradientSync, OneElementBucketsGiveTheSameResult) {
  auto m = mlp(DType::F64);
  nn::ParamStore store(*m);
  train::GradientSync sync(dist::world(), store, 1e-7);  // below one element: buckets of 1
  EXPECT_EQ(sync.bucket_elements(), 1);
  EXPECT_EQ(sync.num_buckets(), store.grads().numel());
  check(DType::F64, 1e-7, 1e-13);
}

TEST(GradientSync, ANonPositiveBucketSizeIsAConfigError) {
  auto m = mlp(DType::F32);
  nn::ParamStore store(*m);
  try {
    train::GradientSync sync(dist::world(), store, 0.0);
    FAIL() << "bucket_mb = 0 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("dist.bucket_mb"), std::string::npos) << e.what();
  }
}
