// DeviceComm: a group's communication of GPU-resident data, as the training code sees it — sums
// of gradient ranges and point-to-point tensors — without CUDA or NCCL types, so that train/ and
// win/ compile the same with and without CUDA. The implementation (make_device_comm) is NCCL on
// a side stream of its own: work is queued behind what the calling thread has queued on its
// compute stream so far, runs concurrently with the compute that follows (backward goes on while
// gradient buckets are summed), and the compute stream waits for it only where join() and
// recv() say. The host does not wait for the transfers (only NCCL's first operation with a peer
// blocks while it sets up the connection).
//
// Every rank of the group must issue the same sums in the same order, and the sends and receives
// of a pair of ranks must match in order (as for NCCL itself).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.hpp"
#include "dist/comm.hpp"

namespace win::dist {

class DeviceComm {
 public:
  virtual ~DeviceComm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Queues the in-place sum over the group of flat[begin, begin + len): `flat` is a contiguous
  // f32 or f64 tensor on this rank's GPU.
  virtual void start_sum(Tensor& flat, int64_t begin, int64_t len) = 0;
  // Makes the compute stream wait for every sum queued so far.
  virtual void join() = 0;

  // Queues sending t (f32, dense in its own layout: contiguous or channels-last) to `peer`. t
  // must not be written until wait_sends(): the compute stream may go on reading it.
  virtual void send(const Tensor& t, int peer) = 0;
  // Makes the compute stream wait until every queued send has left its buffer.
  virtual void wait_sends() = 0;
  // Queues receiving into t (allocated by the caller with the sender's shape, dtype and layout)
  // from `peer`; the compute stream waits for it, so work queued after this call sees the data.
  virtual void recv(Tensor& t, int peer) = 0;

  // Bytes given to send, taken by recv and summed (as Comm counts them).
  virtual const Traffic& traffic() const = 0;
};

// The device communicator of `group` on the calling thread's current GPU, or nullptr when the
// group cannot have one: one rank, a build without CUDA, or two ranks of the group on one GPU
// (NCCL refuses that; those groups keep reducing through host memory and MPI). In `why` (when
// given) the reason for nullptr. Collective over `group`: every rank gets a communicator or
// every rank gets nullptr.
std::unique_ptr<DeviceComm> make_device_comm(const Comm& group, std::string* why = nullptr);

}  // namespace win::dist
