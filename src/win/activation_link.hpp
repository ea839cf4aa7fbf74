// ActivationLink: how the pipelined narrow stage passes activations from one pipeline stage to the
// next. A small header (rank, layout, extents) always goes by MPI, so the receiver needs no
// knowledge of shapes; the values go by NCCL, device to device, when the pipeline group has a
// dist::DeviceComm, and otherwise by MPI from host memory (GPU tensors through one host copy each
// way: the path of ranks that share a GPU). Received tensors are allocated on the link's device
// in the sender's layout (contiguous or channels-last) and reused while shape and layout stay
// the same.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "dist/comm.hpp"
#include "dist/device_comm.hpp"

namespace win::method {

class ActivationLink {
 public:
  // `device`: where received activations live; `nccl`: the same group's device communicator, or
  // null for MPI.
  ActivationLink(const dist::Comm& pipe, Device device, dist::DeviceComm* nccl);

  // Sends t (f32, 1-4 dims) to rank `dest` of the pipe group; `tag` and tag + 1 are used.
  void send(const Tensor& t, int dest, int tag);
  // Receives what send() sent with `tag` from `source` into t.
  void recv(int source, int tag, Tensor& t);
  // Before anything sent since the last call may be overwritten (the next micro-batch's
  // forward): waits for NCCL's sends to leave their buffers (on the GPU, not the host).
  void reuse_point();

  // Bytes of this rank's activations, both ways, headers included (by MPI or NCCL).
  uint64_t bytes_sent() const { return sent_; }
  uint64_t bytes_received() const { return received_; }
  bool over_nccl() const { return nccl_ != nullptr; }

 private:
  const dist::Comm& pipe_;
  Device device_;
  dist::DeviceComm* nccl_;
  std::vector<Tensor> in_flight_;  // tensors being sent by NCCL, kept until reuse_point()
  Tensor host_out_, host_in_;      // staging of GPU tensors on the MPI path
  uint64_t sent_ = 0, received_ = 0;
};

}  // namespace win::method
