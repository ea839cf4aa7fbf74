// NcclComm and local_rank under mpiexec at 1, 2 and 4 ranks (part of test_dist; CUDA builds only).
// local_rank needs no GPU: it is checked against the launcher's variables, and with them removed
// (the host-name exchange). The NCCL tests (typed allreduce, bcast, point to point, traffic) need
// one GPU per rank: without a GPU, or with more ranks on a node than GPUs (NCCL refuses two ranks
// of one communicator on one device), every rank skips them alike, with the reason, since the
// decision is reduced over ranks first and no rank may enter NCCL alone.
#if WIN_HAVE_CUDA

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "backend/cuda/cuda_check.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"
#include "dist/nccl_comm.hpp"

using win::Error;
using win::dist::Comm;
using win::dist::local_rank;
using win::dist::NcclComm;
using win::dist::ReduceOp;
using win::dist::world;

namespace {

// Sets or removes an environment variable for one scope, restoring it afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v;
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  void unset() { unsetenv(name_); }
  void set(const std::string& v) { setenv(name_, v.c_str(), 1); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// The local rank the launcher gave this rank: Open MPI's variable, or 0 for one rank started
// without a launcher; nullopt when the test cannot know it.
std::optional<int> launcher_local_rank() {
  if (const char* v = std::getenv("OMPI_COMM_WORLD_LOCAL_RANK")) return std::atoi(v);
  if (world().size() == 1) return 0;
  return std::nullopt;
}

// Whether every rank of the job runs on this one host (Open MPI says so), or nullopt.
std::optional<bool> all_on_one_host() {
  if (world().size() == 1) return true;
  if (const char* v = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE"))
    return std::atoi(v) == world().size();
  return std::nullopt;
}

}  // namespace

TEST(LocalRank, MatchesTheLauncher) {
  const int got = local_rank(world());  // collective: every rank calls it before any skip
  const std::optional<int> want = launcher_local_rank();
  if (!want) GTEST_SKIP() << "launched without OMPI_COMM_WORLD_LOCAL_RANK: nothing to compare";
  EXPECT_EQ(got, *want);
}

TEST(LocalRank, FromHostNamesWithoutLauncherVariables) {
  const std::optional<int> want = launcher_local_rank();
  ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK"), mpich("MPI_LOCALRANKID"),
      slurm_local("SLURM_LOCALID"), slurm_proc("SLURM_PROCID");
  ompi.unset();
  mpich.unset();
  slurm_local.unset();
  slurm_proc.unset();
  const int got = local_rank(world());
  if (!want) GTEST_SKIP() << "launched without OMPI_COMM_WORLD_LOCAL_RANK: nothing to compare";
  EXPECT_EQ(got, *want);
}

TEST(LocalRank, IgnoresASlurmLocalIdInheritedFromTheBatchShell) {
  // mpirun inside an sbatch allocation: every rank inherits the batch shell's SLURM_LOCALID=0
  // and SLURM_PROCID=0. Only rank 0's SLURM_PROCID matches, so the host names decide.
  const std::optional<int> want = launcher_local_rank();
  ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK"), mpich("MPI_LOCALRANKID"),
      slurm_local("SLURM_LOCALID"), slurm_proc("SLURM_PROCID");
  ompi.unset();
  mpich.unset();
  slurm_local.set("0");
  slurm_proc.set("0");
  const int got = local_rank(world());
  if (!want) GTEST_SKIP() << "launched without OMPI_COMM_WORLD_LOCAL_RANK: nothing to compare";
  EXPECT_EQ(got, *want);
}

TEST(LocalRank, TrustsSrunsLocalIdWhenItsProcIdIsThisRank) {
  ScopedEnv ompi("OMPI_COMM_WORLD_LOCAL_RANK"), mpich("MPI_LOCALRANKID"),
      slurm_local("SLURM_LOCALID"), slurm_proc("SLURM_PROCID");
  ompi.unset();
  mpich.unset();
  slurm_proc.set(std::to_string(world().rank()));
  slurm_local.set(std::to_string(7 + world().rank()));  // not what the host names would give
  EXPECT_EQ(local_rank(world()), 7 + world().rank());
}

TEST(LocalRank, OfASubCommunicatorFromHostNames) {
  // Even and odd ranks: the launcher's numbers describe the world, not this communicator.
  const Comm& w = world();
  Comm sub = w.split(w.rank() % 2, w.rank());
  const int got = local_rank(sub);
  const std::optional<bool> one_host = all_on_one_host();
  if (!one_host || !*one_host) GTEST_SKIP() << "ranks on several hosts: nothing to compare";
  EXPECT_EQ(got, sub.rank());
}

namespace {

// Whether this job can run the NCCL tests, decided once and alike on every rank.
struct GpuPlan {
  std::string skip;  // why not ("" when it can)
  int device = -1;   // this rank's GPU
};

const GpuPlan& gpu_plan() {
  static const GpuPlan plan = [] {
    const Comm& w = world();
    GpuPlan p;
    p.device = local_rank(w);
    int n = 0;
    std::string why;
    if (const cudaError_t e = cudaGetDeviceCount(&n); e != cudaSuccess) {
      why = win::cat("no usable CUDA device (cudaGetDeviceCount: ", cudaGetErrorString(e), ")");
    } else if (n == 0) {
      why = "no CUDA device";
    } else if (p.device >= n) {
      why = win::cat("rank ", w.rank(), " is local rank ", p.device, " on a node with ", n,
                     " GPU(s): ranks would share a GPU, and NCCL does not allow two ranks of one "
                     "communicator on one device");
    }
    if (!w.all(why.empty()))
      p.skip =
          why.empty() ? "another rank of this job has no GPU of its own (see its reason)" : why;
    return p;
  }();
  return plan;
}

// Device memory holding a copy of a host vector, read back with download().
template <class T>
class DeviceVector {
 public:
  explicit DeviceVector(const std::vector<T>& h) : n_(h.size()) {
    WIN_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), n_ * sizeof(T)));
    WIN_CUDA_CHECK(cudaMemcpy(p_, h.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~DeviceVector() { cudaFree(p_); }
  DeviceVector(const DeviceVector&) = delete;
  DeviceVector& operator=(const DeviceVector&) = delete;
  std::span<T> span() { return {p_, n_}; }
  std::vector<T> download(cudaStream_t s) const {
    WIN_CUDA_CHECK(cudaStreamSynchronize(s));
    std::vector<T> h(n_);
    WIN_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

}  // namespace

// One communicator and stream for the whole suite (NCCL's setup costs a second or so), made by
// the first test that runs and destroyed, on every rank together, after the last one.
class NcclCommTest : public testing::Test {
 protected:
  static void TearDownTestSuite() {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
    stream_ = nullptr;
    comm_.reset();
  }
  void SetUp() override {
    if (const std::string& why = gpu_plan().skip; !why.empty()) GTEST_SKIP() << why;
    if (!comm_) {
      comm_.emplace(NcclComm::from_mpi(world(), gpu_plan().device));
      WIN_CUDA_CHECK(cudaStreamCreate(&stream_));
    }
  }
  static const NcclComm& nccl() { return *comm_; }
  static cudaStream_t stream() { return stream_; }

 private:
  static inline std::optional<NcclComm> comm_;
  static inline cudaStream_t stream_ = nullptr;
};

TEST_F(NcclCommTest, RankAndSizeMatchMpi) {
  EXPECT_EQ(nccl().rank(), world().rank());
  EXPECT_EQ(nccl().size(), world().size());
  int dev = -1;
  WIN_CUDA_CHECK(cudaGetDevice(&dev));
  EXPECT_EQ(nccl().device(), dev);
}

TEST_F(NcclCommTest, AllreduceF32SumMaxMin) {
  const int r = nccl().rank(), n = nccl().size();
  const int64_t tri = static_cast<int64_t>(n) * (n + 1) / 2;
  // Element i on rank r is (r + 1) * (i % 4096 + 1): sums stay exact in f32.
  const size_t count = 1'000'003;
  std::vector<float> h(count);
  for (size_t i = 0; i < count; ++i) h[i] = static_cast<float>((r + 1) * (i % 4096 + 1));
  DeviceVector<float> d(h);
  const uint64_t before = nccl().traffic().reduced;
  nccl().allreduce(d.span(), ReduceOp::Sum, stream());
  EXPECT_EQ(nccl().traffic().reduced - before, n > 1 ? count * sizeof(float) : 0);
  const std::vector<float> sum = d.download(stream());
  for (size_t i = 0; i < count; ++i)
    ASSERT_EQ(sum[i], static_cast<float>(tri * static_cast<int64_t>(i % 4096 + 1))) << i;

  DeviceVector<float> mx(std::vector<float>(33, r + 0.5f)), mn(std::vector<float>(33, r + 0.5f));
  nccl().allreduce(mx.span(), ReduceOp::Max, stream());
  nccl().allreduce(mn.span(), ReduceOp::Min, stream());
  for (float x : mx.download(stream())) ASSERT_EQ(x, n - 0.5f);
  for (float x : mn.download(stream())) ASSERT_EQ(x, 0.5f);
}

TEST_F(NcclCommTest, AllreduceBf16) {
  const int r = nccl().rank(), n = nccl().size();
  const int tri = n * (n + 1) / 2;
  // Small integers: exact in bf16 (8 significant bits) up to 256; the sums stay <= 80.
  std::vector<__nv_bfloat16> h(4099);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = __float2bfloat16(static_cast<float>((r + 1) * static_cast<int>(i % 8 + 1)));
  DeviceVector<__nv_bfloat16> d(h);
  nccl().allreduce(d.span(), ReduceOp::Sum, stream());
  const std::vector<__nv_bfloat16> sum = d.download(stream());
  for (size_t i = 0; i < sum.size(); ++i)
    ASSERT_EQ(__bfloat162float(sum[i]), static_cast<float>(tri * static_cast<int>(i % 8 + 1))) << i;

  DeviceVector<__nv_bfloat16> mx(std::vector<__nv_bfloat16>(17, __float2bfloat16(r * 2.0f)));
  nccl().allreduce(mx.span(), ReduceOp::Max, stream());
  for (__nv_bfloat16 x : mx.download(stream())) ASSERT_EQ(__bfloat162float(x), (n - 1) * 2.0f);
}

TEST_F(NcclCommTest, AllreduceI64AndTheOtherTypes) {
  const int r = nccl().rank(), n = nccl().size();
  const int64_t tri = static_cast<int64_t>(n) * (n + 1) / 2;
  std::vector<int64_t> h(1001);
  for (size_t i = 0; i < h.size(); ++i)
    h[i] = (int64_t{1} << 40) * (r + 1) + static_cast<int64_t>(i);  // needs 64 bits
  DeviceVector<int64_t> d(h);
  nccl().allreduce(d.span(), ReduceOp::Sum, stream());
  const std::vector<int64_t> sum = d.download(stream());
  for (size_t i = 0; i < sum.size(); ++i)
    ASSERT_EQ(sum[i], (int64_t{1} << 40) * tri + static_cast<int64_t>(i) * n) << i;

  DeviceVector<double> f64(std::vector<double>(5, 0.25 * (r + 1)));
  DeviceVector<int32_t> i32(std::vector<int32_t>(5, -r));
  DeviceVector<uint8_t> u8(std::vector<uint8_t>(5, static_cast<uint8_t>(200 + r)));
  nccl().allreduce(f64.span(), ReduceOp::Sum, stream());
  nccl().allreduce(i32.span(), ReduceOp::Min, stream());
  nccl().allreduce(u8.span(), ReduceOp::Max, stream());
  for (double x : f64.download(stream())) ASSERT_EQ(x, 0.25 * static_cast<double>(tri));
  for (int32_t x : i32.download(stream())) ASSERT_EQ(x, -(n - 1));
  for (uint8_t x : u8.download(stream())) ASSERT_EQ(x, 200 + n - 1);
}

TEST_F(NcclCommTest, BcastFromEveryRoot) {
  const int r = nccl().rank(), n = nccl().size();
  for (int root = 0; root < n; ++root) {
    DeviceVector<double> d(std::vector<double>(4097, r == root ? root + 0.5 : -1.0));
    nccl().bcast(d.span(), root, stream());
    for (double x : d.download(stream())) ASSERT_EQ(x, root + 0.5) << "root " << root;
  }
  DeviceVector<double> d(std::vector<double>(3));
  EXPECT_THROW(nccl().bcast(d.span(), n, stream()), Error);  // no such root
}

TEST_F(NcclCommTest, SendrecvAroundARing) {
  const int r = nccl().rank(), n = nccl().size();
  const int next = (r + 1) % n, prev = (r + n - 1) % n;  // itself on one rank
  std::vector<int64_t> h(10007);
  for (size_t i = 0; i < h.size(); ++i) h[i] = r * 1'000'000 + static_cast<int64_t>(i);
  DeviceVector<int64_t> out(h), in(std::vector<int64_t>(h.size(), -1));
  const win::dist::Traffic before = nccl().traffic();
  nccl().sendrecv(std::span<const int64_t>(out.span()), next, in.span(), prev, stream());
  EXPECT_EQ(nccl().traffic().sent - before.sent, h.size() * sizeof(int64_t));
  EXPECT_EQ(nccl().traffic().received - before.received, h.size() * sizeof(int64_t));
  const std::vector<int64_t> got = in.download(stream());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], prev * 1'000'000 + static_cast<int64_t>(i)) << i;
}

TEST_F(NcclCommTest, LoneSendAndRecvAroundARing) {
  const int r = nccl().rank(), n = nccl().size();
  DeviceVector<float> out(std::vector<float>(513, r + 0.25f)), in(std::vector<float>(513, -1.0f));
  if (n == 1) {  // no peer: a send or recv to itself alone could never complete
    EXPECT_THROW(nccl().send(std::span<const float>(out.span()), 0, stream()), Error);
    EXPECT_THROW(nccl().recv(in.span(), 0, stream()), Error);
    return;
  }
  const int next = (r + 1) % n, prev = (r + n - 1) % n;
  // Even ranks send first, odd ranks receive first: each send meets its recv.
  if (r % 2 == 0) {
    nccl().send(std::span<const float>(out.span()), next, stream());
    nccl().recv(in.span(), prev, stream());
  } else {
    nccl().recv(in.span(), prev, stream());
    nccl().send(std::span<const float>(out.span()), next, stream());
  }
  for (float x : in.download(stream())) ASSERT_EQ(x, prev + 0.25f);
}

TEST_F(NcclCommTest, RefusesHostMemory) {
  // Checked before NCCL is called, so a rank that throws leaves no peer waiting.
  std::vector<float> h(8, 1.0f);
  EXPECT_THROW(nccl().allreduce(std::span<float>(h), ReduceOp::Sum, stream()), Error);
}

#endif  // WIN_HAVE_CUDA
