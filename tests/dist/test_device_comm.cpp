// make_device_comm and the NCCL DeviceComm under mpiexec at 1, 2 and 4 ranks. Which groups get
// one is checked everywhere: one rank, a build without CUDA, no GPU, and ranks sharing a GPU (the
// usual case of a one-GPU machine at 2 ranks) all give nullptr, with the reason, on every rank
// alike. The sums and transfers themselves need a GPU per rank and skip, with the reason,
// otherwise; they check that work queued on the compute stream before a call is what NCCL sees,
// and that compute work after join()/recv() sees NCCL's result.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backend/ops.hpp"
#include "backend/transfer.hpp"
#include "core/strcat.hpp"
#include "dist/comm.hpp"
#include "dist/device_comm.hpp"

#if WIN_HAVE_CUDA
#include <cuda_runtime.h>

#include "dist/nccl_comm.hpp"
#endif

using namespace win;

namespace {

// Why this job cannot give every rank its own GPU ("" when it can), the same on every rank.
std::string no_gpu_per_rank() {
  const dist::Comm& w = dist::world();
  std::string why = backend::device_unavailable(Device::CUDA);
#if WIN_HAVE_CUDA
  const int local = dist::local_rank(w);  // collective: before any rank may skip
  if (why.empty()) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || local >= n)
      why = cat("local rank ", local, " and ", n, " GPU(s) on this node: ranks share a GPU");
    else
      backend::select_gpu(local);
  }
#endif
  if (!w.all(why.empty()) && why.empty()) why = "another rank has no GPU of its own";
  return why;
}

}  // namespace

TEST(DeviceComm, NoneWhereRanksHaveNoGpuOfTheirOwn) {
  const dist::Comm& w = dist::world();
  const std::string lacking = no_gpu_per_rank();
  std::string why;
  auto dc = dist::make_device_comm(w, &why);
  if (w.size() == 1) {
    EXPECT_EQ(dc, nullptr);
    EXPECT_EQ(why, "one rank");
    return;
  }
  // Every rank took the same decision (or some would be inside NCCL's initialisation now).
  const int32_t have = w.allreduce_value<int32_t>(dc ? 1 : 0);
  EXPECT_TRUE(have == 0 || have == w.size()) << have << " of " << w.size() << " ranks have one";
  if (lacking.empty()) {  // one GPU per local rank: then surely distinct GPUs
    ASSERT_NE(dc, nullptr) << why;
    EXPECT_EQ(dc->size(), w.size());
    EXPECT_EQ(dc->rank(), w.rank());
    return;
  }
  // (With per-rank CUDA_VISIBLE_DEVICES every rank may see "GPU 0" and still own a distinct one:
  // then a communicator is right although the local-rank count says otherwise.)
  if (!dc) {
    EXPECT_FALSE(why.empty());
  }
}

#if WIN_HAVE_CUDA

namespace {

std::unique_ptr<dist::DeviceComm>& shared_comm() {
  static std::unique_ptr<dist::DeviceComm> c;
  return c;
}

}  // namespace

class DeviceCommTest : public testing::Test {
 protected:
  static void TearDownTestSuite() { shared_comm().reset(); }
  void SetUp() override {
    static const std::string skip = no_gpu_per_rank();
    if (!skip.empty()) GTEST_SKIP() << skip;
    if (dist::world().size() == 1) GTEST_SKIP() << "one rank: no device communicator";
    if (!shared_comm()) shared_comm() = dist::make_device_comm(dist::world());
    ASSERT_NE(shared_comm(), nullptr);
  }
  dist::DeviceComm& dc() { return *shared_comm(); }
};

TEST_F(DeviceCommTest, SumsWhatTheComputeStreamWroteAndJoinsBeforeItIsRead) {
  const dist::Comm& w = dist::world();
  const int64_t n = 1 << 20;  // large enough that NCCL takes visible time
  Tensor g = Tensor::zeros({n}, DType::F32, backend::device_allocator(Device::CUDA));
  g.fill(1.0 + w.rank());  // queued on the compute stream: the sum must wait for it
  dc().start_sum(g, 0, n / 2);
  dc().start_sum(g, n / 2, n - n / 2);
  dc().join();
  backend::ops_for(g).scale(2.0, g);  // compute work after the join sees the sums
  const std::vector<double> v = g.to_vector();
  const double want = 2.0 * w.size() * (w.size() + 1) / 2.0;
  for (int64_t i : {int64_t{0}, n / 2 - 1, n / 2, n - 1})
    EXPECT_EQ(v[static_cast<size_t>(i)], want) << "element " << i;
  EXPECT_EQ(dc().traffic().reduced, static_cast<uint64_t>(n) * 4);
}

TEST_F(DeviceCommTest, SendsToTheNextRankAndReceivesFromThePrevious) {
  const dist::Comm& w = dist::world();
  const int r = w.rank(), next = (r + 1) % w.size(), prev = (r + w.size() - 1) % w.size();
  Tensor out = Tensor::empty({3, 5}, DType::F32, backend::device_allocator(Device::CUDA));
  Tensor in = Tensor::empty({3, 5}, DType::F32, backend::device_allocator(Device::CUDA));
  out.fill(10.0 * r + 1);
  // Around the ring every rank both sends and receives: even ranks send first, odd ones receive
  // first, so that the lone send of one always meets the recv of the other.
  if (r % 2 == 0) {
    dc().send(out, next);
    dc().recv(in, prev);
  } else {
    dc().recv(in, prev);
    dc().send(out, next);
  }
  dc().wait_sends();
  out.fill(-1.0);  // after wait_sends the buffer may be reused
  for (double v : in.to_vector()) ASSERT_EQ(v, 10.0 * prev + 1);
}

#endif
