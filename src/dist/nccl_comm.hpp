// NcclComm: the GPU counterpart of Comm (DESIGN §4, "MPI on CPU, NCCL on GPU"). Gradients and
// activations that live on the GPU are reduced and exchanged by NCCL, device to device, without a
// round trip through host memory; MPI (a dist::Comm) is only used to start it, by broadcasting
// NCCL's unique id. Like Comm it is typed: the NCCL datatype comes from the element type (bf16
// included), and every NCCL and CUDA return code is checked (failures are communication errors,
// exit 6). Operations are queued on the caller's stream and return before they finish.
//
// Built only with CUDA (WIN_HAVE_CUDA); local_rank() is here because its one use is choosing the
// GPU of a rank.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "dist/comm.hpp"

struct ncclComm;  // nccl.h: typedef struct ncclComm* ncclComm_t

namespace win::dist {

// The element types NCCL reduces for win (Comm's Elem has no bf16, NCCL has no 64-bit unsigned
// reduction that win needs).
enum class GpuElem { F32, F64, I32, I64, U8, BF16 };

template <class T>
struct gpu_elem_of;
template <>
struct gpu_elem_of<float> {
  static constexpr GpuElem value = GpuElem::F32;
};
template <>
struct gpu_elem_of<double> {
  static constexpr GpuElem value = GpuElem::F64;
};
template <>
struct gpu_elem_of<int32_t> {
  static constexpr GpuElem value = GpuElem::I32;
};
template <>
struct gpu_elem_of<int64_t> {
  static constexpr GpuElem value = GpuElem::I64;
};
template <>
struct gpu_elem_of<uint8_t> {
  static constexpr GpuElem value = GpuElem::U8;
};
template <>
struct gpu_elem_of<__nv_bfloat16> {
  static constexpr GpuElem value = GpuElem::BF16;
};

class NcclComm {
 public:
  // Collective over `comm`: every rank binds `device` (cudaSetDevice, which stays the calling
  // thread's current device) and joins one NCCL communicator with the same ranks, in the same
  // order, as `comm`. Each rank needs its own GPU: NCCL refuses two ranks of one communicator on
  // one device (see local_rank for choosing it). A failure on any rank before the NCCL
  // initialisation (bad device, no unique id) is raised on every rank.
  static NcclComm from_mpi(const Comm& comm, int device);

  ~NcclComm();  // ncclCommDestroy; all ranks should destroy their communicators together
  NcclComm(NcclComm&& o) noexcept;
  NcclComm& operator=(NcclComm&& o) noexcept;
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int device() const { return device_; }

  // ncclCommAbort: ends the communicator at once, stopping its queued operations, for a rank
  // that is failing (a peer may never post what they wait for). Unusable afterwards.
  void abort() noexcept;

  // All spans are device memory of this communicator's device; work is queued on `stream`.

  // In place: every rank ends with the reduction of all ranks' data.
  template <class T>
  void allreduce(std::span<T> device_data, ReduceOp op, cudaStream_t stream) const {
    allreduce_raw(device_data.data(), device_data.size(), gpu_elem_of<T>::value, op, stream);
  }
  // In place: every rank ends with root's data.
  template <class T>
  void bcast(std::span<T> device_data, int root, cudaStream_t stream) const {
    bcast_raw(device_data.data(), device_data.size(), gpu_elem_of<T>::value, root, stream);
  }
  // Point to point (matched in the order they are posted; there are no tags). A lone send or
  // recv to another rank must meet its peer's recv or send: use sendrecv to post both
  // directions at once (one NCCL group), e.g. around a ring.
  template <class T>
  void send(std::span<const T> device_data, int peer, cudaStream_t stream) const {
    send_raw(device_data.data(), device_data.size(), gpu_elem_of<T>::value, peer, stream);
  }
  template <class T>
  void recv(std::span<T> device_data, int peer, cudaStream_t stream) const {
    recv_raw(device_data.data(), device_data.size(), gpu_elem_of<T>::value, peer, stream);
  }
  // Sends `out` to `dest` and receives `in` from `source` as one group (no deadlock whatever
  // order the peers post in; dest and source may be this rank).
  template <class T>
  void sendrecv(std::span<const T> out, int dest, std::span<T> in, int source,
                cudaStream_t stream) const {
    sendrecv_raw(out.data(), out.size(), dest, in.data(), in.size(), source, gpu_elem_of<T>::value,
                 stream);
  }

  // Bytes queued: given to send, taken by recv, reduced in place by allreduce (as Comm counts).
  const Traffic& traffic() const { return traffic_; }

 private:
  NcclComm() = default;
  void allreduce_raw(void* data, size_t count, GpuElem e, ReduceOp op, cudaStream_t s) const;
  void bcast_raw(void* data, size_t count, GpuElem e, int root, cudaStream_t s) const;
  void send_raw(const void* data, size_t count, GpuElem e, int peer, cudaStream_t s) const;
  void recv_raw(void* data, size_t count, GpuElem e, int peer, cudaStream_t s) const;
  void sendrecv_raw(const void* out, size_t out_count, int dest, void* in, size_t in_count,
                    int source, GpuElem e, cudaStream_t s) const;

  ncclComm* comm_ = nullptr;
  int rank_ = 0;
  int size_ = 1;
  int device_ = -1;
  mutable Traffic traffic_;
};

// This rank's index among the ranks of `comm` on the same host (0, 1, ... in rank order), the
// usual choice of its GPU. Taken from the launcher (OMPI_COMM_WORLD_LOCAL_RANK from Open MPI,
// MPI_LOCALRANKID from MPICH/Intel MPI, SLURM_LOCALID from srun) when every rank has it, else
// found by exchanging host names over `comm`. Meant for the world communicator, since launcher
// variables describe it. Collective: every rank of `comm` must call it.
int local_rank(const Comm& comm);

}  // namespace win::dist
