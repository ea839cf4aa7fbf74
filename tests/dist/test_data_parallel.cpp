// The data-parallel training loop under mpiexec at 1, 2 and 4 ranks (DESIGN §7): k steps of
// train::Trainer on W ranks, each on its slice of the global batch, against references that
// every rank computes alone:
//  - without BatchNorm, and with synchronised BatchNorm: one process training on the whole
//    global batch. fp32 tolerance: max|w_W - w_1| / max|w_1| <= 2e-5 after 4 SGD steps (the
//    sums are only reordered); at one rank bitwise.
//  - with local BatchNorm (each replica normalises its own slice): one process that runs the W
//    slices one after another, sums their gradients and divides by W (what local BN means).
// Every rank must also end with bitwise the same weights as rank 0.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "dist/collective.hpp"
#include "dist/comm.hpp"
#include "models/build.hpp"
#include "nn/param_store.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"
#include "train/trainer.hpp"
#include "win/task.hpp"

using namespace win;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kSamples = 96, kBatch = 16;  // 16 splits over 1, 2 and 4 ranks
constexpr int kSteps = 4;

// Deterministic images (3, 8, 8) and labels keyed by the sample index.
class Synthetic final : public data::SampleSource {
 public:
  int64_t size() const override { return kSamples; }
  std::unique_ptr<SampleSource> clone() const override { return std::make_unique<Synthetic>(); }
  void allocate(data::Batch& b, int64_t local) const override {
    b.x = empty_channels_last({local, 3, 8, 8}, DType::F32);
    b.labels = Tensor::empty({local}, DType::I32);
  }
  void fill(data::Batch& b, int64_t slot, int64_t sample, int64_t) override {
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 8; ++y)
        for (int64_t x = 0; x < 8; ++x)
          b.x.at<float>({slot, c, y, x}) = static_cast<float>(
              std::sin(0.31 * static_cast<double>(sample) + 0.7 * c + 0.19 * y * x) +
              0.1 * static_cast<double>(sample % 4));
    b.labels.data<int32_t>()[slot] = static_cast<int32_t>(sample % 4);
  }
};

config::ModelConfig tiny_resnet() {
  config::ModelConfig c;
  c.family = "resnet";
  c.classes = 4;
  c.resnet.block = "basic";
  c.resnet.layers.assign({1, 1, 1, 1});
  c.resnet.base_width = 4;
  c.resnet.stem = "small";
  c.resnet.in_channels = 3;
  c.resnet.image_size = 8;
  return c;
}

config::ModelConfig tiny_mlp() {
  config::ModelConfig c;
  c.family = "mlp";
  c.classes = 4;
  c.mlp.input_size = 3 * 8 * 8;
  c.mlp.width = 12;
  c.mlp.inner = 4;
  c.mlp.depth = 3;
  c.mlp.block = "inner";
  c.mlp.activation = "relu";
  return c;
}

config::OptimConfig sgd() {
  config::OptimConfig o;
  o.batch_size = kBatch;
  o.steps = kSteps;
  o.optimizer = "sgd";
  o.lr = 0.05;
  o.momentum = 0.9;
  o.weight_decay = 1e-4;
  o.lr_schedule = "constant";
  return o;
}

// A directory shared by the ranks of this job (rank 0's pid), one per test.
std::string shared_dir(const std::string& tag) {
  int64_t pid = ::getpid();
  dist::world().bcast(std::span<int64_t>(&pid, 1), 0);
  return (fs::path(testing::TempDir()) / ("win_dp_" + tag + "_" + std::to_string(pid))).string();
}

std::vector<double> weights(models::Model& m) {
  std::vector<double> v;
  m.for_each_param([&](const std::string&, nn::Param& p) {
    const auto x = p.value.to_vector();
    v.insert(v.end(), x.begin(), x.end());
  });
  return v;
}

double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::abs(a[i] - b[i]));
    ref = std::max(ref, std::abs(b[i]));
  }
  return d / ref;
}

// kSteps of the Trainer on `comm` (each rank its slice), from the same initial weights.
std::vector<double> train_on(const dist::Comm& comm, const config::ModelConfig& mc, bool sync_bn,
                             const std::string& dir, double bucket_mb = 25.0,
                             train::Throughput* out = nullptr) {
  auto m = models::build_model(mc, DType::F32);
  nn::init_params(*m, 11);
  nn::ParamStore store(*m);
  const auto o = sgd();
  auto opt = train::make_optimizer(o, store);
  data::LoaderOptions lo;
  lo.global_batch = kBatch;
  lo.rank = comm.rank();
  lo.world = comm.size();
  lo.seed = 5;
  lo.prefetch = 0;
  data::Loader loader(std::make_unique<Synthetic>(), lo);
  const train::LrSchedule schedule(o, loader.steps_per_epoch(), kSteps);
  train::TrainerOptions to;
  to.stage = "dp-test";
  to.dir = dir;
  to.total_steps = kSteps;
  to.checkpoint_every = 1000;
  to.progress_interval_s = 1e9;
  to.comm = &comm;
  to.sync_bn = sync_bn;
  to.bucket_mb = bucket_mb;
  train::Trainer trainer(to, *m, store, *opt, schedule, loader);
  auto task = method::make_task(mc);
  trainer.run([&](const data::Batch& b, nn::Context& ctx) {
    return task->step(*m, nullptr, b, ctx, method::LossSpec{});
  });
  if (out) *out = trainer.throughput();
  return weights(*m);
}

// Local BatchNorm's meaning on one process: per step, the W slices one after another, their
// gradients summed and divided by W, then one update.
std::vector<double> ghost_batches(const config::ModelConfig& mc, int W) {
  auto m = models::build_model(mc, DType::F32);
  nn::init_params(*m, 11);
  nn::ParamStore store(*m);
  const auto o = sgd();
  auto opt = train::make_optimizer(o, store);
  std::vector<std::unique_ptr<data::Loader>> slices;
  for (int r = 0; r < W; ++r) {
    data::LoaderOptions lo;
    lo.global_batch = kBatch;
    lo.rank = r;
    lo.world = W;
    lo.seed = 5;
    lo.prefetch = 0;
    slices.push_back(std::make_unique<data::Loader>(std::make_unique<Synthetic>(), lo));
  }
  auto task = method::make_task(mc);
  nn::Context ctx;
  for (int s = 0; s < kSteps; ++s) {
    store.zero_grad();
    for (int r = 0; r < W; ++r) {
      ctx.sample_offset = slices[static_cast<size_t>(r)]->slice_offset();
      task->step(*m, nullptr, slices[static_cast<size_t>(r)]->next(), ctx, method::LossSpec{});
    }
    Tensor& g = store.grads();
    for (int64_t i = 0; i < g.numel(); ++i) g.data<float>()[i] /= static_cast<float>(W);
    opt->step(o.lr);
  }
  return weights(*m);
}

// Rank 0's weights, bitwise, on every rank.
void expect_replicas_identical(const std::vector<double>& w) {
  std::vector<double> root = w;
  dist::world().bcast(std::span<double>(root), 0);
  EXPECT_EQ(std::memcmp(root.data(), w.data(), w.size() * sizeof(double)), 0)
      << "rank " << dist::world().rank() << " holds other weights than rank 0";
}

void compare_with_whole_batch(const config::ModelConfig& mc, bool sync_bn, const std::string& tag) {
  const dist::Comm& w = dist::world();
  const std::string dir = shared_dir(tag);
  const auto dp = train_on(w, mc, sync_bn, dir + "/dp");
  const dist::Comm alone;  // the one-rank communicator: the whole batch on this process
  const auto ref = train_on(alone, mc, sync_bn, dir + "/ref" + std::to_string(w.rank()));
  expect_replicas_identical(dp);
  const double rel = rel_diff(dp, ref);
  if (w.size() == 1)
    EXPECT_EQ(rel, 0.0) << "one rank must be bitwise the plain loop";
  else
    EXPECT_LE(rel, 2e-5) << w.size() << " ranks";
  EXPECT_GT(rel_diff(ref, weights(*[&] {
                       auto m = models::build_model(mc, DType::F32);
                       nn::init_params(*m, 11);
                       return m;
                     }())),
            1e-3)
      << "training did not move the weights";
  w.barrier();
  if (w.is_root()) fs::remove_all(dir);
}

}  // namespace

TEST(DataParallel, MlpAfterKStepsEqualsOneProcessOnTheGlobalBatch) {
  compare_with_whole_batch(tiny_mlp(), false, "mlp");
}

TEST(DataParallel, ResNetWithSynchronisedBatchNormEqualsOneProcessOnTheGlobalBatch) {
  compare_with_whole_batch(tiny_resnet(), true, "syncbn");
}

TEST(DataParallel, ResNetWithLocalBatchNormEqualsGhostBatchesOnOneProcess) {
  const dist::Comm& w = dist::world();
  const std::string dir = shared_dir("localbn");
  const auto dp = train_on(w, tiny_resnet(), false, dir + "/dp");
  expect_replicas_identical(dp);
  const auto ghost = ghost_batches(tiny_resnet(), w.size());
  EXPECT_LE(rel_diff(dp, ghost), 2e-5) << w.size() << " ranks";
  if (w.size() > 1) {
    // And it is not what synchronised statistics give: the two modes really differ.
    const dist::Comm alone;
    const auto whole =
        train_on(alone, tiny_resnet(), true, dir + "/ref" + std::to_string(w.rank()));
    EXPECT_GT(rel_diff(dp, whole), 1e-4);
  }
  w.barrier();
  if (w.is_root()) fs::remove_all(dir);
}

// Buckets of 64 floats: most start their allreduce during backward, as blocks finish, and the
// weights are the same as with one bucket reduced after backward.
TEST(DataParallel, BucketsStartedDuringBackwardGiveTheSameWeights) {
  const dist::Comm& w = dist::world();
  const std::string dir = shared_dir("overlap");
  train::Throughput t;
  const auto small = train_on(w, tiny_resnet(), true, dir + "/small", 64 * 4 / 1048576.0, &t);
  const auto whole = train_on(w, tiny_resnet(), true, dir + "/one");
  expect_replicas_identical(small);
  EXPECT_GT(t.buckets, 10);
  if (w.size() > 1) {
    // Every bucket but those holding the stem's parameters (done last) starts early.
    EXPECT_GT(t.buckets_in_backward, kSteps * t.buckets / 2) << t.buckets << " buckets per step";
    EXPECT_LE(rel_diff(small, whole), 1e-6);
  } else {
    EXPECT_EQ(t.buckets_in_backward, 0);  // one rank reduces nothing
    EXPECT_EQ(rel_diff(small, whole), 0.0);
  }
  w.barrier();
  if (w.is_root()) fs::remove_all(dir);
}

// Ranks that read different training sets (a per-rank working directory, a stale file system
// view) are stopped before the first step on every rank at once, with one data error naming
// each rank's sample count; the same count everywhere passes.
TEST(DataParallel, RanksReadingDifferentDataAreStoppedTogether) {
  const dist::Comm& w = dist::world();
  EXPECT_NO_THROW(train::check_same_data(w, 800, "wide"));
  const int64_t mine = w.rank() == w.size() - 1 ? 700 : 800;
  if (w.size() == 1) {
    EXPECT_NO_THROW(train::check_same_data(w, mine, "wide"));
    return;
  }
  try {
    train::check_same_data(w, mine, "wide");
    ADD_FAILURE() << "different sample counts passed";
  } catch (const dist::CollectiveError& e) {
    EXPECT_TRUE(e.whole_job());
    EXPECT_EQ(e.exit_code(), 3);  // a data error
    const std::string m = e.what();
    EXPECT_NE(m.find("rank 0 800"), std::string::npos) << m;
    EXPECT_NE(m.find("rank " + std::to_string(w.size() - 1) + " 700"), std::string::npos) << m;
  }
}
