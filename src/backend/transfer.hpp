// Tensors between devices, and the whole-tensor writes (fill, zero) that layers, the optimizer
// state and the trainer need wherever a tensor lives. The op table computes on tensors where they
// are; this is how they get there (a batch from the loader, parameters initialised on the host,
// a checkpoint read back) and how the few host reads (losses, checkpoints) get them back.
// Device copies are ordered with the CUDA context's stream (a blocking stream), so a copy to the
// host sees every op queued before it.
#pragma once

#include <string>

#include "core/allocator.hpp"
#include "core/tensor.hpp"

namespace win::backend {

// The allocator for new tensors on `device`; the first call for CUDA brings up its backend. A
// usage error naming the build when this build has no such backend.
Allocator& device_allocator(Device device);

// Empty when `device` can be used here, else why not ("this build has no CUDA backend", "no
// usable CUDA device: cudaErrorNoDevice").
std::string device_unavailable(Device device);

// dst = src between any two devices (same shape; layouts may differ; a dtype conversion goes
// through the host).
void copy_across(const Tensor& src, Tensor& dst);

// t on `device`: t itself when it already is there, else a contiguous copy.
Tensor to_device(const Tensor& t, Device device);
// The same for per-step inputs: t itself when on `device`, else copied into `staging` (made or
// reused there), so that a steady-state step allocates nothing.
const Tensor& on_device(const Tensor& t, Device device, Tensor& staging);
// A copy of t on its own device.
Tensor clone(const Tensor& t);

// Whole-tensor writes on any device.
void fill(Tensor& t, double value);
void zero(Tensor& t);

// Waits until the device has done the work queued so far (for timings); nothing on the CPU.
void synchronize(Device device);

// Makes GPU `index` modulo the GPUs this process sees the calling thread's device (a rank's own
// GPU, from its local rank); returns the device number chosen. Call before the first GPU work.
int select_gpu(int index);

}  // namespace win::backend
