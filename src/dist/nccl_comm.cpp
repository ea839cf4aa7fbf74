// NcclComm over NCCL (see nccl_comm.hpp): started over MPI by broadcasting rank 0's NCCL unique
// id, then typed collectives and point-to-point transfers queued on the caller's CUDA stream, each
// NCCL return code checked (WIN_NCCL_CHECK: a communication error, exit 6). Also local_rank(),
// from the launcher's environment or from the host names of the ranks. Compiled into win_dist
// only in CUDA builds (src/CMakeLists.txt).
#include "dist/nccl_comm.hpp"

#include <nccl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_check.hpp"
#include "core/error.hpp"
#include "core/strcat.hpp"

namespace win::dist {

namespace {

ncclDataType_t nccl_type(GpuElem e) {
  switch (e) {
    case GpuElem::F32:
      return ncclFloat32;
    case GpuElem::F64:
      return ncclFloat64;
    case GpuElem::I32:
      return ncclInt32;
    case GpuElem::I64:
      return ncclInt64;
    case GpuElem::U8:
      return ncclUint8;
    case GpuElem::BF16:
      return ncclBfloat16;
  }
  return ncclUint8;
}

size_t elem_size(GpuElem e) {
  switch (e) {
    case GpuElem::U8:
      return 1;
    case GpuElem::BF16:
      return 2;
    case GpuElem::F32:
    case GpuElem::I32:
      return 4;
    case GpuElem::F64:
    case GpuElem::I64:
      return 8;
  }
  return 1;
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return ncclSum;
    case ReduceOp::Max:
      return ncclMax;
    case ReduceOp::Min:
      return ncclMin;
  }
  return ncclSum;
}

// NCCL counts are size_t, so no pieces are needed, but the byte count (for Traffic and for
// NCCL's own arithmetic) must not wrap.
size_t byte_count(size_t count, GpuElem e, const char* what) {
  WIN_CHECK(count <= SIZE_MAX / elem_size(e), ErrorKind::Internal, "NCCL ", what, " of ", count,
            " elements of ", elem_size(e), " bytes: the byte count overflows");
  return count * elem_size(e);
}

// A non-negative decimal integer from the environment, or -1 when unset or not one.
int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  errno = 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || x < 0 || x > INT_MAX) return -1;
  return static_cast<int>(x);
}

// The local rank the launcher announced, or -1.
int launcher_local_rank() {
  if (const int r = env_int("OMPI_COMM_WORLD_LOCAL_RANK"); r >= 0) return r;  // Open MPI
  if (const int r = env_int("MPI_LOCALRANKID"); r >= 0) return r;             // MPICH, Intel MPI
  // srun sets SLURM_LOCALID per task, but ranks started by another launcher inside an allocation
  // inherit the batch shell's (0 on every rank): trust it only when SLURM_PROCID is this rank.
  if (const int r = env_int("SLURM_LOCALID"); r >= 0 && env_int("SLURM_PROCID") == process_rank())
    return r;
  return -1;
}

}  // namespace

NcclComm NcclComm::from_mpi(const Comm& comm, int device) {
  // Every rank binds its GPU; a failure anywhere is raised everywhere, since the others would
  // otherwise wait forever in ncclCommInitRank.
  std::string why;
  int count = 0;
  if (const cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess) {
    why = cat("cudaGetDeviceCount failed: ", cudaGetErrorString(e));
  } else if (device < 0 || device >= count) {
    why = cat("device ", device, " does not exist (", count, " CUDA devices)");
  } else if (const cudaError_t s = cudaSetDevice(device); s != cudaSuccess) {
    why = cat("cudaSetDevice(", device, ") failed: ", cudaGetErrorString(s));
  }
  if (!comm.all(why.empty()))
    WIN_FAIL(ErrorKind::Comm, "NCCL communicator of ", comm.size(), " ranks: rank ", comm.rank(),
             ": ", why.empty() ? "another rank could not bind its GPU" : why);

  // Rank 0 makes the unique id and broadcasts it (as bytes) with its status.
  ncclUniqueId id;
  std::memset(&id, 0, sizeof(id));
  int32_t status = ncclSuccess;
  if (comm.rank() == 0) status = static_cast<int32_t>(ncclGetUniqueId(&id));
  comm.bcast(std::span<int32_t>(&status, 1), 0);
  if (status != ncclSuccess)
    WIN_FAIL(ErrorKind::Comm, "NCCL: ncclGetUniqueId on rank 0 failed: ",
             ncclGetErrorString(static_cast<ncclResult_t>(status)));
  comm.bcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(&id), sizeof(id)), 0);

  NcclComm c;
  ncclComm_t handle = nullptr;
  WIN_NCCL_CHECK(ncclCommInitRank(&handle, comm.size(), id, comm.rank()));
  c.comm_ = handle;
  c.rank_ = comm.rank();
  c.size_ = comm.size();
  c.device_ = device;
  return c;
}

NcclComm::~NcclComm() {
  if (comm_ != nullptr) ncclCommDestroy(comm_);  // nothing to do about a failure here
}

void NcclComm::abort() noexcept {
  if (comm_ != nullptr) ncclCommAbort(comm_);  // nothing to do about a failure here
  comm_ = nullptr;
}

NcclComm::NcclComm(NcclComm&& o) noexcept
    : comm_(std::exchange(o.comm_, nullptr)),
      rank_(o.rank_),
      size_(o.size_),
      device_(o.device_),
      traffic_(o.traffic_) {}

NcclComm& NcclComm::operator=(NcclComm&& o) noexcept {
  if (this != &o) {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    comm_ = std::exchange(o.comm_, nullptr);
    rank_ = o.rank_;
    size_ = o.size_;
    device_ = o.device_;
    traffic_ = o.traffic_;
  }
  return *this;
}

namespace {

// NCCL reads and writes through device pointers: a plain host pointer would fail later, on the
// stream, far from its cause. Checked here instead (one cheap driver query per call).
void check_device_pointer(const void* p, int device, const char* what) {
  cudaPointerAttributes a{};
  WIN_CUDA_CHECK(cudaPointerGetAttributes(&a, p));
  WIN_CHECK(a.type != cudaMemoryTypeUnregistered, ErrorKind::Internal, "NCCL ", what,
            ": the buffer is host memory, not device memory");
  WIN_CHECK(a.type != cudaMemoryTypeDevice || a.device == device, ErrorKind::Internal, "NCCL ",
            what, ": the buffer is on device ", a.device, ", the communicator on device ", device);
}

}  // namespace

void NcclComm::allreduce_raw(void* data, size_t count, GpuElem e, ReduceOp op,
                             cudaStream_t s) const {
  WIN_CHECK(comm_ != nullptr, ErrorKind::Internal, "NCCL allreduce on a moved-from communicator");
  const size_t bytes = byte_count(count, e, "allreduce");
  if (count == 0) return;
  check_device_pointer(data, device_, "allreduce");
  WIN_NCCL_CHECK(ncclAllReduce(data, data, count, nccl_type(e), nccl_op(op), comm_, s));
  if (size_ > 1) traffic_.reduced += bytes;
}

void NcclComm::bcast_raw(void* data, size_t count, GpuElem e, int root, cudaStream_t s) const {
  WIN_CHECK(comm_ != nullptr, ErrorKind::Internal, "NCCL bcast on a moved-from communicator");
  WIN_CHECK(root >= 0 && root < size_, ErrorKind::Internal, "NCCL bcast root ", root, " of ",
            size_);
  byte_count(count, e, "bcast");
  if (count == 0) return;
  check_device_pointer(data, device_, "bcast");
  WIN_NCCL_CHECK(ncclBroadcast(data, data, count, nccl_type(e), root, comm_, s));
}

void NcclComm::send_raw(const void* data, size_t count, GpuElem e, int peer, cudaStream_t s) const {
  WIN_CHECK(comm_ != nullptr, ErrorKind::Internal, "NCCL send on a moved-from communicator");
  WIN_CHECK(peer >= 0 && peer < size_ && peer != rank_, ErrorKind::Internal, "NCCL send from rank ",
            rank_, " to rank ", peer, " of ", size_);
  const size_t bytes = byte_count(count, e, "send");
  if (count == 0) return;
  check_device_pointer(data, device_, "send");
  WIN_NCCL_CHECK(ncclSend(data, count, nccl_type(e), peer, comm_, s));
  traffic_.sent += bytes;
}

void NcclComm::recv_raw(void* data, size_t count, GpuElem e, int peer, cudaStream_t s) const {
  WIN_CHECK(comm_ != nullptr, ErrorKind::Internal, "NCCL recv on a moved-from communicator");
  WIN_CHECK(peer >= 0 && peer < size_ && peer != rank_, ErrorKind::Internal, "NCCL recv on rank ",
            rank_, " from rank ", peer, " of ", size_);
  const size_t bytes = byte_count(count, e, "recv");
  if (count == 0) return;
  check_device_pointer(data, device_, "recv");
  WIN_NCCL_CHECK(ncclRecv(data, count, nccl_type(e), peer, comm_, s));
  traffic_.received += bytes;
}

void NcclComm::sendrecv_raw(const void* out, size_t out_count, int dest, void* in, size_t in_count,
                            int source, GpuElem e, cudaStream_t s) const {
  WIN_CHECK(comm_ != nullptr, ErrorKind::Internal, "NCCL sendrecv on a moved-from communicator");
  WIN_CHECK(dest >= 0 && dest < size_ && source >= 0 && source < size_, ErrorKind::Internal,
            "NCCL sendrecv on rank ", rank_, " to rank ", dest, " from rank ", source, " of ",
            size_);
  const size_t out_bytes = byte_count(out_count, e, "send");
  const size_t in_bytes = byte_count(in_count, e, "recv");
  if (out_count > 0) check_device_pointer(out, device_, "send");
  if (in_count > 0) check_device_pointer(in, device_, "recv");
  // Both directions in one group, so that neither waits for the other to be posted. The group is
  // always closed, even when posting failed, before the failure is raised.
  WIN_NCCL_CHECK(ncclGroupStart());
  const ncclResult_t rs =
      out_count > 0 ? ncclSend(out, out_count, nccl_type(e), dest, comm_, s) : ncclSuccess;
  const ncclResult_t rr =
      in_count > 0 ? ncclRecv(in, in_count, nccl_type(e), source, comm_, s) : ncclSuccess;
  const ncclResult_t rg = ncclGroupEnd();
  if (rs != ncclSuccess)
    WIN_FAIL(ErrorKind::Comm, "NCCL: ncclSend from rank ", rank_, " to rank ", dest,
             " failed: ", ncclGetErrorString(rs));
  if (rr != ncclSuccess)
    WIN_FAIL(ErrorKind::Comm, "NCCL: ncclRecv on rank ", rank_, " from rank ", source,
             " failed: ", ncclGetErrorString(rr));
  if (rg != ncclSuccess)
    WIN_FAIL(ErrorKind::Comm, "NCCL: ncclGroupEnd of a sendrecv on rank ", rank_,
             " failed: ", ncclGetErrorString(rg));
  traffic_.sent += out_bytes;
  traffic_.received += in_bytes;
}

int local_rank(const Comm& comm) {
  // Launcher variables describe the world: used only for a communicator of the world's size,
  // and only when every rank has one (the decision is collective, so all take the same path).
  const int from_env = comm.size() == process_world_size() ? launcher_local_rank() : -1;
  if (comm.all(from_env >= 0)) return from_env;

  // Otherwise an all-gather of host names, built from one max-reduction: each rank fills its own
  // row of a zeroed table. Startup only: size * 256 bytes.
  constexpr size_t kName = 256;  // > HOST_NAME_MAX + 1 (64 + 1 on Linux)
  const auto rank = static_cast<size_t>(comm.rank());
  std::vector<uint8_t> names(static_cast<size_t>(comm.size()) * kName, 0);
  char* mine = reinterpret_cast<char*>(names.data() + rank * kName);
  const bool ok = gethostname(mine, kName - 1) == 0;  // the last byte stays 0
  const std::string why = ok ? std::string() : std::strerror(errno);
  if (!comm.all(ok))
    WIN_FAIL(ErrorKind::Comm, "local rank: gethostname failed on ",
             ok ? std::string("another rank") : cat("rank ", rank, ": ", why));
  comm.allreduce(std::span<uint8_t>(names), ReduceOp::Max);
  int local = 0;
  for (size_t r = 0; r < rank; ++r)
    if (std::memcmp(names.data() + r * kName, mine, kName) == 0) ++local;
  return local;
}

}  // namespace win::dist
