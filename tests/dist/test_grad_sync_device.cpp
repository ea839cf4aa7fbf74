// GradientSync's device path (the one NCCL takes on GPUs) under mpiexec at 1, 2 and 4 ranks, on
// the CPU: a DeviceComm that sums host memory over its own MPI communicator stands in for NCCL,
// so that what GradientSync asks of a device communicator — which ranges, in which order, when
// (during backward), and the join before the gradients are used — is checked on every machine.
// The gradients must equal the MPI path's, every element must be summed exactly once, and the
// MPI group itself must carry nothing. The NCCL implementation's own tests need a GPU per rank
// (test_nccl_comm.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "config/deck.hpp"
#include "dist/comm.hpp"
#include "dist/device_comm.hpp"
#include "models/mlp.hpp"
#include "nn/loss.hpp"
#include "nn/param_store.hpp"
#include "train/grad_sync.hpp"

using namespace win;

namespace {

// Sums immediately over `comm` (the host stands in for the device), recording each request.
class HostDeviceComm final : public dist::DeviceComm {
 public:
  explicit HostDeviceComm(const dist::Comm& comm) : comm_(comm) {}
  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }
  void start_sum(Tensor& flat, int64_t begin, int64_t len) override {
    EXPECT_TRUE(flat.is_contiguous());
    EXPECT_GE(begin, 0);
    EXPECT_LE(begin + len, flat.numel());
    sums.emplace_back(begin, len);
    if (joined_since_last) ++sums_after_join;
    joined_since_last = false;
    comm_.allreduce(std::span<float>(flat.data<float>() + begin, static_cast<size_t>(len)));
  }
  void join() override {
    ++joins;
    joined_since_last = true;
  }
  void send(const Tensor&, int) override { ADD_FAILURE() << "GradientSync sent a tensor"; }
  void wait_sends() override {}
  void recv(Tensor&, int) override { ADD_FAILURE() << "GradientSync received a tensor"; }
  const dist::Traffic& traffic() const override { return comm_.traffic(); }

  std::vector<std::pair<int64_t, int64_t>> sums;
  int joins = 0, sums_after_join = 0;
  bool joined_since_last = false;

 private:
  const dist::Comm& comm_;
};

constexpr int64_t kBatch = 12, kIn = 10, kClasses = 4;

std::unique_ptr<models::Model> model() {
  config::MlpConfig c;
  c.input_size = kIn;
  c.width = 8;
  c.depth = 4;
  c.inner = 6;
  auto m = models::build_mlp(c, kClasses, DType::F32);
  nn::init_params(*m, 11);
  return m;
}

// Backward on rows [begin, end) of a fixed batch, announcing finished blocks to `ready`.
void backward_on(models::Model& m, nn::ParamStore& store, int64_t begin, int64_t end,
                 nn::GradientsReady* ready) {
  Tensor x = Tensor::empty({end - begin, kIn}, DType::F32);
  std::vector<int32_t> l;
  for (int64_t i = begin; i < end; ++i) {
    l.push_back(static_cast<int32_t>(i % kClasses));
    for (int64_t j = 0; j < kIn; ++j)
      x.at<float>({i - begin, j}) =
          static_cast<float>(std::cos(0.41 * double(i) + 0.9 * double(j)));
  }
  nn::Context ctx;
  ctx.grads_ready = ready;
  store.zero_grad();
  nn::CrossEntropyLoss ce;
  const auto out = ce(m.forward(x, ctx), Tensor::from(l, {end - begin}));
  m.backward(out.grad, ctx);
}

std::vector<double> reference(int64_t per, const std::function<bool(const nn::ParamEntry&)>& only) {
  const dist::Comm& w = dist::world();
  auto m = model();
  nn::ParamStore store(*m);
  train::GradientSync sync(w, store, 1e-4, only);
  backward_on(*m, store, w.rank() * per, (w.rank() + 1) * per, nullptr);
  sync.average();
  return store.grads().to_vector();
}

// Sums over more than two ranks may associate differently in another chunking of the buffer.
void expect_close(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(got[i] - want[i]), 1e-6 * scale) << "element " << i;
}

// Every element of [0, n) in exactly one of the ranges.
void expect_partition(const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t n,
                      const std::vector<char>& wanted) {
  std::vector<int> hits(static_cast<size_t>(n), 0);
  for (const auto& [b, len] : ranges)
    for (int64_t i = b; i < b + len; ++i) ++hits[static_cast<size_t>(i)];
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(hits[static_cast<size_t>(i)], wanted[static_cast<size_t>(i)] ? 1 : 0)
        << "element " << i;
}

}  // namespace

TEST(GradientSyncDevice, SumsEveryBucketOnceStartsThemInBackwardAndJoinsBeforeUse) {
  const dist::Comm& w = dist::world();
  const int64_t per = kBatch / w.size();
  const std::vector<double> want = reference(per, {});

  dist::Comm side = w.split(0, w.rank());  // the stand-in's own channel
  HostDeviceComm dev(side);
  auto m = model();
  nn::ParamStore store(*m);
  train::GradientSync sync(w, store, 1e-4, {}, &dev);  // buckets of 26 elements
  const uint64_t mpi_before = w.traffic().reduced;
  sync.begin();
  backward_on(*m, store, w.rank() * per, (w.rank() + 1) * per, &sync);
  const size_t in_backward = dev.sums.size();
  sync.finish();
  EXPECT_EQ(w.traffic().reduced, mpi_before) << "the MPI group carried gradient bytes";

  expect_close(store.grads().to_vector(), want);
  if (w.size() == 1) {
    EXPECT_TRUE(dev.sums.empty()) << "one rank has nothing to sum";
    return;
  }
  expect_partition(dev.sums, store.grads().numel(),
                   std::vector<char>(static_cast<size_t>(store.grads().numel()), 1));
  EXPECT_EQ(static_cast<int64_t>(dev.sums.size()), sync.num_buckets());
  EXPECT_GT(in_backward, 0u) << "no bucket started during backward";
  EXPECT_EQ(static_cast<int64_t>(in_backward), sync.started_in_backward());
  EXPECT_EQ(dev.joins, 1);
  EXPECT_EQ(dev.sums_after_join, 0) << "a sum was queued after the join";
}

TEST(GradientSyncDevice, ASelectionIsSummedInPlaceAndTheRestLeftAlone) {
  const dist::Comm& w = dist::world();
  const int64_t per = kBatch / w.size();
  // A pipeline stage's view: only some blocks' entries (two adjacent ones, and one further on).
  auto only = [](const nn::ParamEntry& e) {
    return e.name.rfind("blocks.1.", 0) == 0 || e.name.rfind("blocks.2.", 0) == 0 ||
           e.name.rfind("head.", 0) == 0;
  };
  const std::vector<double> want = reference(per, only);

  dist::Comm side = w.split(0, w.rank());
  HostDeviceComm dev(side);
  auto m = model();
  nn::ParamStore store(*m);
  std::vector<char> selected(static_cast<size_t>(store.grads().numel()), 0);
  int64_t n_selected = 0;
  for (const auto& e : store.entries())
    if (only(e)) {
      std::fill_n(selected.begin() + e.offset, e.numel, 1);
      n_selected += e.numel;
    }
  ASSERT_GT(n_selected, 0) << "the selection matched no parameter names";
  ASSERT_LT(n_selected, store.grads().numel());
  train::GradientSync sync(w, store, 1e-4, only, &dev);
  backward_on(*m, store, w.rank() * per, (w.rank() + 1) * per, nullptr);
  const std::vector<double> mine = store.grads().to_vector();
  sync.average();

  const std::vector<double> got = store.grads().to_vector();
  expect_close(got, want);
  for (size_t i = 0; i < got.size(); ++i) {
    if (!selected[i]) {
      ASSERT_EQ(got[i], mine[i]) << "unselected element " << i << " changed";
    }
  }
  if (w.size() == 1) return;
  expect_partition(dev.sums, store.grads().numel(), selected);
  EXPECT_EQ(dev.joins, 1);
}
