// Activations between pipeline stages (see activation_link.hpp).
#include "win/activation_link.hpp"

#include <array>
#include <span>

#include "backend/transfer.hpp"
#include "core/allocator.hpp"
#include "core/error.hpp"

namespace win::method {

namespace {

// The values of a dense tensor in memory order as a 1-d view: a channels-last (N, C, H, W) is
// (N, H, W, C) in memory, which is contiguous after the permutation.
Tensor memory_order(const Tensor& t) {
  return t.is_channels_last() ? t.permute({0, 2, 3, 1}).flatten() : t.flatten();
}

}  // namespace

ActivationLink::ActivationLink(const dist::Comm& pipe, Device device, dist::DeviceComm* nccl)
    : pipe_(pipe), device_(device), nccl_(nccl) {}

void ActivationLink::send(const Tensor& t0, int dest, int tag) {
  WIN_CHECK(t0.dtype() == DType::F32 && t0.dim() >= 1 && t0.dim() <= 4, ErrorKind::Internal,
            "pipeline: cannot send an activation ", t0.shape(), " of ", dtype_name(t0.dtype()));
  const bool cl = t0.is_channels_last();
  const Tensor t = cl || t0.is_contiguous() ? t0 : t0.contiguous();
  std::array<int64_t, 6> h = {t.dim(), cl ? 1 : 0, 1, 1, 1, 1};
  for (int64_t i = 0; i < t.dim(); ++i) h[static_cast<size_t>(2 + i)] = t.size(i);
  pipe_.send(std::span<const int64_t>(h), dest, tag);
  const Tensor flat = memory_order(t);
  sent_ += sizeof(h) + flat.nbytes();
  if (nccl_) {
    nccl_->send(flat, dest);
    // Kept alive until NCCL has read it: the caller's tensor may be released before then, and
    // a temporary surely is.
    in_flight_.push_back(t);
    return;
  }
  const Tensor& host = backend::on_device(flat, Device::CPU, host_out_);  // GPU values: staged
  pipe_.send(std::span<const float>(host.data<float>(), static_cast<size_t>(host.numel())), dest,
             tag + 1);
}

void ActivationLink::recv(int source, int tag, Tensor& t) {
  std::array<int64_t, 6> h{};
  pipe_.recv(std::span<int64_t>(h), source, tag);
  WIN_CHECK(h[0] >= 1 && h[0] <= 4 && (h[1] == 0 || h[0] == 4), ErrorKind::Comm,
            "pipeline: a malformed activation header from stage ", source);
  Dims shape;
  for (int64_t i = 0; i < h[0]; ++i) {
    WIN_CHECK(h[static_cast<size_t>(2 + i)] >= 0, ErrorKind::Comm,
              "pipeline: a negative extent in an activation header from stage ", source);
    shape.push_back(h[static_cast<size_t>(2 + i)]);
  }
  const bool cl = h[1] != 0;
  if (!t.defined() || t.device() != device_ || t.shape() != shape || t.is_channels_last() != cl) {
    Allocator& a = allocator_for(device_);
    t = cl ? empty_channels_last(shape, DType::F32, a) : Tensor::empty(shape, DType::F32, a);
  }
  Tensor flat = memory_order(t);
  received_ += sizeof(h) + flat.nbytes();
  if (nccl_) {
    nccl_->recv(flat, source);
    return;
  }
  if (flat.device() == Device::CPU) {
    pipe_.recv(std::span<float>(flat.data<float>(), static_cast<size_t>(flat.numel())), source,
               tag + 1);
    return;
  }
  if (!host_in_.defined() || host_in_.numel() != flat.numel())
    host_in_ = Tensor::empty({flat.numel()}, DType::F32);
  pipe_.recv(std::span<float>(host_in_.data<float>(), static_cast<size_t>(host_in_.numel())),
             source, tag + 1);
  backend::copy_across(host_in_, flat);
}

void ActivationLink::reuse_point() {
  if (!nccl_) return;
  nccl_->wait_sends();
  // The temporaries' memory goes back to the allocator now; work queued later on the compute
  // stream (which now waits for the sends) is what may reuse it.
  in_flight_.clear();
}

}  // namespace win::method
