// make_device_comm (see device_comm.hpp): NCCL on a side stream in CUDA builds, nothing in the
// others. The side stream is ordered against the thread's compute stream (CudaContext) by
// events: every operation first waits for what the compute stream has queued (its buffer is
// final), and the compute stream waits for the side stream only in join(), wait_sends() and
// recv(). All NCCL work of one communicator goes through that one stream, in the order it is
// issued, so NCCL sees the same order on every rank.
#include "dist/device_comm.hpp"

#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#include "core/error.hpp"
#include "core/strcat.hpp"

#if WIN_HAVE_CUDA
#include <cuda_runtime.h>
#include <unistd.h>

#include "backend/cuda/cuda_check.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "dist/nccl_comm.hpp"
#endif

namespace win::dist {

#if WIN_HAVE_CUDA

namespace {

// An owned CUDA event without timing (the cheap kind, for ordering only).
class Event {
 public:
  Event() { WIN_CUDA_CHECK(cudaEventCreateWithFlags(&e_, cudaEventDisableTiming)); }
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

// `after` waits for everything queued on `before` so far (through `e`, reused: an event records
// the latest state, and waits already queued keep the state they saw).
void order(cudaStream_t before, cudaStream_t after, const Event& e) {
  WIN_CUDA_CHECK(cudaEventRecord(e.get(), before));
  WIN_CUDA_CHECK(cudaStreamWaitEvent(after, e.get(), 0));
}

void check_dense_f32(const Tensor& t, const char* what) {
  WIN_CHECK(t.defined() && t.device() == Device::CUDA && t.dtype() == DType::F32 && is_dense(t),
            ErrorKind::Internal, "device ", what, ": a dense f32 GPU tensor is needed, not ",
            t.defined() ? cat(t.shape(), " of ", dtype_name(t.dtype()), " on ",
                              t.device() == Device::CUDA ? "cuda" : "cpu")
                        : std::string("an undefined tensor"));
}

class NcclDeviceComm final : public DeviceComm {
 public:
  explicit NcclDeviceComm(NcclComm comm) : comm_(std::move(comm)) {
    // Above the compute stream's priority, so that a gradient bucket is not queued behind the
    // whole rest of backward.
    int least = 0, greatest = 0;
    WIN_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    WIN_CUDA_CHECK(cudaStreamCreateWithPriority(&side_, cudaStreamNonBlocking, greatest));
  }
  ~NcclDeviceComm() override {
    // Normally whatever is queued finishes before the stream and the communicator go away. While
    // an error unwinds, a peer may never post what this rank waits for: abort instead of
    // waiting, so that the error reaches the top (and MPI_Abort) rather than hanging here.
    if (std::uncaught_exceptions() > 0)
      comm_.abort();
    else if (side_)
      cudaStreamSynchronize(side_);
    if (side_) cudaStreamDestroy(side_);
  }
  NcclDeviceComm(const NcclDeviceComm&) = delete;
  NcclDeviceComm& operator=(const NcclDeviceComm&) = delete;

  int rank() const override { return comm_.rank(); }
  int size() const override { return comm_.size(); }

  void start_sum(Tensor& flat, int64_t begin, int64_t len) override {
    WIN_CHECK(flat.defined() && flat.device() == Device::CUDA && flat.is_contiguous() &&
                  begin >= 0 && len >= 0 && begin + len <= flat.numel(),
              ErrorKind::Internal, "device sum of [", begin, ", ", begin + len, ") of a tensor of ",
              flat.numel(), " elements (a contiguous GPU tensor is needed)");
    if (len == 0) return;
    order(compute(), side_, ready_);
    const auto n = static_cast<size_t>(len);
    if (flat.dtype() == DType::F32)
      comm_.allreduce(std::span<float>(static_cast<float*>(flat.raw()) + begin, n), ReduceOp::Sum,
                      side_);
    else if (flat.dtype() == DType::F64)
      comm_.allreduce(std::span<double>(static_cast<double*>(flat.raw()) + begin, n), ReduceOp::Sum,
                      side_);
    else
      WIN_FAIL(ErrorKind::Internal, "device sum of ", dtype_name(flat.dtype()), " values");
    pending_sums_ = true;
  }

  void join() override {
    if (!pending_sums_) return;
    order(side_, compute(), joined_);
    pending_sums_ = false;
  }

  void send(const Tensor& t, int peer) override {
    check_dense_f32(t, "send");
    order(compute(), side_, ready_);
    comm_.send(
        std::span<const float>(static_cast<const float*>(t.raw()), static_cast<size_t>(t.numel())),
        peer, side_);
    pending_sends_ = true;
  }

  void wait_sends() override {
    if (!pending_sends_) return;
    order(side_, compute(), sent_);
    pending_sends_ = false;
  }

  void recv(Tensor& t, int peer) override {
    check_dense_f32(t, "recv");
    // The buffer may still be read by compute work queued earlier (the previous micro-batch).
    order(compute(), side_, ready_);
    comm_.recv(std::span<float>(static_cast<float*>(t.raw()), static_cast<size_t>(t.numel())), peer,
               side_);
    order(side_, compute(), received_);
  }

  const Traffic& traffic() const override { return comm_.traffic(); }

 private:
  static cudaStream_t compute() { return backend::cuda_context().stream(); }

  NcclComm comm_;
  cudaStream_t side_ = nullptr;
  Event ready_, joined_, sent_, received_;
  bool pending_sums_ = false, pending_sends_ = false;
};

// What identifies this rank's GPU across the job: the host and the device's PCI location.
std::vector<int64_t> gpu_identity(int device) {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) std::strcpy(host, "?");
  // FNV-1a of the host name (a collision would only make two hosts' GPUs look alike, which
  // falls back to the host path: safe).
  uint64_t h = 1469598103934665603ull;
  for (const char* p = host; *p; ++p) h = (h ^ static_cast<unsigned char>(*p)) * 1099511628211ull;
  int domain = 0, bus = 0, dev = 0;
  WIN_CUDA_CHECK(cudaDeviceGetAttribute(&domain, cudaDevAttrPciDomainId, device));
  WIN_CUDA_CHECK(cudaDeviceGetAttribute(&bus, cudaDevAttrPciBusId, device));
  WIN_CUDA_CHECK(cudaDeviceGetAttribute(&dev, cudaDevAttrPciDeviceId, device));
  return {static_cast<int64_t>(h >> 1),
          (static_cast<int64_t>(domain) << 32) | (static_cast<int64_t>(bus) << 8) | dev};
}

}  // namespace

std::unique_ptr<DeviceComm> make_device_comm(const Comm& group, std::string* why) {
  auto refuse = [&](std::string reason) -> std::unique_ptr<DeviceComm> {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  if (group.size() == 1) return refuse("one rank");
  int device = -1;
  std::string mine;
  if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) {
    (void)cudaGetLastError();
    mine = cat("cudaGetDevice failed: ", cudaGetErrorString(e));
  }
  // Every rank's (host, GPU) in one table, each rank filling its own row of zeros.
  const auto n = static_cast<size_t>(group.size()), me = static_cast<size_t>(group.rank());
  std::vector<int64_t> ids(2 * n, 0);
  if (mine.empty()) {
    try {  // a failure here must reach the other ranks, which are about to reduce
      const std::vector<int64_t> id = gpu_identity(device);
      ids[2 * me] = id[0];
      ids[2 * me + 1] = id[1];
    } catch (const Error& e) {
      mine = e.what();
    }
  }
  if (!group.all(mine.empty()))
    return refuse(mine.empty() ? "another rank has no current GPU" : mine);
  group.allreduce(std::span<int64_t>(ids));
  for (size_t r = 0; r < n; ++r)
    for (size_t s = r + 1; s < n; ++s)
      if (ids[2 * r] == ids[2 * s] && ids[2 * r + 1] == ids[2 * s + 1])
        return refuse(cat("ranks ", r, " and ", s, " of the group share one GPU"));
  return std::make_unique<NcclDeviceComm>(NcclComm::from_mpi(group, device));
}

#else  // no CUDA: no device communicator

std::unique_ptr<DeviceComm> make_device_comm(const Comm& group, std::string* why) {
  if (why) *why = group.size() == 1 ? "one rank" : "built without CUDA";
  return nullptr;
}

#endif

}  // namespace win::dist
