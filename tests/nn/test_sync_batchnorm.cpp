// Synchronised BatchNorm2d (dist.sync_bn, ctx.replicas set). Three oracles:
//  - one replica (ReplicaSum = identity) must reproduce the unsynchronised layer, whose backend
//    op is tested elsewhere, in both layouts and with the fused ReLU;
//  - two replicas as two threads of this process, each with half of a batch, must reproduce one
//    unsynchronised layer on the whole batch: y, running statistics and dx halves, and the sum of
//    their parameter gradients (what the data-parallel gradient reduction forms);
//  - finite differences in double of the synchronised backward itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/strcat.hpp"
#include "nn/batchnorm.hpp"
#include "nn_testing.hpp"

using namespace win;
using namespace win::nn;
using namespace win::testing_nn;

namespace {

Tensor in_layout(const Tensor& x, bool cl) {
  return cl ? channels_last(x) : x.contiguous();
}

// Normal(offset, std) values: a non-zero mean makes the statistics' E[x^2] - mean^2 do real work.
Tensor random_input(const Dims& shape, DType dt, uint64_t seed, double offset) {
  Tensor x = randn(shape, DType::F64, seed, 2.0);
  for (int64_t i = 0; i < x.numel(); ++i) set_flat(x, i, get_flat(x, i) + offset);
  return x.to(dt);
}

// A layer with non-trivial affine parameters and running statistics, the same for a given seed.
std::unique_ptr<BatchNorm2d> make_bn(int64_t c, DType dt, bool relu, uint64_t seed) {
  auto bn = std::make_unique<BatchNorm2d>(c, 1e-5, 0.1, dt, relu);
  bn->weight().value.copy_from(randn({c}, DType::F64, seed, 0.5));
  bn->bias().value.copy_from(randn({c}, DType::F64, seed + 1));
  bn->running_mean().copy_from(randn({c}, DType::F64, seed + 2));
  Tensor v = randn({c}, DType::F64, seed + 3);
  for (int64_t i = 0; i < c; ++i) set_flat(v, i, 0.5 + std::abs(get_flat(v, i)));
  bn->running_var().copy_from(v);
  return bn;
}

// The identity: one replica. Records the length of every exchange, to check one per pass.
class SoloReplica final : public ReplicaSum {
 public:
  void sum(std::span<double> values) override { lengths.push_back(values.size()); }
  int replicas() const override { return 1; }
  std::vector<size_t> lengths;
};

// Replicas as threads of one process. sum() waits until every replica has deposited its vector,
// then hands each the elementwise sum taken in rank order, so all get bitwise the same values (as
// a real allreduce must). A replica that never arrives fails the test instead of hanging it.
class ThreadGroup {
 public:
  explicit ThreadGroup(int n) : n_(n), slots_(static_cast<size_t>(n)) {}
  int size() const { return n_; }

  void sum(int rank, std::span<double> v) {
    std::unique_lock lock(m_);
    slots_[static_cast<size_t>(rank)].assign(v.begin(), v.end());
    const uint64_t generation = generation_;
    if (++arrived_ == n_) {
      result_.assign(v.size(), 0.0);
      for (const auto& s : slots_) {
        EXPECT_EQ(s.size(), v.size()) << "replicas exchanged vectors of different lengths";
        for (size_t i = 0; i < std::min(s.size(), v.size()); ++i) result_[i] += s[i];
      }
      arrived_ = 0;
      ++generation_;
      cv_.notify_all();
    } else if (!cv_.wait_for(lock, std::chrono::seconds(60),
                             [&] { return generation_ != generation; })) {
      ADD_FAILURE() << "replica " << rank << " waited 60 s for the others";
      return;
    }
    std::copy(result_.begin(), result_.begin() + static_cast<std::ptrdiff_t>(v.size()), v.begin());
  }

 private:
  int n_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<std::vector<double>> slots_;
  std::vector<double> result_;
  int arrived_ = 0;
  uint64_t generation_ = 0;
};

class ThreadReplica final : public ReplicaSum {
 public:
  ThreadReplica(ThreadGroup& group, int rank) : group_(group), rank_(rank) {}
  void sum(std::span<double> values) override { group_.sum(rank_, values); }
  int replicas() const override { return group_.size(); }

 private:
  ThreadGroup& group_;
  int rank_;
};

// What one training step of a layer leaves: output, dx, parameter gradients, running statistics.
struct Step {
  Tensor y, dx, dgamma, dbeta, running_mean, running_var;
};

// A copy in t's own layout (clone() would make it contiguous).
Tensor keep(const Tensor& t) {
  Tensor c = empty_like(t);
  c.copy_from(t);
  return c;
}

Step train_step(BatchNorm2d& bn, const Tensor& x, const Tensor& dy, ReplicaSum* replicas) {
  bn.weight().grad.zero();
  bn.bias().grad.zero();
  Context ctx;
  ctx.replicas = replicas;
  Step s;
  s.y = keep(bn.forward(x, ctx));
  s.dx = keep(bn.backward(dy, ctx));
  EXPECT_EQ(s.y.strides(), x.strides()) << "y must keep the input's layout";
  EXPECT_EQ(s.dx.strides(), x.strides()) << "dx must keep the input's layout";
  s.dgamma = bn.weight().grad.clone();
  s.dbeta = bn.bias().grad.clone();
  s.running_mean = bn.running_mean().clone();
  s.running_var = bn.running_var().clone();
  return s;
}

// Every element: |a - b| <= tol * max(1, |b|) (absolute near zero, relative for large values).
void expect_close(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const auto av = a.to_vector(), bv = b.to_vector();
  int bad = 0;
  for (size_t i = 0; i < av.size(); ++i)
    if (!(std::abs(av[i] - bv[i]) <= tol * std::max(1.0, std::abs(bv[i]))) && ++bad <= 5)
      ADD_FAILURE() << what << "[" << i << "]: " << av[i] << " vs " << bv[i] << " (tol " << tol
                    << ")";
}

Tensor plus(const Tensor& a, const Tensor& b) {
  Tensor s = a.to(DType::F64);
  for (int64_t i = 0; i < s.numel(); ++i) set_flat(s, i, get_flat(s, i) + get_flat(b, i));
  return s;
}

}  // namespace

TEST(SyncBatchNorm, OneReplicaEqualsUnsynchronised) {
  // f32 against the oneDNN op: 1e-5 (sums of 60 values per channel; the op sums in f32).
  for (DType dt : {DType::F32, DType::F64})
    for (bool relu : {false, true})
      for (bool cl : {false, true}) {
        const std::string what =
            cat(dtype_name(dt), relu ? " relu" : "", cl ? " channels-last" : " nchw");
        SCOPED_TRACE(what);
        const int64_t c = 6;
        auto ref = make_bn(c, dt, relu, 11), sync = make_bn(c, dt, relu, 11);
        const Tensor x = in_layout(random_input({4, c, 5, 3}, dt, 12, 1.5), cl);
        const Tensor dy = in_layout(randn(x.shape(), dt, 13), cl);
        SoloReplica solo;
        const Step want = train_step(*ref, x, dy, nullptr);
        EXPECT_FALSE(ref->synchronised());
        const Step got = train_step(*sync, x, dy, &solo);
        EXPECT_TRUE(sync->synchronised());
        // One exchange per pass: [sum, sum of squares, count], then [sum dy, sum dy * xhat].
        const auto cs = static_cast<size_t>(c);
        EXPECT_EQ(solo.lengths, (std::vector<size_t>{2 * cs + 1, 2 * cs}));
        const double tol = dt == DType::F32 ? 1e-5 : 1e-12;
        expect_close(got.y, want.y, tol, "y");
        expect_close(got.running_mean, want.running_mean, tol, "running_mean");
        expect_close(got.running_var, want.running_var, tol, "running_var");
        expect_close(got.dx, want.dx, tol, "dx");
        expect_close(got.dgamma, want.dgamma, tol, "dgamma");
        expect_close(got.dbeta, want.dbeta, tol, "dbeta");
        if (relu) {  // the ReLU really clips something, so the masked backward is exercised
          int clipped = 0;
          for (double v : got.y.to_vector()) clipped += v == 0;
          EXPECT_GT(clipped, 0);
        }
      }
}

TEST(SyncBatchNorm, TwoThreadReplicasEqualOneLayerOnTheWholeBatch) {
  // f64 against the f64 reference op: 1e-10; f32 against the oneDNN op: 1e-4 relative. Uneven
  // splits check that the global count, not the local one, scales the statistics and gradients.
  const int64_t c = 5, batch = 6;
  for (DType dt : {DType::F64, DType::F32})
    for (bool relu : {false, true})
      for (bool cl : {false, true})
        for (int64_t split : {3, 1}) {
          const std::string what = cat(dtype_name(dt), relu ? " relu" : "",
                                       cl ? " channels-last" : " nchw", " split ", split);
          SCOPED_TRACE(what);
          const Tensor x = in_layout(random_input({batch, c, 4, 3}, dt, 21, -0.7), cl);
          const Tensor dy = in_layout(randn(x.shape(), dt, 22), cl);
          auto full = make_bn(c, dt, relu, 23);
          const Step want = train_step(*full, x, dy, nullptr);

          ThreadGroup group(2);
          const int64_t bounds[3] = {0, split, batch};
          Step got[2];
          std::string errors[2];
          std::vector<std::thread> threads;
          std::unique_ptr<BatchNorm2d> bns[2] = {make_bn(c, dt, relu, 23),
                                                 make_bn(c, dt, relu, 23)};
          for (int r = 0; r < 2; ++r)
            threads.emplace_back([&, r] {
              try {
                ThreadReplica replica(group, r);
                const auto i = static_cast<size_t>(r);
                got[i] = train_step(*bns[i], x.slice(0, bounds[i], bounds[i + 1]),
                                    dy.slice(0, bounds[i], bounds[i + 1]), &replica);
              } catch (const std::exception& e) {
                errors[r] = e.what();
              }
            });
          for (auto& t : threads) t.join();
          ASSERT_EQ(errors[0], "");
          ASSERT_EQ(errors[1], "");

          const double tol = dt == DType::F64 ? 1e-10 : 1e-4;
          for (int r = 0; r < 2; ++r) {
            const auto i = static_cast<size_t>(r);
            const std::string who = cat("replica ", r, " ");
            expect_close(got[i].y, want.y.slice(0, bounds[i], bounds[i + 1]), tol, who + "y");
            expect_close(got[i].dx, want.dx.slice(0, bounds[i], bounds[i + 1]), tol, who + "dx");
            expect_close(got[i].running_mean, want.running_mean, tol, who + "running_mean");
            expect_close(got[i].running_var, want.running_var, tol, who + "running_var");
          }
          // Both replicas hold bitwise the same running statistics (they derive them from the
          // same exchanged sums), so their buffers never drift apart.
          EXPECT_EQ(got[0].running_mean.to_vector(), got[1].running_mean.to_vector());
          EXPECT_EQ(got[0].running_var.to_vector(), got[1].running_var.to_vector());
          // Parameter gradients are local: their sum over replicas is the whole batch's.
          expect_close(plus(got[0].dgamma, got[1].dgamma), want.dgamma, tol, "dgamma_0 + dgamma_1");
          expect_close(plus(got[0].dbeta, got[1].dbeta), want.dbeta, tol, "dbeta_0 + dbeta_1");
          // ... and are not each the whole batch's (the halves differ from it).
          EXPECT_GT(normalized_error(got[0].dbeta, want.dbeta), 1e-3);
        }
}

TEST(SyncBatchNorm, OneReplicaFiniteDifferencesInDouble) {
  // Harness defaults: step 1e-6, rtol 1e-6, atol 1e-9 (BatchNorm is smooth; truncation ~1e-12).
  // L = sum(y * r) for a fixed random r; probes x, gamma and beta.
  SoloReplica solo;
  Context ctx;
  ctx.replicas = &solo;
  {
    SCOPED_TRACE("nchw");
    auto bn = make_bn(3, DType::F64, false, 31);
    EXPECT_EQ(check_gradients(*bn, random_input({4, 3, 3, 2}, DType::F64, 32, 0.8), ctx), 0);
    EXPECT_TRUE(bn->synchronised());
  }
  {
    SCOPED_TRACE("channels-last");
    ChannelsLastInput cl(make_bn(3, DType::F64, false, 33));
    EXPECT_EQ(check_gradients(cl, random_input({2, 3, 2, 3}, DType::F64, 34, -0.4), ctx), 0);
  }
  {
    // Fused ReLU: inputs chosen so no pre-activation lies within 1e-3 of the kink (checked with
    // an unfused twin), so a step of 1e-6 never crosses it.
    SCOPED_TRACE("relu");
    auto fused = make_bn(3, DType::F64, true, 35), plain = make_bn(3, DType::F64, false, 35);
    const Tensor x = random_input({4, 3, 3, 2}, DType::F64, 36, 0.3);
    double closest = 1e9;
    int clipped = 0;
    for (double v : plain->forward(x, ctx).to_vector()) {
      closest = std::min(closest, std::abs(v));
      clipped += v < 0;
    }
    ASSERT_GT(closest, 1e-3) << "test input too close to the ReLU kink";
    EXPECT_GT(clipped, 0);
    EXPECT_EQ(check_gradients(*fused, x, ctx), 0);
  }
}

TEST(SyncBatchNorm, EvalModeIsNeverSynchronisedAndBackwardNeedsTheReplicas) {
  SoloReplica solo;
  auto bn = make_bn(4, DType::F32, false, 41);
  const Tensor x = random_input({2, 4, 3, 3}, DType::F32, 42, 0.0);
  Context ctx;
  ctx.replicas = &solo;
  ctx.training = false;  // eval normalises with running statistics: nothing to exchange
  bn->forward(x, ctx);
  bn->backward(randn(x.shape(), DType::F32, 43), ctx);
  EXPECT_FALSE(bn->synchronised());
  EXPECT_TRUE(solo.lengths.empty());
  // A synchronised forward's backward is collective too: without replicas it must refuse rather
  // than silently compute the local gradient.
  ctx.training = true;
  bn->forward(x, ctx);
  Context no_replicas;
  EXPECT_THROW(bn->backward(randn(x.shape(), DType::F32, 44), no_replicas), Error);
}
